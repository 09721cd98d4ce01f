"""A download's resumable ``<dest>.part`` file: resume offset, space check, durable writes, final rename.

Internal to ``transfer``: the HTTP and FTP downloads write through it, so an interrupted download continues
where it stopped and a half-written image is never taken for a whole one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from chargepoint.service.transfer_common import Progress, Reason, TransferError, local_error

__all__ = ["PartFile"]


class PartFile:
    """The partial file of one download attempt, used from its worker thread."""

    def __init__(self, dest: Path, min_free_bytes: int, stop: threading.Event, notify: Progress) -> None:
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        # The resource's validator (ETag / Last-Modified) for If-Range, so a file replaced on the server
        # between attempts restarts from zero rather than being spliced onto the old part (RFC 9110 §13.1.5).
        self.validator_file = dest.with_name(dest.name + ".part.validator")
        self.min_free_bytes = min_free_bytes
        self.stop = stop
        self.notify = notify

    def prepare(self) -> None:
        """Create the destination folder."""
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise local_error(err, self.dest.parent) from err

    def offset(self) -> int:
        """How many bytes an earlier attempt left: where this one resumes."""
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def discard(self) -> None:
        for path in (self.part, self.validator_file):
            path.unlink(missing_ok=True)

    def check_space(self, remaining: int | None) -> None:
        need = (remaining or 0) + self.min_free_bytes
        try:
            free = shutil.disk_usage(self.dest.parent).free
        except OSError as err:
            raise local_error(err, self.dest.parent) from err
        if free < need:
            raise TransferError(Reason.NO_SPACE, f"{need} bytes needed in {self.dest.parent}, {free} free")

    @contextlib.contextmanager
    def writer(self, offset: int, total: int | None, shown: str) -> Iterator[Callable[[bytes], None]]:
        """A ``write(chunk)`` appending at ``offset``; on exit, the file holds exactly ``total`` bytes or
        TransferError(Interrupted) names ``shown`` (the redacted URL) as the source that ended early."""
        done = offset
        file: BinaryIO | None = None

        def open_part() -> BinaryIO:
            # Opened at the first byte, so a refusal after the size check (FTP 550) leaves no empty file.
            try:
                return self.part.open("ab" if offset else "wb")
            except OSError as err:
                raise local_error(err, self.part) from err

        def write(chunk: bytes) -> None:
            nonlocal done, file
            if self.stop.is_set():
                raise TransferError(Reason.INTERRUPTED, "cancelled")
            file = file or open_part()
            try:
                file.write(chunk)
            except OSError as err:
                raise local_error(err, self.part) from err
            done += len(chunk)
            self.notify(done, total)

        try:
            yield write
            file = file or open_part()  # an empty file is a file too
        finally:
            if file is not None:
                # Synced even on failure: the bytes we have are the resume point after a power cut.
                with contextlib.suppress(OSError):
                    file.flush()
                    os.fsync(file.fileno())
                file.close()
        if total is not None and done != total:
            raise TransferError(Reason.INTERRUPTED,
                                f"{shown}: connection ended after {done} of {total} bytes")

    def finish(self) -> None:
        """Rename the complete part file to ``dest``, durably."""
        try:
            os.replace(self.part, self.dest)
            self.validator_file.unlink(missing_ok=True)
        except OSError as err:
            raise local_error(err, self.dest) from err
        _fsync_dir(self.dest.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk (a power cut must not lose it).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

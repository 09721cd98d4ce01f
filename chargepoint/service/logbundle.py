"""Collect the station's logs of a time window into one .tar.gz for GetDiagnostics / GetLog to upload.

OCPP 1.6 §5.9 GetDiagnostics and OCPP 2.0.1 N01 GetLog give an optional ``startTime`` / ``stopTime``
(``oldestTimestamp`` / ``latestTimestamp``). A log whose lines start with an ISO-8601 timestamp is cut to the
lines of the window (a line without a timestamp, such as a traceback, belongs to the line above it); any
other file is taken whole if its modification time falls in the window. The security log (2.0.1 N01
SecurityLog, 1.6 security whitepaper) goes under ``security/``. Blocking: call it through
``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["bundle"]

log = logging.getLogger(__name__)

# "2024-05-01T12:00:00Z", "2024-05-01 12:00:00,123" (Python logging), "2024-05-01T12:00:00.5+02:00".
_STAMP_RE = re.compile(
    rb"\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)(?=[\s\]|;,]|$)"
)
_SNIFF_BYTES = 4096
_SPOOL_BYTES = 1 << 20  # filtered copies larger than this go to a temporary file, not memory


@dataclass(frozen=True)
class _Window:
    since: dt.datetime | None
    until: dt.datetime | None

    def holds(self, moment: dt.datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment <= self.until)

    def describe(self) -> str:
        since = self.since.isoformat() if self.since else "the beginning"
        until = self.until.isoformat() if self.until else "now"
        return f"from {since} to {until}"


def _line_time(line: bytes) -> dt.datetime | None:
    """The timestamp a log line starts with; a zone-less one is local time, as Python's logging writes it."""
    match = _STAMP_RE.match(line)
    if match is None:
        return None
    text = match.group(1).decode("ascii").replace(",", ".")
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)  # fromisoformat takes at most microseconds
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.astimezone()


def _is_line_log(path: Path) -> bool:
    """True for a text file whose first non-empty line starts with a timestamp."""
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
    if b"\0" in head:
        return False
    for line in head.splitlines():
        if line.strip():
            return _line_time(line) is not None
    return False


def _filtered(path: Path, window: _Window) -> IO[bytes] | None:
    """A copy of ``path`` with only the lines of ``window``, rewound; None if no line is in it."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned open
    keep = False
    with path.open("rb") as file:
        for line in file:
            moment = _line_time(line)
            if moment is not None:
                keep = window.holds(moment)
            if keep:
                out.write(line)
    if out.tell() == 0:
        out.close()
        return None
    out.seek(0)
    return out


def _walk(source: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in the archive) for a file, or for every file under a folder (sorted, stable)."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            yield path, f"{source.name}/{path.relative_to(source).as_posix()}"
    else:
        yield source, source.name


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}.{number}"
    taken.add(candidate)
    return candidate


def _add(archive: tarfile.TarFile, arcname: str, data: IO[bytes], size: int, mtime: float) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    archive.addfile(info, data)


def _add_log(archive: tarfile.TarFile, path: Path, arcname: str, window: _Window) -> str | None:
    """Add the part of ``path`` inside ``window``; return how it was taken, or None if nothing was."""
    stat = path.stat()
    if _is_line_log(path):
        filtered = _filtered(path, window)
        if filtered is None:
            return None
        with filtered:
            size = filtered.seek(0, os.SEEK_END)
            filtered.seek(0)
            _add(archive, arcname, filtered, size, stat.st_mtime)
        return "lines in the period"
    if not window.holds(dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)):
        return None
    with path.open("rb") as file:
        _add(archive, arcname, file, stat.st_size, stat.st_mtime)
    return "whole file (modified in the period)"


def bundle(
    out: Path, sources: Iterable[Path], *, since: dt.datetime | None, until: dt.datetime | None,
    security_log: Path | None = None, name: str = "diagnostics",
) -> Path:
    """Write ``out/<name>.tar.gz`` with the logs of ``[since, until]`` (inclusive, open where None).

    ``sources`` are files or folders (taken recursively); their entries sit under ``<name>/`` and the
    security log under ``<name>/security/``. A README.txt lists what was taken, and says so when nothing
    matched, so an empty window still yields a valid archive. Unreadable sources are skipped and listed.
    Raises:
        ValueError: ``since`` / ``until`` lack a time zone, ``since`` is after ``until``, or ``name`` is
            not a plain file name (our caller's bug: OCPP timestamps are always zoned).
        OSError: the archive cannot be written.
    """
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("since and until must carry a time zone")
    if since is not None and until is not None and since > until:
        raise ValueError("since is after until")
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"bad archive name {name!r}")
    window = _Window(since, until)
    entries: list[tuple[Path, str]] = [(path, f"{name}/{arc}") for src in sources for path, arc in _walk(src)]
    if security_log is not None:
        entries.append((security_log, f"{name}/security/{security_log.name}"))

    out.mkdir(parents=True, exist_ok=True)
    archive_path = out / f"{name}.tar.gz"
    partial = out / f".{name}.tar.gz.part"
    taken: set[str] = set()
    report: list[str] = []
    skipped: list[str] = []
    with tarfile.open(partial, "w:gz") as archive:
        for path, wanted in entries:
            arcname = _unique(wanted, taken)
            try:
                how = _add_log(archive, path, arcname, window)
            except OSError as err:
                log.warning("log bundle: skipped %s: %s", path, err.strerror or err)
                skipped.append(f"{path}: {err.strerror or err}")
                continue
            if how is not None:
                report.append(f"{arcname.removeprefix(name + '/')}: {how}")
        readme = _readme(name, window, report, skipped).encode()
        _add(archive, _unique(f"{name}/README.txt", taken), io.BytesIO(readme), len(readme),
             dt.datetime.now(dt.UTC).timestamp())
    with partial.open("rb+") as file:
        os.fsync(file.fileno())
    os.replace(partial, archive_path)
    log.info("log bundle %s: %d file(s) %s", archive_path, len(report), window.describe())
    return archive_path


def _readme(name: str, window: _Window, report: list[str], skipped: list[str]) -> str:
    lines = [f"{name}: station logs {window.describe()}.", ""]
    if report:
        lines += ["Files:", *(f"  {entry}" for entry in report)]
    else:
        lines.append("Nothing matched: no log entry or file falls in the requested period.")
    if skipped:
        lines += ["", "Could not be read:", *(f"  {entry}" for entry in skipped)]
    return "\n".join(lines) + "\n"

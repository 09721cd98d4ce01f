"""File transfer for firmware updates and log uploads: resumable HTTP(S)/FTP(S) download, upload, retries.

Serves OCPP 1.6 UpdateFirmware / GetDiagnostics (§5.19, §5.9), the 1.6 security whitepaper's GetLog, and
OCPP 2.0.1 UpdateFirmware / GetLog (L01, N01). The CSMS gives a URL and ``retries`` / ``retryInterval``; the
station downloads into ``<dest>.part`` and renames only a complete file, so an interrupted firmware download
continues where it stopped (HTTP Range, FTP REST) and a half-written image is never taken for a whole one.

HTTP is ``http.client`` (``transfer_http``) and FTP is ``ftplib`` (``transfer_ftp``), both blocking, run in
a worker thread (no extra dependency); the resumable ``.part`` file is ``transfer_part``, and the error type,
URL parsing and TLS setup they share are ``transfer_common``. This module dispatches by URL scheme.
``timeout_s`` bounds every network wait (connect, each read), not the whole transfer: a large image over a
slow modem may take minutes. Cancelling the awaiting task asks the worker to stop at its next chunk.

Errors: every failure is a ``TransferError`` whose ``reason`` names the cause (see ``Reason``); only a
malformed URL is not worth retrying. Credentials in a URL are used, and replaced by ``***`` wherever the URL
is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from chargepoint.service.transfer_common import (
    Progress,
    Reason,
    TransferError,
    log,
    parse_url,
    redact_url,
)
from chargepoint.service.transfer_ftp import download_ftp, upload_ftp
from chargepoint.service.transfer_http import download_http, upload_http
from chargepoint.service.transfer_part import PartFile

__all__ = ["Reason", "TransferError", "download", "redact_url", "upload", "with_retries"]

T = TypeVar("T")


async def _in_thread(work: Callable[[threading.Event], None], stop: threading.Event) -> None:
    try:
        await asyncio.to_thread(work, stop)
    except asyncio.CancelledError:
        stop.set()  # the worker notices at its next chunk and closes its connection
        raise


async def download(
    url: str, dest: Path, *, min_free_bytes: int = 0, ca_file: Path | None = None, timeout_s: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Fetch ``url`` (http, https, ftp, ftps) into ``dest``, resuming ``dest.part`` left by an earlier call.

    ``progress(bytes_done, bytes_total_or_None)`` is called on the event loop after each chunk.
    Raises:
        TransferError: with ``reason`` NoSpace before any byte is written when the announced size plus
            ``min_free_bytes`` does not fit; BadUrl, NotFound, PermissionDenied, Unreachable, TlsError,
            Interrupted (the partial file is kept for the next call), Rejected or LocalIoError otherwise.
    """
    target = parse_url(url)
    dest = Path(dest)
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def notify(done: int, total: int | None) -> None:
        if progress is not None and not stop.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed under a cancelled worker
                loop.call_soon_threadsafe(progress, done, total)

    part = PartFile(dest, min_free_bytes, stop, notify)
    fetch = download_http if target.scheme.startswith("http") else download_ftp

    def work(_stop: threading.Event) -> None:
        part.prepare()
        fetch(target, part, ca_file, timeout_s)

    log.info("downloading %s to %s", target.shown, dest)
    try:
        await _in_thread(work, stop)
    except TransferError as err:
        log.warning("download of %s failed: %s", target.shown, err)
        raise
    log.info("downloaded %s (%d bytes)", dest, dest.stat().st_size)
    return dest


async def upload(url: str, source: Path, *, method: str = "PUT", ca_file: Path | None = None,
                 timeout_s: float = 30.0) -> None:
    """Send ``source`` to ``url``: HTTP(S) PUT, or POST as multipart/form-data (field "file"); FTP(S) STOR.

    For FTP a URL ending in "/" names a folder and the source's file name is appended.
    Raises:
        TransferError: BadUrl, Unreachable, TlsError, PermissionDenied, NotFound, NoSpace (the server's),
            Interrupted, Rejected, or LocalIoError when ``source`` cannot be read.
        ValueError: ``method`` is neither PUT nor POST (our own misuse).
    """
    method = method.upper()
    if method not in ("PUT", "POST"):
        raise ValueError(f"upload method must be PUT or POST, not {method!r}")
    target = parse_url(url)
    source = Path(source)
    stop = threading.Event()
    log.info("uploading %s to %s", source, target.shown)

    def work(stop: threading.Event) -> None:
        if target.scheme.startswith("http"):
            upload_http(target, source, method, ca_file, timeout_s, stop)
        else:
            upload_ftp(target, source, ca_file, timeout_s, stop)

    try:
        await _in_thread(work, stop)
    except TransferError as err:
        log.warning("upload to %s failed: %s", target.shown, err)
        raise
    log.info("uploaded %s", source)


async def with_retries(
    op: Callable[[], Awaitable[T]], retries: int, interval_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``op`` up to ``1 + retries`` times, ``interval_s`` apart, while it fails with a retryable error.

    OCPP 1.6 §5.9 / §5.19 ``retries`` / ``retryInterval`` and 2.0.1 L01 / N01 the same: the count is of
    retries after the first attempt. The last TransferError is re-raised; any other exception at once.
    """
    if retries < 0 or interval_s < 0:
        raise ValueError("retries and interval_s must not be negative")
    attempt = 0
    while True:
        attempt += 1
        try:
            return await op()
        except TransferError as err:
            if attempt > retries or not err.retryable:
                raise
            log.info("attempt %d of %d failed (%s); retrying in %.0f s", attempt, retries + 1, err.reason,
                     interval_s)
        await sleep(interval_s)

"""File transfer for firmware updates and log uploads: resumable HTTP(S)/FTP(S) download, upload, retries.

Serves OCPP 1.6 UpdateFirmware / GetDiagnostics (§5.19, §5.9), the 1.6 security whitepaper's GetLog, and
OCPP 2.0.1 UpdateFirmware / GetLog (L01, N01). The CSMS gives a URL and ``retries`` / ``retryInterval``; the
station downloads into ``<dest>.part`` and renames only a complete file, so an interrupted firmware download
continues where it stopped (HTTP Range, FTP REST) and a half-written image is never taken for a whole one.

HTTP is ``http.client`` and FTP is ``ftplib``, both blocking, run in a worker thread (no extra dependency).
``timeout_s`` bounds every network wait (connect, each read), not the whole transfer: a large image over a
slow modem may take minutes. Cancelling the awaiting task asks the worker to stop at its next chunk.

Errors: every failure is a ``TransferError`` whose ``reason`` names the cause (see ``Reason``); only a
malformed URL is not worth retrying. Credentials in a URL are used, and replaced by ``***`` wherever the URL
is shown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import ftplib
import http.client
import logging
import os
import re
import secrets
import shutil
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

__all__ = ["Reason", "TransferError", "download", "redact_url", "upload", "with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int | None], None]

_CHUNK = 64 * 1024
_MAX_REDIRECTS = 5
_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 21}
_REDIRECTS = {301, 302, 303, 307, 308}
_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)|bytes\s+\*/(\d+)")


class Reason(StrEnum):
    """Why a transfer failed; the values are what the caller logs or maps to an OCPP status."""

    NOT_FOUND = "NotFound"  # HTTP 404/410, FTP 550 on RETR
    UNREACHABLE = "Unreachable"  # DNS, refused, connect timeout, FTP 421/425
    NO_SPACE = "NoSpace"  # not enough local space (checked first), or the server's storage is full
    BAD_URL = "BadUrl"  # malformed URL or unsupported scheme: the only reason retrying cannot help
    PERMISSION_DENIED = "PermissionDenied"  # HTTP 401/403, FTP 530 / STOR 550/553
    INTERRUPTED = "Interrupted"  # the connection broke mid-transfer (a download resumes on the next call)
    TLS = "TlsError"  # certificate not trusted, handshake failed, AUTH TLS refused
    REJECTED = "Rejected"  # any other refusal by the server (HTTP 4xx/5xx, FTP 5xx)
    LOCAL_IO = "LocalIoError"  # the local file could not be read or written


class TransferError(Exception):
    """A download or upload failed; ``reason`` says why, ``retryable`` whether another attempt may help."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.reason is not Reason.BAD_URL


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for logs and error messages."""
    return _USERINFO_RE.sub(r"\1***@", url)


@dataclass(frozen=True)
class _Target:
    url: str = field(repr=False)
    scheme: str
    host: str
    port: int
    path: str  # HTTP: path and query as sent; FTP: the decoded path relative to the login directory
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        return redact_url(self.url)


def _parse(url: str) -> _Target:
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise TransferError(Reason.BAD_URL, "URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise TransferError(Reason.BAD_URL, f"malformed URL {redact_url(url)}") from err
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise TransferError(Reason.BAD_URL, f"unsupported scheme {scheme!r} in {redact_url(url)}")
    if not parts.hostname:
        raise TransferError(Reason.BAD_URL, f"no host in {redact_url(url)}")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if scheme.startswith("http"):
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    else:
        # RFC 1738 §3.2.2: the path is relative to the login directory ("ftp://h//abs" is absolute).
        path = unquote(parts.path[1:])
    return _Target(url, scheme, parts.hostname, port or _PORTS[scheme], path, user, password)


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    # OCPP security whitepaper / 2.0.1 A00: TLS 1.2 or newer, the server certificate checked against the
    # CSMS-provided CA file or else the system store.
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as err:
        raise TransferError(Reason.TLS, f"cannot load CA file {ca_file}: {err}") from err
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tls_error(err: ssl.SSLError, where: str) -> TransferError:
    if isinstance(err, ssl.SSLCertVerificationError):
        return TransferError(Reason.TLS, f"certificate of {where} not trusted: {err.verify_message}")
    return TransferError(Reason.TLS, f"TLS handshake with {where} failed: {err.reason}")


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk (a power cut must not lose it).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _local_error(err: OSError, path: Path) -> TransferError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransferError(Reason.NO_SPACE, f"disk full while writing {path}")
    return TransferError(Reason.LOCAL_IO, f"{path}: {err.strerror or err}")


# ---------------------------------------------------------------- HTTP helpers


def _http_connect(target: _Target, ca_file: Path | None, timeout_s: float) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout_s,
                                           context=_tls_context(ca_file), blocksize=_CHUNK)
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s, blocksize=_CHUNK)
    try:
        conn.connect()
    except ssl.SSLError as err:
        conn.close()
        raise _tls_error(err, f"{target.host}:{target.port}") from err
    except OSError as err:
        conn.close()
        raise TransferError(Reason.UNREACHABLE,
                            f"cannot connect to {target.host}:{target.port}: {err.strerror or err}") from err
    return conn


def _http_headers(target: _Target) -> dict[str, str]:
    headers = {"User-Agent": "chargepoint", "Accept-Encoding": "identity"}
    if target.user is not None:
        pair = f"{target.user}:{target.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


def _status_error(status: int, target: _Target) -> TransferError:
    detail = f"HTTP {status} from {target.shown}"
    if status in (404, 410):
        return TransferError(Reason.NOT_FOUND, detail)
    if status in (401, 403, 407):
        return TransferError(Reason.PERMISSION_DENIED, detail)
    if status in (413, 507):
        return TransferError(Reason.NO_SPACE, detail)
    return TransferError(Reason.REJECTED, detail)


def _follow(target: _Target, location: str | None) -> _Target:
    if not location:
        raise TransferError(Reason.REJECTED, f"redirect without Location from {target.shown}")
    new = _parse(urljoin(target.url, location))
    if not new.scheme.startswith("http") or (target.scheme == "https" and new.scheme == "http"):
        raise TransferError(Reason.REJECTED, f"refused redirect from {target.shown} to {new.shown}")
    log.info("redirected to %s", new.shown)
    return new


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total length) of a Content-Range header (RFC 9110 §14.4); None where absent."""
    match = _CONTENT_RANGE_RE.fullmatch((value or "").strip())
    if match is None:
        return None, None
    if match.group(4) is not None:
        return None, int(match.group(4))
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _ftp_code(err: ftplib.Error) -> str:
    return str(err)[:3]


# ---------------------------------------------------------------- FTP helpers


@contextlib.contextmanager
def _ftp_session(target: _Target, ca_file: Path | None, timeout_s: float) -> Iterator[ftplib.FTP]:
    ftp: ftplib.FTP
    # ftps:// is explicit FTPS (RFC 4217): plain connect, then AUTH TLS before USER, then PROT P for data.
    # Plain ftp:// only because the CSMS asked for it (OCPP 1.6 allows it); credentials are then in clear.
    if target.scheme == "ftps":
        ftp = ftplib.FTP_TLS(context=_tls_context(ca_file), timeout=timeout_s)  # noqa: S321
    else:
        ftp = ftplib.FTP(timeout=timeout_s)  # noqa: S321
    where = f"{target.host}:{target.port}"
    try:
        try:
            ftp.connect(target.host, target.port)
        except (OSError, EOFError, ftplib.Error) as err:
            raise TransferError(Reason.UNREACHABLE, f"cannot connect to {where}: {err}") from err
        if isinstance(ftp, ftplib.FTP_TLS):
            try:
                ftp.auth()
            except ssl.SSLError as err:
                raise _tls_error(err, where) from err
            except ftplib.Error as err:
                raise TransferError(Reason.TLS, f"{where} refused AUTH TLS: {err}") from err
        try:
            ftp.login(target.user or "anonymous", target.password or "anonymous@")
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm as err:
            raise TransferError(Reason.PERMISSION_DENIED, f"login to {where} refused: {err}") from err
    except BaseException:
        ftp.close()
        raise
    try:
        yield ftp
    except BaseException:
        ftp.close()  # the control connection may be broken: no polite QUIT
        raise
    with contextlib.suppress(OSError, EOFError, ftplib.Error):
        ftp.quit()
    ftp.close()


def _ftp_error(err: Exception, target: _Target, *, storing: bool) -> TransferError:
    """Map an ftplib / socket failure during a transfer (RFC 959 §4.2 reply codes) to a reason."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return _tls_error(err, target.host)
    if isinstance(err, ftplib.error_perm):
        code = _ftp_code(err)
        if code in ("530", "532") or (storing and code in ("550", "553")):
            return TransferError(Reason.PERMISSION_DENIED, f"{err} ({target.shown})")
        if code == "550":
            return TransferError(Reason.NOT_FOUND, f"{err} ({target.shown})")
        if code == "552":
            return TransferError(Reason.NO_SPACE, f"{err} ({target.shown})")
        return TransferError(Reason.REJECTED, f"{err} ({target.shown})")
    if isinstance(err, ftplib.error_temp):
        code = _ftp_code(err)
        if code == "452":
            return TransferError(Reason.NO_SPACE, f"{err} ({target.shown})")
        if code in ("421", "425"):
            return TransferError(Reason.UNREACHABLE, f"{err} ({target.shown})")
        return TransferError(Reason.INTERRUPTED, f"{err} ({target.shown})")
    if isinstance(err, ftplib.Error):
        return TransferError(Reason.REJECTED, f"{err} ({target.shown})")
    return TransferError(Reason.INTERRUPTED, f"connection to {target.host} broke: {err}")


_FTP_FAILURES = (ftplib.Error, OSError, EOFError)


# ---------------------------------------------------------------- download


class _Download:
    """One download attempt, run in a worker thread."""

    def __init__(self, target: _Target, dest: Path, min_free_bytes: int, ca_file: Path | None,
                 timeout_s: float, stop: threading.Event, notify: Progress) -> None:
        self.target = target
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        # The resource's validator (ETag / Last-Modified) for If-Range, so a file replaced on the server
        # between attempts restarts from zero rather than being spliced onto the old part (RFC 9110 §13.1.5).
        self.validator_file = dest.with_name(dest.name + ".part.validator")
        self.min_free_bytes = min_free_bytes
        self.ca_file = ca_file
        self.timeout_s = timeout_s
        self.stop = stop
        self.notify = notify

    def run(self) -> None:
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _local_error(err, self.dest.parent) from err
        if self.target.scheme.startswith("http"):
            self._http()
        else:
            self._ftp()

    # -- shared

    def _offset(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _discard_part(self) -> None:
        for path in (self.part, self.validator_file):
            path.unlink(missing_ok=True)

    def _check_space(self, remaining: int | None) -> None:
        need = (remaining or 0) + self.min_free_bytes
        try:
            free = shutil.disk_usage(self.dest.parent).free
        except OSError as err:
            raise _local_error(err, self.dest.parent) from err
        if free < need:
            raise TransferError(Reason.NO_SPACE, f"{need} bytes needed in {self.dest.parent}, {free} free")

    @contextlib.contextmanager
    def _writer(self, offset: int, total: int | None) -> Iterator[Callable[[bytes], None]]:
        done = offset
        file: BinaryIO | None = None

        def open_part() -> BinaryIO:
            # Opened at the first byte, so a refusal after the size check (FTP 550) leaves no empty file.
            try:
                return self.part.open("ab" if offset else "wb")
            except OSError as err:
                raise _local_error(err, self.part) from err

        def write(chunk: bytes) -> None:
            nonlocal done, file
            if self.stop.is_set():
                raise TransferError(Reason.INTERRUPTED, "cancelled")
            file = file or open_part()
            try:
                file.write(chunk)
            except OSError as err:
                raise _local_error(err, self.part) from err
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
                                f"{self.target.shown}: connection ended after {done} of {total} bytes")

    def _finish(self) -> None:
        try:
            os.replace(self.part, self.dest)
            self.validator_file.unlink(missing_ok=True)
        except OSError as err:
            raise _local_error(err, self.dest) from err
        _fsync_dir(self.dest.parent)

    # -- HTTP

    def _http(self) -> None:
        target = self.target
        for _ in range(_MAX_REDIRECTS + 2):
            offset = self._offset()
            headers = _http_headers(target)
            if offset:
                headers["Range"] = f"bytes={offset}-"
                with contextlib.suppress(OSError, UnicodeError):
                    validator = self.validator_file.read_text().strip()
                    if validator.isprintable():
                        headers["If-Range"] = validator
                log.info("resuming %s at byte %d", target.shown, offset)
            conn = _http_connect(target, self.ca_file, self.timeout_s)
            try:
                try:
                    conn.request("GET", target.path, headers=headers)
                    response = conn.getresponse()
                except (OSError, http.client.HTTPException) as err:
                    raise TransferError(Reason.INTERRUPTED, f"{target.shown}: no response: {err}") from err
                if response.status in _REDIRECTS:
                    target = _follow(target, response.getheader("Location"))
                    continue
                if response.status == 416 and offset:
                    _, total = _content_range(response.getheader("Content-Range"))
                    if total == offset:  # the previous attempt got every byte but did not rename
                        self._finish()
                        return
                    log.info("partial %s does not fit %s; starting over", self.part, target.shown)
                    self._discard_part()
                    continue
                self._http_body(target, response, offset)
                return
            finally:
                conn.close()
        raise TransferError(Reason.REJECTED, f"too many redirects from {self.target.shown}")

    def _http_body(self, target: _Target, response: http.client.HTTPResponse, offset: int) -> None:
        if response.status == 206:
            first, total = _content_range(response.getheader("Content-Range"))
            if first != offset:
                raise TransferError(Reason.REJECTED, f"{target.shown} sent a range we did not ask for")
        elif response.status == 200:
            if offset:
                log.info("%s changed or ignores ranges; starting over", target.shown)
                offset = 0
            length = response.getheader("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise _status_error(response.status, target)
        self._check_space(None if total is None else total - offset)
        if offset == 0:
            self.validator_file.unlink(missing_ok=True)
            validator = response.getheader("ETag") or response.getheader("Last-Modified")
            if validator and not validator.startswith("W/"):  # If-Range needs a strong validator
                with contextlib.suppress(OSError):
                    self.validator_file.write_text(validator)
        with self._writer(offset, total) as write:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise TransferError(Reason.INTERRUPTED, f"{target.shown}: {type(err).__name__}") from err
                if not chunk:
                    break
                write(chunk)
        self._finish()

    # -- FTP

    def _ftp(self) -> None:
        target = self.target
        if not target.path or target.path.endswith("/") or "\r" in target.path or "\n" in target.path:
            raise TransferError(Reason.BAD_URL, f"no file name in {target.shown}")
        with _ftp_session(target, self.ca_file, self.timeout_s) as ftp:
            try:
                ftp.voidcmd("TYPE I")  # SIZE counts bytes only in binary mode (RFC 3659 §4)
                total = ftp.size(target.path)
            except ftplib.error_perm:
                total = None  # no SIZE support or no such file: RETR will tell which
            except _FTP_FAILURES as err:
                raise _ftp_error(err, target, storing=False) from err
            offset = self._offset()
            if offset and total is not None and offset >= total:
                if offset == total:
                    self._finish()
                    return
                log.info("partial %s is longer than %s; starting over", self.part, target.shown)
                self._discard_part()
                offset = 0
            if offset:
                log.info("resuming %s at byte %d", target.shown, offset)
            self._check_space(None if total is None else total - offset)
            try:
                self._retr(ftp, offset, total)
            except _RestRefused:
                # Without REST a partial file can never be completed: start over rather than fail forever.
                log.info("%s cannot resume; starting over", target.shown)
                self._discard_part()
                self._check_space(total)
                self._retr(ftp, 0, total)
        self._finish()

    def _retr(self, ftp: ftplib.FTP, offset: int, total: int | None) -> None:
        with self._writer(offset, total) as write:
            try:
                # REST before RETR (RFC 3659 §5): the server starts at our partial file's length.
                ftp.retrbinary(f"RETR {self.target.path}", write, blocksize=_CHUNK, rest=offset or None)
            except ftplib.error_perm as err:
                if offset and _ftp_code(err) in ("500", "501", "502", "504"):
                    raise _RestRefused from err
                raise _ftp_error(err, self.target, storing=False) from err
            except _FTP_FAILURES as err:
                raise _ftp_error(err, self.target, storing=False) from err


class _RestRefused(Exception):
    """The FTP server does not implement REST (RFC 959 reply 50x to it)."""


# ---------------------------------------------------------------- upload


def _chunks(file: BinaryIO, size: int, stop: threading.Event, head: bytes = b"", tail: bytes = b"",
            ) -> Iterator[bytes]:
    """The body: ``head``, exactly ``size`` bytes of ``file`` (a log still growing must not overrun the
    Content-Length we announced), ``tail``."""
    if head:
        yield head
    left = size
    while left > 0:
        chunk = file.read(min(_CHUNK, left))
        if not chunk:
            raise TransferError(Reason.LOCAL_IO, f"{getattr(file, 'name', 'source')} shrank while uploading")
        if stop.is_set():
            raise TransferError(Reason.INTERRUPTED, "cancelled")
        left -= len(chunk)
        yield chunk
    if tail:
        yield tail


def _upload_http(target: _Target, source: Path, method: str, ca_file: Path | None, timeout_s: float,
                 stop: threading.Event) -> None:
    headers = _http_headers(target)
    head = tail = b""
    if method == "POST":
        # RFC 7578: one part named "file", carrying the file name the CSMS will store it under.
        boundary = "cp-" + secrets.token_hex(16)
        safe_name = re.sub(r'["\r\n\\]', "_", source.name)
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    else:
        headers["Content-Type"] = "application/octet-stream"
    try:
        file = source.open("rb")
        size = os.fstat(file.fileno()).st_size
    except OSError as err:
        raise _local_error(err, source) from err
    headers["Content-Length"] = str(len(head) + size + len(tail))
    with file:
        conn = _http_connect(target, ca_file, timeout_s)
        try:
            try:
                conn.request(method, target.path, body=_chunks(file, size, stop, head, tail), headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as err:
                raise TransferError(Reason.INTERRUPTED, f"{target.shown}: {type(err).__name__}") from err
        finally:
            conn.close()
    if not 200 <= response.status < 300:
        raise _status_error(response.status, target)


def _upload_ftp(target: _Target, source: Path, ca_file: Path | None, timeout_s: float,
                stop: threading.Event) -> None:
    path = target.path + source.name if not target.path or target.path.endswith("/") else target.path
    if "\r" in path or "\n" in path:
        raise TransferError(Reason.BAD_URL, f"bad path in {target.shown}")

    def check(_: bytes) -> None:
        if stop.is_set():
            raise TransferError(Reason.INTERRUPTED, "cancelled")

    try:
        file = source.open("rb")
    except OSError as err:
        raise _local_error(err, source) from err
    with file, _ftp_session(target, ca_file, timeout_s) as ftp:
        try:
            ftp.storbinary(f"STOR {path}", file, blocksize=_CHUNK, callback=check)
        except _FTP_FAILURES as err:
            raise _ftp_error(err, target, storing=True) from err


# ---------------------------------------------------------------- public API


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
    target = _parse(url)
    dest = Path(dest)
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def notify(done: int, total: int | None) -> None:
        if progress is not None and not stop.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed under a cancelled worker
                loop.call_soon_threadsafe(progress, done, total)

    job = _Download(target, dest, min_free_bytes, ca_file, timeout_s, stop, notify)
    log.info("downloading %s to %s", target.shown, dest)
    try:
        await _in_thread(lambda _stop: job.run(), stop)
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
    target = _parse(url)
    source = Path(source)
    stop = threading.Event()
    log.info("uploading %s to %s", source, target.shown)

    def work(stop: threading.Event) -> None:
        if target.scheme.startswith("http"):
            _upload_http(target, source, method, ca_file, timeout_s, stop)
        else:
            _upload_ftp(target, source, ca_file, timeout_s, stop)

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

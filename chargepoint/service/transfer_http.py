"""HTTP(S) download (resumed with Range / If-Range, redirects followed) and upload (PUT, multipart POST).

Internal to ``transfer``: blocking ``http.client`` calls, run in the worker thread ``transfer`` starts.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import secrets
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

from chargepoint.service.transfer_common import (
    CHUNK,
    Reason,
    Target,
    TransferError,
    local_error,
    log,
    parse_url,
    tls_context,
    tls_error,
)
from chargepoint.service.transfer_part import PartFile

__all__ = ["download_http", "upload_http"]

_MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)|bytes\s+\*/(\d+)")


def _http_connect(target: Target, ca_file: Path | None, timeout_s: float) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout_s,
                                           context=tls_context(ca_file), blocksize=CHUNK)
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s, blocksize=CHUNK)
    try:
        conn.connect()
    except ssl.SSLError as err:
        conn.close()
        raise tls_error(err, f"{target.host}:{target.port}") from err
    except OSError as err:
        conn.close()
        raise TransferError(Reason.UNREACHABLE,
                            f"cannot connect to {target.host}:{target.port}: {err.strerror or err}") from err
    return conn


def _http_headers(target: Target) -> dict[str, str]:
    headers = {"User-Agent": "chargepoint", "Accept-Encoding": "identity"}
    if target.user is not None:
        pair = f"{target.user}:{target.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


def _status_error(status: int, target: Target) -> TransferError:
    detail = f"HTTP {status} from {target.shown}"
    if status in (404, 410):
        return TransferError(Reason.NOT_FOUND, detail)
    if status in (401, 403, 407):
        return TransferError(Reason.PERMISSION_DENIED, detail)
    if status in (413, 507):
        return TransferError(Reason.NO_SPACE, detail)
    return TransferError(Reason.REJECTED, detail)


def _follow(target: Target, location: str | None) -> Target:
    if not location:
        raise TransferError(Reason.REJECTED, f"redirect without Location from {target.shown}")
    new = parse_url(urljoin(target.url, location))
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


# ---------------------------------------------------------------- download


def download_http(target: Target, part: PartFile, ca_file: Path | None, timeout_s: float) -> None:
    """GET ``target`` into ``part``, resuming at its length, then rename it to the destination."""
    requested = target
    for _ in range(_MAX_REDIRECTS + 2):
        offset = part.offset()
        headers = _http_headers(target)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            with contextlib.suppress(OSError, UnicodeError):
                validator = part.validator_file.read_text().strip()
                if validator.isprintable():
                    headers["If-Range"] = validator
            log.info("resuming %s at byte %d", target.shown, offset)
        conn = _http_connect(target, ca_file, timeout_s)
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
                    part.finish()
                    return
                log.info("partial %s does not fit %s; starting over", part.part, target.shown)
                part.discard()
                continue
            _http_body(target, response, offset, part, requested.shown)
            return
        finally:
            conn.close()
    raise TransferError(Reason.REJECTED, f"too many redirects from {requested.shown}")


def _http_body(target: Target, response: http.client.HTTPResponse, offset: int, part: PartFile,
               requested: str) -> None:
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
    part.check_space(None if total is None else total - offset)
    if offset == 0:
        part.validator_file.unlink(missing_ok=True)
        validator = response.getheader("ETag") or response.getheader("Last-Modified")
        if validator and not validator.startswith("W/"):  # If-Range needs a strong validator
            with contextlib.suppress(OSError):
                part.validator_file.write_text(validator)
    with part.writer(offset, total, requested) as write:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise TransferError(Reason.INTERRUPTED, f"{target.shown}: {type(err).__name__}") from err
            if not chunk:
                break
            write(chunk)
    part.finish()


# ---------------------------------------------------------------- upload


def _chunks(file: BinaryIO, size: int, stop: threading.Event, head: bytes = b"", tail: bytes = b"",
            ) -> Iterator[bytes]:
    """The body: ``head``, exactly ``size`` bytes of ``file`` (a log still growing must not overrun the
    Content-Length we announced), ``tail``."""
    if head:
        yield head
    left = size
    while left > 0:
        chunk = file.read(min(CHUNK, left))
        if not chunk:
            raise TransferError(Reason.LOCAL_IO, f"{getattr(file, 'name', 'source')} shrank while uploading")
        if stop.is_set():
            raise TransferError(Reason.INTERRUPTED, "cancelled")
        left -= len(chunk)
        yield chunk
    if tail:
        yield tail


def upload_http(target: Target, source: Path, method: str, ca_file: Path | None, timeout_s: float,
                stop: threading.Event) -> None:
    """Send ``source`` with ``method`` PUT (the raw bytes) or POST (multipart/form-data, field "file")."""
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
        raise local_error(err, source) from err
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

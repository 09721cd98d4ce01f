"""What every transfer shares, whatever the protocol: the error type, URL parsing and redaction, TLS setup.

Internal to ``transfer``: import the public names (``Reason``, ``TransferError``, ``redact_url``) from
``chargepoint.service.transfer``.
"""

from __future__ import annotations

import errno
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from chargepoint.service.logs import hide_url_credentials

__all__ = [
    "CHUNK",
    "Progress",
    "Reason",
    "Target",
    "TransferError",
    "local_error",
    "log",
    "parse_url",
    "redact_url",
    "tls_context",
    "tls_error",
]

# One logger for the whole transfer family (the name it had before the protocols got their own modules).
log = logging.getLogger("chargepoint.service.transfer")

Progress = Callable[[int, int | None], None]

CHUNK = 64 * 1024
_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 21}


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
    return hide_url_credentials(url)


@dataclass(frozen=True)
class Target:
    """A parsed transfer URL; the credentials never show in its repr."""

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


def parse_url(url: str) -> Target:
    """Split ``url`` (http, https, ftp, ftps) into a ``Target``, or raise TransferError(BadUrl)."""
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
    return Target(url, scheme, parts.hostname, port or _PORTS[scheme], path, user, password)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The client TLS context for HTTPS and FTPS."""
    # OCPP security whitepaper / 2.0.1 A00: TLS 1.2 or newer, the server certificate checked against the
    # CSMS-provided CA file or else the system store.
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as err:
        raise TransferError(Reason.TLS, f"cannot load CA file {ca_file}: {err}") from err
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_error(err: ssl.SSLError, where: str) -> TransferError:
    if isinstance(err, ssl.SSLCertVerificationError):
        return TransferError(Reason.TLS, f"certificate of {where} not trusted: {err.verify_message}")
    return TransferError(Reason.TLS, f"TLS handshake with {where} failed: {err.reason}")


def local_error(err: OSError, path: Path) -> TransferError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransferError(Reason.NO_SPACE, f"disk full while writing {path}")
    return TransferError(Reason.LOCAL_IO, f"{path}: {err.strerror or err}")

"""FTP(S) download (resumed with REST) and upload (STOR), with FTP reply codes mapped to transfer reasons.

Internal to ``transfer``: blocking ``ftplib`` calls, run in the worker thread ``transfer`` starts.
"""

from __future__ import annotations

import contextlib
import ftplib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from chargepoint.service.transfer_common import (
    CHUNK,
    Reason,
    Target,
    TransferError,
    local_error,
    log,
    tls_context,
    tls_error,
)
from chargepoint.service.transfer_part import PartFile

__all__ = ["download_ftp", "upload_ftp"]

_FTP_FAILURES = (ftplib.Error, OSError, EOFError)


def _ftp_code(err: ftplib.Error) -> str:
    return str(err)[:3]


@contextlib.contextmanager
def _ftp_session(target: Target, ca_file: Path | None, timeout_s: float) -> Iterator[ftplib.FTP]:
    ftp: ftplib.FTP
    # ftps:// is explicit FTPS (RFC 4217): plain connect, then AUTH TLS before USER, then PROT P for data.
    # Plain ftp:// only because the CSMS asked for it (OCPP 1.6 allows it); credentials are then in clear.
    if target.scheme == "ftps":
        ftp = ftplib.FTP_TLS(context=tls_context(ca_file), timeout=timeout_s)  # noqa: S321
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
                raise tls_error(err, where) from err
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


def _ftp_error(err: Exception, target: Target, *, storing: bool) -> TransferError:
    """Map an ftplib / socket failure during a transfer (RFC 959 §4.2 reply codes) to a reason."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return tls_error(err, target.host)
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


class _RestRefused(Exception):
    """The FTP server does not implement REST (RFC 959 reply 50x to it)."""


# ---------------------------------------------------------------- download


def download_ftp(target: Target, part: PartFile, ca_file: Path | None, timeout_s: float) -> None:
    """RETR ``target`` into ``part``, resuming at its length, then rename it to the destination."""
    if not target.path or target.path.endswith("/") or "\r" in target.path or "\n" in target.path:
        raise TransferError(Reason.BAD_URL, f"no file name in {target.shown}")
    with _ftp_session(target, ca_file, timeout_s) as ftp:
        try:
            ftp.voidcmd("TYPE I")  # SIZE counts bytes only in binary mode (RFC 3659 §4)
            total = ftp.size(target.path)
        except ftplib.error_perm:
            total = None  # no SIZE support or no such file: RETR will tell which
        except _FTP_FAILURES as err:
            raise _ftp_error(err, target, storing=False) from err
        offset = part.offset()
        if offset and total is not None and offset >= total:
            if offset == total:
                part.finish()
                return
            log.info("partial %s is longer than %s; starting over", part.part, target.shown)
            part.discard()
            offset = 0
        if offset:
            log.info("resuming %s at byte %d", target.shown, offset)
        part.check_space(None if total is None else total - offset)
        try:
            _retr(ftp, target, part, offset, total)
        except _RestRefused:
            # Without REST a partial file can never be completed: start over rather than fail forever.
            log.info("%s cannot resume; starting over", target.shown)
            part.discard()
            part.check_space(total)
            _retr(ftp, target, part, 0, total)
    part.finish()


def _retr(ftp: ftplib.FTP, target: Target, part: PartFile, offset: int, total: int | None) -> None:
    with part.writer(offset, total, target.shown) as write:
        try:
            # REST before RETR (RFC 3659 §5): the server starts at our partial file's length.
            ftp.retrbinary(f"RETR {target.path}", write, blocksize=CHUNK, rest=offset or None)
        except ftplib.error_perm as err:
            if offset and _ftp_code(err) in ("500", "501", "502", "504"):
                raise _RestRefused from err
            raise _ftp_error(err, target, storing=False) from err
        except _FTP_FAILURES as err:
            raise _ftp_error(err, target, storing=False) from err


# ---------------------------------------------------------------- upload


def upload_ftp(target: Target, source: Path, ca_file: Path | None, timeout_s: float,
               stop: threading.Event) -> None:
    """STOR ``source`` at ``target``; a path ending in "/" names a folder and gets the source's file name."""
    path = target.path + source.name if not target.path or target.path.endswith("/") else target.path
    if "\r" in path or "\n" in path:
        raise TransferError(Reason.BAD_URL, f"bad path in {target.shown}")

    def check(_: bytes) -> None:
        if stop.is_set():
            raise TransferError(Reason.INTERRUPTED, "cancelled")

    try:
        file = source.open("rb")
    except OSError as err:
        raise local_error(err, source) from err
    with file, _ftp_session(target, ca_file, timeout_s) as ftp:
        try:
            ftp.storbinary(f"STOR {path}", file, blocksize=CHUNK, callback=check)
        except _FTP_FAILURES as err:
            raise _ftp_error(err, target, storing=True) from err

"""Executes the core's certificate, firmware, log-upload and security-log actions, and reports back as events.

The core decides *what* (OCPP 1.6 security extension and FirmwareManagement, 2.0.1 blocks A, L, M, N); this
shell does the I/O: ``PkiCommand`` runs one operation of the certificate store (``pki.py``) and answers
with a ``PkiResult``; ``StartJob`` starts a firmware download, a firmware install or a log upload as a named
task that reports ``JobProgress`` events; ``CancelJob`` stops one; ``RecordSecurityEvent`` appends a line to
``<state>/security.log`` (1.6 security whitepaper §2.7, 2.0.1 A04.FR.04).

Files under the state directory:
  firmware/<hash>-<name>      the downloaded image (``.part`` while incomplete: a new attempt resumes it)
  logs/                       the service's rotating log (``logs.py``), taken by a diagnostics upload
  security.log                one ``<ISO UTC> <kind> <info>`` line per security event, fsynced
  uploads/                    the archive being uploaded (removed afterwards)

Nothing here blocks the event loop: the store and the archive run through ``asyncio.to_thread``, the
transfers in ``transfer.py``'s worker threads, the install hook as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509

from chargepoint.core.actions import CancelJob, PkiCommand, RecordSecurityEvent, StartJob
from chargepoint.core.events import Event, JobProgress, PkiResult
from chargepoint.service import logbundle
from chargepoint.service.pki import (
    CertificateHash,
    CertificateUse,
    HashAlgorithm,
    Pki,
    PkiError,
    PkiReason,
)
from chargepoint.service.transfer import Reason, TransferError, download, redact_url, upload, with_retries

__all__ = ["JobStatus", "Maintenance", "MaintenanceAction"]

log = logging.getLogger(__name__)

FIRMWARE_DIR = "firmware"
UPLOAD_DIR = "uploads"
LOG_DIR = "logs"
SECURITY_LOG = "security.log"
SECURITY_LOG_MAX_BYTES = 1 << 20  # about ten thousand events; one older generation is kept
RESERVE_BYTES = 16 * 1024 * 1024  # left free beside a firmware image: the state database must still grow
TRANSFER_TIMEOUT_S = 60.0  # per network wait, not per transfer (see transfer.py)
INSTALL_TIMEOUT_S = 30 * 60.0  # an install hook flashing a partition may take minutes, never forever
DEFAULT_RETRIES = 3  # when the CSMS leaves retries to the station (1.6 §5.9 / §5.19, L01 / N01)
DEFAULT_RETRY_INTERVAL_S = 30.0  # and retryInterval
_PARTIAL_SUFFIXES = (".part", ".validator")
_TAIL = 200  # characters of a hook's stderr kept for the failure detail (it ends up in techInfo / logs)

MaintenanceAction = PkiCommand | StartJob | CancelJob | RecordSecurityEvent


class JobStatus(StrEnum):
    """The ``JobProgress.status`` values (``StartJob``'s contract); the adapters map them to the wire."""

    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    INVALID_CERTIFICATE = "InvalidCertificate"
    INVALID_SIGNATURE = "InvalidSignature"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLATION_FAILED = "InstallationFailed"
    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"
    PERMISSION_DENIED = "PermissionDenied"
    BAD_MESSAGE = "BadMessage"


# The status a job of each kind ends with when it fails for a reason of our own (a bug, a full disk).
_FAILED = {
    "firmware_download": JobStatus.DOWNLOAD_FAILED,
    "firmware_install": JobStatus.INSTALLATION_FAILED,
    "log_upload": JobStatus.UPLOAD_FAILED,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime, timespec: str = "milliseconds") -> str:
    """``2024-05-01T12:00:00.123Z``: UTC with ``Z``, as OCPP timestamps and the log bundle's filter want."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class Maintenance:
    """The executor of the issue-7 actions for one station; ``attach`` it to the runner, ``close`` at exit.

    ``emit`` receives every ``PkiResult`` / ``JobProgress`` (the runner's ``events.put_nowait``);
    ``use_client_files(cert, key)`` is called once a signed certificate is accepted, so the transport
    presents it from its next connection (security profile 3); ``use_csms_roots(bundle)`` after every
    root installed or deleted, with the PEM bundle of the installed CSMS roots (None when there is none),
    so the transport trusts them from its next connection. ``clock`` gives the time certificates are
    checked at. ``ca_file`` verifies HTTPS / FTPS servers (the system store when None).
    """

    def __init__(
        self,
        state_dir: Path,
        pki: Pki,
        *,
        install_hook: Path | None = None,
        ca_file: Path | None = None,
        emit: Callable[[Event], None] | None = None,
        use_client_files: Callable[[Path, Path], None] | None = None,
        use_csms_roots: Callable[[Path | None], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        min_free_bytes: int = RESERVE_BYTES,
        transfer_timeout_s: float = TRANSFER_TIMEOUT_S,
        install_timeout_s: float = INSTALL_TIMEOUT_S,
    ) -> None:
        self.state_dir = state_dir
        self.pki = pki
        self.install_hook = install_hook
        self.ca_file = ca_file
        self.clock = clock
        self.min_free_bytes = min_free_bytes
        self.transfer_timeout_s = transfer_timeout_s
        self.install_timeout_s = install_timeout_s
        self._emit = emit
        self._use_client_files = use_client_files
        self._use_csms_roots = use_csms_roots
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pki_lock = asyncio.Lock()  # one store operation at a time: they rewrite shared files
        self._security_lines: asyncio.Queue[str] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    # -- paths -----------------------------------------------------------------------------------------

    @property
    def firmware_dir(self) -> Path:
        return self.state_dir / FIRMWARE_DIR

    @property
    def log_dir(self) -> Path:
        return self.state_dir / LOG_DIR

    @property
    def security_log(self) -> Path:
        return self.state_dir / SECURITY_LOG

    # -- public ----------------------------------------------------------------------------------------

    def attach(self, emit: Callable[[Event], None],
               use_client_files: Callable[[Path, Path], None] | None = None,
               use_csms_roots: Callable[[Path | None], None] | None = None) -> None:
        """Where results go (the runner's event queue), who switches the TLS client certificate and who
        takes the installed CSMS roots."""
        self._emit = emit
        if use_client_files is not None:
            self._use_client_files = use_client_files
        if use_csms_roots is not None:
            self._use_csms_roots = use_csms_roots

    @property
    def running_jobs(self) -> list[str]:
        return [job for job, task in self._jobs.items() if not task.done()]

    def submit(self, action: MaintenanceAction) -> None:
        """Start executing ``action``; returns at once (results come back through ``emit``)."""
        if self._closed:
            log.warning("%s after shutdown ignored", type(action).__name__)
            return
        match action:
            case PkiCommand():
                self._spawn(self._pki_command(action), f"pki-{action.op}-{action.ref}")
            case StartJob():
                self._start_job(action)
            case CancelJob(job):
                task = self._jobs.get(job)
                if task is not None and not task.done():
                    log.info("job %s cancelled", job)
                    task.cancel()
            case RecordSecurityEvent():
                self._record(action)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Shutdown: the pending security-log lines are written, then every job and command is cancelled
        (a download keeps its ``.part`` for the next start; an install hook is killed)."""
        self._closed = True
        if self._writer is not None and not self._writer.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._security_lines.join()
        tasks = [*self._jobs.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    # -- tasks -----------------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit_event(self, event: Event) -> None:
        if self._emit is None:
            log.error("no receiver for %s (Maintenance.attach was not called)", type(event).__name__)
            return
        self._emit(event)

    def _start_job(self, action: StartJob) -> None:
        old = self._jobs.get(action.job)
        if old is not None and not old.done():
            old.cancel()  # the same job started again: the newest wins
        runners = {
            "firmware_download": self._firmware_download,
            "firmware_install": self._firmware_install,
            "log_upload": self._log_upload,
        }
        run = runners.get(action.kind)
        if run is None:
            log.error("job %s: unknown kind %r", action.job, action.kind)
            return
        task = asyncio.create_task(self._guarded(action, run), name=f"job-{action.kind}-{action.job}")
        self._jobs[action.job] = task
        log.info("job %s (%s) started", action.job, action.kind)

        def forget(done: asyncio.Task[None]) -> None:
            if self._jobs.get(action.job) is done:
                del self._jobs[action.job]

        task.add_done_callback(forget)

    async def _guarded(self, action: StartJob,
                       run: Callable[[str, dict[str, object]], Coroutine[object, object, None]]) -> None:
        """The task boundary: any unexpected error becomes the kind's failure status and one log line."""
        try:
            await run(action.job, action.args)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("job %s (%s) failed", action.job, action.kind)
            self._progress(action.job, _FAILED[action.kind], f"internal error: {type(err).__name__}")

    def _progress(self, job: str, status: JobStatus, detail: str = "") -> None:
        if detail:
            log.info("job %s: %s (%s)", job, status, detail)
        else:
            log.info("job %s: %s", job, status)
        self._emit_event(JobProgress(job, status.value, detail))

    # -- certificates ----------------------------------------------------------------------------------

    async def _pki_command(self, command: PkiCommand) -> None:
        try:
            async with self._pki_lock:
                result = await asyncio.to_thread(self._pki_operation, command.op, command.args)
                if command.op in ("install_root", "delete"):
                    await self._refresh_csms_roots()
        except PkiError as err:
            self._answer(command, False, {"reason": err.reason.value, "detail": err.detail})
            return
        except OSError as err:
            log.error("pki %s failed: %s", command.op, err.strerror or err)
            self._answer(command, False, {"reason": PkiReason.WRITE_FAILED.value,
                                          "detail": str(err.strerror or err)})
            return
        except (ValueError, KeyError, TypeError) as err:
            log.warning("pki %s refused: %s", command.op, err)
            self._answer(command, False, {"reason": PkiReason.INVALID_CERTIFICATE.value, "detail": str(err)})
            return
        if command.op == "accept_signed":
            files = await asyncio.to_thread(self.pki.client_files)
            if files is not None and self._use_client_files is not None:
                # A02 / A03: the new certificate is presented from the next connection on; the open one
                # stays as it is (the core decides whether to reconnect).
                self._use_client_files(*files)
        self._answer(command, True, result)

    async def _refresh_csms_roots(self) -> None:
        """M05 / M04: the TLS connection to the CSMS trusts the installed CSMS roots from the next
        connection on, and no longer a deleted one (called with the store's lock held)."""
        if self._use_csms_roots is None:
            return
        try:
            bundle = await asyncio.to_thread(self.pki.ca_bundle)
        except OSError as err:  # the store changed; only its TLS bundle could not be rewritten
            log.error("pki: CSMS root bundle not refreshed: %s", err.strerror or err)
            return
        self._use_csms_roots(bundle)

    def _answer(self, command: PkiCommand, ok: bool, result: dict[str, object]) -> None:
        self._emit_event(PkiResult(command.ref, command.op, ok, result))

    def _pki_operation(self, op: str, args: dict[str, object]) -> dict[str, object]:
        """One store operation, in a worker thread (key generation and file writes block)."""
        pki, now = self.pki, self.clock()
        if op == "csr":
            use = args.get("use")
            if use not in (None, "", CertificateUse.CHARGE_POINT.value, CertificateUse.CHARGE_POINT.ocpp201):
                # Only the station's own key lives here; ISO 15118 (V2G) certificates are not supported.
                raise PkiError(PkiReason.INVALID_CERTIFICATE, f"no certificate signing request for {use}")
            organization = args.get("organization")
            return {"csr": pki.csr(organization if isinstance(organization, str) else None)}
        if op == "accept_signed":
            pki.accept_signed(_text(args, "chain"), now)
            return {"expires": self._client_expiry()}
        if op == "install_root":
            pki.install_root(CertificateUse.from_wire(_text(args, "use")), _text(args, "pem"), now)
            return {"status": "Accepted"}
        if op == "delete":
            return {"status": self._delete(args.get("hash"))}
        if op == "list":
            return {"certificates": self._list(args.get("uses"))}
        if op == "status":
            return {"expires": self._client_expiry()}
        if op == "verify_firmware_certificate":
            pki.verify_firmware_certificate(_text(args, "pem"), now)
            return {}
        raise ValueError(f"unknown certificate store operation {op!r}")

    def _client_expiry(self) -> str | None:
        files = self.pki.client_files()
        if files is None:
            return None
        try:
            leaf = x509.load_pem_x509_certificates(files[0].read_bytes())[0]
        except ValueError:
            return None
        return iso_utc(leaf.not_valid_after_utc, "seconds")

    def _delete(self, raw: object) -> str:
        if not isinstance(raw, dict):
            raise TypeError("delete needs a certificate hash")
        try:
            algorithm = HashAlgorithm(str(raw.get("hashAlgorithm", "")).upper())
        except ValueError:
            return "NotFound"  # no installed certificate is hashed with an algorithm we do not know
        wanted = CertificateHash(algorithm, str(raw.get("issuerNameHash", "")),
                                 str(raw.get("issuerKeyHash", "")), str(raw.get("serialNumber", "")))
        return self.pki.delete(wanted).value

    def _list(self, raw: object) -> list[dict[str, object]]:
        uses: list[CertificateUse] | None = None
        if isinstance(raw, list | tuple) and raw:
            uses = []
            for name in raw:
                try:
                    uses.append(CertificateUse.from_wire(str(name)))
                except ValueError:
                    continue  # a type we never store (2.0.1 V2GCertificateChain...): nothing to list
            if not uses:
                return []
        return [{"use": use.value, "hash": _hash_json(h)} for use, h in self.pki.installed(uses)]

    # -- security log ----------------------------------------------------------------------------------

    def _record(self, action: RecordSecurityEvent) -> None:
        info = " ".join(action.info.split())  # one event, one line: a newline would forge another entry
        line = f"{iso_utc(action.utc)} {action.kind}" + (f" {info}" if info else "") + "\n"
        self._security_lines.put_nowait(line)
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._write_security_log(), "security-log")

    async def _write_security_log(self) -> None:
        while True:
            lines = [await self._security_lines.get()]
            while not self._security_lines.empty():
                lines.append(self._security_lines.get_nowait())
            try:
                await asyncio.to_thread(_append_synced, self.security_log, "".join(lines))
            except OSError as err:
                log.error("cannot write %s: %s", self.security_log, err.strerror or err)
            finally:
                for _ in lines:
                    self._security_lines.task_done()

    # -- firmware --------------------------------------------------------------------------------------

    def image_path(self, url: str) -> Path:
        """Where ``url`` is downloaded to: the same URL always gives the same file, so a download
        interrupted by a restart resumes; the name keeps the URL's file name for the install hook."""
        digest = hashlib.sha256(redact_url(url).encode()).hexdigest()[:12]
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:100] or "firmware.bin"
        return self.firmware_dir / f"{digest}-{name}"

    async def _firmware_download(self, job: str, args: dict[str, object]) -> None:
        self._progress(job, JobStatus.DOWNLOADING)
        try:
            url = _text(args, "url")
        except (KeyError, TypeError) as err:
            self._progress(job, JobStatus.DOWNLOAD_FAILED, f"{Reason.BAD_URL.value}: {err}")
            return
        dest = self.image_path(url)
        await asyncio.to_thread(self._keep_only, dest)
        attempts = 0

        async def attempt() -> Path:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self._progress(job, JobStatus.DOWNLOADING)  # L01.FR.30: again at every retry
            return await download(url, dest, min_free_bytes=self.min_free_bytes, ca_file=self.ca_file,
                                  timeout_s=self.transfer_timeout_s)

        try:
            await with_retries(attempt, _count(args, "retries"), _seconds(args, "retry_interval_s"))
        except TransferError as err:
            self._progress(job, JobStatus.DOWNLOAD_FAILED, err.reason.value)
            return
        self._progress(job, JobStatus.DOWNLOADED)
        certificate, signature = args.get("signing_certificate"), args.get("signature")
        if not certificate and not signature:
            return  # unsigned (1.6 UpdateFirmware): nothing to verify
        try:
            async with self._pki_lock:
                # L01.FR.04: the signature is verified before anything may install the image.
                await asyncio.to_thread(self.pki.verify_firmware, str(certificate or ""),
                                        str(signature or ""), dest, self.clock())
        except PkiError as err:
            await asyncio.to_thread(_unlink, dest)  # never installed: a rejected image must not linger
            status = (JobStatus.INVALID_CERTIFICATE if err.reason is PkiReason.INVALID_CERTIFICATE
                      else JobStatus.INVALID_SIGNATURE)
            self._progress(job, status, err.detail)
            return
        except OSError as err:
            self._progress(job, JobStatus.INVALID_SIGNATURE, f"cannot read the image: {err.strerror or err}")
            return
        self._progress(job, JobStatus.SIGNATURE_VERIFIED)

    def _keep_only(self, dest: Path) -> None:
        """Remove older images and partial downloads: only the image being fetched may use the space."""
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        for path in dest.parent.iterdir():
            if not path.name.startswith(dest.name) and path.is_file():
                _unlink(path)

    def current_image(self) -> Path | None:
        """The last completely downloaded firmware image, or None."""
        if not self.firmware_dir.is_dir():
            return None
        images = [p for p in self.firmware_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_PARTIAL_SUFFIXES)]
        return max(images, key=lambda p: p.stat().st_mtime, default=None)

    async def _firmware_install(self, job: str, args: dict[str, object]) -> None:
        self._progress(job, JobStatus.INSTALLING)
        hook = self.install_hook
        if hook is None:
            self._progress(job, JobStatus.INSTALLATION_FAILED, "no [firmware] install_hook configured")
            return
        image = await asyncio.to_thread(self.current_image)
        if image is None:
            self._progress(job, JobStatus.INSTALLATION_FAILED, "no downloaded firmware image")
            return
        try:
            process = await asyncio.create_subprocess_exec(
                str(hook), str(image), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as err:
            self._progress(job, JobStatus.INSTALLATION_FAILED,
                           f"cannot run install hook {hook}: {err.strerror or err}")
            return
        try:
            async with asyncio.timeout(self.install_timeout_s):
                out, err_out = await process.communicate()
        except BaseException as err:  # cancelled or timed out: the hook must not outlive its job
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(err, TimeoutError):
                self._progress(job, JobStatus.INSTALLATION_FAILED,
                               f"install hook timed out after {self.install_timeout_s:.0f} s")
                return
            raise
        if process.returncode != 0:
            tail = err_out.decode(errors="replace").strip()[-_TAIL:]
            detail = f"install hook exited with status {process.returncode}" + (f": {tail}" if tail else "")
            self._progress(job, JobStatus.INSTALLATION_FAILED, detail)
            return
        said = {line.strip().lower() for line in out.decode(errors="replace").splitlines()}
        if "installed" in said:
            # The hook installed the image in place, without a restart: the image is spent.
            await asyncio.to_thread(_unlink, image)
            self._progress(job, JobStatus.INSTALLED)
        else:
            # The hook staged it (A/B slot, swupdate...): the new firmware runs after the restart the core
            # asks for (1.6 §5.19 / 2.0.1 L01 firmware status InstallRebooting).
            self._progress(job, JobStatus.INSTALL_REBOOTING)

    # -- log upload ------------------------------------------------------------------------------------

    async def _log_upload(self, job: str, args: dict[str, object]) -> None:
        self._progress(job, JobStatus.UPLOADING)
        try:
            url = _text(args, "url")
            kind = str(args.get("kind") or "diagnostics")
            since, until = _moment(args.get("since")), _moment(args.get("until"))
            file_name = str(args.get("file_name") or f"{kind}.tar.gz")
            await self._security_lines.join()  # the events recorded before this request are in it
            archive = await asyncio.to_thread(self._bundle, kind, since, until, file_name)
        except (KeyError, TypeError, ValueError) as err:
            self._progress(job, JobStatus.BAD_MESSAGE, str(err))
            return
        except OSError as err:
            self._progress(job, JobStatus.UPLOAD_FAILED, f"{Reason.LOCAL_IO.value}: {err.strerror or err}")
            return
        try:
            # HTTP(S) as multipart/form-data POST (field "file" with the file name, like FTP STOR into a
            # folder URL): the CSMS learns the name we announced in GetDiagnostics / GetLog.
            await with_retries(
                lambda: upload(url, archive, method="POST", ca_file=self.ca_file,
                               timeout_s=self.transfer_timeout_s),
                _count(args, "retries"), _seconds(args, "retry_interval_s"))
        except TransferError as err:
            status = {Reason.PERMISSION_DENIED: JobStatus.PERMISSION_DENIED,
                      Reason.BAD_URL: JobStatus.BAD_MESSAGE}.get(err.reason, JobStatus.UPLOAD_FAILED)
            self._progress(job, status, err.reason.value)
            return
        finally:
            await asyncio.to_thread(_unlink, archive)
        self._progress(job, JobStatus.UPLOADED)

    def _bundle(self, kind: str, since: datetime | None, until: datetime | None, file_name: str) -> Path:
        """The archive to upload: diagnostics = the service log folder and the security log; security =
        the security log alone (2.0.1 N01 SecurityLog, 1.6 security whitepaper GetLog)."""
        if kind not in ("diagnostics", "security"):
            raise ValueError(f"unknown log kind {kind!r}")
        if Path(file_name).name != file_name or file_name in (".", ".."):
            raise ValueError(f"bad file name {file_name!r}")
        name = file_name.removesuffix(".tar.gz") or kind
        sources = [self.log_dir] if kind == "diagnostics" and self.log_dir.is_dir() else []
        older = self.security_log.with_name(SECURITY_LOG + ".1")
        if older.exists():
            sources.append(older)  # the generation before the last rotation, filtered by period too
        security = self.security_log if self.security_log.exists() else None
        out = self.state_dir / UPLOAD_DIR
        archive = logbundle.bundle(out, sources, since=since, until=until, security_log=security, name=name)
        if archive.name != file_name:
            renamed = out / file_name
            os.replace(archive, renamed)
            return renamed
        return archive


# -- helpers ------------------------------------------------------------------------------------------------


def _hash_json(h: CertificateHash) -> dict[str, object]:
    """CertificateHashDataType as the wire wants it (camelCase)."""
    return {"hashAlgorithm": h.hash_algorithm.value, "issuerNameHash": h.issuer_name_hash,
            "issuerKeyHash": h.issuer_key_hash, "serialNumber": h.serial_number}


def _text(args: dict[str, object], key: str) -> str:
    value = args[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string")
    return value


def _count(args: dict[str, object], key: str) -> int:
    value = args.get(key)
    return max(0, value) if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_RETRIES


def _seconds(args: dict[str, object], key: str) -> float:
    value = args.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    return DEFAULT_RETRY_INTERVAL_S


def _moment(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError("a time must be an ISO 8601 string")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _append_synced(path: Path, text: str, max_bytes: int = SECURITY_LOG_MAX_BYTES) -> None:
    """Append ``text`` and fsync: a security event is evidence and must survive a power cut. A log past
    ``max_bytes`` becomes ``<name>.1`` first (one older generation kept), so flash use stays bounded."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size + len(text) > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()

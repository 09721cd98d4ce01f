"""Firmware updates and log uploads, version-neutral: the job state machines both adapters share.

Rules of this file:
- The shell does the work (download, signature check, install hook, upload) as ``StartJob`` jobs and reports
  back with ``JobProgress``; ``FW_RULES`` / ``LOG_RULES`` say where each reported status leads from each
  phase. A status the table does not list (a late report of a replaced job, a confused shell) is logged and
  ignored, never raised: it is an outside fact, not our bug.
- Every status is a new state of the update and goes to the CSMS (2.0.1 L01.FR.01 / N01, 1.6 §4.4 / §4.5);
  the adapter (``Wire``) says in which message and with which value, and raises the security events.
  Statuses are kept in the 2.0.1 FirmwareStatusEnumType vocabulary (a superset of 1.6's) plus the shell's
  ``InvalidCertificate``; the 1.6 adapter maps them down.
- At most one firmware job and one log job. A new request replaces a running one and cancels its shell job
  (2.0.1 L01.FR.24 AcceptedCanceled, N01.FR.12); an install under way cannot be cancelled (L01.FR.27:
  Rejected).
- The download starts at retrieveDateTime (DownloadScheduled before it, L01.FR.13); the install waits for
  installDateTime (InstallScheduled, L01.FR.16) and then for every EVSE to be out of use (1.6 §5.19 note,
  2.0.1 L01.FR.06). From then until the job ends every EVSE not in use is held Unavailable (L01.FR.07 with
  AllowNewSessionsPendingFirmwareUpdate absent; 1.6 §5.19 recommends it). The hold lives in memory only: the
  persisted availability stays the CSMS's.
- An install that asks for a restart (InstallRebooting, L01.FR.15) restarts the station after a short grace
  (the status reaches the CSMS first) and is reported Installed once the next boot is accepted (L01.FR.28).
- Each job is persisted at every step (rows ``firmware`` / ``log``, key ``job``). After a restart a scheduled
  job waits on, a download or upload in progress starts again (the shell resumes the partial file), an install
  cut short counts as failed (InstallationFailed: nobody knows what the hook did), a reboot asked for is the
  one that just happened.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from chargepoint.core.actions import (
    Action,
    CancelJob,
    Log,
    Persist,
    Reboot,
    RebootKind,
    SetEvseEnabled,
    StartJob,
)
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain.evse import Evse
from chargepoint.core.domain.info import StationInfo
from chargepoint.core.events import JobProgress
from chargepoint.core.timers import Timers

FIRMWARE = "firmware"  # persisted row kinds, one row each under key JOB
LOG = "log"
JOB = "job"
REBOOT_GRACE_S = 5.0  # time for InstallRebooting to reach the CSMS before the restart

RETRIEVE_TIMER = "fw.retrieve"
INSTALL_TIMER = "fw.install"
REBOOT_TIMER = "fw.reboot"

Rows = dict[str, list[tuple[str, object]]]


class FwPhase(StrEnum):
    """Where a firmware job is."""

    SCHEDULED = "Scheduled"  # waiting for retrieveDateTime
    DOWNLOADING = "Downloading"  # the firmware_download job runs
    VERIFYING = "Verifying"  # downloaded; a signed image waits for the shell's signature check
    INSTALL_SCHEDULED = "InstallScheduled"  # waiting for installDateTime
    WAITING = "Waiting"  # the install is due: waiting for the EVSEs to be out of use
    INSTALLING = "Installing"  # the firmware_install job runs
    REBOOTING = "Rebooting"  # the install hook asked for a restart: Installed after it
    DONE = "Done"  # installed or failed; kept for TriggerMessage


class LogPhase(StrEnum):
    UPLOADING = "Uploading"  # the log_upload job runs
    DONE = "Done"


# (phase, status the shell reported) -> next phase. Statuses come from StartJob's contract; DownloadPaused
# and InstallVerificationFailed are 2.0.1 states a shell may report too.
FW_RULES: dict[tuple[FwPhase, str], FwPhase] = {
    (FwPhase.DOWNLOADING, "Downloading"): FwPhase.DOWNLOADING,  # L01.FR.30: again for every attempt
    (FwPhase.DOWNLOADING, "DownloadPaused"): FwPhase.DOWNLOADING,  # L01.FR.14
    (FwPhase.DOWNLOADING, "Downloaded"): FwPhase.VERIFYING,
    (FwPhase.DOWNLOADING, "DownloadFailed"): FwPhase.DONE,  # L01.FR.30: after the last retry
    (FwPhase.DOWNLOADING, "InvalidCertificate"): FwPhase.DONE,  # a shell that checks it before downloading
    (FwPhase.VERIFYING, "SignatureVerified"): FwPhase.INSTALL_SCHEDULED,
    (FwPhase.VERIFYING, "InvalidSignature"): FwPhase.DONE,  # L01.FR.03
    (FwPhase.VERIFYING, "InvalidCertificate"): FwPhase.DONE,  # L01.FR.02
    (FwPhase.INSTALLING, "Installing"): FwPhase.INSTALLING,
    (FwPhase.INSTALLING, "InstallRebooting"): FwPhase.REBOOTING,  # L01.FR.15
    (FwPhase.INSTALLING, "Installed"): FwPhase.DONE,  # L01.FR.28
    (FwPhase.INSTALLING, "InstallationFailed"): FwPhase.DONE,
    (FwPhase.INSTALLING, "InstallVerificationFailed"): FwPhase.DONE,  # L01.FR.29
}
# The phases in which a shell job runs; in the others every report is stale.
FW_JOB_PHASES = frozenset({FwPhase.DOWNLOADING, FwPhase.VERIFYING, FwPhase.INSTALLING})

LOG_RULES: dict[tuple[LogPhase, str], LogPhase] = {
    (LogPhase.UPLOADING, "Uploading"): LogPhase.UPLOADING,
    (LogPhase.UPLOADING, "Uploaded"): LogPhase.DONE,
    (LogPhase.UPLOADING, "UploadFailed"): LogPhase.DONE,
    (LogPhase.UPLOADING, "PermissionDenied"): LogPhase.DONE,
    (LogPhase.UPLOADING, "BadMessage"): LogPhase.DONE,
    (LogPhase.UPLOADING, "NotSupportedOperation"): LogPhase.DONE,
}


@dataclass(slots=True)
class FirmwareJob:
    """One firmware update as the CSMS asked for it, and how far it got. ``request_id`` is ``None`` for a
    1.6 UpdateFirmware (no request id on its wire)."""

    request_id: int | None
    location: str = field(repr=False)  # a URL may carry credentials
    retrieve_at: datetime
    install_at: datetime | None = None
    retries: int | None = None  # None: the shell's default
    retry_interval_s: int | None = None
    certificate: str | None = field(default=None, repr=False)
    signature: str | None = field(default=None, repr=False)
    phase: FwPhase = FwPhase.SCHEDULED
    job_id: str = ""
    last: str | None = None  # the last status reported for it (FirmwareStatusEnumType or InvalidCertificate)

    @property
    def secure(self) -> bool:
        """Signed: the shell verifies the image before it may be installed (2.0.1 L01, 1.6 security §3)."""
        return bool(self.certificate or self.signature)

    def to_record(self) -> dict[str, object]:
        return {
            "request_id": self.request_id, "location": self.location,
            "retrieve_at": format_timestamp(self.retrieve_at),
            "install_at": format_timestamp(self.install_at) if self.install_at else None,
            "retries": self.retries, "retry_interval_s": self.retry_interval_s,
            "certificate": self.certificate, "signature": self.signature,
            "phase": self.phase.value, "job_id": self.job_id, "last": self.last,
        }

    @classmethod
    def from_record(cls, value: object) -> FirmwareJob | None:
        if not isinstance(value, dict):
            return None
        location, phase, retrieve = value.get("location"), value.get("phase"), value.get("retrieve_at")
        retrieve_at = parse_timestamp(retrieve) if isinstance(retrieve, str) else None
        if not isinstance(location, str) or retrieve_at is None or phase not in tuple(FwPhase):
            return None
        install = value.get("install_at")
        return cls(
            _int_or_none(value.get("request_id")), location, retrieve_at,
            parse_timestamp(install) if isinstance(install, str) else None,
            _int_or_none(value.get("retries")), _int_or_none(value.get("retry_interval_s")),
            _str_or_none(value.get("certificate")), _str_or_none(value.get("signature")),
            FwPhase(str(phase)), str(value.get("job_id") or ""), _str_or_none(value.get("last")),
        )


@dataclass(slots=True)
class LogJob:
    """One log upload. ``origin`` is the request (1.6 GetDiagnostics, or GetLog of either version);
    ``kind`` the log (``diagnostics`` / ``security``); ``request_id`` ``None`` for GetDiagnostics."""

    origin: str
    request_id: int | None
    kind: str
    url: str = field(repr=False)
    file_name: str
    since: datetime | None = None
    until: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    phase: LogPhase = LogPhase.UPLOADING
    job_id: str = ""
    last: str | None = None

    def to_record(self) -> dict[str, object]:
        return {
            "origin": self.origin, "request_id": self.request_id, "kind": self.kind, "url": self.url,
            "file_name": self.file_name,
            "since": format_timestamp(self.since) if self.since else None,
            "until": format_timestamp(self.until) if self.until else None,
            "retries": self.retries, "retry_interval_s": self.retry_interval_s,
            "phase": self.phase.value, "job_id": self.job_id, "last": self.last,
        }

    @classmethod
    def from_record(cls, value: object) -> LogJob | None:
        if not isinstance(value, dict):
            return None
        origin, kind, url = value.get("origin"), value.get("kind"), value.get("url")
        name, phase = value.get("file_name"), value.get("phase")
        if not all(isinstance(v, str) for v in (origin, kind, url, name)) or phase not in tuple(LogPhase):
            return None
        since, until = value.get("since"), value.get("until")
        return cls(
            str(origin), _int_or_none(value.get("request_id")), str(kind), str(url), str(name),
            parse_timestamp(since) if isinstance(since, str) else None,
            parse_timestamp(until) if isinstance(until, str) else None,
            _int_or_none(value.get("retries")), _int_or_none(value.get("retry_interval_s")),
            LogPhase(str(phase)), str(value.get("job_id") or ""), _str_or_none(value.get("last")),
        )


@dataclass(slots=True)
class Maintenance:
    """A station's jobs: at most one of each kind, and the EVSEs held Unavailable for an install."""

    firmware: FirmwareJob | None = None
    log: LogJob | None = None
    held: set[int] = field(default_factory=set)
    seq: int = 0


class Host(Protocol):
    """What the jobs need from a station object (both versions' stations have it)."""

    info: StationInfo
    evses: dict[int, Evse]
    station_operative: bool
    timers: Timers
    maintenance: Maintenance
    boot_count: int

    def time(self, now: Now) -> datetime: ...

    def sync_status(self, now: Now) -> list[Action]:
        """Report the connector statuses that changed."""
        ...


class Wire(Protocol):
    """What differs between the versions: the messages, the boot reason, when an EVSE counts as in use."""

    def firmware_status(self, job: FirmwareJob, status: str, detail: str, now: Now) -> list[Action]:
        """Report ``status`` of ``job`` to the CSMS and raise the security events it implies."""
        ...

    def log_status(self, job: LogJob, status: str, now: Now) -> list[Action]:
        """Report ``status`` of a log upload to the CSMS."""
        ...

    def in_use(self, evse: Evse) -> bool:
        """A session, a transaction or a power-loss stop still to send: not to be disturbed."""
        ...

    def before_reboot(self) -> list[Action]:
        """What to persist before the restart an install asked for."""
        ...


def state(host: Host) -> Maintenance:
    """The station's jobs."""
    return host.maintenance


# -- helpers ---------------------------------------------------------------------------------------------


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


def certificate_well_formed(pem: str) -> bool:
    """Whether ``pem`` is at least a PEM certificate (a base64 DER SEQUENCE). The chain, validity and key
    checks are the shell's, when it verifies the download; this catches garbage before accepting the request
    (2.0.1 L01.FR.21 / L01.FR.22, 1.6 security whitepaper the same)."""
    match = _PEM.search(pem)
    if match is None:
        return False
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(der) > 32 and der[0] == 0x30


def file_name(station_id: str, kind: str, moment: datetime) -> str:
    """The name a log upload gets: ``<station id>-<kind>-<UTC yyyymmddThhmmssZ>.tar.gz``."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{station_id}-{kind}-{stamp}.tar.gz"


def parse_optional(value: object) -> datetime | None:
    """An optional date-time field of a request; absent (or not a date-time) is ``None``."""
    return parse_timestamp(value) if isinstance(value, str) else None


def _new_id(host: Host, m: Maintenance, prefix: str) -> str:
    # The boot counter makes the id unique across restarts: a report of an older process's job never
    # matches the current one.
    m.seq += 1
    return f"{prefix}-{host.boot_count}-{m.seq}"


def _persist_fw(job: FirmwareJob) -> Persist:
    return Persist(FIRMWARE, JOB, job.to_record())


def _persist_log(job: LogJob) -> Persist:
    return Persist(LOG, JOB, job.to_record())


def _seconds_until(host: Host, moment: datetime | None, now: Now) -> float:
    return 0.0 if moment is None else (moment - host.time(now)).total_seconds()


# -- firmware ----------------------------------------------------------------------------------------------


def update_firmware(host: Host, wire: Wire, job: FirmwareJob, now: Now) -> tuple[str, list[Action]]:
    """A new update request: ``Accepted``, ``AcceptedCanceled`` (a running update was cancelled, L01.FR.24)
    or ``Rejected`` (an install is under way and cannot be cancelled, L01.FR.27), with the actions."""
    m = state(host)
    old = m.firmware
    if old is not None and old.phase in (FwPhase.INSTALLING, FwPhase.REBOOTING):
        return "Rejected", [Log(logging.WARNING, "firmware update refused: an installation is under way")]
    actions: list[Action] = []
    cancelled = old is not None and old.phase is not FwPhase.DONE
    if old is not None and cancelled:
        actions += _abandon(host, m, old)
        actions.append(Log(logging.INFO, f"firmware update {old.request_id} cancelled by a new request"))
    m.firmware = job
    actions.append(Log(logging.INFO, f"firmware update {job.request_id} accepted, retrieve at "
                       f"{format_timestamp(job.retrieve_at)}"))
    actions += _schedule_download(host, wire, job, now)
    return ("AcceptedCanceled" if cancelled else "Accepted"), actions


def _abandon(host: Host, m: Maintenance, job: FirmwareJob) -> list[Action]:
    """Stop a replaced job: its shell job, its timers, its hold on the EVSEs."""
    actions: list[Action] = []
    if job.phase in FW_JOB_PHASES and job.job_id:
        actions.append(CancelJob(job.job_id))
    for name in (RETRIEVE_TIMER, INSTALL_TIMER, REBOOT_TIMER):
        host.timers.cancel(name)
    job.phase = FwPhase.DONE
    return actions + _release(host, m)


def _schedule_download(host: Host, wire: Wire, job: FirmwareJob, now: Now) -> list[Action]:
    wait = _seconds_until(host, job.retrieve_at, now)
    if wait <= 0:
        return _start_download(host, job)
    # L01.FR.13 / 1.6 security: not downloading yet because retrieveDateTime is in the future.
    job.phase = FwPhase.SCHEDULED
    host.timers.set(RETRIEVE_TIMER, now.monotonic + wait)
    return [*_report(wire, job, "DownloadScheduled", "", now), _persist_fw(job)]


def _start_download(host: Host, job: FirmwareJob) -> list[Action]:
    m = state(host)
    job.phase = FwPhase.DOWNLOADING
    job.job_id = _new_id(host, m, "fw")
    args: dict[str, object] = {
        "url": job.location, "retries": job.retries, "retry_interval_s": job.retry_interval_s,
        "signing_certificate": job.certificate, "signature": job.signature,
    }
    return [_persist_fw(job), Log(logging.INFO, f"firmware download {job.job_id} starts"),
            StartJob(job.job_id, "firmware_download", args)]


def _report(wire: Wire, job: FirmwareJob, status: str, detail: str, now: Now) -> list[Action]:
    job.last = status
    return wire.firmware_status(job, status, detail, now)


def _firmware_progress(host: Host, wire: Wire, job: FirmwareJob, event: JobProgress,
                       now: Now) -> list[Action]:
    target = FW_RULES.get((job.phase, event.status))
    if target is None:
        return [Log(logging.WARNING, f"firmware job {job.job_id}: ignored {event.status} while "
                    f"{job.phase.value}")]
    why = f" ({event.detail})" if event.detail else ""
    actions: list[Action] = [Log(logging.INFO, f"firmware job {job.job_id}: {event.status}{why}"),
                             *_report(wire, job, event.status, event.detail, now)]
    job.phase = target
    if target is FwPhase.VERIFYING and not job.secure:
        target = FwPhase.INSTALL_SCHEDULED  # an unsigned image has no signature to check
    if target is FwPhase.INSTALL_SCHEDULED:
        actions += _schedule_install(host, wire, job, now)
    elif target is FwPhase.REBOOTING:
        host.timers.set(REBOOT_TIMER, now.monotonic + REBOOT_GRACE_S)
        actions += wire.before_reboot()
    elif target is FwPhase.DONE:
        actions += _release(host, state(host))
    actions.append(_persist_fw(job))
    return actions


def _schedule_install(host: Host, wire: Wire, job: FirmwareJob, now: Now) -> list[Action]:
    wait = _seconds_until(host, job.install_at, now)
    if wait <= 0:
        job.phase = FwPhase.WAITING  # when_idle starts it once no EVSE is in use
        return []
    # L01.FR.16 / L02.FR.10: installed at installDateTime.
    job.phase = FwPhase.INSTALL_SCHEDULED
    host.timers.set(INSTALL_TIMER, now.monotonic + wait)
    return _report(wire, job, "InstallScheduled", "", now)


def when_idle(host: Host, wire: Wire, now: Now) -> list[Action]:
    """After every event: hold free EVSEs while an install is due, and start it once none is in use."""
    m = state(host)
    job = m.firmware
    if job is None or job.phase not in (FwPhase.WAITING, FwPhase.INSTALLING):
        return []
    actions = _hold(host, wire, m)
    if job.phase is FwPhase.WAITING and not any(wire.in_use(e) for e in host.evses.values()):
        # 1.6 §5.19 / L01.FR.05-06: install as soon as no transaction runs.
        job.phase = FwPhase.INSTALLING
        job.job_id = _new_id(host, m, "fw")
        actions += [_persist_fw(job), Log(logging.WARNING, f"firmware install {job.job_id} starts"),
                    StartJob(job.job_id, "firmware_install", {})]
    if actions:
        actions += host.sync_status(now)  # the held EVSEs show Unavailable at once
    return actions


def _hold(host: Host, wire: Wire, m: Maintenance) -> list[Action]:
    """L01.FR.07 (AllowNewSessionsPendingFirmwareUpdate absent) / 1.6 §5.19: every EVSE not in use is set
    Unavailable until the firmware is installed, also one that becomes free while we wait."""
    actions: list[Action] = []
    for evse in host.evses.values():
        if evse.operative and not wire.in_use(evse):
            evse.operative = False
            m.held.add(evse.evse_id)
            actions += [SetEvseEnabled(evse.evse_id, False),
                        Log(logging.INFO, f"EVSE {evse.evse_id} held unavailable for the firmware install")]
    return actions


def _release(host: Host, m: Maintenance) -> list[Action]:
    actions: list[Action] = []
    for evse_id in sorted(m.held):
        evse = host.evses.get(evse_id)
        if evse is not None:
            evse.operative = True
            actions += [SetEvseEnabled(evse_id, host.station_operative),
                        Log(logging.INFO, f"EVSE {evse_id} released after the firmware job")]
    m.held.clear()
    return actions


def on_registered(host: Host, wire: Wire, now: Now) -> list[Action]:
    """The CSMS accepted this boot: an install that asked for the restart is done (L01.FR.28)."""
    job = state(host).firmware
    if job is None or job.phase is not FwPhase.REBOOTING:
        return []
    job.phase = FwPhase.DONE
    return [Log(logging.INFO, "firmware installed (after the restart)"),
            *_report(wire, job, "Installed", "", now), *_release(host, state(host)), _persist_fw(job)]


# -- logs --------------------------------------------------------------------------------------------------


def get_log(host: Host, wire: Wire, job: LogJob, now: Now) -> tuple[LogJob | None, list[Action]]:
    """A new upload request; returns the upload it cancelled (N01.FR.12), if any, and the actions."""
    m = state(host)
    old = m.log
    replaced = old if old is not None and old.phase is LogPhase.UPLOADING else None
    actions: list[Action] = []
    if replaced is not None:
        replaced.phase = LogPhase.DONE
        actions += [CancelJob(replaced.job_id), Log(logging.INFO, f"log upload {replaced.job_id} cancelled")]
    m.log = job
    job.phase = LogPhase.UPLOADING
    job.job_id = _new_id(host, m, "log")
    return replaced, actions + _start_upload(job)


def _start_upload(job: LogJob) -> list[Action]:
    args: dict[str, object] = {
        "url": job.url, "kind": job.kind,
        "since": format_timestamp(job.since) if job.since else None,
        "until": format_timestamp(job.until) if job.until else None,
        "retries": job.retries, "retry_interval_s": job.retry_interval_s, "file_name": job.file_name,
    }
    return [_persist_log(job), Log(logging.INFO, f"log upload {job.job_id} starts ({job.file_name})"),
            StartJob(job.job_id, "log_upload", args)]


def _log_progress(wire: Wire, job: LogJob, event: JobProgress, now: Now) -> list[Action]:
    target = LOG_RULES.get((job.phase, event.status))
    if target is None:
        return [Log(logging.WARNING, f"log job {job.job_id}: ignored {event.status} while {job.phase.value}")]
    job.phase = target
    job.last = event.status
    why = f" ({event.detail})" if event.detail else ""
    return [Log(logging.INFO, f"log job {job.job_id}: {event.status}{why}"),
            *wire.log_status(job, event.status, now), _persist_log(job)]


# -- events, timers, restart -------------------------------------------------------------------------------


def on_progress(host: Host, wire: Wire, event: JobProgress, now: Now) -> list[Action]:
    m = state(host)
    if m.firmware is not None and m.firmware.job_id == event.job:
        return _firmware_progress(host, wire, m.firmware, event, now)
    if m.log is not None and m.log.job_id == event.job:
        return _log_progress(wire, m.log, event, now)
    return [Log(logging.INFO, f"ignored {event.status} of job {event.job}: no longer followed")]


def on_timer(host: Host, wire: Wire, name: str, now: Now) -> list[Action]:
    job = state(host).firmware
    if job is None:
        return []
    if name == RETRIEVE_TIMER and job.phase is FwPhase.SCHEDULED:
        return _start_download(host, job)
    if name == INSTALL_TIMER and job.phase is FwPhase.INSTALL_SCHEDULED:
        job.phase = FwPhase.WAITING  # when_idle (after this timer) starts it or holds the EVSEs
        return [_persist_fw(job)]
    if name == REBOOT_TIMER and job.phase is FwPhase.REBOOTING:
        return [Log(logging.WARNING, "restarting to activate the new firmware"), Reboot(RebootKind.SOFT)]
    return []


def restore(host: Host, wire: Wire, rows: Rows, now: Now) -> list[Action]:
    """Start-up: pick the jobs up where the restart left them."""
    m = state(host)
    actions: list[Action] = []
    job = FirmwareJob.from_record(dict(rows.get(FIRMWARE, [])).get(JOB))
    m.firmware = job
    if job is not None:
        if job.phase is FwPhase.SCHEDULED:
            _arm(host, RETRIEVE_TIMER, job.retrieve_at, now)  # already due: fires at the first timer run
        elif job.phase in (FwPhase.DOWNLOADING, FwPhase.VERIFYING):
            # A download cut by the restart starts again (the shell resumes its partial file).
            actions += [Log(logging.WARNING, "firmware download interrupted by a restart: starting again"),
                        *_start_download(host, job)]
        elif job.phase is FwPhase.INSTALL_SCHEDULED:
            _arm(host, INSTALL_TIMER, job.install_at, now)
        elif job.phase is FwPhase.INSTALLING:
            job.phase = FwPhase.DONE
            actions += [*_report(wire, job, "InstallationFailed", "interrupted by a restart", now),
                        _persist_fw(job)]
    upload = LogJob.from_record(dict(rows.get(LOG, [])).get(JOB))
    m.log = upload
    if upload is not None and upload.phase is LogPhase.UPLOADING:
        upload.job_id = _new_id(host, m, "log")
        actions += [Log(logging.WARNING, "log upload interrupted by a restart: starting again"),
                    *_start_upload(upload)]
    return actions


def _arm(host: Host, name: str, moment: datetime | None, now: Now) -> None:
    host.timers.set(name, now.monotonic + max(0.0, _seconds_until(host, moment, now)))

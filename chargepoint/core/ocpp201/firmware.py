"""OCPP 2.0.1 blocks L (firmware) and N (logs): firmware updates and log uploads.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
The jobs themselves (scheduling, waiting for the transactions to end, restart, persistence) are the
domain's (``chargepoint.core.domain.maintenance``); this module speaks 2.0.1: L01 secure / L02 non-secure
UpdateFirmware with FirmwareStatusNotification (every status with the requestId, L01.FR.10 / L02.FR.06),
N01 GetLog with LogStatusNotification, the security events of L01 (InvalidFirmwareSigningCertificate,
InvalidFirmwareSignature, FirmwareUpdated) and the boot reason FirmwareUpdate after an install's restart.

The signing certificate is checked for form when the request arrives (L01.FR.21 / L01.FR.22:
InvalidCertificate at once, with the L01.FR.02 event); its chain and the signature are checked by the shell
after the download, and a failure there is reported as status InvalidSignature with the event of its cause.
RevokedCertificate is never answered: revocation would need the shell's certificate store before accepting.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Persist
from chargepoint.core.clock import Now
from chargepoint.core.domain import maintenance as jobs
from chargepoint.core.domain.evse import Evse
from chargepoint.core.domain.maintenance import FirmwareJob, LogJob, LogPhase
from chargepoint.core.domain.security import security_event
from chargepoint.core.events import JobProgress
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject
from chargepoint.core.rpc.framing import PROPERTY_CONSTRAINT, TYPE_CONSTRAINT

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.calls import Handler
    from chargepoint.core.ocpp201.station import Station201

Rows = dict[str, list[tuple[str, object]]]

# UploadLogStatusEnumType for each upload status the shell reports.
LOG_STATUS = {
    "Uploading": "Uploading", "Uploaded": "Uploaded", "UploadFailed": "UploadFailure",
    "PermissionDenied": "PermissionDenied", "BadMessage": "BadMessage",
    "NotSupportedOperation": "NotSupportedOperation", "AcceptedCanceled": "AcceptedCanceled",
}
# L01.FR.02 / L01.FR.03 / L01.FR.31 (part 2 appendix, security events).
SECURITY_EVENTS = {
    "InvalidCertificate": "InvalidFirmwareSigningCertificate",
    "InvalidSignature": "InvalidFirmwareSignature",
    "Installed": "FirmwareUpdated",
}


def _wire_status(status: str) -> str:
    """FirmwareStatusEnumType has no InvalidCertificate: a refused certificate leaves the signature
    unverifiable."""
    return "InvalidSignature" if status == "InvalidCertificate" else status


class _Wire:
    """The 2.0.1 side of the jobs (``maintenance.Wire``)."""

    def __init__(self, st: Station201) -> None:
        self.st = st

    def firmware_status(self, job: FirmwareJob, status: str, detail: str, now: Now) -> list[Action]:
        st = self.st
        payload: JsonObject = {"status": _wire_status(status)}
        if job.request_id is not None:
            payload["requestId"] = job.request_id  # L01.FR.10 / L02.FR.06
        # InstallRebooting is the last word before the restart: kept on disk until the CSMS has it.
        actions = st.enqueue("FirmwareStatusNotification", payload, now, durable=status == "InstallRebooting")
        kind = SECURITY_EVENTS.get(status)
        if kind is not None:
            actions += security_event(st, kind, detail, now)
        return actions

    def log_status(self, job: LogJob, status: str, now: Now) -> list[Action]:
        payload: JsonObject = {"status": LOG_STATUS.get(status, "UploadFailure")}
        if job.request_id is not None:
            payload["requestId"] = job.request_id
        return self.st.enqueue("LogStatusNotification", payload, now)

    def in_use(self, evse: Evse) -> bool:
        st = self.st
        busy = evse.session is not None and not evse.session.ended
        return busy or evse.evse_id in st.txs or evse.evse_id in st.power_loss

    def before_reboot(self) -> list[Action]:
        return [Persist("meta", "boot_reason", "FirmwareUpdate")]  # B01: the next BootNotification's reason


def _int(value: object) -> int | None:
    """A schema "integer" (JSON may spell it 2.0), or ``None`` when absent."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _request_id(p: JsonObject) -> int:
    request_id = _int(p.get("requestId"))
    if request_id is None:  # pragma: no cover - the schema requires it
        raise CallRefused(TYPE_CONSTRAINT, "requestId is not an integer")
    return request_id


def _time(p: JsonObject, key: str) -> datetime:
    moment = jobs.parse_optional(p.get(key))
    if moment is None:
        raise CallRefused(PROPERTY_CONSTRAINT, f"{key} is not a date-time")
    return moment


# -- incoming calls ------------------------------------------------------------------------------------------


def update_firmware(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """L01 / L02: Accepted, AcceptedCanceled (L01.FR.24), Rejected while installing (L01.FR.27), or
    InvalidCertificate for a signing certificate that is not one (L01.FR.22)."""
    firmware, request_id = p["firmware"], _request_id(p)
    assert isinstance(firmware, dict)
    certificate, signature = firmware.get("signingCertificate"), firmware.get("signature")
    if isinstance(certificate, str) and not jobs.certificate_well_formed(certificate):
        st.side(security_event(st, "InvalidFirmwareSigningCertificate", "signing certificate is not a PEM "
                               "X.509 certificate", now))  # L01.FR.02
        return {"status": "InvalidCertificate"}
    job = FirmwareJob(request_id, str(firmware["location"]), _time(firmware, "retrieveDateTime"),
                      jobs.parse_optional(firmware.get("installDateTime")), _int(p.get("retries")),
                      _int(p.get("retryInterval")), certificate if isinstance(certificate, str) else None,
                      signature if isinstance(signature, str) else None)
    status, actions = jobs.update_firmware(st, _Wire(st), job, now)
    st.side(actions)
    return {"status": status}


def get_log(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """N01: Accepted with the file name; AcceptedCanceled when it replaced a running upload (N01.FR.12),
    whose end is reported with its own requestId."""
    log, request_id = p["log"], _request_id(p)
    assert isinstance(log, dict)
    kind = "security" if p.get("logType") == "SecurityLog" else "diagnostics"
    name = jobs.file_name(st.info.station_id, kind, st.time(now))
    oldest = jobs.parse_optional(log.get("oldestTimestamp"))
    latest = jobs.parse_optional(log.get("latestTimestamp"))
    job = LogJob("GetLog", request_id, kind, str(log["remoteLocation"]), name, oldest, latest,
                 _int(p.get("retries")), _int(p.get("retryInterval")))
    wire = _Wire(st)
    replaced, actions = jobs.get_log(st, wire, job, now)
    if replaced is not None:
        actions = wire.log_status(replaced, "AcceptedCanceled", now) + actions
    st.side(actions)
    return {"status": "Accepted" if replaced is None else "AcceptedCanceled", "filename": name}


HANDLERS: dict[str, Handler] = {
    "UpdateFirmware": update_firmware,
    "GetLog": get_log,
}


# -- the station's entry points ------------------------------------------------------------------------------


def restore(st: Station201, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind."""
    return jobs.restore(st, _Wire(st), rows, now)


def on_registered(st: Station201, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot)."""
    return jobs.on_registered(st, _Wire(st), now)


def on_progress(st: Station201, event: JobProgress, now: Now) -> list[Action]:
    return jobs.on_progress(st, _Wire(st), event, now)


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    """Timers named ``fw.*`` and ``log.*``."""
    return jobs.on_timer(st, _Wire(st), name, now)


def when_idle(st: Station201, now: Now) -> list[Action]:
    """After every event: an install waiting for the transactions to end may go now."""
    return jobs.when_idle(st, _Wire(st), now)


def trigger(st: Station201, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage (F06) for a message of this module, or ``None`` if ``what`` is not one."""
    m = jobs.state(st)
    payload: JsonObject
    if what == "FirmwareStatusNotification":
        fw = m.firmware
        if fw is None or fw.last in (None, "Installed"):
            payload = {"status": "Idle"}  # L01.FR.25; no update ongoing: no requestId (L01.FR.20)
        else:
            payload = {"status": _wire_status(fw.last)}  # L01.FR.26: the last status sent
            if fw.request_id is not None:
                payload["requestId"] = fw.request_id
    elif what == "LogStatusNotification":
        up = m.log
        if up is not None and up.phase is LogPhase.UPLOADING:
            payload = {"status": "Uploading"}
            if up.request_id is not None:
                payload["requestId"] = up.request_id
        else:
            payload = {"status": "Idle"}  # no upload ongoing: no requestId
    else:
        return None
    return st.enqueue(what, payload, now, meta={"triggered": True})

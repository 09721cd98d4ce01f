"""OCPP 1.6 firmware updates and log uploads (issue 7): FirmwareManagement, SignedUpdateFirmware, GetLog.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
The jobs themselves (scheduling, waiting for the sessions to end, restart, persistence) are the domain's
(``chargepoint.core.domain.maintenance``); this module speaks 1.6: UpdateFirmware (§5.19) with
FirmwareStatusNotification (§4.5), GetDiagnostics (§5.9) with DiagnosticsStatusNotification (§4.4), and the
security extension's SignedUpdateFirmware with SignedFirmwareStatusNotification and GetLog with
LogStatusNotification (Improved security for OCPP 1.6-J, the L01 / N01 use cases it takes from 2.0.1).

The signing certificate is checked for form when the request arrives (InvalidCertificate at once, with an
InvalidFirmwareSigningCertificate security event); its chain and the signature are checked by the shell
after the download, and a failure there is reported as status InvalidSignature with the matching security
event.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.domain import maintenance as jobs
from chargepoint.core.domain.evse import Evse
from chargepoint.core.domain.maintenance import FirmwareJob, FwPhase, LogJob, LogPhase
from chargepoint.core.domain.security import security_event
from chargepoint.core.events import JobProgress
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject
from chargepoint.core.rpc.framing import PROPERTY_CONSTRAINT, TYPE_CONSTRAINT

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.calls import Handler
    from chargepoint.core.ocpp16.station import Station16

Rows = dict[str, list[tuple[str, object]]]

# §7.25 FirmwareStatus: what a plain UpdateFirmware reports of each job status. The statuses without a 1.6
# value (DownloadScheduled, InstallScheduled, InstallRebooting, ...) are not sent.
PLAIN_STATUS = {
    "Downloading": "Downloading", "Downloaded": "Downloaded", "DownloadFailed": "DownloadFailed",
    "Installing": "Installing", "Installed": "Installed", "InstallationFailed": "InstallationFailed",
    "InstallVerificationFailed": "InstallationFailed",
}
# §4.5 via TriggerMessage: the status of an update still under way; anything else is Idle.
PLAIN_BUSY = {
    "Downloading": "Downloading", "DownloadPaused": "Downloading", "Downloaded": "Downloaded",
    "SignatureVerified": "Downloaded", "InstallScheduled": "Downloaded", "Installing": "Installing",
    "InstallRebooting": "Installing",
}
# §7.23 DiagnosticsStatus: every failure is UploadFailed.
DIAGNOSTICS_STATUS = {"Uploading": "Uploading", "Uploaded": "Uploaded"}
# Security extension UploadLogStatusEnumType.
LOG_STATUS = {
    "Uploading": "Uploading", "Uploaded": "Uploaded", "UploadFailed": "UploadFailure",
    "PermissionDenied": "PermissionDenied", "BadMessage": "BadMessage",
    "NotSupportedOperation": "NotSupportedOperation",
}
# Security whitepaper, security events: InvalidFirmwareSigningCertificate, InvalidFirmwareSignature,
# FirmwareUpdated.
SECURITY_EVENTS = {
    "InvalidCertificate": "InvalidFirmwareSigningCertificate",
    "InvalidSignature": "InvalidFirmwareSignature",
    "Installed": "FirmwareUpdated",
}


class _Wire:
    """The 1.6 side of the jobs (``maintenance.Wire``)."""

    def __init__(self, st: Station16) -> None:
        self.st = st

    def firmware_status(self, job: FirmwareJob, status: str, detail: str, now: Now) -> list[Action]:
        st = self.st
        actions: list[Action] = []
        if job.request_id is None:
            wire = PLAIN_STATUS.get(status)
            if wire is not None:
                actions += st.enqueue("FirmwareStatusNotification", {"status": wire}, now)
        else:
            # A certificate the shell refused leaves the signature unverifiable: InvalidSignature.
            payload: JsonObject = {"status": "InvalidSignature" if status == "InvalidCertificate" else status,
                                   "requestId": job.request_id}
            # InstallRebooting is the last word before the restart: kept on disk until the CSMS has it.
            actions += st.enqueue("SignedFirmwareStatusNotification", payload, now,
                                  durable=status == "InstallRebooting")
        kind = SECURITY_EVENTS.get(status)
        if kind is not None:
            # A plain update only records FirmwareUpdated locally: the CSMS may not speak the extension.
            actions += security_event(st, kind, detail, now, critical=job.secure)
        return actions

    def log_status(self, job: LogJob, status: str, now: Now) -> list[Action]:
        if job.request_id is None:
            wire = DIAGNOSTICS_STATUS.get(status, "UploadFailed")
            return self.st.enqueue("DiagnosticsStatusNotification", {"status": wire}, now)
        payload: JsonObject = {"status": LOG_STATUS.get(status, "UploadFailure"), "requestId": job.request_id}
        return self.st.enqueue("LogStatusNotification", payload, now)

    def in_use(self, evse: Evse) -> bool:
        session = evse.session
        return (session is not None and not session.ended) or evse.evse_id in self.st.power_loss

    def before_reboot(self) -> list[Action]:
        return []  # 1.6 BootNotification has no reason


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


def update_firmware(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.19: answered at once (the answer has no fields); the download starts at retrieveDate."""
    job = FirmwareJob(None, str(p["location"]), _time(p, "retrieveDate"), None, _int(p.get("retries")),
                      _int(p.get("retryInterval")))
    _, actions = jobs.update_firmware(st, _Wire(st), job, now)
    st.side(actions)  # "Rejected" (an install under way) has no 1.6 answer: the request is only logged
    return {}


def signed_update_firmware(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """Security extension: Accepted / AcceptedCanceled / Rejected, or InvalidCertificate for a certificate
    that is not one (L01.FR.21-22, with the InvalidFirmwareSigningCertificate event)."""
    firmware, request_id = p["firmware"], _request_id(p)
    assert isinstance(firmware, dict)
    certificate, signature = str(firmware["signingCertificate"]), str(firmware["signature"])
    if not jobs.certificate_well_formed(certificate):
        st.side(security_event(st, "InvalidFirmwareSigningCertificate", "signing certificate is not a PEM "
                               "X.509 certificate", now))
        return {"status": "InvalidCertificate"}
    job = FirmwareJob(request_id, str(firmware["location"]), _time(firmware, "retrieveDateTime"),
                      jobs.parse_optional(firmware.get("installDateTime")), _int(p.get("retries")),
                      _int(p.get("retryInterval")), certificate, signature)
    status, actions = jobs.update_firmware(st, _Wire(st), job, now)
    st.side(actions)
    return {"status": status}


def get_diagnostics(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.9: the file name at once, then the upload with DiagnosticsStatusNotification; a new request
    replaces an upload still running."""
    name = jobs.file_name(st.info.station_id, "diagnostics", st.time(now))
    job = LogJob("GetDiagnostics", None, "diagnostics", str(p["location"]), name,
                 jobs.parse_optional(p.get("startTime")), jobs.parse_optional(p.get("stopTime")),
                 _int(p.get("retries")), _int(p.get("retryInterval")))
    st.side(jobs.get_log(st, _Wire(st), job, now)[1])
    return {"fileName": name}


def get_log(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """Security extension GetLog (DiagnosticsLog / SecurityLog): Accepted with the file name, or
    AcceptedCanceled when it replaced a running upload (N01.FR.12)."""
    log, request_id = p["log"], _request_id(p)
    assert isinstance(log, dict)
    kind = "security" if p.get("logType") == "SecurityLog" else "diagnostics"
    name = jobs.file_name(st.info.station_id, kind, st.time(now))
    oldest = jobs.parse_optional(log.get("oldestTimestamp"))
    latest = jobs.parse_optional(log.get("latestTimestamp"))
    job = LogJob("GetLog", request_id, kind, str(log["remoteLocation"]), name, oldest, latest,
                 _int(p.get("retries")), _int(p.get("retryInterval")))
    replaced, actions = jobs.get_log(st, _Wire(st), job, now)
    st.side(actions)
    return {"status": "Accepted" if replaced is None else "AcceptedCanceled", "filename": name}


HANDLERS: dict[str, Handler] = {
    "UpdateFirmware": update_firmware,
    "SignedUpdateFirmware": signed_update_firmware,
    "GetDiagnostics": get_diagnostics,
    "GetLog": get_log,
}


# -- the station's entry points ------------------------------------------------------------------------------


def restore(st: Station16, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind."""
    return jobs.restore(st, _Wire(st), rows, now)


def on_registered(st: Station16, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot)."""
    return jobs.on_registered(st, _Wire(st), now)


def on_progress(st: Station16, event: JobProgress, now: Now) -> list[Action]:
    return jobs.on_progress(st, _Wire(st), event, now)


def on_timer(st: Station16, name: str, now: Now) -> list[Action]:
    """Timers named ``fw.*`` and ``log.*``."""
    return jobs.on_timer(st, _Wire(st), name, now)


def when_idle(st: Station16, now: Now) -> list[Action]:
    """After every event: an install waiting for the transactions to end may go now."""
    return jobs.when_idle(st, _Wire(st), now)


def trigger(st: Station16, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one.

    ``FirmwareStatusNotification`` and ``DiagnosticsStatusNotification`` come from TriggerMessage (§5.17);
    the security extension's ExtendedTriggerMessage asks for ``SignedFirmwareStatusNotification`` (its
    FirmwareStatusNotification) and ``LogStatusNotification``."""
    m = jobs.state(st)
    payload: JsonObject
    if what == "FirmwareStatusNotification":
        # §4.5: Idle unless an update is under way (Idle only ever in a triggered message).
        fw = m.firmware
        busy = fw is not None and fw.phase is not FwPhase.DONE
        payload = {"status": PLAIN_BUSY.get(fw.last or "", "Idle") if fw is not None and busy else "Idle"}
    elif what == "SignedFirmwareStatusNotification":
        payload = _signed_status(m.firmware)
    elif what == "DiagnosticsStatusNotification":
        up = m.log
        uploading = up is not None and up.request_id is None and up.phase is LogPhase.UPLOADING
        payload = {"status": "Uploading" if uploading else "Idle"}  # §4.4
    elif what == "LogStatusNotification":
        up = m.log
        if up is not None and up.request_id is not None and up.phase is LogPhase.UPLOADING:
            payload = {"status": "Uploading", "requestId": up.request_id}
        else:
            payload = {"status": "Idle"}  # no upload ongoing: no requestId
    else:
        return None
    action = "FirmwareStatusNotification" if what == "FirmwareStatusNotification" else what
    return st.enqueue(action, payload, now, meta={"triggered": True})


def _signed_status(fw: FirmwareJob | None) -> JsonObject:
    """The L01.FR.25 / L01.FR.26 rule the extension takes over: the last status sent, Idle after Installed
    (and when there was no signed update)."""
    if fw is None or fw.request_id is None or fw.last in (None, "Installed"):
        return {"status": "Idle"}
    last = "InvalidSignature" if fw.last == "InvalidCertificate" else fw.last
    return {"status": last, "requestId": fw.request_id}

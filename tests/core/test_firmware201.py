"""OCPP 2.0.1 blocks L and N on the wire: UpdateFirmware / FirmwareStatusNotification (L01 secure, L02
non-secure), GetLog / LogStatusNotification (N01), TriggerMessage for both (F06, L01.FR.25-26), the security
events of L01 and the FirmwareUpdate boot reason after an install's restart.

The shell's side is played by hand: ``StartJob`` actions are read from the station's output and the job's
progress is fed back as ``JobProgress`` events. Every test ends with every station CALL validated against
its official 2.0.1 request schema, and every answer against its response schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from chargepoint.core.actions import CancelJob, Persist, Reboot, RebootKind, StartJob
from chargepoint.core.clock import format_timestamp
from chargepoint.core.domain import maintenance
from chargepoint.core.events import ContactorChanged, JobProgress
from tests.core.harness import Driver201
from tests.core.test_firmware16 import LATER, NOW, signing_pem, started
from tests.core.test_station201_transactions import assert_schema_valid

Validator = Callable[[dict[str, Any]], object]
LOCATION = "https://fw.example/fw-2.0.bin"


@functools.cache
def _response_schema(action: str) -> Validator:
    path = resources.files("ocpp").joinpath("v201", "schemas", f"{action}Response.json")
    validator: Validator = fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8-sig")))
    return validator


def call(d: Driver201, action: str, payload: dict[str, Any], uid: str = "c1") -> dict[str, Any]:
    """A CSMS call whose answer must be a schema-valid CALLRESULT; returns its payload."""
    reply = d.csms_call(action, payload, uid)
    assert reply[0] == 3, reply
    _response_schema(action)(reply[2])
    return dict(reply[2])


def serve(d: Driver201) -> None:
    """The CSMS answers everything; its Heartbeat answers tell the true time (the harness's default is T0)."""
    d.serve(Heartbeat={"currentTime": format_timestamp(d.now.utc)})


def progress(d: Driver201, job: StartJob, *statuses: str, detail: str = "") -> None:
    for status in statuses:
        d.feed(JobProgress(job.job, status, detail))
        serve(d)


def fw(d: Driver201) -> list[tuple[str, int | None]]:
    return [(c[3]["status"], c[3].get("requestId")) for c in d.calls("FirmwareStatusNotification")]


def logs(d: Driver201) -> list[tuple[str, int | None]]:
    return [(c[3]["status"], c[3].get("requestId")) for c in d.calls("LogStatusNotification")]


def security_events(d: Driver201) -> list[str]:
    sent = d.calls("SecurityEventNotification")
    return [c[3]["type"] for c in sent if c[3]["type"] != "StartupOfTheDevice"]


def trigger(d: Driver201, message: str) -> dict[str, Any]:
    """F06 TriggerMessage; returns the payload of the message it sent."""
    assert call(d, "TriggerMessage", {"requestedMessage": message}, uid="trig") == {"status": "Accepted"}
    serve(d)
    return dict(d.calls(message)[-1][3])


def update(d: Driver201, request_id: int = 7, *, retrieve: str = NOW, install: str | None = None,
           secure: bool = True, certificate: str | None = None, uid: str = "c1", **extra: Any) -> str:
    firmware: dict[str, Any] = {"location": LOCATION, "retrieveDateTime": retrieve}
    if install is not None:
        firmware["installDateTime"] = install
    if secure:
        firmware["signingCertificate"] = certificate or signing_pem()
        firmware["signature"] = "c2lnbmF0dXJl"
    answer = call(d, "UpdateFirmware", {"requestId": request_id, "firmware": firmware, **extra}, uid)
    serve(d)
    return str(answer["status"])


def charging(d: Driver201, evse: int = 1, token: str = "CARD1") -> None:
    d.meter(evse)
    d.pilot("B", evse)
    d.tap(token)
    serve(d)
    d.pilot("C", evse)
    d.feed(ContactorChanged(evse, True))
    serve(d)


def get_log(d: Driver201, request_id: int, log_type: str = "DiagnosticsLog", uid: str = "c1",
            **log: str) -> dict[str, Any]:
    return call(d, "GetLog", {"logType": log_type, "requestId": request_id,
                              "log": {"remoteLocation": "https://logs.example/in", **log}}, uid)


# -- L01 secure firmware update ------------------------------------------------------------------------------


def test_secure_update_reboots_and_the_next_boot_says_firmware_update_then_installed() -> None:
    d = Driver201()
    d.connect()
    assert update(d, 7, retries=2, retryInterval=60) == "Accepted"
    [download] = started(d, "firmware_download")
    assert download.args == {"url": LOCATION, "retries": 2, "retry_interval_s": 60,
                             "signing_certificate": signing_pem(), "signature": "c2lnbmF0dXJl"}
    progress(d, download, "Downloading", "Downloaded")
    assert started(d, "firmware_install") == []  # L01: not before the signature was verified
    progress(d, download, "SignatureVerified")
    [install] = started(d, "firmware_install")
    progress(d, install, "Installing", "InstallRebooting")
    # L01.FR.01 / L01.FR.10: every state, each with the requestId; L01.FR.15: InstallRebooting before it.
    assert fw(d) == [("Downloading", 7), ("Downloaded", 7), ("SignatureVerified", 7), ("Installing", 7),
                     ("InstallRebooting", 7)]
    assert d.store[("meta", "boot_reason")] == "FirmwareUpdate"
    d.advance(maintenance.REBOOT_GRACE_S - 1)
    assert not any(isinstance(a, Reboot) for a in d.actions)
    d.advance(2)
    assert Reboot(RebootKind.SOFT) in d.actions
    reboot_at = d.actions.index(Reboot(RebootKind.SOFT))
    job_rows = [i for i, a in enumerate(d.actions) if isinstance(a, Persist) and a.kind == "firmware"]
    assert job_rows[-1] < reboot_at

    after = Driver201(store=d.store)
    after.connect()
    assert after.calls("BootNotification")[0][3]["reason"] == "FirmwareUpdate"
    assert fw(after) == [("Installed", 7)]  # L01.FR.28
    assert security_events(after) == ["FirmwareUpdated"]  # L01.FR.31
    assert trigger(after, "FirmwareStatusNotification") == {"status": "Idle"}  # L01.FR.25
    assert after.store[("meta", "boot_reason")] == "PowerUp"  # only that one boot
    assert_schema_valid(d)
    assert_schema_valid(after)


def test_invalid_signature_ends_the_update_with_its_security_event() -> None:
    d = Driver201()
    d.connect()
    update(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded")
    progress(d, download, "InvalidSignature", detail="signature does not match the image")
    assert fw(d)[-1] == ("InvalidSignature", 7)
    assert security_events(d) == ["InvalidFirmwareSignature"]  # L01.FR.03
    assert d.calls("SecurityEventNotification")[-1][3]["techInfo"] == "signature does not match the image"
    assert started(d, "firmware_install") == []
    # L01.FR.26: the last status sent.
    assert trigger(d, "FirmwareStatusNotification") == {"status": "InvalidSignature", "requestId": 7}
    assert_schema_valid(d)


def test_a_certificate_the_shell_refuses_is_reported_with_its_security_event() -> None:
    d = Driver201()
    d.connect()
    update(d)
    progress(d, started(d, "firmware_download")[0], "Downloading", "Downloaded", "InvalidCertificate")
    assert fw(d)[-1] == ("InvalidSignature", 7)
    assert security_events(d) == ["InvalidFirmwareSigningCertificate"]  # L01.FR.02
    assert started(d, "firmware_install") == []
    assert_schema_valid(d)


def test_a_certificate_that_is_not_one_is_answered_invalid_certificate() -> None:
    d = Driver201()
    d.connect()
    # L01.FR.21 / L01.FR.22: checked before accepting; L01.FR.02: the security event.
    assert update(d, certificate="MIICaTCCAdKgAwIBAgIUXzo...") == "InvalidCertificate"
    assert started(d, "firmware_download") == []
    assert security_events(d) == ["InvalidFirmwareSigningCertificate"]
    assert fw(d) == []
    assert_schema_valid(d)


def test_download_scheduled_then_install_scheduled() -> None:
    d = Driver201()
    d.connect()
    update(d, 9, retrieve=LATER, install="2026-11-24T14:00:00Z")
    assert fw(d) == [("DownloadScheduled", 9)]  # L01.FR.13
    d.advance(3599)
    assert started(d, "firmware_download") == []
    d.advance(2)
    serve(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded", "SignatureVerified")
    assert fw(d)[-1] == ("InstallScheduled", 9)  # L01.FR.16
    d.advance(3500)
    serve(d)
    assert started(d, "firmware_install") == []
    d.advance(200)
    serve(d)
    assert len(started(d, "firmware_install")) == 1
    assert_schema_valid(d)


def test_a_new_request_cancels_the_update_and_one_during_the_install_is_rejected() -> None:
    d = Driver201()
    d.connect()
    assert update(d, 1, retrieve=LATER) == "Accepted"
    assert update(d, 2, uid="c2") == "AcceptedCanceled"  # L01.FR.24 (a scheduled one is ongoing too)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading")
    assert update(d, 3, uid="c3") == "AcceptedCanceled"
    assert CancelJob(download.job) in d.actions
    progress(d, download, "Downloaded")  # the cancelled job's late report is ignored
    second = started(d, "firmware_download")[-1]
    progress(d, second, "Downloading", "Downloaded", "SignatureVerified")
    progress(d, started(d, "firmware_install")[0], "Installing")
    assert update(d, 4, uid="c4") == "Rejected"  # L01.FR.27: an install under way is not cancelled
    assert fw(d) == [("DownloadScheduled", 1), ("Downloading", 2), ("Downloading", 3), ("Downloaded", 3),
                     ("SignatureVerified", 3), ("Installing", 3)]
    d.advance(3700)  # the first request's retrieve time: nothing starts
    assert len(started(d, "firmware_download")) == 2
    assert_schema_valid(d)


# -- L02 non-secure update, waiting for transactions ---------------------------------------------------------


def test_non_secure_update_installed_without_a_restart() -> None:
    d = Driver201()
    d.connect()
    update(d, 11, secure=False)
    [download] = started(d, "firmware_download")
    assert download.args["signing_certificate"] is None and download.args["signature"] is None
    progress(d, download, "Downloading", "Downloaded")
    [install] = started(d, "firmware_install")
    assert d.statuses()[-1] == "Unavailable"  # L01.FR.07 / L02.FR.04 until installed
    progress(d, install, "Installing", "Installed")
    assert fw(d) == [("Downloading", 11), ("Downloaded", 11), ("Installing", 11), ("Installed", 11)]
    assert security_events(d) == ["FirmwareUpdated"]
    assert d.statuses()[-1] == "Available"
    assert not any(isinstance(a, Reboot) for a in d.actions)
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)


def test_install_waits_for_every_transaction_and_holds_the_free_evses() -> None:
    d = Driver201(evses=2)
    d.connect()
    charging(d, 1)
    update(d, 12, secure=False)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded")
    # L01.FR.06: no install while a transaction runs; L01.FR.07: the free EVSE is Unavailable meanwhile.
    assert started(d, "firmware_install") == []
    assert d.statuses(2)[-1] == "Unavailable"
    assert d.statuses(1)[-1] == "Occupied"
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Downloaded", "requestId": 12}  # L01.FR.26
    reply = call(d, "RequestStartTransaction", {"idToken": {"idToken": "CARD2", "type": "ISO14443"},
                                                "remoteStartId": 1, "evseId": 2}, uid="rs")
    assert reply["status"] == "Rejected"  # no new session on a held EVSE

    d.tap("CARD1")  # the driver ends the transaction
    serve(d)
    d.pilot("A", 1)
    serve(d)
    assert d.events()[-1]["eventType"] == "Ended"
    [install] = started(d, "firmware_install")
    assert d.statuses(1)[-1] == "Unavailable"
    progress(d, install, "Installing", "InstallationFailed", detail="install hook exited with status 2")
    assert fw(d)[-2:] == [("Installing", 12), ("InstallationFailed", 12)]
    assert d.statuses(1)[-1] == d.statuses(2)[-1] == "Available"  # released when the job ended
    assert ("availability", "2") not in d.store
    assert_schema_valid(d)


def test_download_failed_after_the_retries_and_triggered_again() -> None:
    d = Driver201()
    d.connect()
    update(d, 13, secure=False, retries=3, retryInterval=5)
    [download] = started(d, "firmware_download")
    assert (download.args["retries"], download.args["retry_interval_s"]) == (3, 5)
    progress(d, download, "Downloading", "Downloading", "DownloadFailed")  # L01.FR.30
    assert fw(d) == [("Downloading", 13), ("Downloading", 13), ("DownloadFailed", 13)]
    assert trigger(d, "FirmwareStatusNotification") == {"status": "DownloadFailed", "requestId": 13}
    assert started(d, "firmware_install") == []
    assert_schema_valid(d)


# -- restarts ------------------------------------------------------------------------------------------------


def test_a_download_cut_by_a_restart_starts_again() -> None:
    d = Driver201()
    d.connect()
    update(d, 14)
    [first] = started(d, "firmware_download")
    progress(d, first, "Downloading", "Downloaded")

    after = Driver201(store=d.store)
    [again] = started(after, "firmware_download")
    assert again.job != first.job and again.args == first.args
    after.connect()
    assert after.calls("BootNotification")[0][3]["reason"] == "PowerUp"
    progress(after, again, "Downloading", "Downloaded", "SignatureVerified")
    assert fw(after) == [("Downloading", 14), ("Downloaded", 14), ("SignatureVerified", 14)]
    assert len(started(after, "firmware_install")) == 1
    assert_schema_valid(after)


def test_an_install_scheduled_survives_a_restart() -> None:
    d = Driver201()
    d.connect()
    update(d, 15, install=LATER)
    progress(d, started(d, "firmware_download")[0], "Downloading", "Downloaded", "SignatureVerified")
    assert fw(d)[-1] == ("InstallScheduled", 15)

    after = Driver201(store=d.store)
    after.connect()
    after.advance(3500)
    serve(after)
    assert started(after, "firmware_install") == []
    after.advance(200)
    serve(after)
    assert len(started(after, "firmware_install")) == 1
    assert trigger(after, "FirmwareStatusNotification") == {"status": "InstallScheduled", "requestId": 15}


# -- N01 GetLog / LogStatusNotification ----------------------------------------------------------------------


@pytest.mark.parametrize(("log_type", "kind"),
                         [("DiagnosticsLog", "diagnostics"), ("SecurityLog", "security")])
def test_get_log_uploads_and_reports_with_the_request_id(log_type: str, kind: str) -> None:
    d = Driver201()
    d.connect()
    answer = get_log(d, 21, log_type, oldestTimestamp="2026-11-01T00:00:00Z")
    name = f"CP-1-{kind}-20261124T120000Z.tar.gz"
    assert answer == {"status": "Accepted", "filename": name}
    [upload] = started(d, "log_upload")
    assert upload.args == {"url": "https://logs.example/in", "kind": kind,
                           "since": "2026-11-01T00:00:00.000Z", "until": None, "retries": None,
                           "retry_interval_s": None, "file_name": name}
    progress(d, upload, "Uploading")
    assert trigger(d, "LogStatusNotification") == {"status": "Uploading", "requestId": 21}
    progress(d, upload, "Uploaded")
    assert logs(d) == [("Uploading", 21), ("Uploading", 21), ("Uploaded", 21)]
    assert trigger(d, "LogStatusNotification") == {"status": "Idle"}  # no upload ongoing: no requestId
    assert_schema_valid(d)


@pytest.mark.parametrize(("shell", "wire"), [("UploadFailed", "UploadFailure"),
                                             ("PermissionDenied", "PermissionDenied"),
                                             ("BadMessage", "BadMessage")])
def test_upload_failures(shell: str, wire: str) -> None:
    d = Driver201()
    d.connect()
    get_log(d, 22)
    progress(d, started(d, "log_upload")[0], "Uploading", shell)
    assert logs(d) == [("Uploading", 22), (wire, 22)]
    assert_schema_valid(d)


def test_a_new_get_log_cancels_the_running_upload() -> None:
    d = Driver201()
    d.connect()
    get_log(d, 23)
    [first] = started(d, "log_upload")
    progress(d, first, "Uploading")
    answer = get_log(d, 24, "SecurityLog", uid="c2")
    assert answer["status"] == "AcceptedCanceled"  # N01.FR.12
    assert CancelJob(first.job) in d.actions
    second = started(d, "log_upload")[-1]
    progress(d, first, "Uploaded")  # the cancelled job's late report is ignored
    progress(d, second, "Uploading", "Uploaded")
    assert logs(d) == [("Uploading", 23), ("AcceptedCanceled", 23), ("Uploading", 24), ("Uploaded", 24)]
    assert_schema_valid(d)


def test_an_upload_cut_by_a_restart_starts_again() -> None:
    d = Driver201()
    d.connect()
    get_log(d, 25)
    [first] = started(d, "log_upload")
    after = Driver201(store=d.store)
    [again] = started(after, "log_upload")
    assert again.job != first.job and again.args == first.args
    after.connect()
    progress(after, again, "Uploading")
    assert trigger(after, "LogStatusNotification") == {"status": "Uploading", "requestId": 25}


def test_triggers_without_any_job_are_idle() -> None:
    d = Driver201()
    d.connect()
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}
    assert trigger(d, "LogStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)

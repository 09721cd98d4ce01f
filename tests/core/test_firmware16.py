"""OCPP 1.6 firmware updates and log uploads on the wire: UpdateFirmware (§5.19) / FirmwareStatusNotification
(§4.5), GetDiagnostics (§5.9) / DiagnosticsStatusNotification (§4.4), and the security extension's
SignedUpdateFirmware / SignedFirmwareStatusNotification and GetLog / LogStatusNotification.

The shell's side is played by hand: ``StartJob`` actions are read from the station's output and the job's
progress is fed back as ``JobProgress`` events. Also the tables of ``chargepoint.core.domain.maintenance``
(parametrised and checked for completeness) and the helpers the 2.0.1 module shares (``signing_pem``,
``started``, ``progress``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import fastjsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chargepoint.core.actions import (
    CancelJob,
    Reboot,
    RebootKind,
    RecordSecurityEvent,
    SetEvseEnabled,
    StartJob,
)
from chargepoint.core.clock import format_timestamp
from chargepoint.core.domain import maintenance
from chargepoint.core.domain.maintenance import FW_JOB_PHASES, FW_RULES, LOG_RULES, FwPhase, LogPhase
from chargepoint.core.events import ContactorChanged, JobProgress
from chargepoint.core.ocpp16 import firmware as firmware16
from tests.core.harness import Driver

Validator = Callable[[dict[str, Any]], object]
LATER = "2026-11-24T13:00:00Z"  # T0 + 1 h
NOW = "2026-11-24T12:00:00Z"  # T0, the harness's start


@functools.cache
def signing_pem() -> str:
    """A real (self-signed) firmware signing certificate, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme firmware signing")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@functools.cache
def _schema(name: str) -> Validator:
    path = resources.files("ocpp").joinpath("v16", "schemas", f"{name}.json")
    validator: Validator = fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8-sig")))
    return validator


def assert_schema_valid(d: Driver) -> None:
    """Every CALL the station sent validates against its 1.6 schema (OCPP-J 1.6 §4.1.3)."""
    for frame in d.calls():
        try:
            _schema(frame[2])(frame[3])
        except fastjsonschema.JsonSchemaException as error:  # pragma: no cover - the failure message
            raise AssertionError(f"{frame[2]} violates its schema: {error}: {frame[3]}") from None


def call(d: Driver, action: str, payload: dict[str, Any], uid: str = "c1") -> dict[str, Any]:
    """A CSMS call whose answer must be a schema-valid CALLRESULT; returns its payload."""
    reply = d.csms_call(action, payload, uid)
    assert reply[0] == 3, reply
    _schema(f"{action}Response")(reply[2])
    return dict(reply[2])


def started(d: Driver, kind: str) -> list[StartJob]:
    return [a for a in d.actions if isinstance(a, StartJob) and a.kind == kind]


def serve(d: Driver) -> None:
    """The CSMS answers everything; its Heartbeat answers tell the true time (the harness's default is T0)."""
    d.serve(Heartbeat={"currentTime": format_timestamp(d.now.utc)})


def progress(d: Driver, job: StartJob, *statuses: str, detail: str = "") -> None:
    """The shell reports ``statuses`` of ``job``; the CSMS answers everything the station sends."""
    for status in statuses:
        d.feed(JobProgress(job.job, status, detail))
        serve(d)


def fw_statuses(d: Driver) -> list[str]:
    return [c[3]["status"] for c in d.calls("FirmwareStatusNotification")]


def signed(d: Driver) -> list[tuple[str, int | None]]:
    return [(c[3]["status"], c[3].get("requestId")) for c in d.calls("SignedFirmwareStatusNotification")]


def security_events(d: Driver) -> list[tuple[str, str | None]]:
    return [(c[3]["type"], c[3].get("techInfo")) for c in d.calls("SecurityEventNotification")
            if c[3]["type"] not in ("StartupOfTheDevice",)]


def trigger(d: Driver, message: str) -> dict[str, Any]:
    """TriggerMessage (§5.17); returns the payload of the message it sent."""
    assert call(d, "TriggerMessage", {"requestedMessage": message}, uid="trig")["status"] == "Accepted"
    d.serve()
    return dict(d.calls(message)[-1][3])


def extended_trigger(d: Driver, what: str) -> dict[str, Any]:
    """What the security extension's ExtendedTriggerMessage handler gets from ``firmware.trigger``."""
    actions = firmware16.trigger(d.station, what, d.now)
    assert actions is not None
    d._apply(actions)
    d.serve()
    return dict(d.calls(what)[-1][3])


def charging(d: Driver, evse: int = 1, token: str = "CARD1") -> None:
    d.meter(evse)
    d.pilot("B", evse)
    d.tap(token)
    d.serve()
    d.pilot("C", evse)
    d.feed(ContactorChanged(evse, True))
    d.serve()


def update(d: Driver, retrieve: str = NOW, **extra: Any) -> None:
    assert call(d, "UpdateFirmware", {"location": "https://fw.example/fw-2.0.bin", "retrieveDate": retrieve,
                                      **extra}) == {}
    d.serve()


def signed_update(d: Driver, request_id: int = 7, retrieve: str = NOW, install: str | None = None,
                  certificate: str | None = None, uid: str = "c1") -> str:
    firmware: dict[str, Any] = {"location": "https://fw.example/fw-2.0.bin", "retrieveDateTime": retrieve,
                                "signingCertificate": certificate or signing_pem(),
                                "signature": "c2lnbmF0dXJl"}
    if install is not None:
        firmware["installDateTime"] = install
    answer = call(d, "SignedUpdateFirmware", {"requestId": request_id, "firmware": firmware}, uid)
    d.serve()
    return str(answer["status"])


# -- the tables (domain/maintenance.py) ----------------------------------------------------------------------

SHELL_FIRMWARE_STATUSES = {"Downloading", "Downloaded", "DownloadFailed", "SignatureVerified",
                           "InvalidSignature", "InvalidCertificate", "Installing", "InstallRebooting",
                           "Installed", "InstallationFailed"}
FAILURES = {"DownloadFailed", "InvalidSignature", "InvalidCertificate", "InstallationFailed",
            "InstallVerificationFailed"}


@pytest.mark.parametrize(("phase", "status"), sorted(FW_RULES), ids=lambda v: str(v))
def test_firmware_rule(phase: FwPhase, status: str) -> None:
    target = FW_RULES[(phase, status)]
    assert phase in FW_JOB_PHASES  # a report only means something while a shell job runs
    if status in FAILURES or status == "Installed":
        assert target is FwPhase.DONE
    else:
        assert target is not FwPhase.DONE


def test_firmware_rules_cover_every_status_of_the_shell_contract() -> None:
    assert {status for _, status in FW_RULES} >= SHELL_FIRMWARE_STATUSES
    # Every job phase leads somewhere on its success and on its failure.
    assert {phase for phase, _ in FW_RULES} == set(FW_JOB_PHASES)
    # Every status a plain 1.6 update can see either has a 1.6 value or is deliberately not sent.
    silent = {"DownloadScheduled", "InstallScheduled", "InstallRebooting", "DownloadPaused",
              "SignatureVerified", "InvalidSignature", "InvalidCertificate"}
    assert {s for _, s in FW_RULES} - silent <= set(firmware16.PLAIN_STATUS)


@pytest.mark.parametrize(("phase", "status"), sorted(LOG_RULES), ids=lambda v: str(v))
def test_log_rule(phase: LogPhase, status: str) -> None:
    target = LOG_RULES[(phase, status)]
    assert target is (LogPhase.UPLOADING if status == "Uploading" else LogPhase.DONE)
    assert status in firmware16.LOG_STATUS


def test_file_name_and_certificate_form() -> None:
    moment = datetime(2026, 11, 24, 13, 5, 9, 123000, tzinfo=UTC)
    assert maintenance.file_name("CP-1", "security", moment) == "CP-1-security-20261124T130509Z.tar.gz"
    assert maintenance.certificate_well_formed(signing_pem())
    assert not maintenance.certificate_well_formed("MIICaTCCAdKgAwIBAgIUXzo")
    garbage = "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"
    assert not maintenance.certificate_well_formed(garbage)


# -- UpdateFirmware (§5.19) / FirmwareStatusNotification (§4.5) ----------------------------------------------


def test_download_starts_at_the_retrieve_date_and_every_status_is_reported() -> None:
    d = Driver()
    d.connect()
    update(d, LATER, retries=2, retryInterval=30)
    d.advance(3599)
    assert started(d, "firmware_download") == []
    d.advance(2)
    [download] = started(d, "firmware_download")
    assert download.args == {"url": "https://fw.example/fw-2.0.bin", "retries": 2, "retry_interval_s": 30,
                             "signing_certificate": None, "signature": None}
    progress(d, download, "Downloading", "Downloaded")
    [install] = started(d, "firmware_install")  # no transaction: installed as soon as it is downloaded
    assert install.args == {}
    assert d.statuses()[-1] == "Unavailable"  # §5.19: not in use during the install
    progress(d, install, "Installing", "Installed")
    assert fw_statuses(d) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert d.statuses()[-1] == "Available"
    assert SetEvseEnabled(1, True) in d.actions
    assert d.store[("firmware", "job")]["phase"] == "Done"
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}  # §4.5: Idle once done
    assert_schema_valid(d)


def test_every_retry_the_shell_reports_then_download_failed() -> None:
    d = Driver()
    d.connect()
    update(d, retries=1)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading")
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Downloading"}
    progress(d, download, "Downloading", "DownloadFailed")
    assert fw_statuses(d) == ["Downloading", "Downloading", "Downloading", "DownloadFailed"]
    assert started(d, "firmware_install") == []
    assert d.statuses()[-1] == "Available"
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)


def test_install_waits_for_the_transaction_reboots_and_reports_installed_after_the_restart() -> None:
    d = Driver(evses=2)
    d.connect()
    charging(d, 1)
    update(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded")
    # §5.19: not while a session runs; the free connector is set Unavailable meanwhile.
    assert started(d, "firmware_install") == []
    assert d.statuses(2)[-1] == "Unavailable"
    assert d.statuses(1)[-1] == "Charging"
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Downloaded"}
    d.advance(120)
    d.serve()
    assert started(d, "firmware_install") == []

    d.tap("CARD1")  # the driver stops
    d.serve()
    d.pilot("A", 1)
    d.serve()
    [install] = started(d, "firmware_install")
    assert d.statuses(1)[-1] == "Unavailable"  # held too, now that it is free
    progress(d, install, "Installing", "InstallRebooting")
    # 1.6 has no InstallRebooting (the second Downloaded answered the trigger).
    assert fw_statuses(d) == ["Downloading", "Downloaded", "Downloaded", "Installing"]
    d.advance(maintenance.REBOOT_GRACE_S - 1)  # time for the status to reach the CSMS first
    assert not any(isinstance(a, Reboot) for a in d.actions)
    d.advance(2)
    assert Reboot(RebootKind.SOFT) in d.actions
    assert d.store[("firmware", "job")]["phase"] == "Rebooting"
    assert ("availability", "2") not in d.store  # the hold is not the CSMS's availability

    after = Driver(store=d.store, evses=2)
    after.connect()
    assert fw_statuses(after) == ["Installed"]  # reported once the new boot was accepted
    assert after.statuses(1)[-1] == after.statuses(2)[-1] == "Available"
    # A plain update records FirmwareUpdated in the local security log only.
    assert ("FirmwareUpdated", None) not in security_events(after)
    assert any(isinstance(a, RecordSecurityEvent) and a.kind == "FirmwareUpdated" for a in after.actions)
    assert trigger(after, "FirmwareStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)
    assert_schema_valid(after)


def test_installation_failed_gives_the_connectors_back() -> None:
    d = Driver()
    d.connect()
    update(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded")
    [install] = started(d, "firmware_install")
    assert d.statuses()[-1] == "Unavailable"
    progress(d, install, "Installing", "InstallationFailed", detail="install hook exited with status 1")
    assert fw_statuses(d)[-2:] == ["Installing", "InstallationFailed"]
    assert d.statuses()[-1] == "Available"
    assert_schema_valid(d)


def test_a_download_cut_by_a_restart_starts_again() -> None:
    d = Driver()
    d.connect()
    update(d)
    [first] = started(d, "firmware_download")
    progress(d, first, "Downloading")

    after = Driver(store=d.store)
    [again] = started(after, "firmware_download")
    assert again.job != first.job and again.args == first.args
    after.connect()
    progress(after, first, "Downloaded")  # a report of the old process's job is ignored
    assert fw_statuses(after) == []
    progress(after, again, "Downloading", "Downloaded")
    assert fw_statuses(after) == ["Downloading", "Downloaded"]
    assert len(started(after, "firmware_install")) == 1


def test_an_install_cut_by_a_restart_is_reported_failed() -> None:
    d = Driver()
    d.connect()
    update(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded")
    progress(d, started(d, "firmware_install")[0], "Installing")

    after = Driver(store=d.store)
    after.connect()
    assert fw_statuses(after) == ["InstallationFailed"]
    assert started(after, "firmware_install") == []
    assert after.statuses()[-1] == "Available"


def test_a_scheduled_update_survives_a_restart() -> None:
    d = Driver()
    d.connect()
    update(d, LATER)
    after = Driver(store=d.store)
    after.connect()
    after.advance(3599)
    assert started(after, "firmware_download") == []
    after.advance(2)
    assert len(started(after, "firmware_download")) == 1


def test_a_new_update_firmware_replaces_the_running_one() -> None:
    d = Driver()
    d.connect()
    update(d)
    [first] = started(d, "firmware_download")
    progress(d, first, "Downloading")
    update(d, LATER)
    assert CancelJob(first.job) in d.actions
    progress(d, first, "Downloaded")  # too late: ignored
    assert fw_statuses(d) == ["Downloading"]
    assert started(d, "firmware_install") == []


# -- GetDiagnostics (§5.9) / DiagnosticsStatusNotification (§4.4) --------------------------------------------


def test_get_diagnostics_names_the_file_then_uploads_it() -> None:
    d = Driver()
    d.connect()
    request = {"location": "ftp://logs.example/in/", "startTime": "2026-11-20T00:00:00Z", "retries": 1,
               "retryInterval": 10}
    answer = call(d, "GetDiagnostics", request)
    name = "CP-1-diagnostics-20261124T120000Z.tar.gz"
    assert answer == {"fileName": name}
    [upload] = started(d, "log_upload")
    assert upload.args == {"url": "ftp://logs.example/in/", "kind": "diagnostics",
                           "since": "2026-11-20T00:00:00.000Z", "until": None, "retries": 1,
                           "retry_interval_s": 10, "file_name": name}
    progress(d, upload, "Uploading")
    assert trigger(d, "DiagnosticsStatusNotification") == {"status": "Uploading"}
    progress(d, upload, "Uploaded")
    assert [c[3]["status"] for c in d.calls("DiagnosticsStatusNotification")] == [
        "Uploading", "Uploading", "Uploaded"]
    assert trigger(d, "DiagnosticsStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)


@pytest.mark.parametrize("failure", ["UploadFailed", "PermissionDenied", "BadMessage"])
def test_every_upload_failure_is_upload_failed(failure: str) -> None:
    d = Driver()
    d.connect()
    call(d, "GetDiagnostics", {"location": "https://logs.example/in"})
    progress(d, started(d, "log_upload")[0], "Uploading", failure)
    assert [c[3]["status"] for c in d.calls("DiagnosticsStatusNotification")] == ["Uploading", "UploadFailed"]
    assert_schema_valid(d)


def test_an_upload_cut_by_a_restart_starts_again_with_the_same_file_name() -> None:
    d = Driver()
    d.connect()
    call(d, "GetDiagnostics", {"location": "https://logs.example/in"})
    [first] = started(d, "log_upload")
    after = Driver(store=d.store)
    [again] = started(after, "log_upload")
    assert again.job != first.job and again.args == first.args


# -- security extension: SignedUpdateFirmware / SignedFirmwareStatusNotification -----------------------------


def test_signed_update_every_status_with_the_request_id_and_installed_after_the_restart() -> None:
    d = Driver()
    d.connect()
    assert signed_update(d, 7) == "Accepted"
    [download] = started(d, "firmware_download")
    assert download.args["signing_certificate"] == signing_pem()
    assert download.args["signature"] == "c2lnbmF0dXJl"
    progress(d, download, "Downloading", "Downloaded", "SignatureVerified")
    [install] = started(d, "firmware_install")  # only after the signature was verified
    progress(d, install, "Installing", "InstallRebooting")
    d.advance(maintenance.REBOOT_GRACE_S + 1)
    assert Reboot(RebootKind.SOFT) in d.actions
    assert signed(d) == [("Downloading", 7), ("Downloaded", 7), ("SignatureVerified", 7), ("Installing", 7),
                         ("InstallRebooting", 7)]
    assert fw_statuses(d) == []

    after = Driver(store=d.store)
    after.connect()
    assert signed(after) == [("Installed", 7)]
    assert security_events(after) == [("FirmwareUpdated", None)]
    assert extended_trigger(after, "SignedFirmwareStatusNotification") == {"status": "Idle"}
    assert trigger(after, "FirmwareStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)
    assert_schema_valid(after)


def test_signed_update_waits_for_the_signature_before_installing() -> None:
    d = Driver()
    d.connect()
    signed_update(d)
    progress(d, started(d, "firmware_download")[0], "Downloading", "Downloaded")
    assert started(d, "firmware_install") == []
    assert extended_trigger(d, "SignedFirmwareStatusNotification") == {"status": "Downloaded", "requestId": 7}
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Downloaded"}


def test_signed_update_download_scheduled_then_install_scheduled() -> None:
    d = Driver()
    d.connect()
    signed_update(d, 8, retrieve=LATER, install="2026-11-24T14:00:00Z")
    assert signed(d) == [("DownloadScheduled", 8)]
    d.advance(3601)
    serve(d)
    [download] = started(d, "firmware_download")
    progress(d, download, "Downloading", "Downloaded", "SignatureVerified")
    assert signed(d)[-1] == ("InstallScheduled", 8)
    d.advance(3500)
    assert started(d, "firmware_install") == []
    d.advance(200)
    assert len(started(d, "firmware_install")) == 1
    assert_schema_valid(d)


def test_invalid_signature_ends_the_update_with_a_security_event() -> None:
    d = Driver()
    d.connect()
    signed_update(d)
    progress(d, started(d, "firmware_download")[0], "Downloading", "Downloaded")
    progress(d, started(d, "firmware_download")[0], "InvalidSignature", detail="signature does not match")
    assert signed(d)[-1] == ("InvalidSignature", 7)
    assert security_events(d) == [("InvalidFirmwareSignature", "signature does not match")]
    assert started(d, "firmware_install") == []
    assert extended_trigger(d, "SignedFirmwareStatusNotification") == {"status": "InvalidSignature",
                                                                        "requestId": 7}
    assert_schema_valid(d)


def test_a_certificate_the_shell_refuses_is_reported_with_its_security_event() -> None:
    d = Driver()
    d.connect()
    signed_update(d)
    progress(d, started(d, "firmware_download")[0], "Downloading", "Downloaded", "InvalidCertificate")
    assert signed(d)[-1] == ("InvalidSignature", 7)
    assert [kind for kind, _ in security_events(d)] == ["InvalidFirmwareSigningCertificate"]
    assert started(d, "firmware_install") == []
    assert_schema_valid(d)


def test_a_certificate_that_is_not_one_is_answered_invalid_certificate() -> None:
    d = Driver()
    d.connect()
    assert signed_update(d, certificate="MIICaTCCAdKgAwIBAgIUXzo...") == "InvalidCertificate"
    assert started(d, "firmware_download") == []
    assert [kind for kind, _ in security_events(d)] == ["InvalidFirmwareSigningCertificate"]
    assert signed(d) == []
    assert_schema_valid(d)


def test_a_new_signed_update_cancels_the_running_one_and_one_during_the_install_is_rejected() -> None:
    d = Driver()
    d.connect()
    assert signed_update(d, 1) == "Accepted"
    [first] = started(d, "firmware_download")
    progress(d, first, "Downloading")
    assert signed_update(d, 2, uid="c2") == "AcceptedCanceled"
    assert CancelJob(first.job) in d.actions
    second = started(d, "firmware_download")[-1]
    progress(d, first, "Downloaded")  # the cancelled job's late report
    progress(d, second, "Downloading", "Downloaded", "SignatureVerified")
    progress(d, started(d, "firmware_install")[0], "Installing")
    assert signed_update(d, 3, uid="c3") == "Rejected"  # L01.FR.27: an install under way is not cancelled
    assert signed(d) == [("Downloading", 1), ("Downloading", 2), ("Downloaded", 2), ("SignatureVerified", 2),
                         ("Installing", 2)]
    assert_schema_valid(d)


# -- security extension: GetLog / LogStatusNotification ------------------------------------------------------


def test_get_log_uploads_with_the_request_id_and_a_new_one_cancels_it() -> None:
    d = Driver()
    d.connect()
    answer = call(d, "GetLog", {"logType": "SecurityLog", "requestId": 5,
                                "log": {"remoteLocation": "https://logs.example/in",
                                        "oldestTimestamp": "2026-11-01T00:00:00Z",
                                        "latestTimestamp": "2026-11-24T00:00:00Z"}})
    assert answer == {"status": "Accepted", "filename": "CP-1-security-20261124T120000Z.tar.gz"}
    [first] = started(d, "log_upload")
    assert first.args["kind"] == "security"
    assert first.args["since"] == "2026-11-01T00:00:00.000Z"
    assert first.args["until"] == "2026-11-24T00:00:00.000Z"
    progress(d, first, "Uploading")
    assert extended_trigger(d, "LogStatusNotification") == {"status": "Uploading", "requestId": 5}
    assert trigger(d, "DiagnosticsStatusNotification") == {"status": "Idle"}  # no GetDiagnostics upload

    answer = call(d, "GetLog", {"logType": "DiagnosticsLog", "requestId": 6,
                                "log": {"remoteLocation": "https://logs.example/in"}}, uid="c2")
    assert answer == {"status": "AcceptedCanceled", "filename": "CP-1-diagnostics-20261124T120000Z.tar.gz"}
    assert CancelJob(first.job) in d.actions
    second = started(d, "log_upload")[-1]
    assert second.args["kind"] == "diagnostics"
    progress(d, second, "Uploading", "UploadFailed")
    assert [(c[3]["status"], c[3].get("requestId")) for c in d.calls("LogStatusNotification")] == [
        ("Uploading", 5), ("Uploading", 5), ("Uploading", 6), ("UploadFailure", 6)]
    assert extended_trigger(d, "LogStatusNotification") == {"status": "Idle"}
    assert_schema_valid(d)


def test_trigger_reports_idle_without_any_job() -> None:
    d = Driver()
    d.connect()
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}
    assert trigger(d, "DiagnosticsStatusNotification") == {"status": "Idle"}
    assert extended_trigger(d, "SignedFirmwareStatusNotification") == {"status": "Idle"}
    assert firmware16.trigger(d.station, "Heartbeat", d.now) is None
    assert_schema_valid(d)


def test_unreadable_job_rows_are_ignored_at_start_up() -> None:
    store: dict[tuple[str, str], Any] = {("firmware", "job"): {"phase": "Nonsense"}, ("log", "job"): "x"}
    d = Driver(store=store)
    d.connect()
    assert started(d, "firmware_download") == started(d, "log_upload") == []
    assert trigger(d, "FirmwareStatusNotification") == {"status": "Idle"}

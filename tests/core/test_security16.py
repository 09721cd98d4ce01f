"""OCPP 1.6 security extension on the wire ("Improved security for OCPP 1.6-J", edition 3).

Certificates through the ``PkiCommand`` / ``PkiResult`` round trip (A02, A03, M03, M04, M05), deferred
answers and their timeouts, ExtendedTriggerMessage, certificate renewal timing, and security events (A04):
names, which go to the Central System, durability across a restart. Every frame the station sends is checked
against the official 1.6 schemas of the ``ocpp`` package.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from chargepoint.core.actions import ConfigureConnection, Log, PkiCommand, Reconnect, RecordSecurityEvent
from chargepoint.core.clock import format_timestamp
from chargepoint.core.events import PkiResult, SystemClockSet, TextReceived, TransportClosed
from chargepoint.core.ocpp16 import security
from tests.core.harness import Driver

Validator = Callable[[dict[str, Any]], object]

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBcsr\n-----END CERTIFICATE REQUEST-----\n"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n"
ROOT = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"
KEY = "0123456789abcdef0123456789abcdef"  # an AuthorizationKey: must never be logged
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 32, "issuerKeyHash": "b2" * 32,
        "serialNumber": "1f"}
SIGN_ACCEPTED = {"status": "Accepted"}
CS_ROOT = {"certificateType": "CentralSystemRootCertificate", "certificate": ROOT}


@functools.cache
def _schema(name: str) -> Validator:
    path = resources.files("ocpp").joinpath("v16", "schemas", f"{name}.json")
    validator: Validator = fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8-sig")))
    return validator


class Station(Driver):
    """The 1.6 driver, remembering which action each CSMS call was, to check the station's answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.asked: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    def send(self, action: str, payload: dict[str, Any], uid: str) -> None:
        """A CALL from the CSMS whose answer may come later (deferred)."""
        self.asked[uid] = action
        self.feed(TextReceived(json.dumps([2, uid, action, payload])))

    def reply(self, uid: str) -> list[Any] | None:
        found = [m for m in self.sent if m[0] in (3, 4) and m[1] == uid]
        assert len(found) <= 1, f"answered {uid} twice"
        return found[0] if found else None

    def ask(self, action: str, payload: dict[str, Any], uid: str = "c1") -> list[Any]:
        self.send(action, payload, uid)
        frame = self.reply(uid)
        assert frame is not None, f"no answer to {action}"
        return frame

    def pki(self, op: str) -> list[PkiCommand]:
        return [a for a in self.actions if isinstance(a, PkiCommand) and a.op == op]

    def result(self, command: PkiCommand, ok: bool = True, **result: Any) -> None:
        self.feed(PkiResult(command.ref, command.op, ok, result))

    def events(self) -> list[dict[str, Any]]:
        return [c[3] for c in self.calls("SecurityEventNotification")]

    def recorded(self) -> list[str]:
        return [a.kind for a in self.actions if isinstance(a, RecordSecurityEvent)]

    def assert_wire_valid(self) -> None:
        """Every CALL the station sent and every answer it gave fits its official 1.6 schema."""
        for frame in self.sent:
            try:
                if frame[0] == 2:
                    _schema(frame[2])(frame[3])
                elif frame[0] == 3 and frame[1] in self.asked:
                    _schema(self.asked[frame[1]] + "Response")(frame[2])
            except fastjsonschema.JsonSchemaException as error:  # pragma: no cover - the failure message
                raise AssertionError(f"{frame} violates its schema: {error}") from None
        errors = [a for a in self.actions if isinstance(a, Log) and a.level >= logging.ERROR
                  and "schema" in a.message]
        assert not errors


def registered(**info: Any) -> Station:
    d = Station(**info)
    d.connect()
    return d


# -- security events (A04) -------------------------------------------------------------------------------


def test_startup_of_the_device_is_sent_once_per_boot_after_registration() -> None:
    """Whitepaper §8: StartupOfTheDevice is critical: to the local log and to the Central System
    (A04.FR.01)."""
    d = registered()
    assert [e["type"] for e in d.events()] == ["StartupOfTheDevice"]
    assert d.recorded() == ["StartupOfTheDevice"]
    d.csms_call("TriggerMessage", {"requestedMessage": "BootNotification"}, uid="t1")
    d.serve()
    assert len(d.calls("BootNotification")) == 2
    assert [e["type"] for e in d.events()] == ["StartupOfTheDevice"]  # once per boot
    d.assert_wire_valid()


def test_a_reset_is_a_critical_reset_or_reboot_event() -> None:
    d = registered()
    assert d.ask("Reset", {"type": "Hard"})[2] == {"status": "Accepted"}
    d.serve()
    event = d.events()[-1]
    assert event["type"] == "ResetOrReboot" and "Hard" in event["techInfo"]
    d.assert_wire_valid()


def test_setting_the_clock_is_a_critical_setting_system_time_event() -> None:
    d = registered()
    d.feed(SystemClockSet(-42.0))
    d.serve()
    event = d.events()[-1]
    assert event["type"] == "SettingSystemTime" and "-42.0 s" in event["techInfo"]
    d.assert_wire_valid()


@pytest.mark.parametrize(("key", "value", "info"), [
    ("AuthorizationKey", KEY, "AuthorizationKey changed"),
    ("SecurityProfile", "2", "SecurityProfile set to 2"),
])
def test_security_parameters_change_goes_to_the_local_log_only(key: str, value: str, info: str) -> None:
    """ReconfigurationOfSecurityParameters is not critical (§8): recorded (A01.FR.11), not sent; the key
    itself never appears (A01.FR.12)."""
    d = registered()
    assert d.ask("ChangeConfiguration", {"key": key, "value": value})[2] == {"status": "Accepted"}
    d.serve()
    records = [a for a in d.actions if isinstance(a, RecordSecurityEvent)]
    assert (records[-1].kind, records[-1].info) == ("ReconfigurationOfSecurityParameters", info)
    assert [e["type"] for e in d.events()] == ["StartupOfTheDevice"]
    assert_no_secret(d, KEY)


def test_other_settings_are_no_security_event() -> None:
    d = registered()
    d.ask("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
    assert d.recorded() == ["StartupOfTheDevice"]


def test_an_invalid_central_system_certificate_is_reported_once_per_run_of_failures() -> None:
    """A connection refused for the Central System's certificate: InvalidCentralSystemCertificate, queued
    durably and sent once connected again (OCTT TC_078_CS); repeated attempts make no new event."""
    d = registered()
    d.disconnect()
    for _ in range(3):
        d.feed(TransportClosed("invalid-csms-certificate: unable to get local issuer certificate"))
    assert d.recorded().count("InvalidCentralSystemCertificate") == 1
    d.connect()
    events = [e for e in d.events() if e["type"] == "InvalidCentralSystemCertificate"]
    assert len(events) == 1 and events[0]["techInfo"] == "unable to get local issuer certificate"
    d.disconnect()  # a normal close ends the run: the next failure is a new event
    d.feed(TransportClosed("invalid-csms-certificate"))
    assert d.recorded().count("InvalidCentralSystemCertificate") == 2
    d.assert_wire_valid()


def test_a_refused_password_is_logged_locally_only() -> None:
    """FailedToAuthenticateAtCentralSystem is not critical (§8): security log, not sent."""
    d = registered()
    d.disconnect()
    d.feed(TransportClosed("authentication-failed: HTTP 401"))
    d.feed(TransportClosed("authentication-failed: HTTP 401"))
    assert d.recorded().count("FailedToAuthenticateAtCentralSystem") == 1
    d.connect()
    assert [e["type"] for e in d.events()] == ["StartupOfTheDevice"]


def test_security_events_survive_a_restart_and_go_out_after_the_reconnect() -> None:
    """A04.FR.02: queued with guaranteed delivery while disconnected, kept across a restart."""
    d = registered()
    d.disconnect()
    d.feed(SystemClockSet(5.0))
    moment = format_timestamp(d.station.time(d.now))
    assert not [e for e in d.events() if e["type"] == "SettingSystemTime"]
    again = Station(store=d.store, start=d.now.later(10))
    again.connect()
    types = [e["type"] for e in again.events()]
    assert types == ["SettingSystemTime", "StartupOfTheDevice"]
    assert again.events()[0]["timestamp"] == moment  # when it happened, not when it was sent
    again.assert_wire_valid()


# -- SignCertificate / CertificateSigned (A02, A03) --------------------------------------------------------


def test_extended_trigger_sign_charge_point_certificate_round_trip() -> None:
    """A02: the trigger is answered first (A02.FR.02), then the store makes a CSR with CpoName as O
    (A02.FR.13), then SignCertificate.req carries it (A02.FR.03)."""
    d = registered()
    d.ask("ChangeConfiguration", {"key": "CpoName", "value": "Acme CPO"}, uid="cfg")
    start = len(d.actions)
    assert d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})[2] == {
        "status": "Accepted"}
    after = d.actions[start:]
    reply_at = next(i for i, a in enumerate(after) if getattr(a, "text", "").startswith('[3,"c1"'))
    csr_at = next(i for i, a in enumerate(after) if isinstance(a, PkiCommand))
    assert reply_at < csr_at
    command = d.pki("csr")[-1]
    assert command.args == {"use": "ChargePointCertificate", "organization": "Acme CPO"}
    d.result(command, csr=CSR)
    pending = d.pending()
    assert pending is not None and pending[2:] == ["SignCertificate", {"csr": CSR}]
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.assert_wire_valid()


def test_sign_certificate_may_go_out_while_pending_when_the_csms_asked() -> None:
    """A00.FR.806: during Pending the Central System can update the credentials (1.6 §4.2: triggered only)."""
    d = Station()
    d.connect(accept=False)
    d.answer({"status": "Pending", "currentTime": "2026-11-24T12:00:00.000Z", "interval": 300})
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    d.result(d.pki("csr")[-1], csr=CSR)
    pending = d.pending()
    assert pending is not None and pending[2] == "SignCertificate"


def test_a_failed_csr_sends_nothing() -> None:
    d = registered()
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    d.result(d.pki("csr")[-1], ok=False, reason="WriteFailed")
    assert not d.calls("SignCertificate")
    assert any(isinstance(a, Log) and "no CSR" in a.message for a in d.actions)


def test_a_csr_that_never_comes_is_given_up_and_a_late_one_ignored() -> None:
    d = registered()
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    command = d.pki("csr")[-1]
    d.advance(61)
    d.result(command, csr=CSR)
    assert not d.calls("SignCertificate")


def test_a_newer_trigger_replaces_a_csr_still_being_made() -> None:
    d = registered()
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, uid="t1")
    first = d.pki("csr")[-1]
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, uid="t2")
    second = d.pki("csr")[-1]
    d.result(first, csr=CSR)
    assert not d.calls("SignCertificate")
    d.result(second, csr=CSR)
    assert len(d.calls("SignCertificate")) == 1


def test_a_rejected_sign_certificate_is_logged_and_not_retried() -> None:
    """A02.FR.12: the Central System cannot process the request. (The station hands the answer over through
    ``on_sign_certificate_answer``.)"""
    d = registered()
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate={"status": "Rejected"})
    assert security.on_sign_certificate_answer(d.station, {"status": "Accepted"}, d.now) == []
    logs = security.on_sign_certificate_answer(d.station, {"status": "Rejected"}, d.now)
    messages = [a.message for a in logs if isinstance(a, Log)]
    assert messages == ["SignCertificate Rejected by the Central System"]
    d.advance(3600)
    assert len(d.pki("csr")) == 1


@pytest.mark.parametrize("profile", [2, 3])
def test_certificate_signed_is_answered_when_the_store_accepted_it(profile: int) -> None:
    """A02.FR.06/08: deferred until the store checked the chain; with security profile 3 the station
    reconnects to use the new certificate (OCTT TC_074_CS)."""
    d = registered(security_profile=profile)
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    assert d.reply("cs") is None  # deferred
    command = d.pki("accept_signed")[-1]
    assert command.args == {"chain": CHAIN}
    start = len(d.actions)
    d.result(command, expires="2027-11-24T12:00:00Z")
    assert d.reply("cs") == [3, "cs", {"status": "Accepted"}]
    reconnects = [a for a in d.actions[start:] if isinstance(a, Reconnect)]
    assert len(reconnects) == (1 if profile == 3 else 0)
    d.assert_wire_valid()


def test_a_rejected_certificate_is_reported_as_invalid_charge_point_certificate() -> None:
    """A02.FR.07 / OCTT TC_077_CS: Rejected, then SecurityEventNotification InvalidChargePointCertificate."""
    d = registered()
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    d.result(d.pki("accept_signed")[-1], ok=False, reason="InvalidCertChain")
    assert d.reply("cs") == [3, "cs", {"status": "Rejected"}]
    d.serve()
    assert d.events()[-1]["type"] == "InvalidChargePointCertificate"
    assert d.events()[-1]["techInfo"] == "InvalidCertChain"
    frames = [json.loads(a.text) for a in d.actions if hasattr(a, "text")]
    assert frames.index([3, "cs", {"status": "Rejected"}]) < next(
        i for i, f in enumerate(frames) if f[0] == 2 and f[2] == "SecurityEventNotification"
        and f[3]["type"] == "InvalidChargePointCertificate")
    d.assert_wire_valid()


def test_certificate_signed_without_a_store_answer_is_rejected_after_a_few_seconds() -> None:
    d = registered()
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    command = d.pki("accept_signed")[-1]
    d.advance(4)
    assert d.reply("cs") is None
    d.advance(2)
    assert d.reply("cs") == [3, "cs", {"status": "Rejected"}]
    d.result(command, expires="2027-11-24T12:00:00Z")  # too late: ignored, never answered twice
    assert d.reply("cs") == [3, "cs", {"status": "Rejected"}]
    d.assert_wire_valid()


def test_a_store_answer_after_the_connection_dropped_sends_nothing() -> None:
    d = registered()
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    d.disconnect()
    d.result(d.pki("accept_signed")[-1], expires="2027-11-24T12:00:00Z")
    assert d.reply("cs") is None


# -- renewal (A03) -----------------------------------------------------------------------------------------


def expiring_in(d: Station, days: float) -> None:
    """Answer the latest ``status`` question: the certificate expires ``days`` from the station's now."""
    moment = d.station.time(d.now) + timedelta(days=days)
    d.result(d.pki("status")[-1], expires=format_timestamp(moment))


def test_registration_asks_for_the_certificate_status_and_renews_within_a_month() -> None:
    """A03.FR.02: the certificate expires in less than a month: a new CSR, then SignCertificate."""
    d = registered()
    assert len(d.pki("status")) == 1
    expiring_in(d, 29)
    command = d.pki("csr")[-1]
    assert command.args["use"] == "ChargePointCertificate"
    d.result(command, csr=CSR)
    pending = d.pending()
    assert pending is not None and pending[2] == "SignCertificate"
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.assert_wire_valid()


def test_no_renewal_for_a_certificate_that_is_not_due_or_absent() -> None:
    d = registered()
    expiring_in(d, 31)
    assert not d.pki("csr")
    d.advance(86400)  # the daily check
    assert len(d.pki("status")) == 2
    d.result(d.pki("status")[-1], expires=None)  # no station certificate: nothing to renew
    assert not d.pki("csr")


def test_the_daily_check_renews_once_the_certificate_becomes_due() -> None:
    d = registered()
    expiring_in(d, 30.5)
    assert not d.pki("csr")
    d.advance(86400)
    expiring_in(d, 29.5)
    assert len(d.pki("csr")) == 1


def test_an_unanswered_sign_certificate_is_not_repeated_within_hours_but_the_next_day() -> None:
    """Whitepaper A02/A03 error handling: retrying within minutes or hours is NOT RECOMMENDED; the daily
    check asks again while the certificate is still due."""
    d = registered()
    expiring_in(d, 10)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.advance(23 * 3600)
    assert len(d.calls("SignCertificate")) == 1
    d.advance(3600)
    expiring_in(d, 9)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.advance(31)  # an unanswered Heartbeat may hold the line until its call timeout
    assert len(d.calls("SignCertificate")) == 2


def test_a_failed_status_question_starts_nothing() -> None:
    d = registered()
    d.result(d.pki("status")[-1], ok=False, reason="Unknown")
    assert not d.pki("csr")


def test_the_accepted_certificate_becomes_the_one_renewal_looks_at() -> None:
    d = registered()
    expiring_in(d, 10)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    renewed = d.station.time(d.now) + timedelta(days=365)
    d.result(d.pki("accept_signed")[-1], expires=format_timestamp(renewed))
    assert d.reply("cs") == [3, "cs", {"status": "Accepted"}]


# -- InstallCertificate, DeleteCertificate, GetInstalledCertificateIds (M03-M05) ---------------------------


@pytest.mark.parametrize(("ok", "reason", "status", "event"), [
    (True, None, "Accepted", None),
    (False, "InvalidCertificate", "Rejected", "InvalidCentralSystemCertificate"),  # M05.FR.06, TC_078_CSMS
    (False, "CertificateStoreFull", "Rejected", None),  # M05.FR.03
    (False, "WriteFailed", "Failed", None),  # M05.FR.04
])
def test_install_certificate(ok: bool, reason: str | None, status: str, event: str | None) -> None:
    d = registered()
    d.send("InstallCertificate", CS_ROOT, "i")
    assert d.reply("i") is None
    command = d.pki("install_root")[-1]
    assert command.args == {"use": "CentralSystemRootCertificate", "pem": ROOT}
    if ok:
        d.result(command, status="Accepted")
    else:
        d.result(command, ok=False, reason=reason)
    assert d.reply("i") == [3, "i", {"status": status}]
    d.serve()
    sent = [e["type"] for e in d.events()][1:]
    assert sent == ([event] if event else [])
    d.assert_wire_valid()


def test_a_refused_manufacturer_root_is_no_security_event() -> None:
    d = registered()
    d.send("InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": ROOT}, "i")
    d.result(d.pki("install_root")[-1], ok=False, reason="NotCACertificate")
    assert d.reply("i") == [3, "i", {"status": "Rejected"}]
    assert d.recorded() == ["StartupOfTheDevice"]


def test_installing_and_deleting_keeps_the_certificate_count() -> None:
    d = registered()
    assert len(d.pki("list")) == 1  # at start-up
    d.result(d.pki("list")[-1], certificates=[{"use": "ManufacturerRootCertificate", "hash": HASH}])
    assert security.certificate_entries(d.station) == 1
    d.send("InstallCertificate", CS_ROOT, "i")
    d.result(d.pki("install_root")[-1], status="Accepted")
    d.result(d.pki("list")[-1], certificates=[{"use": "ManufacturerRootCertificate", "hash": HASH},
                                              {"use": "CentralSystemRootCertificate", "hash": HASH}])
    assert security.certificate_entries(d.station) == 2


@pytest.mark.parametrize(("ok", "result", "status"), [
    (True, {"status": "Accepted"}, "Accepted"),
    (True, {"status": "NotFound"}, "NotFound"),
    (True, {"status": "Failed"}, "Failed"),  # e.g. the station's own certificate (M04.FR.05)
    (True, {"status": "Odd"}, "Failed"),
    (False, {"reason": "WriteFailed"}, "Failed"),
])
def test_delete_certificate(ok: bool, result: dict[str, Any], status: str) -> None:
    d = registered()
    d.send("DeleteCertificate", {"certificateHashData": HASH}, "x")
    assert d.reply("x") is None
    command = d.pki("delete")[-1]
    assert command.args == {"hash": HASH}
    d.result(command, ok, **result)
    assert d.reply("x") == [3, "x", {"status": status}]
    d.assert_wire_valid()


def test_get_installed_certificate_ids_lists_the_type_asked_for() -> None:
    """M03.FR.03/04: Accepted with the hash data of each matching certificate."""
    d = registered()
    d.send("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}, "g")
    command = d.pki("list")[-1]
    assert command.args == {"uses": ["CentralSystemRootCertificate"]}
    other = {**HASH, "serialNumber": "2a"}
    d.result(command, certificates=[{"use": "CentralSystemRootCertificate", "hash": HASH},
                                    {"use": "ManufacturerRootCertificate", "hash": other},
                                    {"use": "CentralSystemRootCertificate", "hash": {"bad": 1}}])
    assert d.reply("g") == [3, "g", {"status": "Accepted", "certificateHashData": [HASH]}]
    d.assert_wire_valid()


@pytest.mark.parametrize(("ok", "certificates"), [(True, []), (False, None)])
def test_get_installed_certificate_ids_not_found(ok: bool, certificates: list[Any] | None) -> None:
    """M03.FR.02: NotFound when no certificate of that type is installed."""
    d = registered()
    d.send("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}, "g")
    d.result(d.pki("list")[-1], ok, certificates=certificates)
    assert d.reply("g") == [3, "g", {"status": "NotFound"}]


@pytest.mark.parametrize(("action", "payload", "answer"), [
    ("InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": ROOT},
     [3, "w", {"status": "Failed"}]),
    ("DeleteCertificate", {"certificateHashData": HASH}, [3, "w", {"status": "Failed"}]),
    ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"},
     [3, "w", {"status": "NotFound"}]),
])
def test_a_store_that_does_not_answer_gets_a_failure_answer(action: str, payload: dict[str, Any],
                                                            answer: list[Any]) -> None:
    d = registered()
    d.send(action, payload, "w")
    d.advance(5)
    assert d.reply("w") == answer
    d.assert_wire_valid()


# -- ExtendedTriggerMessage (§5.5) -------------------------------------------------------------------------


@pytest.mark.parametrize(("requested", "message"), [
    ("BootNotification", "BootNotification"),
    ("Heartbeat", "Heartbeat"),
    ("StatusNotification", "StatusNotification"),
    ("MeterValues", "MeterValues"),
    ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),  # §6.16
    ("LogStatusNotification", "LogStatusNotification"),
])
def test_extended_trigger_message_sends_the_requested_message(requested: str, message: str) -> None:
    d = registered()
    d.meter()
    before = len(d.calls(message))
    assert d.ask("ExtendedTriggerMessage", {"requestedMessage": requested})[2] == {"status": "Accepted"}
    d.serve()
    assert len(d.calls(message)) > before
    d.assert_wire_valid()


def test_extended_trigger_message_for_a_connector_that_does_not_exist_is_rejected() -> None:
    d = registered()
    reply = d.ask("ExtendedTriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 7})
    assert reply[2] == {"status": "Rejected"}
    reply = d.ask("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification", "connectorId": 7},
                  uid="c2")
    assert reply[2] == {"status": "Rejected"}
    d.assert_wire_valid()


def test_the_plain_trigger_message_knows_nothing_of_certificates() -> None:
    """1.6 TriggerMessage has no SignChargePointCertificate: the schema refuses it."""
    d = registered()
    reply = d.ask("TriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert reply[0] == 4 and not d.pki("csr")


# -- secrets -----------------------------------------------------------------------------------------------


def assert_no_secret(d: Station, *secrets: str) -> None:
    texts = [a.message for a in d.actions if isinstance(a, Log)]
    texts += [a.info for a in d.actions if isinstance(a, RecordSecurityEvent)]
    texts += [repr(a) for a in d.actions if isinstance(a, PkiCommand)]
    for secret in secrets:
        assert not [t for t in texts if secret in t], secret


def test_no_key_csr_or_certificate_reaches_a_log_line() -> None:
    d = registered()
    d.ask("ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY}, uid="k")
    d.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    d.result(d.pki("accept_signed")[-1], ok=False, reason="KeyMismatch")
    d.send("InstallCertificate", CS_ROOT, "i")
    d.result(d.pki("install_root")[-1], ok=False, reason="InvalidCertificate")
    d.serve()
    assert_no_secret(d, KEY, "MIIBcsr", "MIIBleaf", "MIIBroot")
    d.assert_wire_valid()


# -- security whitepaper §2.4: raising the security profile --------------------------------------------


def test_security_profile_only_goes_up_and_is_tried_then_kept() -> None:
    """§2.4: a lower profile is Rejected; a higher one is tried at once (new endpoint, reconnect) and kept
    once a connection opens with it, also after a restart."""
    d = Driver(security_profile=1)
    d.connect()
    assert d.csms_call("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"}, uid="lo")[2] == {
        "status": "Rejected"}
    before = len(d.actions)
    assert d.csms_call("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"}, uid="up")[2] == {
        "status": "Accepted"}
    tried = d.actions[before:]
    assert ConfigureConnection(endpoint=("", 2)) in tried and any(isinstance(a, Reconnect) for a in tried)
    d.disconnect()  # the reconnect we asked for
    d.connect()  # ... succeeds with profile 2
    assert d.store[("settings", "SecurityProfile")] == 2
    again = Driver(store=d.store, security_profile=1)
    restored = [a for a in again.actions if isinstance(a, ConfigureConnection)]
    assert restored and restored[-1].endpoint == ("", 2)


def test_a_profile_that_cannot_connect_falls_back_and_is_reported() -> None:
    """§2.4: if the station cannot connect with the new profile it goes back to the old one, and says so
    (ReconfigurationOfSecurityParameters)."""
    d = Driver(security_profile=1)
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "SecurityProfile", "value": "3"}, uid="up")
    d.disconnect()  # our reconnect
    for _ in range(3):
        d.disconnect()  # three failed attempts with profile 3
    fallback = [a for a in d.actions if isinstance(a, ConfigureConnection) and a.endpoint is not None]
    assert fallback[-1].endpoint == ("", 0)  # the installer's own connection again
    assert d.store[("settings", "SecurityProfile")] == 1
    d.connect()
    events = [c[3] for c in d.calls("SecurityEventNotification")]
    assert any(e["type"] == "ReconfigurationOfSecurityParameters" and "back to 1" in e.get("techInfo", "")
               for e in events) or any("back to 1" in a.info for a in d.actions
                                        if isinstance(a, RecordSecurityEvent))

"""OCPP 2.0.1 blocks A and M on the wire: certificates and security events of the charging station.

Certificates through the ``PkiCommand`` / ``PkiResult`` round trip (A02, A03, M03, M04, M05), deferred
answers and their timeouts, TriggerMessage SignChargingStationCertificate, the A02.FR.17/18 repeats,
renewal timing, and security events (A04) with their 2.0.1 names, durable across a restart. Every frame the
station sends is checked against the official 2.0.1 schemas of the ``ocpp`` package.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from chargepoint.core.actions import Log, PkiCommand, Reconnect, RecordSecurityEvent
from chargepoint.core.clock import format_timestamp
from chargepoint.core.events import PkiResult, SystemClockSet, TextReceived, TransportClosed
from chargepoint.core.ocpp201 import security
from tests.core.harness import Driver201

Validator = Callable[[dict[str, Any]], object]

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBcsr\n-----END CERTIFICATE REQUEST-----\n"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n"
ROOT = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"
PASSWORD = "0123456789abcdef0123456789abcdef"  # a BasicAuthPassword: must never be logged
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 32, "issuerKeyHash": "b2" * 32,
        "serialNumber": "1f"}
SIGN_ACCEPTED = {"status": "Accepted"}
TRIGGER_SIGN = {"requestedMessage": "SignChargingStationCertificate"}


@functools.cache
def _schema(name: str) -> Validator:
    path = resources.files("ocpp").joinpath("v201", "schemas", f"{name}.json")
    validator: Validator = fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8-sig")))
    return validator


class Station(Driver201):
    """The 2.0.1 driver, remembering which action each CSMS call was, to check the station's answers."""

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

    def security_events(self) -> list[dict[str, Any]]:
        return [c[3] for c in self.calls("SecurityEventNotification")]

    def recorded(self) -> list[str]:
        return [a.kind for a in self.actions if isinstance(a, RecordSecurityEvent)]

    def assert_wire_valid(self) -> None:
        """Every CALL the station sent and every answer it gave fits its official 2.0.1 schema."""
        for frame in self.sent:
            try:
                if frame[0] == 2:
                    _schema(frame[2] + "Request")(frame[3])
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


def set_variable(d: Station, component: str, variable: str, value: str) -> str:
    reply = d.ask("SetVariables", {"setVariableData": [{
        "attributeValue": value, "component": {"name": component}, "variable": {"name": variable}}]},
        uid=f"set-{variable}")
    return str(reply[2]["setVariableResult"][0]["attributeStatus"])


# -- security events (A04) -------------------------------------------------------------------------------


def test_startup_of_the_device_is_sent_once_after_registration() -> None:
    """Part 2 appendix: StartupOfTheDevice is critical: to the security log and to the CSMS (A04.FR.01)."""
    d = registered()
    events = d.security_events()
    assert [e["type"] for e in events] == ["StartupOfTheDevice"]
    assert "PowerUp" in events[0]["techInfo"]
    assert d.recorded() == ["StartupOfTheDevice"]
    d.assert_wire_valid()


def test_a_reset_is_a_critical_reset_or_reboot_event() -> None:
    d = registered()
    assert d.ask("Reset", {"type": "Immediate"})[2]["status"] == "Accepted"
    d.serve()
    event = d.security_events()[-1]
    assert event["type"] == "ResetOrReboot" and "Immediate" in event["techInfo"]
    d.assert_wire_valid()


def test_setting_the_clock_is_a_critical_setting_system_time_event() -> None:
    d = registered()
    d.feed(SystemClockSet(12.5))
    d.serve()
    assert d.security_events()[-1]["type"] == "SettingSystemTime"
    d.assert_wire_valid()


def test_a_new_basic_auth_password_goes_to_the_security_log_only() -> None:
    """ReconfigurationOfSecurityParameters is not critical: recorded, not sent; the password never shows."""
    d = registered()
    assert set_variable(d, "SecurityCtrlr", "BasicAuthPassword", PASSWORD) == "Accepted"
    d.serve()
    records = [a for a in d.actions if isinstance(a, RecordSecurityEvent)]
    assert (records[-1].kind, records[-1].info) == ("ReconfigurationOfSecurityParameters",
                                                     "BasicAuthPassword changed")
    assert [e["type"] for e in d.security_events()] == ["StartupOfTheDevice"]
    assert_no_secret(d, PASSWORD)


def test_a_new_network_configuration_priority_is_a_reconfiguration_of_security_parameters() -> None:
    d = registered()
    assert set_variable(d, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1") in ("Accepted",
                                                                                     "RebootRequired")
    records = [a for a in d.actions if isinstance(a, RecordSecurityEvent)]
    assert (records[-1].kind, records[-1].info) == ("ReconfigurationOfSecurityParameters",
                                                     "NetworkConfigurationPriority set to 1")


def test_other_variables_are_no_security_event() -> None:
    d = registered()
    set_variable(d, "OCPPCommCtrlr", "HeartbeatInterval", "60")
    assert d.recorded() == ["StartupOfTheDevice"]


def test_an_invalid_csms_certificate_is_reported_once_per_run_of_failures() -> None:
    """InvalidCsmsCertificate (2.0.1 name): queued durably, sent once connected again; repeated attempts
    of one outage make one event."""
    d = registered()
    d.disconnect()
    for _ in range(3):
        d.feed(TransportClosed("invalid-csms-certificate: certificate has expired"))
    assert d.recorded().count("InvalidCsmsCertificate") == 1
    assert "InvalidCentralSystemCertificate" not in d.recorded()
    d.connect()
    events = [e for e in d.security_events() if e["type"] == "InvalidCsmsCertificate"]
    assert len(events) == 1 and events[0]["techInfo"] == "certificate has expired"
    d.assert_wire_valid()


def test_a_refused_password_is_logged_locally_only() -> None:
    """FailedToAuthenticateAtCsms is not critical: security log, not sent."""
    d = registered()
    d.disconnect()
    d.feed(TransportClosed("authentication-failed: HTTP 401"))
    assert d.recorded()[-1] == "FailedToAuthenticateAtCsms"
    d.connect()
    assert [e["type"] for e in d.security_events()] == ["StartupOfTheDevice"]


def test_security_events_survive_a_restart_and_go_out_after_the_reconnect() -> None:
    """A04.FR.02: queued with guaranteed delivery while disconnected, kept across a restart."""
    d = registered()
    d.disconnect()
    d.feed(SystemClockSet(-3.0))
    moment = format_timestamp(d.station.time(d.now))
    again = Station(store=d.store, start=d.now.later(10))
    again.connect()
    events = again.security_events()
    assert [e["type"] for e in events] == ["SettingSystemTime", "StartupOfTheDevice"]
    assert events[0]["timestamp"] == moment
    again.assert_wire_valid()


# -- SignCertificate / CertificateSigned (A02, A03) --------------------------------------------------------


def test_trigger_sign_charging_station_certificate_round_trip() -> None:
    """A02 / F06: Accepted first (A02.FR.02), then a CSR with OrganizationName as O (A02.FR.13), then
    SignCertificateRequest with certificateType ChargingStationCertificate."""
    d = registered()
    assert set_variable(d, "SecurityCtrlr", "OrganizationName", "Acme CPO") == "Accepted"
    start = len(d.actions)
    assert d.ask("TriggerMessage", TRIGGER_SIGN)[2] == {"status": "Accepted"}
    after = d.actions[start:]
    reply_at = next(i for i, a in enumerate(after) if getattr(a, "text", "").startswith('[3,"c1"'))
    csr_at = next(i for i, a in enumerate(after) if isinstance(a, PkiCommand))
    assert reply_at < csr_at
    command = d.pki("csr")[-1]
    assert command.args == {"use": "ChargePointCertificate", "organization": "Acme CPO"}
    d.result(command, csr=CSR)
    pending = d.pending()
    assert pending is not None and pending[2:] == [
        "SignCertificate", {"csr": CSR, "certificateType": "ChargingStationCertificate"}]
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.assert_wire_valid()


@pytest.mark.parametrize("requested", ["SignV2GCertificate", "SignCombinedCertificate"])
def test_iso15118_certificates_are_not_implemented(requested: str) -> None:
    d = registered()
    assert d.ask("TriggerMessage", {"requestedMessage": requested})[2] == {"status": "NotImplemented"}
    assert not d.pki("csr")


def test_sign_certificate_is_repeated_with_a_doubling_wait_when_no_certificate_comes() -> None:
    """A02.FR.17 / A02.FR.18 (OCTT TC_A_23_CS): no CertificateSignedRequest within CertSigningWaitMinimum:
    a new SignCertificateRequest, each wait twice the last, at most CertSigningRepeatTimes (3) repeats."""
    d = registered()
    d.ask("TriggerMessage", TRIGGER_SIGN)
    sent_at: list[float] = []
    for _ in range(4):
        d.result(d.pki("csr")[-1], csr=CSR)
        sent_at.append(d.now.monotonic)
        d.serve(SignCertificate=SIGN_ACCEPTED)
        csrs = len(d.pki("csr"))
        while len(d.pki("csr")) == csrs and d.now.monotonic - sent_at[-1] < 1000:
            d.advance(1)
            d.serve(SignCertificate=SIGN_ACCEPTED)
    waits = [round(b - a) for a, b in itertools.pairwise(sent_at)]
    assert waits == [60, 120, 240]
    assert len(d.calls("SignCertificate")) == 4
    assert len(d.pki("csr")) == 4  # gave up after the third repeat
    assert any(isinstance(a, Log) and "gave up" in a.message for a in d.actions)
    d.assert_wire_valid()


def test_a_certificate_signed_stops_the_repeats() -> None:
    d = registered()
    d.ask("TriggerMessage", TRIGGER_SIGN)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.advance(30)
    d.send("CertificateSigned", {"certificateChain": CHAIN, "certificateType": "ChargingStationCertificate"},
           "cs")
    d.result(d.pki("accept_signed")[-1], ok=False, reason="InvalidCertChain")
    d.advance(3600)
    assert len(d.pki("csr")) == 1


@pytest.mark.parametrize(("status", "repeats"), [("Accepted", True), ("Rejected", False)])
def test_only_an_accepted_sign_certificate_is_repeated(status: str, repeats: bool) -> None:
    """A02.FR.17 waits for the CertificateSigned of an Accepted SignCertificate; a Rejected one (TC_A_15_CS)
    is not sent again. (The station hands the answer over through ``on_sign_certificate_answer``.)"""
    d = registered()
    d.ask("TriggerMessage", TRIGGER_SIGN)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate={"status": status})
    actions = security.on_sign_certificate_answer(d.station, {"status": status}, d.now)
    assert bool(actions) is not repeats
    d.advance(61)
    assert len(d.pki("csr")) == (2 if repeats else 1)


def test_a_stored_network_profile_is_a_reconfiguration_of_security_parameters() -> None:
    d = registered()
    actions = security.on_network_profile_stored(d.station, 2, 3, d.now)
    records = [a for a in actions if isinstance(a, RecordSecurityEvent)]
    assert [(r.kind, r.info) for r in records] == [
        ("ReconfigurationOfSecurityParameters", "network profile 2 stored (security profile 3)")]


@pytest.mark.parametrize("profile", [2, 3])
def test_certificate_signed_is_answered_when_the_store_accepted_it(profile: int) -> None:
    """A02.FR.06/08: deferred until the store checked the chain; with security profile 3 the station
    reconnects to use the new certificate."""
    d = registered(security_profile=profile)
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    assert d.reply("cs") is None
    command = d.pki("accept_signed")[-1]
    assert command.args == {"chain": CHAIN}
    start = len(d.actions)
    d.result(command, expires="2027-11-24T12:00:00Z")
    assert d.reply("cs") == [3, "cs", {"status": "Accepted"}]
    assert len([a for a in d.actions[start:] if isinstance(a, Reconnect)]) == (1 if profile == 3 else 0)
    d.assert_wire_valid()


def test_a_rejected_certificate_is_reported_as_invalid_charging_station_certificate() -> None:
    """A02.FR.07: Rejected (the store's reason as reasonCode), discarded, and an
    InvalidChargingStationCertificate security event."""
    d = registered()
    d.send("CertificateSigned", {"certificateChain": CHAIN, "certificateType": "ChargingStationCertificate"},
           "cs")
    d.result(d.pki("accept_signed")[-1], ok=False, reason="InvalidCN")
    assert d.reply("cs") == [3, "cs", {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCN"}}]
    d.serve()
    event = d.security_events()[-1]
    assert (event["type"], event["techInfo"]) == ("InvalidChargingStationCertificate", "InvalidCN")
    d.assert_wire_valid()


def test_a_v2g_certificate_is_rejected_without_asking_the_store() -> None:
    d = registered()
    reply = d.ask("CertificateSigned", {"certificateChain": CHAIN, "certificateType": "V2GCertificate"})
    assert reply[2] == {"status": "Rejected", "statusInfo": {"reasonCode": "NotSupported"}}
    assert not d.pki("accept_signed")
    d.assert_wire_valid()


def test_certificate_signed_without_a_store_answer_is_rejected_after_a_few_seconds() -> None:
    d = registered()
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    command = d.pki("accept_signed")[-1]
    d.advance(4.9)
    assert d.reply("cs") is None
    d.advance(0.2)
    assert d.reply("cs") == [3, "cs", {"status": "Rejected", "statusInfo": {"reasonCode": "InternalError"}}]
    d.result(command, expires="2027-11-24T12:00:00Z")
    assert d.reply("cs") is not None  # still answered once only
    d.assert_wire_valid()


# -- renewal (A03) -----------------------------------------------------------------------------------------


def expiring_in(d: Station, days: float) -> None:
    moment = d.station.time(d.now) + timedelta(days=days)
    d.result(d.pki("status")[-1], expires=format_timestamp(moment))


def test_registration_asks_for_the_certificate_status_and_renews_within_a_month() -> None:
    """A03.FR.02: a certificate expiring within a month: a new CSR, then SignCertificateRequest."""
    d = registered()
    assert len(d.pki("status")) == 1
    expiring_in(d, 20)
    d.result(d.pki("csr")[-1], csr=CSR)
    pending = d.pending()
    assert pending is not None and pending[2] == "SignCertificate"
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.assert_wire_valid()


def test_no_renewal_for_a_certificate_that_is_not_due_or_absent() -> None:
    d = registered()
    expiring_in(d, 45)
    assert not d.pki("csr")
    d.advance(86400)
    assert len(d.pki("status")) == 2
    d.result(d.pki("status")[-1], expires=None)
    assert not d.pki("csr")


def test_the_daily_check_does_not_start_over_while_the_repeats_run() -> None:
    d = registered()
    expiring_in(d, 10)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.advance(30)
    d.station.timers.set("sec.renew", d.now.monotonic)  # the daily check, now, within the first wait
    d.advance(0)
    expiring_in(d, 10)
    assert len(d.pki("csr")) == 1


def test_a_failed_csr_sends_nothing() -> None:
    d = registered()
    d.ask("TriggerMessage", TRIGGER_SIGN)
    d.result(d.pki("csr")[-1], ok=False, reason="WriteFailed")
    assert not d.calls("SignCertificate")


# -- M03-M05 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "use"), [
    ("CSMSRootCertificate", "CentralSystemRootCertificate"),
    ("ManufacturerRootCertificate", "ManufacturerRootCertificate"),
    ("V2GRootCertificate", "V2GRootCertificate"),
    ("MORootCertificate", "MORootCertificate"),
])
def test_install_certificate_maps_the_type_to_the_store(kind: str, use: str) -> None:
    d = registered()
    d.send("InstallCertificate", {"certificateType": kind, "certificate": ROOT}, "i")
    assert d.reply("i") is None
    command = d.pki("install_root")[-1]
    assert command.args == {"use": use, "pem": ROOT}
    d.result(command, status="Accepted")
    assert d.reply("i") == [3, "i", {"status": "Accepted"}]
    d.assert_wire_valid()


@pytest.mark.parametrize(("reason", "status"), [
    ("InvalidCertificate", "Rejected"), ("CertificateStoreFull", "Rejected"), ("WriteFailed", "Failed"),
])
def test_install_certificate_refused(reason: str, status: str) -> None:
    """M05.FR.03/04/06 with the store's reason as reasonCode; no security event."""
    d = registered()
    d.send("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": ROOT}, "i")
    d.result(d.pki("install_root")[-1], ok=False, reason=reason)
    assert d.reply("i") == [3, "i", {"status": status, "statusInfo": {"reasonCode": reason}}]
    assert d.recorded() == ["StartupOfTheDevice"]
    d.assert_wire_valid()


def test_the_certificate_count_follows_installs_and_deletes() -> None:
    """SecurityCtrlr.CertificateEntries: what the store lists after each change."""
    d = registered()
    assert security.certificate_entries(d.station) is None
    d.result(d.pki("list")[0], certificates=[])
    assert security.certificate_entries(d.station) == 0
    d.send("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": ROOT}, "i")
    d.result(d.pki("install_root")[-1], status="Accepted")
    d.result(d.pki("list")[-1], certificates=[{"use": "CentralSystemRootCertificate", "hash": HASH},
                                              {"use": "ChargePointCertificate", "hash": HASH}])
    assert security.certificate_entries(d.station) == 1
    d.send("DeleteCertificate", {"certificateHashData": HASH}, "x")
    d.result(d.pki("delete")[-1], status="Accepted")
    d.result(d.pki("list")[-1], certificates=[])
    assert security.certificate_entries(d.station) == 0


@pytest.mark.parametrize(("ok", "result", "answer"), [
    (True, {"status": "Accepted"}, {"status": "Accepted"}),
    (True, {"status": "NotFound"}, {"status": "NotFound"}),
    (True, {"status": "Failed"}, {"status": "Failed"}),
    (False, {"reason": "WriteFailed"}, {"status": "Failed", "statusInfo": {"reasonCode": "WriteFailed"}}),
])
def test_delete_certificate(ok: bool, result: dict[str, Any], answer: dict[str, Any]) -> None:
    d = registered()
    d.send("DeleteCertificate", {"certificateHashData": HASH}, "x")
    command = d.pki("delete")[-1]
    assert command.args == {"hash": HASH}
    d.result(command, ok, **result)
    assert d.reply("x") == [3, "x", answer]
    d.assert_wire_valid()


def test_get_installed_certificate_ids_without_a_type_lists_every_root() -> None:
    """M03: every installed root with its 2.0.1 type; the station's own certificate is not one of them."""
    d = registered()
    d.send("GetInstalledCertificateIds", {}, "g")
    command = d.pki("list")[-1]
    assert command.args == {"uses": []}
    other = {**HASH, "serialNumber": "2a"}
    d.result(command, certificates=[{"use": "CentralSystemRootCertificate", "hash": HASH},
                                    {"use": "MORootCertificate", "hash": other},
                                    {"use": "ChargePointCertificate", "hash": other}])
    assert d.reply("g") == [3, "g", {"status": "Accepted", "certificateHashDataChain": [
        {"certificateType": "CSMSRootCertificate", "certificateHashData": HASH},
        {"certificateType": "MORootCertificate", "certificateHashData": other}]}]
    d.assert_wire_valid()


def test_get_installed_certificate_ids_of_some_types() -> None:
    d = registered()
    d.send("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate", "V2GCertificateChain"]},
           "g")
    command = d.pki("list")[-1]
    assert command.args == {"uses": ["CentralSystemRootCertificate"]}
    d.result(command, certificates=[{"use": "CentralSystemRootCertificate", "hash": HASH},
                                    {"use": "ManufacturerRootCertificate", "hash": HASH}])
    reply = d.reply("g")
    assert reply is not None and [c["certificateType"] for c in reply[2]["certificateHashDataChain"]] == [
        "CSMSRootCertificate"]
    d.assert_wire_valid()


def test_get_installed_certificate_ids_not_found() -> None:
    """M03.FR.02: NotFound; a V2G chain (ISO 15118, not built) is never installed."""
    d = registered()
    assert d.ask("GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]})[2] == {
        "status": "NotFound"}
    d.send("GetInstalledCertificateIds", {"certificateType": ["MORootCertificate"]}, "g")
    d.result(d.pki("list")[-1], certificates=[])
    assert d.reply("g") == [3, "g", {"status": "NotFound"}]
    d.assert_wire_valid()


@pytest.mark.parametrize(("action", "payload", "answer"), [
    ("InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": ROOT},
     [3, "w", {"status": "Failed", "statusInfo": {"reasonCode": "InternalError"}}]),
    ("DeleteCertificate", {"certificateHashData": HASH},
     [3, "w", {"status": "Failed", "statusInfo": {"reasonCode": "InternalError"}}]),
    ("GetInstalledCertificateIds", {},
     [3, "w", {"status": "NotFound", "statusInfo": {"reasonCode": "InternalError"}}]),
])
def test_a_store_that_does_not_answer_gets_a_failure_answer(action: str, payload: dict[str, Any],
                                                            answer: list[Any]) -> None:
    d = registered()
    d.send(action, payload, "w")
    d.advance(5)
    assert d.reply("w") == answer
    d.assert_wire_valid()


# -- secrets -----------------------------------------------------------------------------------------------


def assert_no_secret(d: Station, *secrets: str) -> None:
    texts = [a.message for a in d.actions if isinstance(a, Log)]
    texts += [a.info for a in d.actions if isinstance(a, RecordSecurityEvent)]
    texts += [repr(a) for a in d.actions if isinstance(a, PkiCommand)]
    for secret in secrets:
        assert not [t for t in texts if secret in t], secret


def test_no_password_csr_or_certificate_reaches_a_log_line() -> None:
    d = registered()
    set_variable(d, "SecurityCtrlr", "BasicAuthPassword", PASSWORD)
    d.ask("TriggerMessage", TRIGGER_SIGN)
    d.result(d.pki("csr")[-1], csr=CSR)
    d.serve(SignCertificate=SIGN_ACCEPTED)
    d.send("CertificateSigned", {"certificateChain": CHAIN}, "cs")
    d.result(d.pki("accept_signed")[-1], ok=False, reason="KeyMismatch")
    d.send("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": ROOT}, "i")
    d.result(d.pki("install_root")[-1], ok=False, reason="InvalidCertificate")
    d.serve()
    assert_no_secret(d, PASSWORD, "MIIBcsr", "MIIBleaf", "MIIBroot")
    d.assert_wire_valid()

"""OCPP 2.0.1 B09 SetNetworkProfile and B10 the fallback between connection profiles."""

from __future__ import annotations

from typing import Any

from chargepoint.core.actions import ConfigureConnection
from chargepoint.core.events import TransportClosed
from tests.core.harness import Driver201


def profile(url: str, security: int, version: str = "OCPP20") -> dict[str, Any]:
    return {"ocppVersion": version, "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
            "securityProfile": security, "ocppInterface": "Wired0"}


def set_priority(d: Driver201, value: str) -> str:
    reply = d.csms_call("SetVariables", {"setVariableData": [{
        "attributeValue": value, "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "NetworkConfigurationPriority"}}]}, uid="prio")
    return str(reply[2]["setVariableResult"][0]["attributeStatus"])


def endpoints(d: Driver201) -> list[tuple[str, int] | None]:
    return [a.endpoint for a in d.actions if isinstance(a, ConfigureConnection)]


def test_a_stored_profile_takes_over_after_the_failed_attempts_and_wraps_round() -> None:
    d = Driver201()
    d.connect()
    reply = d.csms_call("SetNetworkProfile", {"configurationSlot": 2,
                                              "connectionData": profile("ws://backup.example/ocpp", 1)})
    assert reply[2] == {"status": "Accepted"}
    assert set_priority(d, "1,2") == "RebootRequired"
    restarted = Driver201(d.store)  # the priority takes effect at the next boot
    assert endpoints(restarted) == [("", 0)]  # slot 1: the installer's connection from the config file
    for _ in range(2):
        restarted.feed(TransportClosed("refused"))
    assert endpoints(restarted) == [("", 0)]  # NetworkProfileConnectionAttempts is 3
    restarted.feed(TransportClosed("refused"))
    assert endpoints(restarted)[-1] == ("ws://backup.example/ocpp", 1)
    for _ in range(3):
        restarted.feed(TransportClosed("refused"))
    assert endpoints(restarted)[-1] == ("", 0)  # back to the first


def test_a_connection_that_was_open_does_not_count_as_a_failed_attempt() -> None:
    d = Driver201()
    d.connect()
    d.csms_call("SetNetworkProfile", {"configurationSlot": 2,
                                      "connectionData": profile("ws://backup.example/ocpp", 1)})
    set_priority(d, "1,2")
    restarted = Driver201(d.store)
    for _ in range(5):
        restarted.connect()
        restarted.feed(TransportClosed("lost"))
    assert endpoints(restarted) == [("", 0)]


def test_profiles_that_would_downgrade_or_do_not_fit_are_rejected() -> None:
    d = Driver201()
    d.connect()
    set_security = d.csms_call("SetVariables", {"setVariableData": [{
        "attributeValue": "2", "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "SecurityProfile"}}]})
    assert set_security[2]["setVariableResult"][0]["attributeStatus"] == "Rejected"  # only via profiles
    bad = [
        (2, profile("ws://x.example/ocpp", 2)),  # profile 2 needs wss
        (2, profile("ws://x.example/ocpp", 1, version="OCPP16")),
        (1, profile("ws://x.example/ocpp", 1)),  # the slot in use
        (2, profile("wss://x.example/ocpp", 4)),
    ]
    for index, (slot, data) in enumerate(bad):
        reply = d.csms_call("SetNetworkProfile", {"configurationSlot": slot, "connectionData": data},
                            uid=f"bad{index}")
        assert reply[2] == {"status": "Rejected"}, data
    assert not any(key[0] == "network_profile" for key in d.store)


def test_a_lower_security_profile_than_the_one_in_force_is_rejected() -> None:
    store: dict[tuple[str, str], Any] = {("settings", "SecurityProfile"): 2}
    d = Driver201(store)
    d.connect()
    lower = d.csms_call("SetNetworkProfile", {"configurationSlot": 2,
                                              "connectionData": profile("wss://x.example/ocpp", 1)})
    assert lower[2] == {"status": "Rejected"}
    same = d.csms_call("SetNetworkProfile", {"configurationSlot": 2,
                                             "connectionData": profile("wss://x.example/ocpp", 2)}, uid="c2")
    assert same[2] == {"status": "Accepted"}

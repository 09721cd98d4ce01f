"""OCPP 2.0.1 block B on the wire: boot, heartbeat and clock, the device model (B05-B08), reset (B11/B12)."""

from __future__ import annotations

from typing import Any

import pytest

from chargepoint.core.actions import Persist, Reboot, RebootKind, SetEvseEnabled
from chargepoint.core.events import FaultRaised, TransportOpened
from chargepoint.core.ocpp201.variables import Mutability, VariableDef, catalog, evse_layout
from hal.types import FaultCode
from tests.core.harness import Driver, Driver201
from tests.core.test_station201_transactions import assert_schema_valid, charging, set_variable

STATION = {"model": "AC22", "vendorName": "Acme", "serialNumber": "SN1", "firmwareVersion": "0.1.0"}
NOW = "2026-11-24T12:00:00.000Z"  # the board clock of the harness at the start

Key = tuple[str, int | None, int | None, str, str | None]


# -- helpers ---------------------------------------------------------------------------------------------


def open_connection(d: Driver201) -> list[Any]:
    """The transport opens; returns the BootNotification the station sends first (left unanswered)."""
    d.feed(TransportOpened("ocpp2.0.1"))
    call = d.pending()
    assert call is not None and call[2] == "BootNotification"
    return call


def boot_answer(status: str, interval: int, time: str = NOW) -> dict[str, Any]:
    return {"status": status, "currentTime": time, "interval": interval}


def actions_called(d: Driver201) -> list[str]:
    return [c[2] for c in d.calls()]


def component(name: str, evse: int | None = None, connector: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if evse is not None:
        out["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    return out


def variable(name: str, instance: str | None = None) -> dict[str, Any]:
    return {"name": name} if instance is None else {"name": name, "instance": instance}


def item(comp: dict[str, Any], var: dict[str, Any], attribute: str | None = None,
         value: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"component": comp, "variable": var}
    if attribute is not None:
        out["attributeType"] = attribute
    if value is not None:
        out["attributeValue"] = value
    return out


def get_variables(d: Driver201, *items: dict[str, Any], uid: str = "get") -> list[dict[str, Any]]:
    reply = d.csms_call("GetVariables", {"getVariableData": list(items)}, uid=uid)
    assert reply[0] == 3, reply
    results: list[dict[str, Any]] = reply[2]["getVariableResult"]
    return results


def set_variables(d: Driver201, *items: dict[str, Any], uid: str = "set") -> list[dict[str, Any]]:
    reply = d.csms_call("SetVariables", {"setVariableData": list(items)}, uid=uid)
    assert reply[0] == 3, reply
    results: list[dict[str, Any]] = reply[2]["setVariableResult"]
    return results


def read(d: Driver201, comp: str, var: str, instance: str | None = None, evse: int | None = None) -> str:
    [result] = get_variables(d, item(component(comp, evse), variable(var, instance)), uid="read")
    assert result["attributeStatus"] == "Accepted", result
    return str(result["attributeValue"])


def report(d: Driver201, action: str, payload: dict[str, Any], uid: str) -> tuple[str, list[dict[str, Any]]]:
    """Send GetBaseReport / GetReport, answer what follows; returns the status and the NotifyReport parts."""
    before = len(d.calls("NotifyReport"))
    reply = d.csms_call(action, payload, uid=uid)
    assert reply[0] == 3, reply
    d.serve()
    parts = [c[3] for c in d.calls("NotifyReport")[before:]]
    assert all(p["requestId"] == payload["requestId"] for p in parts)
    return str(reply[2]["status"]), parts


def report_keys(parts: list[dict[str, Any]]) -> list[Key]:
    keys: list[Key] = []
    for part in parts:
        for data in part["reportData"]:
            comp, var = data["component"], data["variable"]
            evse = comp.get("evse", {})
            keys.append((comp["name"], evse.get("id"), evse.get("connectorId"), var["name"],
                         var.get("instance")))
    return keys


def def_key(vdef: VariableDef) -> Key:
    return (vdef.component, vdef.evse, vdef.connector, vdef.variable, vdef.variable_instance)


def reboots(d: Driver201) -> list[Reboot]:
    return [a for a in d.actions if isinstance(a, Reboot)]


# -- B01: BootNotification -------------------------------------------------------------------------------


def test_nothing_is_sent_before_the_connection_and_boot_comes_first() -> None:
    """B01: the first message on a connection is BootNotificationRequest with reason
    PowerUp and the chargingStation fields from the installer's config."""
    d = Driver201()
    d.meter()
    d.pilot("B")
    assert d.sent == []
    boot = open_connection(d)
    assert d.calls() == [boot]
    assert boot[3] == {"reason": "PowerUp", "chargingStation": STATION}
    assert_schema_valid(d)


def test_accepted_boot_reports_every_connector() -> None:
    """B01: after Accepted, a StatusNotificationRequest for every connector."""
    d = Driver201(evses=2)
    open_connection(d)
    d.answer(boot_answer("Accepted", 300))
    d.serve()
    statuses = [(c[3]["evseId"], c[3]["connectorId"], c[3]["connectorStatus"])
                for c in d.calls("StatusNotification")]
    assert sorted(statuses) == [(1, 1, "Available"), (2, 1, "Available")]
    assert_schema_valid(d)


def test_the_accepted_interval_is_the_heartbeat_interval() -> None:
    """B01.FR.04 / G02: heartbeats every `interval` seconds of the Accepted answer; the interval is stored
    as HeartbeatInterval."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Accepted", 100))
    d.serve()
    assert d.store[("settings", "HeartbeatInterval")] == 100
    d.advance(99)
    assert d.calls("Heartbeat") == []
    d.advance(1)
    assert len(d.calls("Heartbeat")) == 1
    d.serve()
    d.advance(99)
    assert len(d.calls("Heartbeat")) == 1
    d.advance(1)
    assert len(d.calls("Heartbeat")) == 2
    assert read(d, "OCPPCommCtrlr", "HeartbeatInterval") == "100"
    assert_schema_valid(d)


def test_the_clock_follows_the_csms_time_of_boot_and_heartbeat() -> None:
    """B01.FR.06 / G02: the station adopts currentTime of BootNotificationResponse and HeartbeatResponse for
    its timestamps (the board clock here says 12:00)."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Accepted", 100, time="2026-11-24T13:00:00.000Z"))
    d.serve()
    [status] = d.calls("StatusNotification")
    assert status[3]["timestamp"] == "2026-11-24T13:00:00.000Z"
    assert read(d, "ClockCtrlr", "DateTime") == "2026-11-24T13:00:00.000Z"
    d.advance(100)
    d.serve(Heartbeat={"currentTime": "2026-11-24T15:00:00.000Z"})
    d.advance(10)
    d.meter()
    d.pilot("B")
    d.serve()
    assert d.calls("StatusNotification")[-1][3]["timestamp"] == "2026-11-24T15:00:10.000Z"
    assert read(d, "ClockCtrlr", "DateTime") == "2026-11-24T15:00:10.000Z"
    assert_schema_valid(d)


# -- B02: Pending ----------------------------------------------------------------------------------------


def test_pending_sends_only_boot_notification_and_boots_again_after_the_interval() -> None:
    """B02.FR.02: while Pending nothing but BootNotification goes out (no status, event, heartbeat);
    B02.FR.01 (retry): the next BootNotification after `interval`, not earlier."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Pending", 60))
    d.meter()
    d.pilot("B")
    d.feed(FaultRaised(1, FaultCode.HIGH_TEMPERATURE, "85 C"))
    d.advance(59)
    assert actions_called(d) == ["BootNotification"]
    d.advance(2)
    assert actions_called(d) == ["BootNotification", "BootNotification"]
    assert d.calls()[-1][3]["reason"] == "PowerUp"
    d.answer(boot_answer("Accepted", 300))
    d.serve()
    assert {"StatusNotification", "NotifyEvent"} <= set(actions_called(d)[2:])
    assert d.statuses() == ["Faulted"]
    assert_schema_valid(d)


def test_pending_without_an_interval_still_waits_before_booting_again() -> None:
    """B02: with interval 0 the station picks its own wait: it neither floods nor gives up."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Pending", 0))
    d.advance(1)
    assert actions_called(d) == ["BootNotification"]
    d.advance(600)
    assert actions_called(d)[:2] == ["BootNotification", "BootNotification"]


def test_pending_answers_the_csms_and_sends_what_it_asked_for() -> None:
    """B02: while Pending the CSMS may configure and inspect the station; a TriggerMessage'd message and the
    NotifyReport of a GetBaseReport go out, and a triggered BootNotification says Triggered."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Pending", 600))
    assert set_variable(d, "OCPPCommCtrlr", "OfflineThreshold", "120") == "Accepted"
    assert read(d, "OCPPCommCtrlr", "OfflineThreshold") == "120"
    reply = d.csms_call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                           "evse": {"id": 1, "connectorId": 1}}, uid="t1")
    assert reply[2] == {"status": "Accepted"}
    assert actions_called(d) == ["BootNotification", "StatusNotification"]
    d.serve()
    status, parts = report(d, "GetBaseReport", {"requestId": 5, "reportBase": "SummaryInventory"}, uid="r1")
    assert status == "Accepted" and parts
    reply = d.csms_call("TriggerMessage", {"requestedMessage": "BootNotification"}, uid="t2")
    assert reply[2] == {"status": "Accepted"}
    triggered = d.calls("BootNotification")[-1]
    assert triggered[3]["reason"] == "Triggered"
    d.answer(boot_answer("Accepted", 300))
    assert_schema_valid(d)


# -- B03: Rejected ---------------------------------------------------------------------------------------


def test_rejected_sends_nothing_until_the_interval_then_boots_again() -> None:
    """B03.FR.02: while Rejected no message at all until the interval has passed; then BootNotification
    again (B03: retry after `interval`), and once Accepted the station proceeds as in B01."""
    d = Driver201()
    open_connection(d)
    d.answer(boot_answer("Rejected", 60))
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.feed(FaultRaised(1, FaultCode.OVER_VOLTAGE, "260 V"))
    d.advance(59)
    assert actions_called(d) == ["BootNotification"]
    d.advance(2)
    assert actions_called(d) == ["BootNotification", "BootNotification"]
    d.answer(boot_answer("Accepted", 300))
    d.serve()
    assert d.statuses() == ["Faulted"]
    assert_schema_valid(d)


# -- B05: SetVariables -----------------------------------------------------------------------------------

SET_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("accepted", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), value="120"),
     "Accepted", None),
    ("accepted, case-insensitive names", item(component("authctrlr"), variable("localpreauthorize"),
                                              value="true"), "Accepted", None),
    ("read-only", item(component("DeviceDataCtrlr"), variable("ItemsPerMessage", "GetVariables"), value="5"),
     "Rejected", None),
    ("read-only per EVSE", item(component("EVSE", 1), variable("AvailabilityState"), value="Unavailable"),
     "Rejected", None),
    ("out of range", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), value="-1"),
     "Rejected", None),
    ("too short", item(component("SecurityCtrlr"), variable("BasicAuthPassword"), value="short"),
     "Rejected", None),
    ("not an integer", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), value="often"),
     "Rejected", None),
    ("not a boolean", item(component("AuthCtrlr"), variable("LocalPreAuthorize"), value="yes"),
     "Rejected", None),
    ("not in the valuesList", item(component("TxCtrlr"), variable("TxStartPoint"), value="Sunrise"),
     "Rejected", None),
    ("unknown component", item(component("CoffeeCtrlr"), variable("HeartbeatInterval"), value="1"),
     "UnknownComponent", None),
    ("unknown EVSE", item(component("EVSE", 2), variable("AvailabilityState"), value="1"),
     "UnknownComponent", None),
    ("unknown variable", item(component("OCPPCommCtrlr"), variable("Espresso"), value="1"),
     "UnknownVariable", None),
    ("unsupported attribute", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), "Target",
                                   value="1"), "NotSupportedAttributeType", None),
    ("reboot required", item(component("OCPPCommCtrlr"), variable("NetworkConfigurationPriority"), value="1"),
     "RebootRequired", "OCPPCommCtrlr.NetworkConfigurationPriority"),
]


@pytest.mark.parametrize(("case", "request_item", "status", "stored"), SET_CASES,
                         ids=[c[0] for c in SET_CASES])
def test_set_variables_attribute_status(case: str, request_item: dict[str, Any], status: str,
                                        stored: str | None) -> None:
    """B05.FR.01-10: one SetVariableResult per item with the component, variable and attributeType of the
    request: Accepted, Rejected (read-only, out of range, wrong type), UnknownComponent, UnknownVariable,
    NotSupportedAttributeType, RebootRequired (stored, in force after the reboot)."""
    d = Driver201()
    d.connect()
    settings_before = {k: v for k, v in d.store.items() if k[0] == "settings"}
    [result] = set_variables(d, request_item)
    assert result["attributeStatus"] == status, result
    assert result["component"] == request_item["component"]
    assert result["variable"] == request_item["variable"]
    assert result["attributeType"] == request_item.get("attributeType", "Actual")
    settings_after = {k: v for k, v in d.store.items() if k[0] == "settings"}
    if status in ("Accepted", "RebootRequired"):
        assert settings_after != settings_before
        if stored is not None:
            assert ("settings", stored) in d.store
    else:
        assert settings_after == settings_before  # nothing changed
    assert_schema_valid(d)


def test_set_variables_items_stand_alone_and_keep_their_order() -> None:
    """B05.FR.01: every item is handled on its own; a refused one does not hold back the others."""
    d = Driver201()
    d.connect()
    results = set_variables(
        d,
        item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), value="often"),
        item(component("TxCtrlr"), variable("EVConnectionTimeOut"), value="45"),
        item(component("CoffeeCtrlr"), variable("Espresso"), value="1"),
        item(component("AuthCtrlr"), variable("LocalPreAuthorize"), value="true"),
    )
    assert [r["attributeStatus"] for r in results] == ["Rejected", "Accepted", "UnknownComponent", "Accepted"]
    assert read(d, "TxCtrlr", "EVConnectionTimeOut") == "45"
    assert read(d, "AuthCtrlr", "LocalPreAuthorize") == "true"
    assert read(d, "OCPPCommCtrlr", "HeartbeatInterval") == "300"


def test_an_accepted_value_is_persisted_and_in_force() -> None:
    """B05.FR.10: the value is stored (a Persist action before the station moves on) and used: a new
    HeartbeatInterval re-times the heartbeat at once."""
    d = Driver201()
    d.connect()
    assert set_variable(d, "OCPPCommCtrlr", "HeartbeatInterval", "40") == "Accepted"
    assert any(isinstance(a, Persist) and (a.kind, a.key, a.value) == ("settings", "HeartbeatInterval", 40)
               for a in d.actions)
    d.advance(39)
    assert d.calls("Heartbeat") == []
    d.advance(1)
    assert len(d.calls("Heartbeat")) == 1
    d.serve()
    d.advance(40)
    assert len(d.calls("Heartbeat")) == 2
    assert_schema_valid(d)


def test_set_values_survive_a_restart() -> None:
    """B05: an accepted value is persistent: a restart from what is on disk reads it back."""
    d = Driver201()
    d.connect()
    assert set_variable(d, "OCPPCommCtrlr", "OfflineThreshold", "240") == "Accepted"
    assert set_variable(d, "TxCtrlr", "EVConnectionTimeOut", "45") == "Accepted"
    assert set_variable(d, "TxCtrlr", "TxStartPoint", "EVConnected,Authorized") == "Accepted"
    again = Driver201(dict(d.store))
    again.connect()
    assert read(again, "OCPPCommCtrlr", "OfflineThreshold") == "240"
    assert read(again, "TxCtrlr", "EVConnectionTimeOut") == "45"
    assert read(again, "TxCtrlr", "TxStartPoint") == "EVConnected,Authorized"


def test_set_variables_beyond_items_per_message_is_refused_whole() -> None:
    """B05 / DeviceDataCtrlr.ItemsPerMessage.SetVariables (50): more items is a CALLERROR
    OccurrenceConstraintViolation (OCPP 2.0.1 spelling) and nothing is set; exactly the limit is served."""
    d = Driver201()
    d.connect()
    settings_before = {k: v for k, v in d.store.items() if k[0] == "settings"}
    one = item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), value="77")
    reply = d.csms_call("SetVariables", {"setVariableData": [one] * 51}, uid="many")
    assert reply[0] == 4 and reply[2] == "OccurrenceConstraintViolation"
    assert {k: v for k, v in d.store.items() if k[0] == "settings"} == settings_before
    assert len(set_variables(d, *[one] * 50, uid="limit")) == 50
    assert read(d, "OCPPCommCtrlr", "HeartbeatInterval") == "77"


# -- B06: GetVariables -----------------------------------------------------------------------------------

GET_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("accepted", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval")), "Accepted", "300"),
    ("accepted, explicit Actual", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), "Actual"),
     "Accepted", "300"),
    ("variable instance", item(component("DeviceDataCtrlr"), variable("ItemsPerMessage", "GetVariables")),
     "Accepted", "50"),
    ("EVSE component", item(component("EVSE", 1), variable("AvailabilityState")), "Accepted", "Available"),
    ("connector component", item(component("Connector", 1, 1), variable("ConnectorType")), "Accepted",
     "cType2"),
    ("MaxSet attribute", item(component("EVSE", 1), variable("Power"), "MaxSet"), "Accepted", "22080"),
    ("station", item(component("ChargingStation"), variable("AvailabilityState")), "Accepted", "Available"),
    ("write-only", item(component("SecurityCtrlr"), variable("BasicAuthPassword")), "Rejected", None),
    ("unknown component", item(component("CoffeeCtrlr"), variable("HeartbeatInterval")), "UnknownComponent",
     None),
    ("unknown EVSE", item(component("EVSE", 2), variable("AvailabilityState")), "UnknownComponent", None),
    ("unknown variable", item(component("OCPPCommCtrlr"), variable("Espresso")), "UnknownVariable", None),
    ("instance missing", item(component("DeviceDataCtrlr"), variable("ItemsPerMessage")), "UnknownVariable",
     None),
    ("unknown instance", item(component("DeviceDataCtrlr"), variable("ItemsPerMessage", "Coffee")),
     "UnknownVariable", None),
    ("unsupported attribute", item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"), "Target"),
     "NotSupportedAttributeType", None),
]


@pytest.mark.parametrize(("case", "request_item", "status", "value"), GET_CASES,
                         ids=[c[0] for c in GET_CASES])
def test_get_variables_attribute_status(case: str, request_item: dict[str, Any], status: str,
                                        value: str | None) -> None:
    """B06.FR.01-15: one GetVariableResult per item, echoing component, variable and attributeType;
    Accepted with the value, Rejected for a WriteOnly variable (no value), UnknownComponent (also an EVSE
    the station does not have), UnknownVariable (also a missing or wrong instance),
    NotSupportedAttributeType."""
    d = Driver201()
    d.connect()
    [result] = get_variables(d, request_item)
    assert result["attributeStatus"] == status, result
    assert result["component"] == request_item["component"]
    assert result["variable"] == request_item["variable"]
    assert result["attributeType"] == request_item.get("attributeType", "Actual")
    if value is None:
        assert "attributeValue" not in result
    else:
        assert result["attributeValue"] == value


def test_get_variables_reads_live_values() -> None:
    """B06: AvailabilityState and Problem tell the present state of the EVSE, connector and station."""
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.serve()
    assert read(d, "EVSE", "AvailabilityState", evse=1) == "Occupied"
    assert read(d, "EVSE", "Problem", evse=1) == "false"
    d.feed(FaultRaised(1, FaultCode.GROUND_FAILURE, "30 mA"))
    d.serve()
    assert read(d, "EVSE", "AvailabilityState", evse=1) == "Faulted"
    assert read(d, "EVSE", "Problem", evse=1) == "true"
    assert read(d, "ChargingStation", "Problem") == "false"  # the fault is the EVSE's


def test_get_variables_beyond_items_per_message_is_refused() -> None:
    """B06 / DeviceDataCtrlr.ItemsPerMessage.GetVariables (50): more items is a CALLERROR
    OccurrenceConstraintViolation; exactly the limit is answered item by item."""
    d = Driver201()
    d.connect()
    one = item(component("OCPPCommCtrlr"), variable("HeartbeatInterval"))
    reply = d.csms_call("GetVariables", {"getVariableData": [one] * 51}, uid="many")
    assert reply[0] == 4 and reply[2] == "OccurrenceConstraintViolation"
    results = get_variables(d, *[one] * 50, uid="limit")
    assert [r["attributeValue"] for r in results] == ["300"] * 50


# -- B07: GetBaseReport ----------------------------------------------------------------------------------


def expected_base(base: str) -> list[Key]:
    defs = catalog(evse_layout(1))
    if base == "ConfigurationInventory":
        defs = tuple(v for v in defs if v.mutability is not Mutability.READ_ONLY)
    elif base == "SummaryInventory":
        defs = tuple(v for v in defs if v.variable in ("AvailabilityState", "Problem"))
    return [def_key(v) for v in defs]


@pytest.mark.parametrize("base", ["FullInventory", "ConfigurationInventory", "SummaryInventory"])
def test_get_base_report_is_accepted_then_sent_in_parts(base: str) -> None:
    """B07.FR.01-09: Accepted, then NotifyReportRequests with the requestId, seqNo 0, 1, 2... and tbc true
    on all but the last, at most ItemsPerMessage.GetReport (20) items each; FullInventory is every variable
    of the device model, ConfigurationInventory the writable ones, SummaryInventory availability and
    problems; write-only values are never reported."""
    d = Driver201()
    d.connect()
    status, parts = report(d, "GetBaseReport", {"requestId": 42, "reportBase": base}, uid="base")
    assert status == "Accepted"
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    assert [p.get("tbc", False) for p in parts] == [True] * (len(parts) - 1) + [False]
    assert all(1 <= len(p["reportData"]) <= 20 for p in parts)
    keys = report_keys(parts)
    assert len(keys) == len(set(keys))  # each variable once
    assert sorted(keys, key=repr) == sorted(expected_base(base), key=repr)
    for part in parts:
        for data in part["reportData"]:
            for attribute in data["variableAttribute"]:
                assert ("value" in attribute) == (attribute["mutability"] != "WriteOnly")
    assert_schema_valid(d)


def test_full_inventory_covers_every_evse_and_connector() -> None:
    """B07.FR.08: the EVSE and Connector components of every EVSE appear in the FullInventory."""
    d = Driver201(evses=2)
    d.connect()
    status, parts = report(d, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}, uid="base")
    assert status == "Accepted"
    assert sorted(report_keys(parts), key=repr) == sorted((def_key(v) for v in catalog(evse_layout(2))),
                                                          key=repr)
    assert {(k[0], k[1], k[2]) for k in report_keys(parts) if k[0] in ("EVSE", "Connector")} == {
        ("EVSE", 1, None), ("EVSE", 2, None), ("Connector", 1, 1), ("Connector", 2, 1)}


def test_full_inventory_reports_the_values_in_force() -> None:
    """B07: the report shows what GetVariables would read (a value the CSMS set, live states)."""
    d = Driver201()
    d.connect()
    assert set_variable(d, "OCPPCommCtrlr", "HeartbeatInterval", "77") == "Accepted"
    d.meter()
    d.pilot("B")
    d.serve()
    _, parts = report(d, "GetBaseReport", {"requestId": 2, "reportBase": "FullInventory"}, uid="base")
    values = {(data["component"]["name"], data["variable"]["name"]): data["variableAttribute"][0].get("value")
              for part in parts for data in part["reportData"] if "evse" not in data["component"]}
    assert values[("OCPPCommCtrlr", "HeartbeatInterval")] == "77"
    evse = [data for part in parts for data in part["reportData"]
            if data["component"] == {"name": "EVSE", "evse": {"id": 1}}
            and data["variable"] == {"name": "AvailabilityState"}]
    assert evse[0]["variableAttribute"][0]["value"] == "Occupied"


def test_get_base_report_of_an_unknown_base() -> None:
    """B07: a reportBase outside ReportBaseEnumType fails the schema (CALLERROR, OCPP 2.0.1 part 4 §4.3) and
    sends no report; with validation switched off the station answers NotSupported."""
    d = Driver201()
    d.connect()
    reply = d.csms_call("GetBaseReport", {"requestId": 3, "reportBase": "EverythingInventory"}, uid="bad")
    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation"
    d.serve()
    assert d.calls("NotifyReport") == []
    lax = Driver201(validate=False)
    lax.connect()
    reply = lax.csms_call("GetBaseReport", {"requestId": 3, "reportBase": "EverythingInventory"}, uid="bad")
    assert reply[2] == {"status": "NotSupported"}
    lax.serve()
    assert lax.calls("NotifyReport") == []


# -- B08: GetReport --------------------------------------------------------------------------------------


def test_get_report_with_a_component_variable_selects_it() -> None:
    """B08: componentVariable selects that variable; a component without variable selects all
    its variables; evse narrows to that EVSE."""
    d = Driver201(evses=2)
    d.connect()
    status, parts = report(d, "GetReport", {"requestId": 10, "componentVariable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}, uid="r1")
    assert status == "Accepted"
    [part] = parts
    [data] = part["reportData"]
    assert data["variableAttribute"] == [{"type": "Actual", "mutability": "ReadWrite", "persistent": True,
                                          "value": "300"}]
    assert data["variableCharacteristics"]["dataType"] == "integer"
    assert part["seqNo"] == 0 and not part.get("tbc", False)

    _, parts = report(d, "GetReport", {"requestId": 11, "componentVariable": [
        {"component": {"name": "AuthCacheCtrlr"}}]}, uid="r2")
    expected = [def_key(v) for v in catalog(evse_layout(2)) if v.component == "AuthCacheCtrlr"]
    assert report_keys(parts) == expected

    _, parts = report(d, "GetReport", {"requestId": 12, "componentVariable": [
        {"component": {"name": "EVSE", "evse": {"id": 2}}}]}, uid="r3")
    assert {k[:3] for k in report_keys(parts)} == {("EVSE", 2, None)}
    assert_schema_valid(d)


def test_get_report_with_the_problem_criterion() -> None:
    """B08.FR.10: componentCriteria Problem reports the components whose Problem is true; none: the answer is
    EmptyResultSet and no NotifyReport follows."""
    d = Driver201(evses=2)
    d.connect()
    status, parts = report(d, "GetReport", {"requestId": 20, "componentCriteria": ["Problem"]}, uid="r1")
    assert (status, parts) == ("EmptyResultSet", [])
    d.feed(FaultRaised(2, FaultCode.GROUND_FAILURE, "30 mA"))
    d.serve()
    status, parts = report(d, "GetReport", {"requestId": 21, "componentCriteria": ["Problem"]}, uid="r2")
    assert status == "Accepted"
    assert {k[:3] for k in report_keys(parts)} == {("EVSE", 2, None), ("Connector", 2, 1)}
    assert_schema_valid(d)


def test_get_report_needs_both_criteria_and_selector_to_hold() -> None:
    """B08: with componentCriteria and componentVariable, a variable is reported only if it meets both."""
    d = Driver201()
    d.connect()
    selector = [{"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]
    status, _ = report(d, "GetReport", {"requestId": 30, "componentCriteria": ["Problem"],
                                        "componentVariable": selector}, uid="r1")
    assert status == "EmptyResultSet"
    d.feed(FaultRaised(1, FaultCode.OVER_CURRENT_FAILURE, "40 A"))
    d.serve()
    status, parts = report(d, "GetReport", {"requestId": 31, "componentCriteria": ["Problem"],
                                            "componentVariable": selector}, uid="r2")
    assert status == "Accepted"
    assert report_keys(parts) == [("EVSE", 1, None, "Problem", None)]
    assert parts[0]["reportData"][0]["variableAttribute"][0]["value"] == "true"


def test_get_report_of_nothing_known_is_an_empty_result_set() -> None:
    """B08: nothing matches (an unknown component, an EVSE the station lacks): EmptyResultSet."""
    d = Driver201()
    d.connect()
    for uid, selector in (("r1", {"component": {"name": "CoffeeCtrlr"}}),
                          ("r2", {"component": {"name": "EVSE", "evse": {"id": 3}}}),
                          ("r3", {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Espresso"}})):
        status, parts = report(d, "GetReport", {"requestId": 40, "componentVariable": [selector]}, uid=uid)
        assert (status, parts) == ("EmptyResultSet", []), selector


# -- B11 / B12: Reset ------------------------------------------------------------------------------------


def test_reset_immediate_when_idle_reboots_and_the_next_boot_says_remote_reset() -> None:
    """B11: Accepted, then the station restarts; B01: the next BootNotification has reason
    RemoteReset (and the one after that PowerUp again)."""
    d = Driver201()
    d.connect()
    reply = d.csms_call("Reset", {"type": "Immediate"})
    assert reply[2] == {"status": "Accepted"}
    d.advance(30)
    assert reboots(d) == [Reboot(RebootKind.SOFT)]
    again = Driver201(dict(d.store))
    again.connect()
    assert again.calls("BootNotification")[0][3]["reason"] == "RemoteReset"
    third = Driver201(dict(again.store))
    third.connect()
    assert third.calls("BootNotification")[0][3]["reason"] == "PowerUp"
    assert_schema_valid(again)


def test_reset_on_idle_when_idle_is_accepted_at_once() -> None:
    """B11: OnIdle with no transaction running is the same as Immediate."""
    d = Driver201()
    d.connect()
    assert d.csms_call("Reset", {"type": "OnIdle"})[2] == {"status": "Accepted"}
    d.advance(30)
    assert reboots(d) == [Reboot(RebootKind.SOFT)]


def test_reset_immediate_ends_the_transaction_first() -> None:
    """B12 (Immediate with a transaction): the transaction ends with stoppedReason ImmediateReset
    and triggerReason ResetCommand, then the station restarts."""
    d = Driver201()
    d.connect()
    charging(d)
    reply = d.csms_call("Reset", {"type": "Immediate"})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    ended = d.events("Ended")
    assert [(e["transactionInfo"]["stoppedReason"], e["triggerReason"]) for e in ended] == [
        ("ImmediateReset", "ResetCommand")]
    assert reboots(d) == []  # the Ended event gets its chance to leave first
    d.advance(30)
    assert reboots(d) == [Reboot(RebootKind.SOFT)]
    assert_schema_valid(d)


def test_reset_on_idle_waits_for_the_transaction_then_reboots() -> None:
    """B12: OnIdle with a transaction running is Scheduled; the transaction goes on; when it ends the
    station resets (and boots with reason RemoteReset)."""
    d = Driver201()
    d.connect()
    charging(d)
    reply = d.csms_call("Reset", {"type": "OnIdle"})
    assert reply[2] == {"status": "Scheduled"}
    for _ in range(10):  # ten minutes of charging, the CSMS answering as it goes
        d.advance(60)
        d.serve()
    assert d.events("Ended") == []
    assert reboots(d) == []
    d.tap("CARD1")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"  # ended by the driver, not by the reset
    d.advance(30)
    assert reboots(d) == [Reboot(RebootKind.SOFT)]
    again = Driver201(dict(d.store))
    again.connect()
    assert again.calls("BootNotification")[0][3]["reason"] == "RemoteReset"
    assert_schema_valid(d)


def test_reset_of_one_evse_ends_only_its_transaction_and_restarts_only_it() -> None:
    """B11.FR.08 / B12: a Reset with evseId resets that EVSE (its transaction ends with ImmediateReset), not
    the station; an EVSE the station does not have is Rejected."""
    d = Driver201(evses=2)
    d.connect()
    charging(d)
    reply = d.csms_call("Reset", {"type": "Immediate", "evseId": 2})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    assert d.events("Ended") == []  # EVSE 1's transaction is not touched
    assert [a for a in d.actions if isinstance(a, SetEvseEnabled)] == [SetEvseEnabled(2, False),
                                                                         SetEvseEnabled(2, True)]
    reply = d.csms_call("Reset", {"type": "Immediate", "evseId": 1}, uid="c2")
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert reply[2] == {"status": "Accepted"}
    assert d.csms_call("Reset", {"type": "Immediate", "evseId": 7}, uid="c3")[2] == {"status": "Rejected"}
    d.advance(60)
    assert reboots(d) == []
    assert_schema_valid(d)


def test_reset_on_idle_of_one_evse_is_scheduled_until_its_transaction_ends() -> None:
    """B12 for one EVSE: Scheduled while its transaction runs, applied when it ends."""
    d = Driver201()
    d.connect()
    charging(d)
    assert d.csms_call("Reset", {"type": "OnIdle", "evseId": 1})[2] == {"status": "Scheduled"}
    d.serve()
    assert d.events("Ended") == [] and not any(isinstance(a, SetEvseEnabled) for a in d.actions)
    d.tap("CARD1")
    d.serve()
    assert [a for a in d.actions if isinstance(a, SetEvseEnabled)] == [SetEvseEnabled(1, False),
                                                                         SetEvseEnabled(1, True)]
    assert reboots(d) == []


# -- one settings table for 1.6 and 2.0.1 ----------------------------------------------------------------


def test_a_variable_set_in_201_is_read_under_its_16_key() -> None:
    """docs/ocpp201.md "one table": a device-model variable with a 1.6 configuration key is stored under that
    key, so the station switched to 1.6 reads the value the 2.0.1 CSMS set."""
    d = Driver201()
    d.connect()
    results = set_variables(
        d,
        item(component("AuthCtrlr"), variable("LocalPreAuthorize"), value="true"),
        item(component("TxCtrlr"), variable("EVConnectionTimeOut"), value="45"),
        item(component("SampledDataCtrlr"), variable("TxUpdatedInterval"), value="17"),
        item(component("AuthCtrlr"), variable("OfflineTxForUnknownIdEnabled"), value="true"),
    )
    assert [r["attributeStatus"] for r in results] == ["Accepted"] * 4
    assert d.store[("settings", "LocalPreAuthorize")] is True
    assert d.store[("settings", "ConnectionTimeOut")] == 45
    old = Driver(dict(d.store))
    old.connect()
    reply = old.csms_call("GetConfiguration", {"key": ["LocalPreAuthorize", "ConnectionTimeOut",
                                                       "MeterValueSampleInterval",
                                                       "AllowOfflineTxForUnknownId"]})
    values = {k["key"]: k["value"] for k in reply[2]["configurationKey"]}
    assert values == {"LocalPreAuthorize": "true", "ConnectionTimeOut": "45",
                      "MeterValueSampleInterval": "17", "AllowOfflineTxForUnknownId": "true"}


def test_a_key_changed_in_16_is_in_force_in_201() -> None:
    """docs/ocpp201.md "one table": the other way round, a 1.6 ChangeConfiguration is the 2.0.1 value."""
    old = Driver()
    old.connect()
    reply = old.csms_call("ChangeConfiguration", {"key": "StopTransactionOnEVSideDisconnect",
                                                  "value": "false"})
    assert reply[2] == {"status": "Accepted"}
    d = Driver201(dict(old.store))
    d.connect()
    assert read(d, "TxCtrlr", "StopTxOnEVSideDisconnect") == "false"
    set_variable(d, "TxCtrlr", "TxStopPoint", "Authorized")  # E10: no cable stop point
    charging(d)
    d.pilot("A")  # the EV leaves; with StopTxOnEVSideDisconnect false the transaction goes on
    d.serve()
    assert d.events("Ended") == []

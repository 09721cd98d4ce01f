"""OCPP 2.0.1 blocks D (local list), G (status, availability, faults), H (reservations) and P on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from chargepoint.core.actions import SetEvseEnabled
from chargepoint.core.events import FaultCleared, FaultRaised, MeterReadFailed
from chargepoint.core.ocpp201.station import FAULT_COMPONENT
from hal.types import FaultCode
from tests.core.harness import Driver201
from tests.core.test_station201_authorization import cache_card, offered
from tests.core.test_station201_transactions import assert_schema_valid, charging, configure

GROUP = {"idToken": "FLEET", "type": "Central"}
IN_GROUP = {"idTokenInfo": {"status": "Accepted", "groupIdToken": GROUP}}
IN_TEN_MINUTES = "2026-11-24T12:10:00.000Z"  # the harness clock starts at 12:00:00 and the CSMS agrees


# -- helpers ---------------------------------------------------------------------------------------------


def entry(token: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    """AuthorizationData; without a status the entry has no idTokenInfo (a removal in a Differential)."""
    out: dict[str, Any] = {"idToken": {"idToken": token, "type": "ISO14443"}}
    if status is not None:
        out["idTokenInfo"] = {"status": status, **info}
    return out


def send_list(d: Driver201, version: int, update: str, entries: list[dict[str, Any]] | None,
              uid: str = "sll") -> list[Any]:
    payload: dict[str, Any] = {"versionNumber": version, "updateType": update}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    return d.csms_call("SendLocalList", payload, uid=uid)


def list_version(d: Driver201) -> int:
    reply = d.csms_call("GetLocalListVersion", {}, uid="version")
    return int(reply[2]["versionNumber"])


def local_list(d: Driver201) -> dict[str, Any]:
    """The persisted list: token -> stored info (and ``__version__``)."""
    return {key: value for (kind, key), value in d.store.items() if kind == "local_list"}


def availability(d: Driver201, status: str, evse: dict[str, int] | None = None, uid: str = "ca") -> str:
    payload: dict[str, Any] = {"operationalStatus": status}
    if evse is not None:
        payload["evse"] = evse
    reply = d.csms_call("ChangeAvailability", payload, uid=uid)
    assert reply[0] == 3, reply
    return str(reply[2]["status"])


def reserve(d: Driver201, rid: int, token: str = "HOLDER", evse: int | None = 1, uid: str = "rn",
            expiry: str = IN_TEN_MINUTES, group: dict[str, str] | None = None) -> str:
    payload: dict[str, Any] = {"id": rid, "expiryDateTime": expiry,
                               "idToken": {"idToken": token, "type": "ISO14443"}}
    if evse is not None:
        payload["evseId"] = evse
    if group is not None:
        payload["groupIdToken"] = group
    reply = d.csms_call("ReserveNow", payload, uid=uid)
    assert reply[0] == 3, reply
    return str(reply[2]["status"])


def enabled(d: Driver201) -> list[SetEvseEnabled]:
    return [a for a in d.actions if isinstance(a, SetEvseEnabled)]


def notify_events(d: Driver201) -> list[dict[str, Any]]:
    return [event for c in d.calls("NotifyEvent") for event in c[3]["eventData"]]


def run(d: Driver201, seconds: int) -> None:
    """Let ``seconds`` pass minute by minute with the CSMS answering as it goes."""
    for _ in range(seconds // 60):
        d.advance(60)
        d.serve()
    d.advance(seconds % 60)
    d.serve()


# -- D01 / D02: the Local Authorization List -------------------------------------------------------------


def test_get_local_list_version_is_zero_without_a_list_then_the_version_sent() -> None:
    """D02: versionNumber 0 while no list is installed, then the version of the last update."""
    d = Driver201()
    d.connect()
    assert list_version(d) == 0
    assert send_list(d, 7, "Full", [entry("LOCAL1")])[2] == {"status": "Accepted"}
    assert list_version(d) == 7


def test_a_full_update_replaces_the_whole_list() -> None:
    """D01: updateType Full: the list becomes exactly what was sent (persisted, with its version)."""
    d = Driver201()
    d.connect()
    assert send_list(d, 1, "Full", [entry("A"), entry("B", "Blocked")])[2] == {"status": "Accepted"}
    assert set(local_list(d)) == {"A", "B", "__version__"}
    assert local_list(d)["B"]["status"] == "Blocked"
    assert send_list(d, 2, "Full", [entry("C")], uid="s2")[2] == {"status": "Accepted"}
    assert set(local_list(d)) == {"C", "__version__"}
    assert list_version(d) == 2
    again = Driver201(dict(d.store))  # the list is on disk
    again.connect()
    assert list_version(again) == 2


def test_a_differential_update_adds_updates_and_removes() -> None:
    """D01: updateType Differential: an entry with idTokenInfo is added or updated, one without is removed;
    the rest stays."""
    d = Driver201()
    d.connect()
    send_list(d, 1, "Full", [entry("A"), entry("B"), entry("C")])
    reply = send_list(d, 2, "Differential", [entry("B", "Blocked"), entry("C", None), entry("D")], uid="s2")
    assert reply[2] == {"status": "Accepted"}
    listed = local_list(d)
    assert set(listed) == {"A", "B", "D", "__version__"}
    assert listed["B"]["status"] == "Blocked"
    assert list_version(d) == 2
    assert_schema_valid(d)


@pytest.mark.parametrize("version", [3, 2])
def test_a_differential_update_that_is_not_newer_is_a_version_mismatch(version: int) -> None:
    """D01: a Differential whose versionNumber is not above the installed one is VersionMismatch and
    changes nothing."""
    d = Driver201()
    d.connect()
    send_list(d, 3, "Full", [entry("A")])
    before = local_list(d)
    reply = send_list(d, version, "Differential", [entry("B"), entry("A", None)], uid="s2")
    assert reply[2] == {"status": "VersionMismatch"}
    assert local_list(d) == before
    assert list_version(d) == 3


def test_an_update_beyond_items_per_message_changes_nothing() -> None:
    """D01, all or nothing: more entries than LocalAuthListCtrlr.ItemsPerMessage (1000) is refused whole
    (Failed, or a CALLERROR) and the installed list stays as it was."""
    d = Driver201()
    d.connect()
    send_list(d, 1, "Full", [entry("A")])
    before = local_list(d)
    too_many = [entry(f"T{i:05d}") for i in range(1001)]
    for uid, update in (("full", "Full"), ("diff", "Differential")):
        reply = send_list(d, 2, update, too_many, uid=uid)
        assert reply[0] == 4 or reply[2] == {"status": "Failed"}, reply
        assert local_list(d) == before
    assert list_version(d) == 1


def test_a_full_update_with_an_entry_without_id_token_info_changes_nothing() -> None:
    """D01, all or nothing on a bad entry: in a Full update every entry needs idTokenInfo; one without it
    makes the update fail as a whole (Failed, or a CALLERROR) and the installed list stays."""
    d = Driver201()
    d.connect()
    send_list(d, 1, "Full", [entry("A")])
    before = local_list(d)
    reply = send_list(d, 2, "Full", [entry("B"), entry("C", None)], uid="s2")
    assert reply[0] == 4 or reply[2] == {"status": "Failed"}, reply
    assert local_list(d) == before


def test_a_local_list_token_charges_offline() -> None:
    """D01 with LocalAuthorizeOffline: a token Accepted on the local list starts offline; the events
    follow flagged offline once the connection is back. A Blocked one never starts, even where unknown
    tokens may (OfflineTxForUnknownIdEnabled)."""
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_OfflineTxForUnknownIdEnabled="true")
    send_list(d, 1, "Full", [entry("LOCAL1"), entry("LOCKED", "Blocked")])
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("LOCKED")
    assert offered(d) == 0.0
    d.tap("LOCAL1")
    assert offered(d) == 32.0
    d.connect()
    [started] = d.events("Started")
    assert started["idToken"] == {"idToken": "LOCAL1", "type": "ISO14443"} and started["offline"] is True
    assert d.calls("Authorize") == []
    assert_schema_valid(d)


def test_a_local_list_token_starts_at_once_with_local_pre_authorize() -> None:
    """D01 with LocalPreAuthorize: online, a token Accepted on the local list starts without an
    AuthorizeRequest."""
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_LocalPreAuthorize="true")
    send_list(d, 1, "Full", [entry("LOCAL1")])
    d.meter()
    d.pilot("B")
    d.tap("LOCAL1")
    assert offered(d) == 32.0
    d.serve()
    assert d.calls("Authorize") == []
    assert d.events("Started")[0]["idToken"]["idToken"] == "LOCAL1"


# -- G01: StatusNotification -----------------------------------------------------------------------------


def test_status_notification_follows_the_connector_through_its_states() -> None:
    """G01.FR.01: a StatusNotificationRequest whenever the connector status changes (and only then):
    Available, Reserved, Occupied (EV plugged, during the transaction), Unavailable, Faulted."""
    d = Driver201()
    d.connect()
    assert reserve(d, 1, "CARD1") == "Accepted"
    d.serve()
    assert d.csms_call("CancelReservation", {"reservationId": 1}, uid="cr")[2] == {"status": "Accepted"}
    d.serve()
    charging(d)
    d.tap("CARD1")
    d.pilot("A")
    d.serve()
    assert availability(d, "Inoperative") == "Accepted"
    d.serve()
    assert availability(d, "Operative", uid="ca2") == "Accepted"
    d.serve()
    d.feed(FaultRaised(1, FaultCode.HIGH_TEMPERATURE, "85 C"))
    d.serve()
    d.feed(FaultCleared(1, FaultCode.HIGH_TEMPERATURE))
    d.serve()
    assert d.statuses() == ["Available", "Reserved", "Available", "Occupied", "Available", "Unavailable",
                            "Available", "Faulted", "Available"]
    assert {(c[3]["evseId"], c[3]["connectorId"]) for c in d.calls("StatusNotification")} == {(1, 1)}
    assert_schema_valid(d)


def test_status_notification_is_per_connector() -> None:
    """G01: each EVSE's connector reports for itself (evseId, connectorId 1)."""
    d = Driver201(evses=2)
    d.connect()
    d.meter(2)
    d.pilot("B", evse=2)
    d.serve()
    assert d.statuses(1) == ["Available"]
    assert d.statuses(2) == ["Available", "Occupied"]
    assert_schema_valid(d)


def test_plugging_into_a_reserved_connector_keeps_it_reserved() -> None:
    """G01.FR.09: plugging in at a Reserved connector, with no token or another one, changes nothing."""
    d = Driver201()
    d.connect()
    assert reserve(d, 1) == "Accepted"
    d.serve()
    d.meter()
    d.pilot("B")
    d.tap("STRANGER")
    d.serve()
    assert d.statuses() == ["Available", "Reserved"]


# -- G03 / G04: ChangeAvailability -----------------------------------------------------------------------


def test_the_station_made_inoperative_takes_no_new_session_and_back() -> None:
    """G04: ChangeAvailability without evse: every connector Unavailable (the EVSEs disabled), no new
    transaction; Operative makes them Available again."""
    d = Driver201(evses=2)
    d.connect()
    assert availability(d, "Inoperative") == "Accepted"
    d.serve()
    assert d.statuses(1)[-1] == d.statuses(2)[-1] == "Unavailable"
    assert enabled(d) == [SetEvseEnabled(1, False), SetEvseEnabled(2, False)]
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve()
    assert d.calls("Authorize") == [] and d.events() == [] and offered(d) == 0.0
    assert availability(d, "Operative", uid="ca2") == "Accepted"
    d.serve()
    assert d.statuses(2)[-1] == "Available"
    assert d.statuses(1)[-1] == "Occupied"  # the EV is still plugged in
    assert enabled(d)[-2:] == [SetEvseEnabled(1, True), SetEvseEnabled(2, True)]
    assert_schema_valid(d)


@pytest.mark.parametrize("target", [{"id": 2}, {"id": 2, "connectorId": 1}], ids=["evse", "connector"])
def test_one_evse_or_its_connector_made_inoperative(target: dict[str, int]) -> None:
    """G03: ChangeAvailability for an EVSE (or its connector) changes that one only."""
    d = Driver201(evses=2)
    d.connect()
    assert availability(d, "Inoperative", target) == "Accepted"
    d.serve()
    assert d.statuses(1) == ["Available"]
    assert d.statuses(2) == ["Available", "Unavailable"]
    assert enabled(d) == [SetEvseEnabled(2, False)]
    assert availability(d, "Operative", target, uid="ca2") == "Accepted"
    d.serve()
    assert d.statuses(2) == ["Available", "Unavailable", "Available"]
    assert_schema_valid(d)


@pytest.mark.parametrize("target", [{"id": 3}, {"id": 1, "connectorId": 2}], ids=["evse", "connector"])
def test_change_availability_of_what_does_not_exist_is_rejected(target: dict[str, int]) -> None:
    """G03: an EVSE or connector the station does not have: Rejected, nothing changes."""
    d = Driver201(evses=2)
    d.connect()
    assert availability(d, "Inoperative", target) == "Rejected"
    d.serve()
    assert enabled(d) == [] and d.statuses(1) == d.statuses(2) == ["Available"]


def test_changing_to_the_state_already_in_force_is_accepted() -> None:
    """G03 / G04: Operative when already operative is Accepted and sends nothing new."""
    d = Driver201()
    d.connect()
    assert availability(d, "Operative") == "Accepted"
    assert availability(d, "Operative", {"id": 1}, uid="ca2") == "Accepted"
    d.serve()
    assert d.statuses() == ["Available"]


@pytest.mark.parametrize("target", [None, {"id": 1}], ids=["station", "evse"])
def test_inoperative_during_a_transaction_is_scheduled(target: dict[str, int] | None) -> None:
    """G03 / G04: Scheduled while a transaction runs there; the transaction goes on; the change
    happens when it ends (Unavailable, disabled, persisted)."""
    d = Driver201()
    d.connect()
    charging(d)
    assert availability(d, "Inoperative", target) == "Scheduled"
    d.serve()
    assert d.events("Ended") == [] and offered(d) == 32.0
    assert d.statuses()[-1] == "Occupied"
    assert SetEvseEnabled(1, False) not in enabled(d)
    d.tap("CARD1")
    d.serve()
    assert len(d.events("Ended")) == 1
    d.pilot("A")
    d.serve()
    assert d.statuses()[-1] == "Unavailable"
    assert enabled(d)[-1] == SetEvseEnabled(1, False)
    again = Driver201(dict(d.store))
    again.connect()
    assert again.statuses() == ["Unavailable"]
    assert_schema_valid(d)


@pytest.mark.parametrize("target", [None, {"id": 1}], ids=["station", "evse"])
def test_availability_is_persisted_and_in_force_after_a_restart(target: dict[str, int] | None) -> None:
    """G03.FR.05 / G04: an inoperative station or EVSE stays so across a restart: disabled at
    once, reported Unavailable after the boot, no session; Operative undoes it for good."""
    d = Driver201()
    d.connect()
    assert availability(d, "Inoperative", target) == "Accepted"
    again = Driver201(dict(d.store))
    assert SetEvseEnabled(1, False) in enabled(again)  # before any connection
    again.connect()
    assert again.statuses() == ["Unavailable"]
    evse_state = again.csms_call("GetVariables", {"getVariableData": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}]})
    assert evse_state[2]["getVariableResult"][0]["attributeValue"] == "Unavailable"
    again.meter()
    again.pilot("B")
    again.tap("CARD1")
    again.serve()
    assert again.events() == [] and offered(again) == 0.0
    assert availability(again, "Operative", target, uid="back") == "Accepted"
    third = Driver201(dict(again.store))
    third.connect()
    assert third.statuses() == ["Available"]
    assert SetEvseEnabled(1, False) not in enabled(third)


# -- N07 / G: hardware faults as NotifyEvent -------------------------------------------------------------


@pytest.mark.parametrize("code", list(FAULT_COMPONENT), ids=[c.value for c in FAULT_COMPONENT])
def test_a_hardware_fault_is_notified_on_its_component_and_cleared(code: FaultCode) -> None:
    """N07 / G01: a fault becomes NotifyEventRequest (HardWiredNotification, trigger Alerting, techCode) on
    the component and variable of the device model it concerns, with the EVSE; the connector is Faulted.
    When it ends: the same component with cleared true, and Available again."""
    name, var = FAULT_COMPONENT[code]
    d = Driver201()
    d.connect()
    d.feed(FaultRaised(1, code, "detail of the fault"))
    d.serve()
    [raised] = notify_events(d)
    assert raised["component"] == {"name": name, "evse": {"id": 1}}
    assert raised["variable"] == {"name": var}
    assert (raised["trigger"], raised["eventNotificationType"], raised["actualValue"]) == (
        "Alerting", "HardWiredNotification", "true")
    assert raised["techCode"] == code.value and raised["techInfo"] == "detail of the fault"
    assert not raised.get("cleared", False)
    assert d.statuses() == ["Available", "Faulted"]
    d.feed(FaultCleared(1, code))
    d.serve()
    cleared = notify_events(d)[-1]
    assert (cleared["component"], cleared["variable"]) == (raised["component"], raised["variable"])
    assert cleared["cleared"] is True and cleared["actualValue"] == "false"
    assert cleared["eventId"] != raised["eventId"]
    assert d.statuses() == ["Available", "Faulted", "Available"]
    assert_schema_valid(d)


def test_a_station_fault_is_notified_on_the_station_component() -> None:
    """N07: a fault of the station as a whole (EVSE 0) names the component without an EVSE, and the
    station's Problem variable reads true until it is cleared."""
    d = Driver201()
    d.connect()
    d.feed(FaultRaised(0, FaultCode.READER_FAILURE, "no answer"))
    d.serve()
    [raised] = notify_events(d)
    assert raised["component"] == {"name": "TokenReader"}
    problem = {"component": {"name": "ChargingStation"}, "variable": {"name": "Problem"}}
    assert d.csms_call("GetVariables", {"getVariableData": [problem]}, uid="g1")[2][
        "getVariableResult"][0]["attributeValue"] == "true"
    d.feed(FaultCleared(0, FaultCode.READER_FAILURE))
    d.serve()
    assert notify_events(d)[-1]["cleared"] is True
    assert d.csms_call("GetVariables", {"getVariableData": [problem]}, uid="g2")[2][
        "getVariableResult"][0]["attributeValue"] == "false"
    assert_schema_valid(d)


def test_a_fault_is_notified_once_and_each_event_has_its_own_id() -> None:
    """N07: the same fault reported again while active is no new event; eventIds differ."""
    d = Driver201()
    d.connect()
    d.feed(FaultRaised(1, FaultCode.OVER_VOLTAGE, "260 V"))
    d.feed(FaultRaised(1, FaultCode.OVER_VOLTAGE, "261 V"))
    d.feed(FaultRaised(1, FaultCode.POWER_SWITCH_FAILURE, "welded"))
    d.serve()
    events = notify_events(d)
    assert [e["techCode"] for e in events] == ["OverVoltage", "PowerSwitchFailure"]
    assert len({e["eventId"] for e in events}) == 2
    d.feed(FaultCleared(1, FaultCode.OVER_VOLTAGE))
    d.serve()
    assert d.statuses()[-1] == "Faulted"  # the contactor fault is still there


def test_lasting_meter_read_failures_are_a_power_meter_fault() -> None:
    """N07: the meter failing to answer becomes PowerMeter Problem (after three reads in a row); the next
    good reading clears it."""
    d = Driver201()
    d.connect()
    d.feed(MeterReadFailed(1, "timeout"))
    d.feed(MeterReadFailed(1, "timeout"))
    d.serve()
    assert notify_events(d) == []
    d.feed(MeterReadFailed(1, "timeout"))
    d.serve()
    [raised] = notify_events(d)
    assert raised["component"] == {"name": "PowerMeter", "evse": {"id": 1}}
    d.meter()
    d.serve()
    assert notify_events(d)[-1]["cleared"] is True
    assert d.statuses() == ["Available", "Faulted", "Available"]


# -- H01 / H02 / H03 / H04: reservations -----------------------------------------------------------------


def test_a_reserved_evse_is_kept_for_its_holder() -> None:
    """H01 / H03: ReserveNow for an EVSE: Accepted and Reserved; another token cannot use it; the holder
    can, which uses up the reservation (no expiry later)."""
    d = Driver201()
    d.connect()
    assert reserve(d, 1) == "Accepted"
    d.serve()
    assert d.statuses() == ["Available", "Reserved"]
    d.meter()
    d.tap("STRANGER")
    d.serve()
    assert d.calls("Authorize") == [] and d.events() == []
    d.pilot("B")
    d.tap("HOLDER")
    d.serve()
    [started] = d.events("Started")
    assert started["idToken"]["idToken"] == "HOLDER"
    assert d.statuses()[-1] == "Occupied"
    run(d, 900)
    assert d.calls("ReservationStatusUpdate") == []
    assert_schema_valid(d)


def test_a_reservation_for_a_group_is_open_to_a_known_member() -> None:
    """H03 (S2): with groupIdToken, a token of that group (known from the cache) may use the reservation."""
    d = Driver201()
    d.connect()
    cache_card(d, "MATE", IN_GROUP)
    assert reserve(d, 1, group=GROUP) == "Accepted"
    d.serve()
    d.meter()
    d.pilot("B")
    d.tap("MATE")
    d.serve(Authorize=IN_GROUP)
    [started] = d.events("Started")
    assert started["idToken"]["idToken"] == "MATE"
    assert_schema_valid(d)


def test_an_unknown_token_is_authorised_to_learn_whether_it_is_of_the_reserved_group() -> None:
    """H03 (S2): the station authorises the token (AuthorizeRequest) and lets it use the reservation when
    the groupIdToken matches."""
    d = Driver201()
    d.connect()
    assert reserve(d, 1, group=GROUP) == "Accepted"
    d.serve()
    d.meter()
    d.pilot("B")
    d.serve()
    d.tap("MATE")
    pending = d.pending()
    assert pending is not None and pending[2] == "Authorize"
    d.serve(Authorize=IN_GROUP)
    assert d.events("Started")[0]["idToken"]["idToken"] == "MATE"


def test_the_transaction_on_a_reservation_names_it() -> None:
    """H01.FR.15 / E01.FR.13: the TransactionEventRequest that consumes the reservation has reservationId."""
    d = Driver201()
    d.connect()
    assert reserve(d, 77) == "Accepted"
    d.serve()
    d.meter()
    d.pilot("B")
    d.tap("HOLDER")
    d.serve()
    assert any(e.get("reservationId") == 77 for e in d.events())


def reserve_refused(d: Driver201, situation: str) -> None:
    """Bring EVSE 1 of ``d`` into ``situation`` for a ReserveNow that must be refused."""
    if situation == "plugged":
        d.meter()
        d.pilot("B")
    elif situation == "charging":
        charging(d)
    elif situation == "reserved":
        assert reserve(d, 50, "SOMEONE", uid="first") == "Accepted"
    elif situation == "faulted":
        d.feed(FaultRaised(1, FaultCode.GROUND_FAILURE, "30 mA"))
    elif situation == "evse inoperative":
        assert availability(d, "Inoperative", {"id": 1}) == "Accepted"
    elif situation == "station inoperative":
        assert availability(d, "Inoperative") == "Accepted"
    elif situation == "reservations disabled":
        configure(d, ReservationCtrlr_Enabled="false")
    d.serve()


@pytest.mark.parametrize(("situation", "status"), [
    ("plugged", "Occupied"), ("charging", "Occupied"), ("reserved", "Occupied"), ("faulted", "Faulted"),
    ("evse inoperative", "Unavailable"), ("station inoperative", "Unavailable"),
    ("reservations disabled", "Rejected"),
])
def test_reserve_now_of_an_evse_that_cannot_be_reserved(situation: str, status: str) -> None:
    """H01: Occupied (an EV there, a transaction, another reservation), Faulted, Unavailable, Rejected
    (ReservationCtrlr.Enabled false); the connector status does not turn Reserved."""
    d = Driver201()
    d.connect()
    reserve_refused(d, situation)
    before = d.statuses()
    assert reserve(d, 1) == status
    d.serve()
    assert d.statuses() == before


def test_reserve_now_of_an_unknown_evse_is_rejected() -> None:
    """H01: an evseId the station does not have: Rejected."""
    d = Driver201()
    d.connect()
    assert reserve(d, 1, evse=9) == "Rejected"


def test_a_reservation_without_evse_keeps_one_evse_for_the_holder() -> None:
    """H01.FR.04 (evseId absent, ReservationCtrlr.NonEvseSpecific): Accepted; others may charge as long as
    one EVSE stays free for the holder, who can use any."""
    d = Driver201(evses=2)
    d.connect()
    assert reserve(d, 3, evse=None) == "Accepted"
    d.serve()
    d.meter(1)
    d.pilot("B", evse=1)
    d.tap("FIRST")
    d.serve()
    assert [e["evse"]["id"] for e in d.events("Started")] == [1]
    d.meter(2)
    d.pilot("B", evse=2)
    d.tap("SECOND")
    d.serve()
    assert len(d.events("Started")) == 1  # the last free EVSE is the holder's
    d.tap("HOLDER")
    d.serve()
    started = d.events("Started")
    assert [(e["evse"]["id"], e["idToken"]["idToken"]) for e in started] == [(1, "FIRST"), (2, "HOLDER")]
    assert_schema_valid(d)


def test_a_reservation_without_evse_on_the_last_free_evse_shows_reserved() -> None:
    """H01: one EVSE, one reservation for any EVSE: that EVSE is Reserved."""
    d = Driver201()
    d.connect()
    assert reserve(d, 4, evse=None) == "Accepted"
    d.serve()
    assert d.statuses() == ["Available", "Reserved"]


def test_a_reservation_without_evse_when_all_are_occupied_is_occupied() -> None:
    """H01: evseId absent and no EVSE free because an EV stands at each: Occupied."""
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.serve()
    assert reserve(d, 5, evse=None) == "Occupied"


@pytest.mark.parametrize(("situation", "status"), [("station inoperative", "Unavailable"),
                                                   ("faulted", "Faulted")])
def test_a_reservation_without_evse_when_none_can_be_used_says_why(situation: str, status: str) -> None:
    """H01: evseId absent and every EVSE Unavailable or Faulted: that status, not Occupied."""
    d = Driver201()
    d.connect()
    reserve_refused(d, situation)
    assert reserve(d, 6, evse=None) == status


def test_a_reservation_expires_at_its_time() -> None:
    """H04 (H01.FR.23 in calls.py): at expiryDateTime the reservation ends: ReservationStatusUpdateRequest
    Expired, the connector Available again and open to anyone."""
    d = Driver201()
    d.connect()
    assert reserve(d, 21) == "Accepted"
    d.serve()
    run(d, 599)
    assert d.calls("ReservationStatusUpdate") == []
    assert d.statuses()[-1] == "Reserved"
    run(d, 2)
    assert [c[3] for c in d.calls("ReservationStatusUpdate")] == [
        {"reservationId": 21, "reservationUpdateStatus": "Expired"}]
    assert d.statuses()[-1] == "Available"
    d.meter()
    d.pilot("B")
    d.tap("STRANGER")
    d.serve()
    assert d.events("Started")[0]["idToken"]["idToken"] == "STRANGER"
    assert_schema_valid(d)


def test_a_reservation_without_evse_expires_too() -> None:
    """H04: a reservation of any EVSE expires the same way."""
    d = Driver201(evses=2)
    d.connect()
    assert reserve(d, 22, evse=None, expiry="2026-11-24T12:02:00.000Z") == "Accepted"
    run(d, 121)
    assert [c[3] for c in d.calls("ReservationStatusUpdate")] == [
        {"reservationId": 22, "reservationUpdateStatus": "Expired"}]


def test_reserve_now_with_the_same_id_replaces_the_reservation() -> None:
    """H01.FR.02: a ReserveNow with the id of an existing reservation replaces it (here: another EVSE)."""
    d = Driver201(evses=2)
    d.connect()
    assert reserve(d, 10, evse=1) == "Accepted"
    assert reserve(d, 10, evse=2, uid="rn2") == "Accepted"
    d.serve()
    assert d.statuses(1) == ["Available", "Reserved", "Available"]
    assert d.statuses(2) == ["Available", "Reserved"]
    run(d, 601)
    assert [c[3]["reservationId"] for c in d.calls("ReservationStatusUpdate")] == [10]


def test_cancel_reservation() -> None:
    """H02.FR.01/02: a known reservation is cancelled (Accepted, the connector Available, no
    ReservationStatusUpdate ever); an unknown or already cancelled one is Rejected."""
    d = Driver201()
    d.connect()
    assert reserve(d, 9) == "Accepted"
    d.serve()
    assert d.csms_call("CancelReservation", {"reservationId": 9}, uid="c1")[2] == {"status": "Accepted"}
    d.serve()
    assert d.statuses() == ["Available", "Reserved", "Available"]
    assert d.csms_call("CancelReservation", {"reservationId": 9}, uid="c2")[2] == {"status": "Rejected"}
    assert d.csms_call("CancelReservation", {"reservationId": 99}, uid="c3")[2] == {"status": "Rejected"}
    run(d, 900)
    assert d.calls("ReservationStatusUpdate") == []
    d.meter()
    d.pilot("B")
    d.tap("STRANGER")
    d.serve()
    assert len(d.events("Started")) == 1
    assert_schema_valid(d)


# -- P01 and what is not built ---------------------------------------------------------------------------


def test_data_transfer_is_answered_unknown_vendor_id() -> None:
    """P01 (no vendor extension built): every vendorId is unknown."""
    d = Driver201()
    d.connect()
    reply = d.csms_call("DataTransfer", {"vendorId": "com.example", "messageId": "hello", "data": "x"})
    assert reply[:3] == [3, "c1", {"status": "UnknownVendorId"}]


NOT_BUILT: list[tuple[str, dict[str, Any]]] = [
    ("SetDisplayMessage", {"message": {"id": 1, "priority": "NormalCycle",
                                       "message": {"format": "UTF8", "content": "hello"}}}),
    ("CostUpdated", {"totalCost": 1.5, "transactionId": "tx-1"}),
    ("SetVariableMonitoring", {"setMonitoringData": [{"value": 1.0, "type": "Delta", "severity": 5,
                                                      "component": {"name": "EVSE"},
                                                      "variable": {"name": "Power"}}]}),
    ("CustomerInformation", {"requestId": 1, "report": True, "clear": False}),
]


@pytest.mark.parametrize(("action", "payload"), NOT_BUILT, ids=[a for a, _ in NOT_BUILT])
def test_a_known_action_that_is_not_built_is_not_supported(action: str, payload: dict[str, Any]) -> None:
    """OCPP 2.0.1 part 4 §4.3: a 2.0.1 action the station does not implement gets the CALLERROR
    NotSupported (and nothing else happens)."""
    d = Driver201()
    d.connect()
    sent = len(d.sent)
    reply = d.csms_call(action, payload, uid="nb")
    assert reply[0] == 4 and reply[1] == "nb" and reply[2] == "NotSupported", reply
    assert d.sent[sent:] == [reply]


def test_an_unknown_action_is_not_implemented() -> None:
    """OCPP 2.0.1 part 4 §4.3: an action the protocol does not define gets the CALLERROR NotImplemented."""
    d = Driver201()
    d.connect()
    reply = d.csms_call("MakeCoffee", {"sugar": 2}, uid="mc")
    assert reply[0] == 4 and reply[1] == "mc" and reply[2] == "NotImplemented", reply


def test_notify_event_ids_keep_counting_after_a_restart() -> None:
    """N07: eventId identifies an event (its ``cleared`` one refers to it): no reuse after a restart."""
    d = Driver201()
    d.connect()
    d.feed(FaultRaised(1, FaultCode.GROUND_FAILURE, "rcd"))
    d.serve()
    first = [e["eventId"] for c in d.calls("NotifyEvent") for e in c[3]["eventData"]]
    again = Driver201(dict(d.store), start=d.now.later(5))
    again.connect()
    again.feed(FaultRaised(1, FaultCode.GROUND_FAILURE, "rcd"))
    again.serve()
    later = [e["eventId"] for c in again.calls("NotifyEvent") for e in c[3]["eventData"]]
    assert later and min(later) > max(first)

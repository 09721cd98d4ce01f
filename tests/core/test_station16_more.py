"""More OCPP 1.6 core behaviour: clock-aligned data, transaction data, persistence of availability, the
cache, LocalPreAuthorize, StopTransactionOnInvalidId=false, connector-0 reservations, Pending boot."""

from __future__ import annotations

from chargepoint.core.actions import SetContactor, SetPilotCurrent
from chargepoint.core.events import ContactorChanged, TransportOpened
from tests.core.harness import Driver
from tests.core.test_station16 import charging


def test_clock_aligned_meter_values_on_the_boundary() -> None:
    d = Driver()  # board clock 12:00:00
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "ClockAlignedDataInterval", "value": "900"})
    d.meter()
    d.advance(899)
    assert d.calls("MeterValues") == []
    d.advance(2)  # 12:15:00 is a quarter-hour boundary
    mv = d.calls("MeterValues")[-1][3]
    assert mv["meterValue"][0]["timestamp"] == "2026-11-24T12:15:00.000Z"
    assert mv["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
    assert "transactionId" not in mv


def test_stop_transaction_carries_begin_and_end_values() -> None:
    d = Driver()
    d.connect()
    charging(d)
    d.meter(energy_wh=1500)
    d.pilot("A")
    d.serve()
    data = d.calls("StopTransaction")[-1][3]["transactionData"]
    assert [v["sampledValue"][0]["context"] for v in data] == ["Transaction.Begin", "Transaction.End"]
    assert [v["sampledValue"][0]["value"] for v in data] == ["1000", "1500"]


def test_inoperative_survives_a_restart() -> None:
    d = Driver()
    d.connect()
    assert d.csms_call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})[2] == {
        "status": "Accepted"}
    d2 = Driver(d.store)
    d2.connect()
    assert d2.statuses()[-1] == "Unavailable"
    d2.pilot("B")
    d2.tap("CARD1")
    assert d2.calls("Authorize") == []


def test_clear_cache_forgets_offline_authorisation() -> None:
    d = Driver()
    d.connect()
    d.tap("CARD1")
    d.serve()
    d.advance(61)
    assert d.csms_call("ClearCache", {})[2] == {"status": "Accepted"}
    assert not [k for k in d.store if k[0] == "auth_cache"]
    d.disconnect()
    d.pilot("B")
    d.tap("CARD1")
    assert ("session", "1") not in d.store


def test_local_pre_authorize_starts_without_authorize() -> None:
    d = Driver()
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"})
    d.csms_call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "LISTED", "idTagInfo": {"status": "Accepted"}}]}, uid="c2")
    d.serve()
    d.meter()
    d.pilot("B")
    d.tap("LISTED")
    d.serve()
    assert d.calls("Authorize") == []
    assert d.calls("StartTransaction")[-1][3]["idTag"] == "LISTED"


def test_invalid_id_without_stop_suspends_energy() -> None:
    d = Driver()
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "StopTransactionOnInvalidId", "value": "false"})
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(StartTransaction={"transactionId": 9, "idTagInfo": {"status": "Blocked"}})
    d.pilot("C")
    d.serve()
    assert d.calls("StopTransaction") == []
    assert SetContactor(1, True) not in d.actions
    assert d.actions.count(SetPilotCurrent(1, 0.0)) >= 1
    assert d.statuses()[-1] == "SuspendedEVSE"


def test_connector_zero_reservation_keeps_the_last_free_evse_for_its_holder() -> None:
    d = Driver(evses=2)
    d.connect()
    reply = d.csms_call("ReserveNow", {"connectorId": 0, "expiryDate": "2026-11-24T13:00:00.000Z",
                                        "idTag": "HOLDER", "reservationId": 3})
    assert reply[2] == {"status": "Accepted"}
    d.meter(1)
    d.meter(2)
    d.pilot("B", evse=1)
    d.tap("FIRST")
    d.serve()
    d.pilot("C", evse=1)
    d.feed(ContactorChanged(1, True))
    d.serve()
    assert d.calls("StartTransaction")[-1][3]["idTag"] == "FIRST"
    d.pilot("B", evse=2)
    d.tap("OTHER")  # only EVSE 2 is left: it is kept for the holder
    d.serve()
    assert [c[3]["idTag"] for c in d.calls("StartTransaction")] == ["FIRST"]
    d.tap("HOLDER")
    d.serve()
    start = d.calls("StartTransaction")[-1][3]
    assert start["idTag"] == "HOLDER" and start["reservationId"] == 3 and start["connectorId"] == 2


def test_pending_boot_allows_only_triggered_messages() -> None:
    d = Driver()
    d.feed(TransportOpened("ocpp1.6"))
    d.answer({"status": "Pending", "currentTime": "2026-11-24T12:00:00.000Z", "interval": 60})
    d.pilot("B")
    assert d.calls("StatusNotification") == []
    assert d.csms_call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})[2] == {
        "status": "Accepted"}
    assert d.calls("StatusNotification")[-1][3]["status"] == "Preparing"
    assert d.csms_call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 5}, "c2")[2] == {
        "status": "Rejected"}


def test_connection_settings_reach_the_shell_and_a_new_key_reconnects() -> None:
    from chargepoint.core.actions import ConfigureConnection, Reconnect

    d = Driver()
    assert ConfigureConnection(30.0, None) in d.actions  # at start: the defaults, no key set by a CSMS
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "10"})
    assert d.actions[-1] == ConfigureConnection(10.0, None)
    key = "0123456789abcdef-new-key"
    d.csms_call("ChangeConfiguration", {"key": "AuthorizationKey", "value": key}, uid="c2")
    assert ConfigureConnection(10.0, key) in d.actions and Reconnect("AuthorizationKey changed") in d.actions
    assert key not in repr(d.actions)
    d2 = Driver(d.store)  # the key the CSMS set is used after a restart too
    assert ConfigureConnection(10.0, key) in d2.actions


def test_csms_calls_are_answered_while_our_call_waits() -> None:
    d = Driver()
    d.connect()
    d.tap("CARD1")
    assert d.pending() is not None and d.pending()[2] == "Authorize"
    reply = d.csms_call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert reply[0] == 3  # answered while the Authorize is still outstanding
    assert d.pending()[2] == "Authorize"


def test_offline_transactions_are_not_capped() -> None:
    d = Driver()
    d.station.settings.set("AllowOfflineTxForUnknownId", True)
    d.meter()
    for i in range(300):
        d.pilot("B")
        d.tap(f"CARD{i}")
        d.pilot("A")
    rows = [v["action"] for (kind, _), v in sorted(d.store.items()) if kind == "outbox"]
    assert rows == ["StartTransaction", "StopTransaction"] * 300
    d.connect(accept=False)
    d.serve(limit=1000)
    assert len(d.calls("StopTransaction")) == 300
    assert not [k for k in d.store if k[0] == "outbox"]

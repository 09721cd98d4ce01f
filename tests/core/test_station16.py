"""Unit tests of the OCPP 1.6 core: events in, actions out, no event loop, time driven by hand."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from chargepoint.core.actions import (
    Persist,
    Reboot,
    SendText,
    SetContactor,
    SetLock,
    SetPilotCurrent,
    SetSystemClock,
)
from chargepoint.core.clock import Now
from chargepoint.core.events import (
    ContactorChanged,
    FaultCleared,
    FaultRaised,
    LockResult,
    SystemClockSet,
    TextReceived,
)
from hal.types import FaultCode
from tests.core.harness import T0, Driver

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def charging(d: Driver, token: str = "CARD1") -> None:
    """Plug in, tap, answer everything, EV asks for power, contactor closes."""
    d.meter()
    d.pilot("B")
    d.tap(token)
    d.serve()
    d.pilot("C")
    d.feed(ContactorChanged(1, True))
    d.serve()


# -- boot (OCPP 1.6 §4.2) ------------------------------------------------------------------------------


def test_only_boot_notification_before_accepted() -> None:
    d = Driver()
    d.feed(__import__("chargepoint.core.events", fromlist=["TransportOpened"]).TransportOpened("ocpp1.6"))
    d.pilot("B")
    d.tap("CARD1")
    assert [c[2] for c in d.calls()] == ["BootNotification"]
    boot = d.calls("BootNotification")[0][3]
    assert boot == {"chargePointVendor": "Acme", "chargePointModel": "AC22", "chargePointSerialNumber": "SN1",
                    "chargeBoxSerialNumber": "SN1", "firmwareVersion": "0.1.0"}


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_boot_retried_after_the_interval_when_not_accepted(status: str) -> None:
    d = Driver()
    d.connect(accept=False)
    d.answer({"status": status, "currentTime": "2026-11-24T12:00:00.000Z", "interval": 20})
    d.advance(19)
    assert len(d.calls("BootNotification")) == 1
    d.advance(2)
    assert len(d.calls("BootNotification")) == 2
    assert d.calls("StatusNotification") == []


def test_accepted_boot_reports_every_connector_and_starts_heartbeats() -> None:
    d = Driver(evses=2)
    d.connect()
    assert [(c[3]["connectorId"], c[3]["status"]) for c in d.calls("StatusNotification")] == [
        (0, "Available"), (1, "Available"), (2, "Available")]
    d.advance(299)
    assert d.calls("Heartbeat") == []
    d.advance(2)
    assert len(d.calls("Heartbeat")) == 1


def test_heartbeat_time_sets_the_clock_offset() -> None:
    d = Driver()
    d.connect()
    d.advance(301)
    d.answer({"currentTime": "2026-11-24T13:00:00.000Z"})  # the CSMS is an hour ahead
    d.pilot("B")
    d.serve()
    stamp = d.calls("StatusNotification")[-1][3]["timestamp"]
    assert stamp.startswith("2026-11-24T13:00:00")  # the CSMS time from that moment on


def test_the_board_clock_is_left_alone_unless_the_installer_allows_setting_it() -> None:
    d = Driver()
    d.connect()
    d.advance(301)
    d.answer({"currentTime": "2026-11-24T13:00:00.000Z"})
    assert not any(isinstance(a, SetSystemClock) for a in d.actions)

    d = Driver()
    d.station.info = replace(d.info, set_system_clock=True)
    d.connect()
    d.advance(301)
    d.answer({"currentTime": "2026-11-24T13:00:00.000Z"})  # an hour ahead of the board
    (action,) = [a for a in d.actions if isinstance(a, SetSystemClock)]
    assert action.utc.isoformat().startswith("2026-11-24T13:00:00")
    # The shell set the clock: the board is now an hour later, and station time must not jump again.
    d.feed(SystemClockSet(3600.0))
    d.now = Now(d.now.monotonic, d.now.utc + timedelta(hours=1))
    d.pilot("B")
    d.serve()
    stamp = d.calls("StatusNotification")[-1][3]["timestamp"]
    assert stamp.startswith("2026-11-24T13:00:00")


# -- a whole session -----------------------------------------------------------------------------------


def test_a_whole_session_on_the_wire() -> None:
    d = Driver()
    d.connect()
    charging(d)
    start = d.calls("StartTransaction")[0][3]
    assert start["connectorId"] == 1 and start["idTag"] == "CARD1" and start["meterStart"] == 1000
    assert TS.match(start["timestamp"])
    assert d.statuses()[-2:] == ["Preparing", "Charging"] or d.statuses()[-1] == "Charging"
    assert SetContactor(1, True) in d.actions
    d.meter(energy_wh=4500)
    d.advance(61)  # MeterValueSampleInterval 60 s by default
    mv = d.calls("MeterValues")[-1][3]
    assert mv["transactionId"] == 501
    measurands = {v["measurand"] for v in mv["meterValue"][0]["sampledValue"]}
    assert "Energy.Active.Import.Register" in measurands
    d.serve()
    d.pilot("A")  # unplug: StopTransactionOnEVSideDisconnect=true
    d.serve()
    stop = d.calls("StopTransaction")[-1][3]
    assert stop["transactionId"] == 501 and stop["meterStop"] == 4500 and stop["reason"] == "EVDisconnected"
    assert d.statuses()[-1] == "Available"
    assert d.store.get(("session", "1")) is None
    assert not [k for k in d.store if k[0] == "outbox"]


def test_transaction_message_is_persisted_before_it_is_sent() -> None:
    d = Driver()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(until="StartTransaction")
    persist = [i for i, a in enumerate(d.actions) if isinstance(a, Persist) and a.kind == "outbox"]
    send = [i for i, a in enumerate(d.actions) if isinstance(a, SendText) and "StartTransaction" in a.text]
    assert persist and send and persist[0] < send[0]


def test_same_card_stops_the_transaction_locally() -> None:
    d = Driver()
    d.connect()
    charging(d)
    d.tap("CARD1")
    d.serve()
    stop = d.calls("StopTransaction")[-1][3]
    assert stop["reason"] == "Local" and stop["idTag"] == "CARD1"
    assert SetContactor(1, False) in d.actions
    assert d.statuses()[-1] == "Finishing"


def test_rejected_card_does_not_start() -> None:
    d = Driver()
    d.connect()
    d.pilot("B")
    d.tap("BAD")
    d.answer({"idTagInfo": {"status": "Invalid"}})
    assert d.calls("StartTransaction") == []


def test_invalid_id_in_start_answer_stops_with_deauthorized() -> None:
    d = Driver()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(StartTransaction={"transactionId": 9, "idTagInfo": {"status": "Blocked"}})
    assert d.calls("StopTransaction")[-1][3]["reason"] == "DeAuthorized"


def test_connection_timeout_drops_the_authorisation() -> None:
    d = Driver()
    d.connect()
    d.tap("CARD1")
    d.serve()
    assert d.statuses()[-1] == "Preparing"
    d.advance(61)  # ConnectionTimeOut 60 s
    assert d.statuses()[-1] == "Available"
    d.pilot("B")
    assert d.calls("StartTransaction") == []


def test_ev_pause_opens_the_contactor_and_reports_suspended_ev() -> None:
    d = Driver()
    d.connect()
    charging(d)
    d.pilot("B")
    d.feed(ContactorChanged(1, False))
    d.serve()
    assert d.actions.count(SetContactor(1, False)) == 1
    assert d.statuses()[-1] == "SuspendedEV"


def test_fault_reports_faulted_and_cuts_power_then_recovers() -> None:
    d = Driver()
    d.connect()
    charging(d)
    d.feed(FaultRaised(1, FaultCode.GROUND_FAILURE, "GFCI"))
    d.feed(ContactorChanged(1, False))
    d.serve()
    last = d.calls("StatusNotification")[-1][3]
    assert last["status"] == "Faulted" and last["errorCode"] == "GroundFailure"
    assert SetPilotCurrent(1, 0.0) in d.actions
    d.feed(FaultCleared(1, FaultCode.GROUND_FAILURE))
    d.serve()
    assert d.actions[-1] != SetPilotCurrent(1, 0.0)
    assert SetPilotCurrent(1, 32.0) in d.actions[-10:]


def test_minimum_status_duration_suppresses_short_statuses() -> None:
    d = Driver()
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "MinimumStatusDuration", "value": "5"})
    d.pilot("B")
    d.serve()
    d.advance(1)
    d.pilot("A")  # back to Available within 5 s: Preparing is never reported
    d.advance(6)
    d.serve()
    assert d.statuses() == ["Available"]


# -- offline and restarts (OCPP 1.6 §3.5, §4.10) ---------------------------------------------------------


def test_offline_unknown_card_refused_by_default_allowed_when_configured() -> None:
    d = Driver()
    d.connect()
    d.disconnect()
    d.pilot("B")
    d.tap("NEW")
    assert d.store.get(("session", "1")) is None
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "AllowOfflineTxForUnknownId", "value": "true"})
    d.disconnect()
    d.tap("NEW")
    assert ("session", "1") in d.store


def test_offline_cached_card_starts_and_queue_is_delivered_in_order_with_patched_ids() -> None:
    d = Driver()
    d.connect()
    d.tap("CARD1")  # online: answered Accepted, so it is in the cache now
    d.serve()
    d.advance(61)
    d.disconnect()
    d.meter(energy_wh=2000)
    d.pilot("B")
    d.tap("CARD1")
    assert d.calls("StartTransaction") == []
    d.meter(energy_wh=2600)
    d.advance(61)
    d.pilot("A")
    queued = [v["action"] for (k, _), v in sorted(d.store.items()) if k == "outbox"]
    assert queued == ["StartTransaction", "MeterValues", "StopTransaction"]
    d.connect(accept=False)
    d.serve(StartTransaction={"transactionId": 77, "idTagInfo": {"status": "Accepted"}})
    actions = [c[2] for c in d.calls() if c[2] in ("StartTransaction", "MeterValues", "StopTransaction")]
    assert actions == ["StartTransaction", "MeterValues", "StopTransaction"]
    assert d.calls("MeterValues")[-1][3]["transactionId"] == 77
    assert d.calls("StopTransaction")[-1][3]["transactionId"] == 77
    assert not [k for k in d.store if k[0] == "outbox"]


def test_restart_delivers_the_outbox_once_and_stops_a_cut_transaction_with_power_loss() -> None:
    d = Driver()
    d.connect()
    charging(d)
    d.meter(energy_wh=3000)
    store = d.store
    # the power goes: a new station comes up from the same store
    d2 = Driver(store, start=Now(5.0, T0.replace(hour=13)))
    d2.meter(energy_wh=3100)
    d2.connect()
    stop = d2.calls("StopTransaction")[-1][3]
    assert stop["reason"] == "PowerLoss" and stop["meterStop"] == 3100 and stop["transactionId"] == 501
    assert len(d2.calls("StartTransaction")) == 0  # it was answered before: never sent twice
    assert not [k for k in d2.store if k[0] in ("outbox", "session")]


def test_unanswered_message_is_sent_again_after_restart() -> None:
    d = Driver()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(until="StartTransaction")
    assert d.pending()[2] == "StartTransaction"  # sent, no answer: then kill -9
    d2 = Driver(d.store)
    d2.connect()
    assert [c[2] for c in d2.calls()][:2] == ["BootNotification", "StartTransaction"]


def test_timestamps_before_clock_sync_never_go_before_the_last_known_time() -> None:
    d = Driver()
    d.connect()
    d.advance(61)  # persists last_time
    board_1970 = Now(3.0, T0.replace(year=1970))
    d2 = Driver(d.store, start=board_1970)
    d2.meter()
    d2.pilot("B")
    d2.feed(__import__("chargepoint.core.events", fromlist=["x"]).TransportOpened("ocpp1.6"))
    # offline decision happens before the boot is answered; the card is unknown, allow it
    assert d2.station.timestamp(d2.now).startswith("2026-11-24")


def test_queued_timestamps_are_corrected_after_the_first_sync() -> None:
    board = Now(3.0, T0.replace(year=2026, month=1, day=1))  # board clock far behind, no last time known
    d = Driver(start=board)
    d.station.settings.set("AllowOfflineTxForUnknownId", True)
    d.meter()
    d.pilot("B")
    d.tap("ANY")
    d.connect()  # boot answer says 2026-11-24T12:00
    start = d.calls("StartTransaction")[0][3]
    assert start["timestamp"].startswith("2026-11-24T12:00")


def test_late_answer_is_not_taken_for_the_next_call() -> None:
    d = Driver()
    d.connect()
    d.tap("CARD1")
    first = d.calls("Authorize")[0]
    d.advance(31)  # call timeout
    d.tap("CARD2")
    second = d.calls("Authorize")[-1]
    assert second[1] != first[1]
    d.answer({"idTagInfo": {"status": "Accepted"}}, first)  # late answer: ignored
    assert d.pending() is not None and d.pending()[1] == second[1]


def test_callerror_on_transaction_message_is_retried_then_dropped() -> None:
    d = Driver()
    d.connect()
    d.csms_call("ChangeConfiguration", {"key": "TransactionMessageAttempts", "value": "2"})
    d.csms_call("ChangeConfiguration", {"key": "TransactionMessageRetryInterval", "value": "10"})
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(until="StartTransaction")
    d.answer_error("InternalError")
    assert len(d.calls("StartTransaction")) == 1
    d.advance(11)
    assert len(d.calls("StartTransaction")) == 2
    d.answer_error("InternalError")
    d.advance(100)
    assert len(d.calls("StartTransaction")) == 2
    assert not [k for k in d.store if k[0] == "outbox"]


# -- CSMS calls ------------------------------------------------------------------------------------------


def test_malformed_and_unknown_calls_get_callerrors_and_the_station_goes_on() -> None:
    d = Driver()
    d.connect()
    assert d.csms_call("Reset", {"type": "Sideways"})[2] == "PropertyConstraintViolation"
    assert d.csms_call("FlyToMoon", {}, uid="c2")[2] == "NotImplemented"
    assert d.csms_call("GetDiagnostics", {"location": 7}, uid="c3")[2] == "TypeConstraintViolation"
    d.feed(TextReceived("not json"))
    d.feed(TextReceived('[2, "c4", "Reset"]'))
    assert d.csms_call("ClearCache", {}, uid="c5") == [3, "c5", {"status": "Accepted"}]


def test_remote_start_and_stop() -> None:
    d = Driver()
    d.connect()
    d.meter()
    d.pilot("B")
    assert d.csms_call("RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1})[2] == {
        "status": "Accepted"}
    d.serve()
    assert d.calls("Authorize") == []  # AuthorizeRemoteTxRequests=false
    tx_id = 501
    assert d.csms_call("RemoteStopTransaction", {"transactionId": 999}, uid="c2")[2] == {"status": "Rejected"}
    assert d.csms_call("RemoteStopTransaction", {"transactionId": tx_id}, uid="c3")[2] == {
        "status": "Accepted"}
    d.serve()
    assert d.calls("StopTransaction")[-1][3]["reason"] == "Remote"


def test_reset_stops_transactions_then_reboots() -> None:
    d = Driver()
    d.connect()
    charging(d)
    assert d.csms_call("Reset", {"type": "Hard"})[2] == {"status": "Accepted"}
    d.serve()
    assert d.calls("StopTransaction")[-1][3]["reason"] == "HardReset"
    d.advance(6)
    assert any(isinstance(a, Reboot) and a.kind.value == "Hard" for a in d.actions)


def test_change_availability_is_scheduled_during_a_transaction() -> None:
    d = Driver()
    d.connect()
    charging(d)
    reply = d.csms_call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert reply[2] == {"status": "Scheduled"}
    d.pilot("A")
    d.serve()
    assert d.statuses()[-1] == "Unavailable"
    assert d.store[("availability", "1")] is False


def test_unlock_connector_stops_and_answers_after_the_lock() -> None:
    d = Driver()
    d.connect()
    charging(d)
    before = len(d.sent)
    d.feed(TextReceived('[2,"u1","UnlockConnector",{"connectorId":1}]'))
    assert SetLock(1, False) in d.actions
    assert not [m for m in d.sent[before:] if m[0] == 3 and m[1] == "u1"]
    d.feed(LockResult(1, False, True))
    assert [3, "u1", {"status": "Unlocked"}] in d.sent
    d.serve()
    assert d.calls("StopTransaction")[-1][3]["reason"] == "UnlockCommand"


def test_configuration_get_change_and_persist() -> None:
    d = Driver()
    d.connect()
    assert d.csms_call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})[2] == {
        "status": "Accepted"}
    assert d.csms_call("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}, "c2")[2] == {
        "status": "Rejected"}
    assert d.csms_call("ChangeConfiguration", {"key": "Nope", "value": "1"}, "c3")[2] == {
        "status": "NotSupported"}
    reply = d.csms_call("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}, "c4")[2]
    assert reply["configurationKey"] == [{"key": "HeartbeatInterval", "readonly": False, "value": "120"}]
    assert reply["unknownKey"] == ["Nope"]
    d2 = Driver(d.store)
    assert d2.station.settings.int("HeartbeatInterval") == 120


def test_local_list_full_and_differential() -> None:
    d = Driver()
    d.connect()
    assert d.csms_call("GetLocalListVersion", {})[2] == {"listVersion": 0}
    full = {"listVersion": 3, "updateType": "Full",
            "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]}
    assert d.csms_call("SendLocalList", full, "c2")[2] == {"status": "Accepted"}
    diff = {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": []}
    assert d.csms_call("SendLocalList", diff, "c3")[2] == {"status": "VersionMismatch"}
    assert d.csms_call("GetLocalListVersion", {}, "c4")[2] == {"listVersion": 3}
    d.disconnect()
    d.pilot("B")
    d.tap("A")  # offline, on the local list: starts (LocalAuthorizeOffline)
    assert ("session", "1") in d.store


def test_reservation_blocks_others_and_expires() -> None:
    d = Driver()
    d.connect()
    reply = d.csms_call("ReserveNow", {"connectorId": 1, "expiryDate": "2026-11-24T12:10:00.000Z",
                                        "idTag": "HOLDER", "reservationId": 7})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    assert d.statuses()[-1] == "Reserved"
    d.pilot("B")
    d.tap("OTHER")
    assert d.calls("Authorize") == []
    d.pilot("A")
    d.advance(601)
    d.serve()
    assert d.statuses()[-1] == "Available"
    assert d.csms_call("CancelReservation", {"reservationId": 7}, "c2")[2] == {"status": "Rejected"}


def test_reserved_holder_starts_with_the_reservation_id() -> None:
    d = Driver()
    d.connect()
    d.csms_call("ReserveNow", {"connectorId": 1, "expiryDate": "2026-11-24T12:10:00.000Z",
                               "idTag": "HOLDER", "reservationId": 7})
    d.serve()
    d.meter()
    d.pilot("B")
    d.tap("HOLDER")
    d.serve()
    assert d.calls("StartTransaction")[-1][3]["reservationId"] == 7


@pytest.mark.parametrize("message", ["BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                                     "DiagnosticsStatusNotification", "FirmwareStatusNotification"])
def test_trigger_message_sends_what_was_asked(message: str) -> None:
    d = Driver()
    d.connect()
    d.meter()
    before = len(d.calls(message))
    assert d.csms_call("TriggerMessage", {"requestedMessage": message})[2] == {"status": "Accepted"}
    d.serve()
    assert len(d.calls(message)) > before


def test_data_transfer_unknown_vendor() -> None:
    d = Driver()
    d.connect()
    assert d.csms_call("DataTransfer", {"vendorId": "x"})[2] == {"status": "UnknownVendorId"}

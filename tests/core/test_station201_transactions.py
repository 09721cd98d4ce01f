"""OCPP 2.0.1 block E on the wire: TransactionEvent Started/Updated/Ended, start/stop points, offline, retry.

Also the helpers the other 2.0.1 core test modules share: ``set_variable`` (SetVariables from the CSMS),
``charging`` (a session up to Charging) and ``assert_schema_valid`` (every station CALL against its official
2.0.1 request schema, called at the end of each test).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

from chargepoint.core.actions import SetContactor, SetPilotCurrent
from chargepoint.core.events import ContactorChanged, FaultRaised
from hal.types import FaultCode
from tests.core.harness import Driver201

Validator = Callable[[dict[str, Any]], object]


@functools.cache
def _request_schema(action: str) -> Validator:
    """The official OCPP 2.0.1 ``<Action>Request.json`` shipped with the ``ocpp`` package, compiled."""
    path = resources.files("ocpp").joinpath("v201", "schemas", f"{action}Request.json")
    schema = json.loads(path.read_text(encoding="utf-8-sig"))  # some files start with a BOM
    validator: Validator = fastjsonschema.compile(schema)
    return validator


def assert_schema_valid(d: Driver201) -> None:
    """Every CALL the station sent validates against its 2.0.1 request schema (OCPP 2.0.1 part 4 §4.1)."""
    for frame in d.calls():
        try:
            _request_schema(frame[2])(frame[3])
        except fastjsonschema.JsonSchemaException as error:  # pragma: no cover - the failure message
            raise AssertionError(f"{frame[2]} violates its schema: {error}: {frame[3]}") from None


def set_variable(d: Driver201, component: str, variable: str, value: str, instance: str | None = None) -> str:
    """B05 SetVariables from the CSMS; returns the attributeStatus."""
    var: dict[str, Any] = {"name": variable}
    if instance is not None:
        var["instance"] = instance
    reply = d.csms_call("SetVariables", {"setVariableData": [{
        "attributeValue": value, "component": {"name": component}, "variable": var}]}, uid="setvar")
    assert reply[0] == 3, reply
    return str(reply[2]["setVariableResult"][0]["attributeStatus"])


def configure(d: Driver201, **values: str) -> None:
    """Several ``Component_Variable=value`` settings, each of which must be Accepted."""
    for key, value in values.items():
        component, variable = key.split("_", 1)
        assert set_variable(d, component, variable, value) == "Accepted", key


def charging(d: Driver201, token: str = "CARD1") -> None:
    """Plug in, tap, answer everything, the EV asks for power, the contactor closes."""
    d.meter()
    d.pilot("B")
    d.tap(token)
    d.serve()
    d.pilot("C")
    d.feed(ContactorChanged(1, True))
    d.serve()


def seq_nos(d: Driver201, transaction_id: str) -> list[int]:
    return [e["seqNo"] for e in d.events() if e["transactionInfo"]["transactionId"] == transaction_id]


def tx_id(event: dict[str, Any]) -> str:
    return str(event["transactionInfo"]["transactionId"])


# -- a whole session (E01, E02, E06, J02) ------------------------------------------------------------------


def test_a_whole_session_started_updated_ended() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    d.meter(energy_wh=1500)
    d.pilot("B")  # the EV stops asking: SuspendedEV
    d.serve()
    d.tap("CARD1")  # TxStopPoint Authorized (default EVConnected,Authorized): ends at the card
    d.serve()
    d.pilot("A")
    d.serve()

    events = d.events()
    assert [e["eventType"] for e in events] == ["Started", "Updated", "Updated", "Ended"]
    started, ended = events[0], events[-1]
    # E01.FR.16 / E02: seqNo 0, the EVSE in the first event only, the token, the start register reading.
    assert started["seqNo"] == 0
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert all("evse" not in e for e in events[1:])
    assert started["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    begin = started["meterValue"][0]["sampledValue"]
    assert [(v["measurand"], v["value"], v["context"]) for v in begin] == [
        ("Energy.Active.Import.Register", 1000, "Transaction.Begin")]
    # E02: an Updated for every change of the charging state, and only then.
    assert [(e["triggerReason"], e["transactionInfo"]["chargingState"]) for e in events[1:3]] == [
        ("ChargingStateChanged", "Charging"), ("ChargingStateChanged", "SuspendedEV")]
    # E06 / J02: Ended with the reason and the end register reading.
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["triggerReason"] == "StopAuthorized"
    end = ended["meterValue"][0]["sampledValue"]
    assert [(v["measurand"], v["value"], v["context"]) for v in end] == [
        ("Energy.Active.Import.Register", 1500, "Transaction.End")]
    # TransactionEventRequest.seqNo: 0, 1, 2... within the transaction, one transactionId throughout.
    assert len({tx_id(e) for e in events}) == 1
    assert seq_nos(d, tx_id(started)) == [0, 1, 2, 3]
    assert not [k for k in d.store if k[0] in ("outbox", "tx201")]
    assert_schema_valid(d)


def test_transaction_ids_are_unique_across_sessions_and_a_restart() -> None:
    d = Driver201()
    d.connect()
    for _ in range(2):
        charging(d)
        d.tap("CARD1")
        d.pilot("A")
        d.serve()
    again = Driver201(d.store)
    again.connect()
    charging(again)
    started = [*d.events("Started"), *again.events("Started")]
    ids = [tx_id(e) for e in started]
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    assert [e["seqNo"] for e in started] == [0, 0, 0]
    assert_schema_valid(d)
    assert_schema_valid(again)


def test_a_fault_during_charging_is_suspended_evse() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    d.feed(FaultRaised(1, FaultCode.OVER_CURRENT_FAILURE, "trip"))
    d.serve()
    assert SetContactor(1, False) in d.actions
    last = d.events()[-1]
    assert last["triggerReason"] == "ChargingStateChanged"
    assert last["transactionInfo"]["chargingState"] == "SuspendedEVSE"


# -- TxStartPoint (E01, E02, E03) -------------------------------------------------------------------------


def test_start_point_ev_connected_starts_at_the_cable_and_the_card_authorises_it() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="EVConnected")
    d.meter()
    d.pilot("B")
    d.serve()
    [started] = d.events()
    assert started["eventType"] == "Started" and started["triggerReason"] == "CablePluggedIn"
    assert "idToken" not in started
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert SetPilotCurrent(1, 32.0) not in d.actions  # not authorised yet: no energy offered
    d.tap("CARD1")
    d.serve()
    assert d.calls("Authorize")[-1][3] == {"idToken": {"idToken": "CARD1", "type": "ISO14443"}}
    updated = d.events()[1]
    assert updated["eventType"] == "Updated" and updated["triggerReason"] == "Authorized"
    assert updated["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    assert tx_id(updated) == tx_id(started) and updated["seqNo"] == 1
    assert SetPilotCurrent(1, 32.0) in d.actions
    assert_schema_valid(d)


def test_start_point_ev_connected_unplug_without_a_card_ends_it() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="EVConnected")
    d.meter()
    d.pilot("B")
    d.pilot("A")
    d.serve()
    assert [e["eventType"] for e in d.events()] == ["Started", "Ended"]
    assert d.events("Ended")[0]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert_schema_valid(d)


def test_start_point_authorized_starts_before_the_cable_and_times_out() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="Authorized", TxCtrlr_EVConnectionTimeOut="30")
    d.meter()
    d.tap("CARD1")
    d.serve()
    [started] = d.events()
    assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    assert started["transactionInfo"]["chargingState"] == "Idle"  # no EV yet
    d.advance(29)
    d.serve()
    assert d.events("Ended") == []
    d.advance(2)
    d.serve()
    [ended] = d.events("Ended")
    # E03.FR.05: the EV did not connect within EVConnectionTimeOut.
    assert ended["triggerReason"] == "EVConnectTimeout"
    assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
    assert [e["seqNo"] for e in d.events()] == [0, 1]
    assert_schema_valid(d)


def test_start_point_authorized_then_the_cable_continues_the_same_transaction() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="Authorized")
    d.meter()
    d.tap("CARD1")
    d.serve()
    d.pilot("B")
    d.serve()
    d.advance(120)  # past EVConnectionTimeOut: the cable came in time, nothing ends
    d.serve()
    assert [e["eventType"] for e in d.events()][:2] == ["Started", "Updated"]
    assert d.events("Ended") == []
    assert len({tx_id(e) for e in d.events()}) == 1
    assert_schema_valid(d)


def test_start_point_authorized_reports_the_cable_as_cable_plugged_in() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="Authorized")
    d.meter()
    d.tap("CARD1")
    d.serve()
    d.pilot("B")
    d.serve()
    assert d.events()[1]["triggerReason"] == "CablePluggedIn"


def test_start_point_power_path_closed_is_the_default_and_needs_cable_and_card() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.serve()
    assert d.events() == []  # the cable alone is no transaction
    d.tap("CARD1")
    d.serve()
    [started] = d.events()
    assert started["eventType"] == "Started" and started["idToken"]["idToken"] == "CARD1"
    # The card first, then the cable: no transaction until both are there.
    d2 = Driver201()
    d2.connect()
    d2.meter()
    d2.tap("CARD2")
    d2.serve()
    assert d2.events() == []
    d2.pilot("B")
    d2.serve()
    [started2] = d2.events()
    assert started2["eventType"] == "Started" and started2["idToken"]["idToken"] == "CARD2"
    assert_schema_valid(d)
    assert_schema_valid(d2)


def test_start_point_energy_transfer_begins_when_the_contactor_closes() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="EnergyTransfer")
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve()
    d.pilot("C")
    d.serve()
    assert SetContactor(1, True) in d.actions
    assert d.events() == []  # commanded, but no energy flows before the contactor reports closed
    d.feed(ContactorChanged(1, True))
    d.serve()
    [started] = d.events()
    assert started["eventType"] == "Started" and started["seqNo"] == 0
    assert started["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    assert started["transactionInfo"]["chargingState"] == "Charging"
    assert_schema_valid(d)


# -- TxStopPoint (E06, E07, E10) --------------------------------------------------------------------------


def test_stop_point_ev_connected_only_the_card_deauthorises_and_the_cable_ends_it() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStopPoint="EVConnected")
    charging(d)
    d.tap("CARD1")
    d.serve()
    assert d.events("Ended") == []
    stop = d.events()[-1]
    assert stop["eventType"] == "Updated" and stop["triggerReason"] == "StopAuthorized"
    assert SetContactor(1, False) in d.actions  # the energy stops at once
    d.pilot("A")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert tx_id(ended) == tx_id(stop) and ended["seqNo"] == stop["seqNo"] + 1
    assert_schema_valid(d)


def test_stop_point_authorized_only_ends_at_the_card_with_the_cable_in() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStopPoint="Authorized")
    charging(d)
    d.tap("CARD1")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"]["idToken"] == "CARD1"
    count = len(d.events())
    d.pilot("A")
    d.serve()
    assert len(d.events()) == count  # the cable leaving later is no transaction event
    assert_schema_valid(d)


def test_stop_tx_on_ev_side_disconnect_ends_the_transaction_at_unplug() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    d.pilot("A")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert SetContactor(1, False) in d.actions
    assert_schema_valid(d)


def test_without_stop_tx_on_ev_side_disconnect_the_transaction_survives_the_unplug() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_StopTxOnEVSideDisconnect="false", TxCtrlr_TxStopPoint="Authorized")
    charging(d)
    d.pilot("A")
    d.serve()
    assert d.events("Ended") == []
    d.pilot("B")
    d.tap("CARD1")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert len({tx_id(e) for e in d.events()}) == 1
    assert_schema_valid(d)


# -- E05: an invalid id in the TransactionEventResponse --------------------------------------------------


def test_stop_tx_on_invalid_id_ends_the_transaction() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(TransactionEvent={"idTokenInfo": {"status": "Invalid"}})
    [ended] = d.events("Ended")
    assert ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert d.actions[-1] != SetPilotCurrent(1, 32.0)
    assert [a for a in d.actions if isinstance(a, SetPilotCurrent)][-1] == SetPilotCurrent(1, 0.0)
    assert_schema_valid(d)


def test_without_stop_tx_on_invalid_id_the_energy_is_suspended() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_StopTxOnInvalidId="false")
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(TransactionEvent={"idTokenInfo": {"status": "Invalid"}})
    d.pilot("C")
    d.serve()
    assert d.events("Ended") == []
    assert SetContactor(1, True) not in d.actions
    assert [a for a in d.actions if isinstance(a, SetPilotCurrent)][-1] == SetPilotCurrent(1, 0.0)
    assert d.events()[-1]["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert_schema_valid(d)


def test_max_energy_on_invalid_id_lets_that_much_through_then_suspends() -> None:
    """E05 TxCtrlr.MaxEnergyOnInvalidId: with StopTxOnInvalidId false, an id the CSMS declares invalid
    may still draw that many Wh of the transaction; then the energy stops."""
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_StopTxOnInvalidId="false", TxCtrlr_MaxEnergyOnInvalidId="500")
    d.meter(energy_wh=1000.0)
    d.pilot("B")
    d.tap("CARD1")
    d.serve(TransactionEvent={"idTokenInfo": {"status": "Invalid"}})
    d.pilot("C")
    d.serve()
    pwm = [a for a in d.actions if isinstance(a, SetPilotCurrent)]
    assert pwm[-1] == SetPilotCurrent(1, 32.0) and SetContactor(1, True) in d.actions
    d.meter(energy_wh=1400.0)
    assert [a for a in d.actions if isinstance(a, SetPilotCurrent)][-1] == SetPilotCurrent(1, 32.0)
    d.meter(energy_wh=1500.0)
    assert [a for a in d.actions if isinstance(a, SetPilotCurrent)][-1] == SetPilotCurrent(1, 0.0)
    assert d.actions.index(SetContactor(1, False)) > len(pwm)
    d.serve()
    assert d.events("Ended") == []
    assert d.events()[-1]["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert_schema_valid(d)


# -- offline (E04, E13) ----------------------------------------------------------------------------------


def test_events_generated_offline_are_flagged_kept_and_sent_in_order() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    d.disconnect()
    sent = len(d.sent)
    d.meter(energy_wh=1400)
    d.pilot("B")  # SuspendedEV
    d.tap("CARD1")  # stops locally: the card started this transaction
    d.pilot("A")
    d.pilot("B")
    d.tap("CARD2")  # OfflineTxForUnknownIdEnabled is false: refused
    d.pilot("A")
    assert len(d.sent) == sent  # nothing goes out while offline
    queued = [v for (kind, _), v in sorted(d.store.items()) if kind == "outbox"]
    assert [v["payload"]["eventType"] for v in queued] == ["Updated", "Ended"]
    d.connect()
    events = d.events()
    assert [e["eventType"] for e in events] == ["Started", "Updated", "Updated", "Ended"]
    assert [e["seqNo"] for e in events] == [0, 1, 2, 3]
    assert [e.get("offline", False) for e in events] == [False, False, True, True]  # E04.FR.01
    assert events[-1]["meterValue"][0]["sampledValue"][0]["value"] == 1400
    assert not [k for k in d.store if k[0] == "outbox"]
    assert_schema_valid(d)


def test_a_transaction_that_begins_offline_is_reported_whole_after_reconnect() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_OfflineTxForUnknownIdEnabled="true")
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("CARD9")
    d.pilot("C")
    d.pilot("A")
    assert d.events() == []
    d.connect()
    events = d.events()
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert all(e.get("offline") is True for e in events)
    assert events[0]["idToken"]["idToken"] == "CARD9"
    assert_schema_valid(d)


def test_message_attempts_retry_a_refused_transaction_event_then_drop_it() -> None:
    d = Driver201()
    d.connect()
    assert set_variable(d, "OCPPCommCtrlr", "MessageAttempts", "2", "TransactionEvent") == "Accepted"
    assert set_variable(d, "OCPPCommCtrlr", "MessageAttemptInterval", "10", "TransactionEvent") == "Accepted"
    configure(d, SampledDataCtrlr_TxUpdatedInterval="0")  # no periodic samples in the way
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(until="TransactionEvent")
    first = d.pending()
    assert first is not None and first[3]["eventType"] == "Started"
    d.answer_error("InternalError")
    assert d.pending() is None
    d.advance(9)
    assert d.pending() is None  # E13: the retry waits MessageAttemptInterval
    d.advance(2)
    retry = d.pending()
    assert retry is not None and retry[1] != first[1] and retry[3] == first[3]
    d.answer_error("InternalError")  # the second and last attempt
    d.advance(100)
    assert [c[3]["eventType"] for c in d.calls("TransactionEvent")] == ["Started", "Started"]
    assert not [k for k in d.store if k[0] == "outbox"]
    d.pilot("C")  # the next event still goes out, seqNo continuing
    d.serve()
    assert d.events()[-1]["seqNo"] == 1
    assert_schema_valid(d)


# -- kill -9 (E: power loss) -----------------------------------------------------------------------------


def test_a_restart_mid_transaction_ends_it_as_power_loss_without_repeats() -> None:
    d = Driver201()
    d.connect()
    charging(d)  # Started (0) and Updated Charging (1), both answered
    d.pilot("B")  # Updated SuspendedEV (2): sent, never answered
    unanswered = d.pending()
    assert unanswered is not None and unanswered[3]["seqNo"] == 2
    answered = {(tx_id(c[3]), c[3]["seqNo"]) for c in d.calls("TransactionEvent") if c[1] in d.answered}
    assert answered == {(tx_id(unanswered[3]), 0), (tx_id(unanswered[3]), 1)}

    again = Driver201(d.store)  # kill -9: the store as it was on disk
    again.connect()
    again.meter(energy_wh=1800)
    again.serve()
    events = again.events()
    assert {(tx_id(e), e["seqNo"]) for e in events}.isdisjoint(answered)  # nothing answered goes twice
    assert [(e["eventType"], e["seqNo"]) for e in events] == [("Updated", 2), ("Ended", 3)]
    assert events[0] == unanswered[3]  # the unanswered one, as it was
    ended = events[-1]
    assert tx_id(ended) == tx_id(unanswered[3])
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert ended["meterValue"][0]["sampledValue"][0]["value"] == 1800
    assert not [k for k in again.store if k[0] in ("outbox", "tx201")]
    assert_schema_valid(d)
    assert_schema_valid(again)


def test_a_restart_mid_transaction_without_a_meter_reading_still_ends_it() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    again = Driver201(d.store)
    again.connect()
    again.advance(11)  # the meter never answers: the power-loss wait runs out
    again.serve()
    [ended] = again.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss" and ended["seqNo"] == 2
    assert_schema_valid(again)

"""OCPP 2.0.1 block J on the wire: periodic and clock-aligned meter values, in and out of transactions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.harness import Driver201
from tests.core.test_station201_transactions import assert_schema_valid, charging, configure

UNITS = {"Energy.Active.Import.Register": "Wh", "Power.Active.Import": "W", "Current.Import": "A",
         "Voltage": "V"}
PHASES: dict[str, list[str | None]] = {"Energy.Active.Import.Register": [None], "Power.Active.Import": [None],
          "Current.Import": ["L1", "L2", "L3"], "Voltage": ["L1-N", "L2-N", "L3-N"]}


def values(event: dict[str, Any]) -> list[dict[str, Any]]:
    [meter_value] = event["meterValue"]
    sampled: list[dict[str, Any]] = meter_value["sampledValue"]
    return sampled


def triggered(d: Driver201, reason: str) -> list[dict[str, Any]]:
    return [e for e in d.events("Updated") if e["triggerReason"] == reason]


def measurands(sampled: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(v["measurand"], v.get("phase")) for v in sampled]


# -- J02: sampled data in a transaction ------------------------------------------------------------------


def test_periodic_samples_follow_tx_updated_interval_and_measurands() -> None:
    d = Driver201()
    d.connect()
    configure(d, SampledDataCtrlr_TxUpdatedInterval="30",
              SampledDataCtrlr_TxUpdatedMeasurands="Energy.Active.Import.Register,Current.Import")
    charging(d)
    d.advance(29)
    d.serve()
    assert triggered(d, "MeterValuePeriodic") == []
    d.meter(energy_wh=1250)
    d.advance(2)
    d.serve()
    [first] = triggered(d, "MeterValuePeriodic")
    sampled = values(first)
    assert measurands(sampled) == [("Energy.Active.Import.Register", None), ("Current.Import", "L1"),
                                   ("Current.Import", "L2"), ("Current.Import", "L3")]
    assert {v["context"] for v in sampled} == {"Sample.Periodic"}
    assert sampled[0]["value"] == 1250
    d.advance(30)
    d.serve()
    assert len(triggered(d, "MeterValuePeriodic")) == 2
    # Sampling stops with the transaction.
    d.tap("CARD1")
    d.pilot("A")
    d.serve()
    d.advance(300)
    d.serve()
    assert len(triggered(d, "MeterValuePeriodic")) == 2
    seqs = [e["seqNo"] for e in d.events()]
    assert seqs == list(range(len(seqs)))
    assert_schema_valid(d)


def test_tx_updated_interval_zero_sends_no_periodic_samples() -> None:
    d = Driver201()
    d.connect()
    configure(d, SampledDataCtrlr_TxUpdatedInterval="0")
    charging(d)
    d.advance(3600)
    d.serve()
    assert triggered(d, "MeterValuePeriodic") == []
    assert_schema_valid(d)


def test_sampled_values_are_numbers_with_unit_and_phase() -> None:
    d = Driver201()
    d.connect()
    configure(d, SampledDataCtrlr_TxUpdatedInterval="60", SampledDataCtrlr_TxUpdatedMeasurands=(
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"))
    charging(d)
    d.advance(61)
    d.serve()
    [event] = triggered(d, "MeterValuePeriodic")
    sampled = values(event)
    assert measurands(sampled) == [(m, p) for m, phases in PHASES.items() for p in phases]
    for v in sampled:
        # SampledValueType.value is a number on the wire (a string in 1.6); the unit in unitOfMeasure.
        assert isinstance(v["value"], int | float) and not isinstance(v["value"], bool), v
        assert v["unitOfMeasure"]["unit"] == UNITS[v["measurand"]]
    assert [v["value"] for v in sampled] == [1000, 11000, 16, 16, 16, 230, 230, 230]
    assert_schema_valid(d)


def test_started_and_ended_carry_their_configured_measurands() -> None:
    d = Driver201()
    d.connect()
    configure(d, SampledDataCtrlr_TxStartedMeasurands="Energy.Active.Import.Register,Power.Active.Import",
              SampledDataCtrlr_TxEndedMeasurands="Energy.Active.Import.Register,Voltage")
    charging(d)
    d.tap("CARD1")
    d.serve()
    started, ended = d.events("Started")[0], d.events("Ended")[0]
    assert measurands(values(started)) == [("Energy.Active.Import.Register", None),
                                           ("Power.Active.Import", None)]
    assert {v["context"] for v in values(started)} == {"Transaction.Begin"}
    assert measurands(values(ended)) == [("Energy.Active.Import.Register", None), ("Voltage", "L1-N"),
                                         ("Voltage", "L2-N"), ("Voltage", "L3-N")]
    assert {v["context"] for v in values(ended)} == {"Transaction.End"}
    assert_schema_valid(d)


# -- J01 / J02: clock-aligned data -----------------------------------------------------------------------


def test_clock_aligned_values_in_a_transaction_are_updated_events() -> None:
    d = Driver201()  # board and CSMS clock 12:00:00
    d.connect()
    configure(d, SampledDataCtrlr_TxUpdatedInterval="0", AlignedDataCtrlr_Interval="900",
              AlignedDataCtrlr_Measurands="Energy.Active.Import.Register,Power.Active.Import")
    charging(d)
    d.advance(899)
    d.serve()
    assert triggered(d, "MeterValueClock") == []
    d.advance(2)  # 12:15:00 is a quarter-hour boundary
    d.serve()
    [event] = triggered(d, "MeterValueClock")
    [meter_value] = event["meterValue"]
    assert meter_value["timestamp"] == "2026-11-24T12:15:00.000Z"
    assert measurands(meter_value["sampledValue"]) == [("Energy.Active.Import.Register", None),
                                                       ("Power.Active.Import", None)]
    assert {v["context"] for v in meter_value["sampledValue"]} == {"Sample.Clock"}
    assert d.calls("MeterValues") == []  # J02: inside a transaction only TransactionEvent
    assert_schema_valid(d)


@pytest.mark.parametrize("send_during_idle", [False, True])
def test_clock_aligned_values_while_idle_only_with_send_during_idle(send_during_idle: bool) -> None:
    d = Driver201()
    d.connect()
    configure(d, AlignedDataCtrlr_Interval="900",
              AlignedDataCtrlr_SendDuringIdle=str(send_during_idle).lower())
    d.meter()
    d.advance(901)
    d.serve()
    sent = [c[3] for c in d.calls("MeterValues")]
    if not send_during_idle:
        assert sent == []
    else:
        [mv] = sent
        assert mv["evseId"] == 1
        assert mv["meterValue"][0]["timestamp"] == "2026-11-24T12:15:00.000Z"
        [value] = mv["meterValue"][0]["sampledValue"]
        assert (value["measurand"], value["context"], value["value"]) == (
            "Energy.Active.Import.Register", "Sample.Clock", 1000)
        assert value["unitOfMeasure"] == {"unit": "Wh"}
    assert d.events() == []
    assert_schema_valid(d)


def test_clock_aligned_interval_zero_sends_nothing() -> None:
    d = Driver201()
    d.connect()
    configure(d, AlignedDataCtrlr_Interval="0", AlignedDataCtrlr_SendDuringIdle="true")
    d.meter()
    d.advance(3600)  # four quarter-hour boundaries
    d.serve()
    assert d.calls("MeterValues") == []
    assert_schema_valid(d)


# -- F06 / J01: TriggerMessage MeterValues --------------------------------------------------------------


def test_trigger_message_meter_values_uses_the_aligned_measurands() -> None:
    d = Driver201(evses=2)
    d.connect()
    configure(d, AlignedDataCtrlr_Measurands="Energy.Active.Import.Register,Current.Import")
    d.meter(1)
    d.meter(2, energy_wh=2000)
    reply = d.csms_call("TriggerMessage", {"requestedMessage": "MeterValues"})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    sent = [c[3] for c in d.calls("MeterValues")]
    assert [mv["evseId"] for mv in sent] == [1, 2]  # no EVSE named: every EVSE
    for mv in sent:
        sampled = mv["meterValue"][0]["sampledValue"]
        assert measurands(sampled) == [("Energy.Active.Import.Register", None), ("Current.Import", "L1"),
                                       ("Current.Import", "L2"), ("Current.Import", "L3")]
        assert {v["context"] for v in sampled} == {"Trigger"}
    assert [mv["meterValue"][0]["sampledValue"][0]["value"] for mv in sent] == [1000, 2000]
    one = d.csms_call("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 2}}, uid="c2")
    assert one[2] == {"status": "Accepted"}
    d.serve()
    assert [c[3]["evseId"] for c in d.calls("MeterValues")] == [1, 2, 2]
    assert_schema_valid(d)

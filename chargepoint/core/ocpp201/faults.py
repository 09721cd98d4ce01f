"""OCPP 2.0.1 hardware faults (and a failing meter) held per EVSE and reported as N07 NotifyEvent."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Log, Persist
from chargepoint.core.clock import Now
from chargepoint.core.domain import charging
from chargepoint.core.domain.evse import Evse
from chargepoint.core.rpc.endpoint import JsonObject
from hal.types import FaultCode

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201

METER_FAULT_AFTER = 3  # consecutive failed reads before the meter counts as failed

# N07 / Part 2 appendix "physical components": where each hardware fault shows in the device model
# (component, variable). ``None`` as component means the EVSE itself (or the station for EVSE 0).
FAULT_COMPONENT: dict[FaultCode, tuple[str | None, str]] = {
    FaultCode.CONNECTOR_LOCK_FAILURE: ("ConnectorPlugRetentionLock", "Problem"),
    FaultCode.EV_COMMUNICATION_ERROR: ("ControlPilot", "Problem"),
    FaultCode.GROUND_FAILURE: ("RCD", "Tripped"),
    FaultCode.HIGH_TEMPERATURE: ("TemperatureSensor", "Problem"),
    FaultCode.INTERNAL_ERROR: ("Controller", "Problem"),
    FaultCode.OVER_CURRENT_FAILURE: ("OverCurrentProtection", "Operated"),
    FaultCode.OVER_VOLTAGE: ("ElectricalFeed", "Problem"),
    FaultCode.UNDER_VOLTAGE: ("ElectricalFeed", "Problem"),
    FaultCode.POWER_METER_FAILURE: ("PowerMeter", "Problem"),
    FaultCode.POWER_SWITCH_FAILURE: ("PowerContactor", "Problem"),
    FaultCode.READER_FAILURE: ("TokenReader", "Problem"),
}


def meter_read_failed(st: Station201, evse_id: int, reason: str, now: Now) -> list[Action]:
    evse = st.evses.get(evse_id)
    if evse is None:
        return []
    evse.meter_failures += 1
    if evse.meter_failures == METER_FAULT_AFTER:
        return on_fault(st, evse_id, FaultCode.POWER_METER_FAILURE, f"meter: {reason}", now)
    return []


def meter_read_ok(st: Station201, evse: Evse, now: Now) -> list[Action]:
    """A sample arrived: a meter that counted as failed has recovered."""
    actions: list[Action] = []
    if evse.meter_failures >= METER_FAULT_AFTER:
        actions += on_fault_cleared(st, evse.evse_id, FaultCode.POWER_METER_FAILURE, now)
    evse.meter_failures = 0
    return actions


def on_fault(st: Station201, evse_id: int, code: FaultCode, info: str, now: Now) -> list[Action]:
    if evse_id == 0:
        if code in st.station_faults:
            return []
        st.station_faults[code] = info
        return [Log(logging.WARNING, f"station fault {code.value}: {info}"),
                *notify_fault(st, 0, code, info, True, now)]
    evse = st.evses.get(evse_id)
    if evse is None or code in evse.faults:
        return []
    evse.faults[code] = info
    return [
        Log(logging.WARNING, f"EVSE {evse_id} fault {code.value}: {info}"),
        *charging.apply_energy(st, evse),
        *notify_fault(st, evse_id, code, info, True, now),
    ]


def on_fault_cleared(st: Station201, evse_id: int, code: FaultCode, now: Now) -> list[Action]:
    if evse_id == 0:
        if st.station_faults.pop(code, None) is None:
            return []
        return [Log(logging.INFO, f"station fault {code.value} cleared"),
                *notify_fault(st, 0, code, "", False, now)]
    evse = st.evses.get(evse_id)
    if evse is None or evse.faults.pop(code, None) is None:
        return []
    return [Log(logging.INFO, f"EVSE {evse_id} fault {code.value} cleared"),
            *charging.apply_energy(st, evse),
            *notify_fault(st, evse_id, code, "", False, now)]


def notify_fault(st: Station201, evse_id: int, code: FaultCode, info: str, active: bool,
                 now: Now) -> list[Action]:
    """N07.FR: a hardwired problem reported as an Alerting event on its component; ``cleared`` ends it."""
    name, variable = FAULT_COMPONENT.get(code, (None, "Problem"))
    component: JsonObject = {"name": name or ("EVSE" if evse_id else "ChargingStation")}
    if evse_id:
        component["evse"] = {"id": evse_id}
    st.event_seq += 1
    event: JsonObject = {
        "eventId": st.event_seq,
        "timestamp": st.timestamp(now),
        "trigger": "Alerting",
        "actualValue": "true" if active else "false",
        "component": component,
        "variable": {"name": variable},
        "eventNotificationType": "HardWiredNotification",
        "techCode": code.value,
    }
    if info:
        event["techInfo"] = info[:500]
    if not active:
        event["cleared"] = True
    payload: JsonObject = {"generatedAt": st.timestamp(now), "seqNo": 0, "eventData": [event]}
    return [Persist("meta", "event_seq", st.event_seq), *st.enqueue("NotifyEvent", payload, now)]

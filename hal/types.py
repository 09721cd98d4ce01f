"""Value types that cross the HAL boundary: pilot states, meter samples, fault codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PilotState(StrEnum):
    """IEC 61851-1 control-pilot states as the EVSE controller reports them."""

    A = "A"  # 12 V: no vehicle
    B = "B"  # 9 V: vehicle connected, not asking for power
    C = "C"  # 6 V: vehicle asks for power
    D = "D"  # 3 V: vehicle asks for power, ventilation required
    E = "E"  # 0 V: short / no power on the pilot
    F = "F"  # -12 V: EVSE error (or not available)

    @property
    def connected(self) -> bool:
        return self in (PilotState.B, PilotState.C, PilotState.D)

    @property
    def wants_power(self) -> bool:
        return self in (PilotState.C, PilotState.D)


class FaultCode(StrEnum):
    """Version-neutral hardware fault codes; the OCPP adapters map them to error codes / components."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    OVER_VOLTAGE = "OverVoltage"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    WEAK_SIGNAL = "WeakSignal"


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One reading of an energy meter. ``None`` means the meter does not provide that quantity.

    Per-phase tuples are ordered L1, L2, L3 (length 1 for a single-phase meter).
    """

    energy_wh: float
    power_w: float | None = None
    current_a: tuple[float, ...] | None = None
    voltage_v: tuple[float, ...] | None = None
    frequency_hz: float | None = None
    power_factor: float | None = None
    soc_percent: float | None = None
    energy_export_wh: float | None = None

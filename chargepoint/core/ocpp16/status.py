"""OCPP 1.6 status tables: EVSE phase -> ChargePointStatus, fault code -> ChargePointErrorCode.

OCPP 1.6 §4.9 (StatusNotification) and §7.6/§7.7. The phase itself is derived by the version-neutral table in
``chargepoint.core.domain.evse``; this file only names it in 1.6 terms. Connector 0 (the whole station) is
Available, Unavailable or Faulted only (§4.9: "connectorId 0 ... only a subset of statuses").
"""

from __future__ import annotations

from chargepoint.core.domain.evse import Evse, EvsePhase
from hal.types import FaultCode

STATUS: dict[EvsePhase, str] = {
    EvsePhase.AVAILABLE: "Available",
    EvsePhase.PREPARING: "Preparing",
    EvsePhase.CHARGING: "Charging",
    EvsePhase.SUSPENDED_EV: "SuspendedEV",
    EvsePhase.SUSPENDED_EVSE: "SuspendedEVSE",
    EvsePhase.FINISHING: "Finishing",
    EvsePhase.RESERVED: "Reserved",
    EvsePhase.UNAVAILABLE: "Unavailable",
    EvsePhase.FAULTED: "Faulted",
}

# Every hal FaultCode is a ChargePointErrorCode value of 1.6 §7.6 by design; the table keeps it explicit.
ERROR_CODE: dict[FaultCode, str] = {code: code.value for code in FaultCode}


def connector_status(evse: Evse) -> tuple[str, str, str | None]:
    """(status, errorCode, info) of one connector."""
    status = STATUS[evse.phase()]
    if evse.faults:
        code, info = next(iter(evse.faults.items()))
        return status, ERROR_CODE[code], (info[:50] or None)
    return status, "NoError", None


def station_status(evses: list[Evse], station_faults: dict[FaultCode, str], operative: bool) -> tuple[
    str, str, str | None
]:
    """(status, errorCode, info) of connector 0."""
    if station_faults:
        code, info = next(iter(station_faults.items()))
        return "Faulted", ERROR_CODE[code], (info[:50] or None)
    if not operative:
        return "Unavailable", "NoError", None
    return "Available", "NoError", None

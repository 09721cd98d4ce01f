"""OCPP 2.0.1 device-model variables whose value is the station's live state rather than a stored setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.core.ocpp201 import security, status
from chargepoint.core.ocpp201.variables import VariableRef

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201


def value(st: Station201, ref: VariableRef) -> str | None:
    """The Actual value of ``ref`` now; ``None`` when it is not a live variable (or not known)."""
    component = ref.component
    evse = st.evses.get(component.evse) if component.evse is not None else None
    if ref.name == "DateTime":
        return st.last_timestamp
    if ref.name == "AvailabilityState":
        if component.name == "ChargingStation":
            return "Available" if st.station_operative else "Unavailable"
        return status.connector_status(st, evse) if evse is not None else None
    if ref.name == "Problem":
        if component.name == "ChargingStation":
            return "true" if st.station_faults else "false"
        return ("true" if evse.faults else "false") if evse is not None else None
    if ref.name == "Power" and evse is not None:
        sample = evse.last_sample
        return f"{sample.power_w:g}" if sample is not None and sample.power_w is not None else "0"
    if ref.name == "Entries" and component.name == "LocalAuthListCtrlr":
        return str(len(st.local_list))
    if ref.name == "Storage" and component.name == "AuthCacheCtrlr":
        return str(len(st.cache) * 64)
    if ref.name == "CertificateEntries":
        count = security.certificate_entries(st)
        return None if count is None else str(count)
    if ref.name == "Entries" and component.name == "SmartChargingCtrlr":
        return str(len(st.smart.store.profiles))
    if ref.name == "Entries":
        return "0"
    return None

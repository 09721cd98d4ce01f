"""OCPP 2.0.1 G01 StatusNotification: each connector's status, reported when it changes or on reconnecting."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Log
from chargepoint.core.clock import Now
from chargepoint.core.domain.evse import Evse, EvsePhase
from chargepoint.core.rpc.endpoint import JsonObject, Outgoing

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201

# G01: the connector status from the domain phase (ConnectorStatusEnumType).
CONNECTOR_STATUS = {
    EvsePhase.AVAILABLE: "Available",
    EvsePhase.PREPARING: "Occupied",
    EvsePhase.CHARGING: "Occupied",
    EvsePhase.SUSPENDED_EV: "Occupied",
    EvsePhase.SUSPENDED_EVSE: "Occupied",
    EvsePhase.FINISHING: "Occupied",
    EvsePhase.RESERVED: "Reserved",
    EvsePhase.UNAVAILABLE: "Unavailable",
    EvsePhase.FAULTED: "Faulted",
}


def connector_status(st: Station201, evse: Evse) -> str:
    if not st.station_operative and evse.transaction is None and not evse.faults:
        return "Unavailable"
    phase = evse.phase()
    if phase is EvsePhase.PREPARING and evse.reservation is not None and evse.session is None:
        return "Reserved"  # G01.FR.09: an EV plugged in without the holder's token keeps it Reserved
    if phase is EvsePhase.AVAILABLE and st.station_reservation is not None:
        free = [e for e in st.evses.values() if e.phase() is EvsePhase.AVAILABLE]
        if len(free) <= 1:
            return "Reserved"  # H01: a reservation for any EVSE holds the last free one
    return CONNECTOR_STATUS[phase]


def sync_status(st: Station201, now: Now) -> list[Action]:
    """G01.FR.01: a StatusNotification for every connector whose status changed. Not while offline:
    what changed is reported after the reconnect (B04.FR.01/02), nothing stale is queued."""
    if st.boot_status != "Accepted" or not st.endpoint.connected:
        return []
    actions: list[Action] = []
    for evse in st.evses.values():
        status = connector_status(st, evse)
        if st.reported.get(evse.evse_id) != status:
            actions += report_status(st, evse, status, now)
    return actions


def report_status(st: Station201, evse: Evse, status: str, now: Now, triggered: bool = False) -> list[Action]:
    st.reported[evse.evse_id] = status
    payload: JsonObject = {
        "timestamp": st.timestamp(now),
        "connectorStatus": status,
        "evseId": evse.evse_id,
        "connectorId": 1,
    }
    meta: JsonObject = {"triggered": True} if triggered else {}
    return [Log(logging.INFO, f"EVSE {evse.evse_id} connector 1: {status}"),
            *st.enqueue("StatusNotification", payload, now, meta=meta)]


def reconnected(st: Station201, now: Now) -> None:
    """Called on a reconnect while registered (``offline_since``: when the connection dropped)."""
    # B04 / OCPPCommCtrlr.OfflineThreshold: after a long outage every status is sent again;
    # after a short one only what changed (we keep what we reported).
    threshold = st.settings.int("OCPPCommCtrlr.OfflineThreshold")
    if st.offline_since is None or now.monotonic - st.offline_since >= threshold:
        st.reported.clear()


def dropped(st: Station201, msg: Outgoing) -> None:
    """A StatusNotification lost with the connection (no CALLERROR)."""
    # B04.FR.02: a status dropped with the connection is not reported: send it after reconnecting.
    evse_id = msg.payload.get("evseId")
    if isinstance(evse_id, int) and st.reported.get(evse_id) == msg.payload.get("connectorStatus"):
        del st.reported[evse_id]

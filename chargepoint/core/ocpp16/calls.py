"""Incoming OCPP 1.6 calls from the CSMS: one handler per action, dispatched through a table.

Core profile (§5.1-§5.18 of OCPP 1.6), LocalAuthListManagement (§5.10, §5.15), Reservation (§5.3, §5.13) and
RemoteTrigger (§5.17). Payloads arrive schema-valid. A handler returns the answer payload, or ``None`` when
the answer follows later (UnlockConnector waits for the lock). Actions with effects go through
``st.side(...)`` so they run after the answer has been sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from chargepoint.core.actions import (
    Action,
    Log,
    Persist,
    Reboot,
    RebootKind,
    Reconnect,
    SetEvseEnabled,
    SetLock,
)
from chargepoint.core.clock import Now, parse_timestamp
from chargepoint.core.domain import charging
from chargepoint.core.domain.auth import IdInfo, ListUpdateStatus
from chargepoint.core.domain.evse import Evse, Reservation
from chargepoint.core.domain.settings import SetResult
from chargepoint.core.ocpp16 import firmware, security, smart
from chargepoint.core.ocpp16 import transactions as tx
from chargepoint.core.ocpp16.config_keys import get_configuration
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject
from chargepoint.core.rpc.framing import Call

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.station import Station16

Handler = Callable[["Station16", JsonObject, Now, str], "JsonObject | None"]

REBOOT_GRACE_S = 5.0  # time for the StopTransactions of a Reset to reach the CSMS before we restart
UNLOCK_WAIT_S = 5.0

# Actions of OCPP 1.6 profiles this station does not build yet: known, so NotSupported (OCPP-J 1.6
# §4.2.3 "Requested Action is recognized but not supported by the receiver").
NOT_SUPPORTED: frozenset[str] = frozenset()  # every 1.6 profile and the security extension is built


def dispatch(st: Station16, call: Call, now: Now) -> JsonObject | None:
    handler = HANDLERS.get(call.action)
    if handler is None:
        if call.action in NOT_SUPPORTED:
            raise CallRefused("NotSupported", f"{call.action} is not supported by this charge point")
        raise CallRefused("NotImplemented", f"unknown action {call.action}")
    return handler(st, call.payload, now, call.unique_id)


def _evse_or_none(st: Station16, payload: JsonObject, key: str = "connectorId") -> Evse | None:
    value = payload.get(key)
    return st.evses.get(value) if isinstance(value, int) else None


# -- Core --------------------------------------------------------------------------------------------


def change_availability(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.2: Accepted, Rejected, or Scheduled while a transaction runs (applied when it ends)."""
    connector = p.get("connectorId")
    operative = p.get("type") == "Operative"
    if connector == 0:
        targets = list(st.evses.values())
        st.station_operative = operative
        st.side([Persist("availability", "0", operative)])
    else:
        evse = _evse_or_none(st, p)
        if evse is None:
            return {"status": "Rejected"}
        targets = [evse]
    scheduled = False
    for evse in targets:
        if evse.transaction is not None and evse.operative != operative:
            evse.pending_operative = operative
            scheduled = True
        else:
            st.side(set_operative(st, evse, operative))
    return {"status": "Scheduled" if scheduled else "Accepted"}


def set_operative(st: Station16, evse: Evse, operative: bool) -> list[Action]:
    """Apply an availability change; persisted, since it survives a reboot (§5.2)."""
    evse.pending_operative = None
    evse.operative = operative
    return [
        Persist("availability", str(evse.evse_id), operative),
        SetEvseEnabled(evse.evse_id, operative and st.station_operative),
        Log(logging.INFO, f"EVSE {evse.evse_id} {'operative' if operative else 'inoperative'}"),
    ]


def change_configuration(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.3: Accepted / Rejected / RebootRequired / NotSupported; values validated and persisted."""
    key, value = p.get("key"), p.get("value")
    assert isinstance(key, str) and isinstance(value, str)
    if key == "SecurityProfile" and not security.may_change_profile(st, value):
        return {"status": "Rejected"}  # security whitepaper §2.4: never a lower profile
    old_profile = st.settings.int("SecurityProfile")
    result, persist = st.settings.set_from_wire(key, value)
    st.side(persist)
    if result in (SetResult.ACCEPTED, SetResult.REBOOT_REQUIRED):
        _apply_setting(st, key, now)
        if key == "SecurityProfile":
            st.side(security.try_profile(st, old_profile, now))
    return {"status": result.value}


def _apply_setting(st: Station16, key: str, now: Now) -> None:
    st.side(security.on_setting_changed(st, key, now))
    if key == "WebSocketPingInterval":
        st.side([st.connection_settings()])  # used from the next connection on
    elif key == "AuthorizationKey":
        # Security whitepaper §2.3: the new key is used at once: reconnect with it.
        st.side([st.connection_settings(), Reconnect("AuthorizationKey changed")])
    elif key == "HeartbeatInterval":
        st.arm_heartbeat(now)
    elif key == "MeterValueSampleInterval":
        for evse in st.evses.values():
            charging.arm_sampling(st, evse, now)
    elif key == "ClockAlignedDataInterval":
        charging.arm_aligned(st, now)


def get_configuration_(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    keys = p.get("key")
    wanted = [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else None
    known, unknown = get_configuration(st.settings, wanted or None)
    answer: JsonObject = {"configurationKey": known}
    if unknown:
        answer["unknownKey"] = unknown
    return answer


def clear_cache(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.4: clear the Authorization Cache."""
    st.side(st.cache.clear())
    return {"status": "Accepted"}


def data_transfer(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.6: no vendor extensions are built, so every vendorId is unknown."""
    return {"status": "UnknownVendorId"}


def remote_start(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.11: accept if a connector can take a session; authorise first if AuthorizeRemoteTxRequests."""
    token = p.get("idTag")
    assert isinstance(token, str)
    connector = p.get("connectorId")
    if isinstance(connector, int):
        evse = st.evses.get(connector)
        if evse is None or not charging.usable_for(st, evse, token, None):
            return {"status": "Rejected"}
        target = connector
    else:
        chosen = charging.choose_evse(st, token, None)
        if chosen is None:
            return {"status": "Rejected"}
        target = chosen
    # §5.11: a charging profile in the request is a TxProfile for this transaction; if it cannot be
    # installed, nothing starts.
    if "chargingProfile" in p and not smart.remote_start_profile(st, p["chargingProfile"], target):
        return {"status": "Rejected"}
    if st.settings.bool("AuthorizeRemoteTxRequests"):
        st.side(charging.authorize(st, token, target, now, remote=True))
    else:
        st.side(charging.authorized(st, token, None, target, now, remote_start=True))
    return {"status": "Accepted"}


def remote_stop(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.12: stop the transaction with that id (reason Remote)."""
    wanted = p.get("transactionId")
    for evse in st.evses.values():
        session = evse.transaction
        if session is not None and st.tx_ids.get(session.local_id) == wanted:
            st.side(tx.stop_tx(st, evse, "Remote", now))
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def reset(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.14: stop every transaction (reason SoftReset / HardReset), then restart."""
    kind = RebootKind.HARD if p.get("type") == "Hard" else RebootKind.SOFT
    reason = "HardReset" if kind is RebootKind.HARD else "SoftReset"
    st.side(security.on_reset(st, kind.value, now))
    for evse in st.evses.values():
        st.side(tx.stop_tx(st, evse, reason, now))
    st.reboot_pending = kind.value
    st.timers.set("reboot", now.monotonic + REBOOT_GRACE_S)
    st.side([Log(logging.WARNING, f"{kind.value} reset requested by the CSMS")])
    return {"status": "Accepted"}


def reboot_now(st: Station16) -> list[Action]:
    kind = RebootKind(st.reboot_pending or "Soft")
    return [Log(logging.WARNING, f"restarting ({kind.value} reset)"), Reboot(kind)]


def unlock_connector(st: Station16, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """§5.18: stop a running transaction (reason UnlockCommand), then unlock; answered once the lock
    reports back."""
    evse = _evse_or_none(st, p)
    if evse is None:
        return {"status": "NotSupported"}
    if not charging.has_lock(st, evse.evse_id):
        return {"status": "NotSupported"}
    st.side(tx.stop_tx(st, evse, "UnlockCommand", now))
    st.unlock_waiting[evse.evse_id] = unique_id
    st.timers.set(f"unlock.{evse.evse_id}", now.monotonic + UNLOCK_WAIT_S)
    st.side([SetLock(evse.evse_id, False)])
    return None


def on_lock_result(st: Station16, evse_id: int, locked: bool, ok: bool) -> list[Action]:
    unique_id = st.unlock_waiting.pop(evse_id, None)
    st.timers.cancel(f"unlock.{evse_id}")
    if unique_id is None or locked:
        return []
    status = "Unlocked" if ok else "UnlockFailed"
    return st.endpoint.reply(unique_id, "UnlockConnector", {"status": status})


# -- LocalAuthListManagement -------------------------------------------------------------------------


def get_local_list_version(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.10: -1 when the list is disabled; 0 when empty."""
    if not st.settings.bool("LocalAuthListEnabled"):
        return {"listVersion": -1}
    return {"listVersion": st.local_list.version if len(st.local_list) else 0}


def send_local_list(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.15: full or differential update, all or nothing."""
    if not st.settings.bool("LocalAuthListEnabled"):
        return {"status": "NotSupported"}
    version, update = p.get("listVersion"), p.get("updateType")
    items = p.get("localAuthorizationList")
    entries: list[tuple[str, IdInfo | None]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("idTag"), str):
            return {"status": "Failed"}
        info = tx.id_info(item.get("idTagInfo"))
        entries.append((str(item["idTag"]), info))
    if len(entries) > st.settings.int("SendLocalListMaxLength"):
        return {"status": "Failed"}
    status, actions = st.local_list.apply(
        version if isinstance(version, int) else 0,
        update == "Full",
        entries,
        st.settings.int("LocalAuthListMaxLength"),
    )
    st.side(actions)
    return {"status": status.value if status is not ListUpdateStatus.NOT_SUPPORTED else "NotSupported"}


# -- Reservation -------------------------------------------------------------------------------------


def reserve_now(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.13: Accepted / Faulted / Occupied / Rejected / Unavailable; a reservation id that exists is
    replaced; connector 0 only with ReserveConnectorZeroSupported."""
    connector, rid, token = p.get("connectorId"), p.get("reservationId"), p.get("idTag")
    expiry_text, parent = p.get("expiryDate"), p.get("parentIdTag")
    assert isinstance(rid, int) and isinstance(token, str) and isinstance(expiry_text, str)
    expiry = parse_timestamp(expiry_text)
    if expiry is None:
        raise CallRefused("PropertyConstraintViolation", "expiryDate is not a date-time")
    reservation = Reservation(rid, token, parent if isinstance(parent, str) else None, expiry)
    _drop_reservation(st, rid)
    wait = max(0.0, (expiry - st.time(now)).total_seconds())
    if connector == 0:
        if not st.settings.bool("ReserveConnectorZeroSupported"):
            return {"status": "Rejected"}
        if not any(not e.faults and e.operative and e.session is None for e in st.evses.values()):
            return {"status": "Occupied"}
        st.station_reservation = reservation
        st.timers.set("reservation.0", now.monotonic + wait)
        return {"status": "Accepted"}
    evse = _evse_or_none(st, p)
    if evse is None:
        return {"status": "Rejected"}
    if evse.faults:
        return {"status": "Faulted"}
    if not evse.operative or not st.station_operative:
        return {"status": "Unavailable"}
    if evse.session is not None or evse.plugged or evse.reservation is not None:
        return {"status": "Occupied"}
    evse.reservation = reservation
    st.timers.set(f"reservation.{evse.evse_id}", now.monotonic + wait)
    st.side([Log(logging.INFO, f"EVSE {evse.evse_id} reserved ({rid}) until {expiry_text}")])
    return {"status": "Accepted"}


def _drop_reservation(st: Station16, rid: int) -> bool:
    if st.station_reservation is not None and st.station_reservation.reservation_id == rid:
        st.station_reservation = None
        st.timers.cancel("reservation.0")
        return True
    for evse in st.evses.values():
        if evse.reservation is not None and evse.reservation.reservation_id == rid:
            evse.reservation = None
            st.timers.cancel(f"reservation.{evse.evse_id}")
            return True
    return False


def cancel_reservation(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.3: Accepted if the reservation exists, else Rejected."""
    rid = p.get("reservationId")
    found = isinstance(rid, int) and _drop_reservation(st, rid)
    return {"status": "Accepted" if found else "Rejected"}


def expire_reservation(st: Station16, connector: int) -> list[Action]:
    if connector == 0:
        st.station_reservation = None
    elif connector in st.evses:
        st.evses[connector].reservation = None
    return [Log(logging.INFO, f"reservation on connector {connector} expired")]


# -- RemoteTrigger -----------------------------------------------------------------------------------


def trigger_message(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.17: Accepted, then send the requested message; Rejected for a connector that does not
    exist; NotImplemented for a message we cannot send."""
    what, connector = p.get("requestedMessage"), p.get("connectorId")
    if isinstance(connector, int) and connector != 0 and connector not in st.evses:
        return {"status": "Rejected"}
    evses = [st.evses[connector]] if isinstance(connector, int) and connector in st.evses else list(
        st.evses.values()
    )
    for module in (firmware, security):
        own = module.trigger(st, str(what), now)
        if own is not None:
            st.side(own)
            return {"status": "Accepted"}
    if what == "BootNotification":
        st.side(st.send_boot(now, triggered=True))
    elif what == "Heartbeat":
        st.side(st.enqueue("Heartbeat", {}, now, meta={"triggered": True}))
    elif what == "StatusNotification":
        wanted = {connector} if isinstance(connector, int) else None
        for cid, current in st.statuses():
            if wanted is None or cid in wanted:
                st.side(st.report_status(cid, current, now, triggered=True))
    elif what == "MeterValues":
        for evse in evses:
            st.side(tx.meter_values(st, evse, "MeterValuesSampledData", "Trigger", now,
                                    durable_if_tx=False, triggered=True))
    elif what == "DiagnosticsStatusNotification":
        st.side(st.enqueue("DiagnosticsStatusNotification", {"status": "Idle"}, now,
                           meta={"triggered": True}))
    elif what == "FirmwareStatusNotification":
        st.side(st.enqueue("FirmwareStatusNotification", {"status": "Idle"}, now,
                           meta={"triggered": True}))
    else:
        return {"status": "NotImplemented"}
    return {"status": "Accepted"}


HANDLERS: dict[str, Handler] = {
    "ChangeAvailability": change_availability,
    "ChangeConfiguration": change_configuration,
    "GetConfiguration": get_configuration_,
    "ClearCache": clear_cache,
    "DataTransfer": data_transfer,
    "RemoteStartTransaction": remote_start,
    "RemoteStopTransaction": remote_stop,
    "Reset": reset,
    "UnlockConnector": unlock_connector,
    "GetLocalListVersion": get_local_list_version,
    "SendLocalList": send_local_list,
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
    "TriggerMessage": trigger_message,
    "SetChargingProfile": smart.set_charging_profile,
    "ClearChargingProfile": smart.clear_charging_profile,
    "GetCompositeSchedule": smart.get_composite_schedule,
}
# Issue 7's messages live in their own modules; their handlers join the table here.
HANDLERS.update(security.HANDLERS)
HANDLERS.update(firmware.HANDLERS)

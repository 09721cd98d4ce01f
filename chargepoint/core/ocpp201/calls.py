"""Incoming OCPP 2.0.1 calls from the CSMS: one handler per action, dispatched through a table.

Blocks B (device model, reports, reset), C (ClearCache), D (local list), F (remote control, TriggerMessage),
G (ChangeAvailability), H (reservations) and P (DataTransfer). Payloads arrive schema-valid. A handler
returns the answer payload, or ``None`` when the answer follows later (UnlockConnector waits for the lock).
Effects go through ``st.side(...)`` so they run after the answer has been sent.
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
from chargepoint.core.ocpp201 import firmware, security, smart
from chargepoint.core.ocpp201 import transactions as tx
from chargepoint.core.ocpp201.device_model import paginate
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject
from chargepoint.core.rpc.framing import Call

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201

Handler = Callable[["Station201", JsonObject, Now, str], "JsonObject | None"]

REBOOT_GRACE_S = 5.0  # time for the Ended TransactionEvents of a reset to reach the CSMS
UNLOCK_WAIT_S = 5.0

# Actions of the 2.0.1 specification this station does not build (smart charging, firmware, security,
# monitoring, display messages, ISO 15118): known, so NotSupported (OCPP 2.0.1 part 4 §4.3).
NOT_SUPPORTED = frozenset({
    "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation",
    "Get15118EVCertificate", "GetCertificateStatus", "GetDisplayMessages", "GetMonitoringReport",
    "PublishFirmware", "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel",
    "SetVariableMonitoring", "UnpublishFirmware",
})


def dispatch(st: Station201, call: Call, now: Now) -> JsonObject | None:
    handler = HANDLERS.get(call.action)
    if handler is None:
        if call.action in NOT_SUPPORTED:
            raise CallRefused("NotSupported", f"{call.action} is not supported by this charging station")
        raise CallRefused("NotImplemented", f"unknown action {call.action}")
    return handler(st, call.payload, now, call.unique_id)


def _evse(st: Station201, p: JsonObject) -> Evse | None:
    value = p.get("evseId")
    if isinstance(value, int):
        return st.evses.get(value)
    nested = p.get("evse")
    if isinstance(nested, dict) and isinstance(nested.get("id"), int):
        return st.evses.get(int(nested["id"]))
    return None


def _too_many(st: Station201, items: object, limit_setting: str) -> None:
    """B05.FR.11 / B06.FR.16: more items than ItemsPerMessage is an OccurrenceConstraintViolation."""
    if isinstance(items, list) and len(items) > st.settings.int(limit_setting):
        limit = st.settings.int(limit_setting)
        raise CallRefused("OccurrenceConstraintViolation", f"more than {limit} items")


# -- B: provisioning -----------------------------------------------------------------------------------


def get_variables(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B06: one result per requested variable."""
    items = p.get("getVariableData")
    _too_many(st, items, "DeviceDataCtrlr.ItemsPerMessage.GetVariables")
    st.last_timestamp = st.timestamp(now)
    return {"getVariableResult": st.model.get_variables(items if isinstance(items, list) else [])}


def set_variables(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B05: each item on its own; accepted values are persisted and take effect."""
    items = p.get("setVariableData")
    _too_many(st, items, "DeviceDataCtrlr.ItemsPerMessage.SetVariables")
    results, persist = st.model.set_variables(items if isinstance(items, list) else [])
    st.side(persist)
    for name in {action.key for action in persist}:
        _apply_setting(st, name, now)
    return {"setVariableResult": results}


def _apply_setting(st: Station201, name: str, now: Now) -> None:
    st.side(security.on_setting_changed(st, name, now))
    if name == "WebSocketPingInterval" or name.startswith("OCPPCommCtrlr.RetryBackOff"):
        st.side([st.connection_settings()])
    elif name == "AuthorizationKey":
        # A01.FR.09 (BasicAuthPassword): reconnect with the new password at once.
        st.side([st.connection_settings(), Reconnect("BasicAuthPassword changed")])
    elif name == "HeartbeatInterval":
        st.arm_heartbeat(now)
    elif name == "MeterValueSampleInterval":
        for evse in st.evses.values():
            charging.arm_sampling(st, evse, now)
    elif name == "ClockAlignedDataInterval":
        charging.arm_aligned(st, now)


def _send_report(st: Station201, request_id: int, data: list[JsonObject], now: Now) -> None:
    """B07.FR.04 / B08: NotifyReport in parts of ItemsPerMessage, seqNo from 0, tbc on all but the last."""
    st.last_timestamp = st.timestamp(now)
    parts = paginate(data, st.settings.int("DeviceDataCtrlr.ItemsPerMessage.GetReport"))
    generated = st.timestamp(now)
    for seq, part in enumerate(parts):
        payload: JsonObject = {"requestId": request_id, "generatedAt": generated, "seqNo": seq,
                               "tbc": seq < len(parts) - 1, "reportData": part}
        # While Pending, a report the CSMS asked for may go out (B02.FR.03).
        st.side(st.enqueue("NotifyReport", payload, now, meta={"triggered": True}))


def get_base_report(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B07: Accepted and the report follows; NotSupported for an unknown base."""
    request_id, base = p.get("requestId"), p.get("reportBase")
    assert isinstance(request_id, int) and isinstance(base, str)
    st.last_timestamp = st.timestamp(now)
    data = st.model.base_report(base)
    if data is None:
        return {"status": "NotSupported"}
    if not data:
        return {"status": "EmptyResultSet"}
    _send_report(st, request_id, data, now)
    return {"status": "Accepted"}


def get_report(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B08: the variables matching the criteria and component/variable filters; EmptyResultSet if none."""
    request_id = p.get("requestId")
    assert isinstance(request_id, int)
    criteria = p.get("componentCriteria")
    selectors = p.get("componentVariable")
    _too_many(st, selectors, "DeviceDataCtrlr.ItemsPerMessage.GetReport")
    st.last_timestamp = st.timestamp(now)
    data = st.model.report(
        [c for c in criteria if isinstance(c, str)] if isinstance(criteria, list) else [],
        [s for s in selectors if isinstance(s, dict)] if isinstance(selectors, list) else [],
    )
    if not data:
        return {"status": "EmptyResultSet"}
    _send_report(st, request_id, data, now)
    return {"status": "Accepted"}


def set_network_profile(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B09: store a connection profile in a slot; it is used once NetworkConfigurationPriority names it
    (a reboot-required change). Refused: another OCPP version or transport, a lower security profile
    than the one in force (A: never downgrade), a URL that does not fit the profile, the slot in use."""
    slot, data = p.get("configurationSlot"), p.get("connectionData")
    assert isinstance(slot, int) and isinstance(data, dict)
    url = str(data.get("ocppCsmsUrl", ""))
    level = data.get("securityProfile")
    current = st.settings.int("SecurityProfile")
    ok = (
        str(slot) in ("1", "2", "3")
        and str(slot) != st.slot()
        and data.get("ocppVersion") == "OCPP20"
        and data.get("ocppTransport") == "JSON"
        and isinstance(level, int) and current <= level <= 3
        and url.startswith("wss://" if isinstance(level, int) and level >= 2 else ("ws://", "wss://"))
    )
    if not ok or not isinstance(level, int):
        return {"status": "Rejected"}
    st.network_profiles[str(slot)] = data
    st.side([Persist("network_profile", str(slot), data),
             Log(logging.INFO, f"network profile {slot} stored (security profile {level})")])
    st.side(security.on_network_profile_stored(st, slot, level, now))
    return {"status": "Accepted"}


def reset(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """B11 / B12: Immediate stops the transactions (ImmediateReset) and restarts; OnIdle waits for them
    (Scheduled). With an evseId only that EVSE is reset."""
    kind = p.get("type")
    target = p.get("evseId")
    st.side(security.on_reset(st, str(kind), now))
    if isinstance(target, int):
        evse = st.evses.get(target)
        if evse is None:
            return {"status": "Rejected"}
        if kind == "OnIdle" and evse.evse_id in st.txs:
            st.reset_pending = ("OnIdle", evse.evse_id)
            return {"status": "Scheduled"}
        st.side(_reset_evse(st, evse, now))
        return {"status": "Accepted"}
    if kind == "OnIdle" and st.txs:
        st.reset_pending = ("OnIdle", None)
        st.side([Log(logging.WARNING, "reset requested by the CSMS: waiting for the transactions to end")])
        return {"status": "Scheduled"}
    st.side(_reset_station(st, now))
    return {"status": "Accepted"}


def _reset_station(st: Station201, now: Now) -> list[Action]:
    actions: list[Action] = [Log(logging.WARNING, "reset requested by the CSMS"),
                             Persist("meta", "boot_reason", "RemoteReset")]  # B11.FR: the next boot's reason
    for evse in st.evses.values():
        actions += st.stop_tx(evse, "ImmediateReset", now)
        tx_ = st.txs.get(evse.evse_id)
        if tx_ is not None:  # begun by the cable, not yet authorised
            actions += tx.end(st, evse, tx_, "ImmediateReset", "ResetCommand", now)
    st.timers.set("reboot", now.monotonic + REBOOT_GRACE_S)
    return actions


def _reset_evse(st: Station201, evse: Evse, now: Now) -> list[Action]:
    """B11.FR.08: an EVSE reset ends its transaction and restarts its controller (disable, enable)."""
    actions = st.stop_tx(evse, "ImmediateReset", now)
    tx_ = st.txs.get(evse.evse_id)
    if tx_ is not None:
        actions += tx.end(st, evse, tx_, "ImmediateReset", "ResetCommand", now)
    on = evse.operative and st.station_operative
    return [*actions, Log(logging.WARNING, f"EVSE {evse.evse_id} reset"), SetEvseEnabled(evse.evse_id, False),
            SetEvseEnabled(evse.evse_id, on)]


def reset_when_idle(st: Station201, now: Now) -> list[Action]:
    """B12: an OnIdle reset happens once the transactions it waited for have ended."""
    pending = st.reset_pending
    if pending is None:
        return []
    _, evse_id = pending
    if evse_id is None and not st.txs:
        st.reset_pending = None
        return _reset_station(st, now)
    if evse_id is not None and evse_id not in st.txs:
        st.reset_pending = None
        return _reset_evse(st, st.evses[evse_id], now)
    return []


def reboot_now(st: Station201) -> list[Action]:
    return [Log(logging.WARNING, "restarting (reset)"), Reboot(RebootKind.SOFT)]


# -- C, D: authorisation data ---------------------------------------------------------------------------


def clear_cache(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """C11: clear the Authorization Cache; Rejected while it is disabled (C11.FR.04)."""
    if not st.settings.bool("AuthorizationCacheEnabled"):
        return {"status": "Rejected"}
    st.side(st.cache.clear())
    return {"status": "Accepted"}


def get_local_list_version(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """D02: 0 when there is no list."""
    return {"versionNumber": st.local_list.version if len(st.local_list) else 0}


def send_local_list(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """D01: Full or Differential, all or nothing; VersionMismatch for an older differential."""
    if not st.settings.bool("LocalAuthListEnabled"):
        return {"status": "Failed"}
    version, update = p.get("versionNumber"), p.get("updateType")
    items = p.get("localAuthorizationList")
    entries: list[tuple[str, IdInfo | None]] = []
    for item in items if isinstance(items, list) else []:
        token = item.get("idToken") if isinstance(item, dict) else None
        if not isinstance(token, dict) or not isinstance(token.get("idToken"), str):
            return {"status": "Failed"}
        assert isinstance(item, dict)
        if update == "Full" and not isinstance(item.get("idTokenInfo"), dict):
            return {"status": "Failed"}  # D01: a Full list gives every entry its idTokenInfo
        entries.append((str(token["idToken"]), tx.id_info(item.get("idTokenInfo"))))
    if len(entries) > st.settings.int("SendLocalListMaxLength"):
        return {"status": "Failed"}
    status, actions = st.local_list.apply(
        version if isinstance(version, int) else 0,
        update == "Full",
        entries,
        st.settings.int("LocalAuthListMaxLength"),
    )
    st.side(actions)
    return {"status": "Failed" if status is ListUpdateStatus.NOT_SUPPORTED else status.value}


# -- F: remote control ----------------------------------------------------------------------------------


def request_start(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """F01 / F02: accept when an EVSE can take the session; AuthorizeRemoteStart decides whether the
    token is authorised first. A transaction already begun by the cable reports its id."""
    token_obj, remote_id = p.get("idToken"), p.get("remoteStartId")
    assert isinstance(token_obj, dict) and isinstance(remote_id, int)
    token = str(token_obj.get("idToken", ""))
    group = p.get("groupIdToken")
    parent = str(group["idToken"]) if isinstance(group, dict) and "idToken" in group else None
    evse = _evse(st, p)
    if "evseId" in p:
        if evse is None or not charging.usable_for(st, evse, token, parent):
            return {"status": "Rejected"}
        target = evse.evse_id
    else:
        chosen = charging.choose_evse(st, token, parent)
        if chosen is None or (chosen == 0 and len(st.evses) > 1):
            return {"status": "Rejected"}  # F01.FR.23: without an EVSE we start only where it is clear
        target = chosen or next(iter(st.evses))
    # F01.FR.08-11: a charging profile in the request is this transaction's TxProfile; if it cannot be
    # installed, nothing starts.
    if "chargingProfile" in p and not smart.request_start_profile(st, p["chargingProfile"], target):
        return {"status": "Rejected"}
    st.remote_starts[target] = remote_id
    st.token_types[token] = str(token_obj.get("type", tx.CARD))
    running = st.txs.get(target)  # F02: a transaction the cable began before this request
    if st.settings.bool("AuthorizeRemoteTxRequests"):
        st.side(charging.authorize(st, token, target, now, remote=True))
    else:
        st.side(charging.authorized(st, token, parent, target, now, remote_start=True))
    answer: JsonObject = {"status": "Accepted"}
    if running is not None:
        answer["transactionId"] = running.transaction_id
    return answer


def request_stop(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """F03: stop the transaction with that id (stoppedReason Remote)."""
    wanted = p.get("transactionId")
    for evse_id, running in st.txs.items():
        if running.transaction_id == wanted:
            evse = st.evses[evse_id]
            if evse.transaction is not None:
                st.side(st.stop_tx(evse, "Remote", now))
            else:
                st.side(tx.end(st, evse, running, "Remote", "RemoteStop", now))
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def get_transaction_status(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """E14: whether messages of the transaction (or any) wait in the queue, and whether it still runs."""
    wanted = p.get("transactionId")
    queued = st.endpoint.durable_messages()
    if isinstance(wanted, str):
        waiting = any(m.meta.get("tx") == wanted for m in queued)
        ongoing = any(t.transaction_id == wanted for t in st.txs.values())
        return {"messagesInQueue": waiting, "ongoingIndicator": ongoing}
    return {"messagesInQueue": bool(queued)}


def unlock_connector(st: Station201, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """F05: refused while an authorised transaction runs (F05.FR.02); answered once the lock reports."""
    evse = _evse(st, p)
    if evse is None or p.get("connectorId") != 1:
        return {"status": "UnknownConnector"}
    if evse.transaction is not None:
        return {"status": "OngoingAuthorizedTransaction"}
    if not charging.has_lock(st, evse.evse_id):
        return {"status": "UnlockFailed"}
    st.unlock_waiting[evse.evse_id] = unique_id
    st.timers.set(f"unlock.{evse.evse_id}", now.monotonic + UNLOCK_WAIT_S)
    st.side([SetLock(evse.evse_id, False)])
    return None


def on_lock_result(st: Station201, evse_id: int, locked: bool, ok: bool) -> list[Action]:
    unique_id = st.unlock_waiting.pop(evse_id, None)
    st.timers.cancel(f"unlock.{evse_id}")
    if unique_id is None or locked:
        return []
    return st.endpoint.reply(unique_id, "UnlockConnector", {"status": "Unlocked" if ok else "UnlockFailed"})


def trigger_message(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """F06: Accepted and the message follows; Rejected for an unknown EVSE; NotImplemented otherwise."""
    what = p.get("requestedMessage")
    evse = _evse(st, p)
    if "evse" in p and evse is None:
        return {"status": "Rejected"}
    evses = [evse] if evse is not None else list(st.evses.values())
    for module in (firmware, security):
        own = module.trigger(st, str(what), now)
        if own is not None:
            st.side(own)
            return {"status": "Accepted"}
    if what == "BootNotification":
        if st.boot_status == "Accepted":
            return {"status": "Rejected"}  # F06.FR.17: not after it was accepted
        st.side(st.send_boot(now, triggered=True))
    elif what == "Heartbeat":
        st.side(st.enqueue("Heartbeat", {}, now, meta={"triggered": True}))
    elif what == "StatusNotification":
        for e in evses:
            st.side(st.report_status(e, st.connector_status(e), now, triggered=True))
    elif what == "MeterValues":
        for e in evses:
            st.side(tx.meter_values(st, e, "MeterValuesAlignedData", "Trigger", "Trigger", now,
                                    triggered=True))
    elif what == "TransactionEvent":
        for e in evses:
            running = st.txs.get(e.evse_id)
            if running is not None:
                st.side(tx.event(st, running, "Updated", "Trigger", now, triggered=True))
    elif what in ("FirmwareStatusNotification", "LogStatusNotification"):
        st.side(st.enqueue(str(what), {"status": "Idle"}, now, meta={"triggered": True}))
    else:
        return {"status": "NotImplemented"}
    return {"status": "Accepted"}


# -- G: availability ------------------------------------------------------------------------------------


def change_availability(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """G03 / G04: station, EVSE or connector; Scheduled while a transaction runs there."""
    operative = p.get("operationalStatus") == "Operative"
    nested = p.get("evse")
    if isinstance(nested, dict):
        evse = _evse(st, p)
        if evse is None or nested.get("connectorId", 1) != 1:
            return {"status": "Rejected"}
        targets = [evse]
    else:
        targets = list(st.evses.values())
        st.station_operative = operative
        st.side([Persist("availability", "0", operative)])
    scheduled = False
    for evse in targets:
        if evse.transaction is not None and evse.operative != operative:
            evse.pending_operative = operative
            scheduled = True
        else:
            st.side(set_operative(st, evse, operative))
    return {"status": "Scheduled" if scheduled else "Accepted"}


def set_operative(st: Station201, evse: Evse, operative: bool) -> list[Action]:
    """Apply an availability change; persisted, it survives a reboot (G03.FR.05)."""
    evse.pending_operative = None
    evse.operative = operative
    return [
        Persist("availability", str(evse.evse_id), operative),
        SetEvseEnabled(evse.evse_id, operative and st.station_operative),
        Log(logging.INFO, f"EVSE {evse.evse_id} {'operative' if operative else 'inoperative'}"),
    ]


# -- H: reservations -------------------------------------------------------------------------------------


def reserve_now(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """H01: Accepted / Faulted / Occupied / Rejected / Unavailable; without evseId any EVSE (H01.FR.04)."""
    if not st.settings.bool("ReservationCtrlr.Enabled"):
        return {"status": "Rejected"}
    rid, token_obj, expiry_text = p.get("id"), p.get("idToken"), p.get("expiryDateTime")
    assert isinstance(rid, int) and isinstance(token_obj, dict) and isinstance(expiry_text, str)
    expiry = parse_timestamp(expiry_text)
    if expiry is None:
        raise CallRefused("PropertyConstraintViolation", "expiryDateTime is not a date-time")
    group = p.get("groupIdToken")
    parent = str(group["idToken"]) if isinstance(group, dict) and "idToken" in group else None
    reservation = Reservation(rid, str(token_obj.get("idToken", "")), parent, expiry)
    _drop_reservation(st, rid)
    wait = max(0.0, (expiry - st.time(now)).total_seconds())
    if "evseId" not in p:
        if not st.settings.bool("ReserveConnectorZeroSupported"):
            return {"status": "Rejected"}
        # H01: the status says why no EVSE is free: all faulted → Faulted, all out of service →
        # Unavailable, else (an EV, a session or a reservation on each) Occupied.
        evses = list(st.evses.values())
        if all(e.faults for e in evses):
            return {"status": "Faulted"}
        if not st.station_operative or all(not e.operative or e.faults for e in evses):
            return {"status": "Unavailable"}
        if not any(not e.faults and e.operative and e.session is None and not e.plugged
                   and e.reservation is None and e.evse_id not in st.txs for e in evses):
            return {"status": "Occupied"}
        st.station_reservation = reservation
        st.timers.set("reservation.0", now.monotonic + wait)
        return {"status": "Accepted"}
    evse = _evse(st, p)
    if evse is None:
        return {"status": "Rejected"}
    if evse.faults:
        return {"status": "Faulted"}
    if not evse.operative or not st.station_operative:
        return {"status": "Unavailable"}
    if evse.session is not None or evse.plugged or evse.reservation is not None or evse.evse_id in st.txs:
        return {"status": "Occupied"}
    evse.reservation = reservation
    st.timers.set(f"reservation.{evse.evse_id}", now.monotonic + wait)
    st.side([Log(logging.INFO, f"EVSE {evse.evse_id} reserved ({rid}) until {expiry_text}")])
    return {"status": "Accepted"}


def _drop_reservation(st: Station201, rid: int) -> bool:
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


def cancel_reservation(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """H02: Accepted if the reservation exists, else Rejected."""
    rid = p.get("reservationId")
    found = isinstance(rid, int) and _drop_reservation(st, rid)
    return {"status": "Accepted" if found else "Rejected"}


def expire_reservation(st: Station201, evse_id: int, now: Now) -> list[Action]:
    """H01.FR.23: an expired reservation is reported with ReservationStatusUpdate (Expired)."""
    reservation = st.station_reservation if evse_id == 0 else (
        st.evses[evse_id].reservation if evse_id in st.evses else None)
    if reservation is None:
        return []
    if evse_id == 0:
        st.station_reservation = None
    else:
        st.evses[evse_id].reservation = None
    payload: JsonObject = {"reservationId": reservation.reservation_id, "reservationUpdateStatus": "Expired"}
    return [Log(logging.INFO, f"reservation {reservation.reservation_id} expired"),
            *st.enqueue("ReservationStatusUpdate", payload, now)]


# -- P: data transfer -------------------------------------------------------------------------------------


def data_transfer(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """P01: no vendor extensions are built, so every vendorId is unknown."""
    return {"status": "UnknownVendorId"}


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    kind, _, arg = name.partition(".")
    if kind == "reservation" and arg.isdigit():
        return expire_reservation(st, int(arg), now)
    if kind == "unlock" and arg.isdigit():
        return on_lock_result(st, int(arg), False, False)
    return []


HANDLERS: dict[str, Handler] = {
    "GetVariables": get_variables,
    "SetVariables": set_variables,
    "GetBaseReport": get_base_report,
    "GetReport": get_report,
    "Reset": reset,
    "SetNetworkProfile": set_network_profile,
    "ClearCache": clear_cache,
    "GetLocalListVersion": get_local_list_version,
    "SendLocalList": send_local_list,
    "RequestStartTransaction": request_start,
    "RequestStopTransaction": request_stop,
    "GetTransactionStatus": get_transaction_status,
    "UnlockConnector": unlock_connector,
    "TriggerMessage": trigger_message,
    "ChangeAvailability": change_availability,
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
    "DataTransfer": data_transfer,
    "SetChargingProfile": smart.set_charging_profile,
    "ClearChargingProfile": smart.clear_charging_profile,
    "GetChargingProfiles": smart.get_charging_profiles,
    "GetCompositeSchedule": smart.get_composite_schedule,
}
# Issue 7's messages live in their own modules; their handlers join the table here.
HANDLERS.update(security.HANDLERS)
HANDLERS.update(firmware.HANDLERS)

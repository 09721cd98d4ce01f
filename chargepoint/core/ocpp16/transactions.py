"""OCPP 1.6 sessions and transactions: id tokens, authorisation, start/stop, meter values, recovery.

OCPP 1.6 §3.5 (local authorisation and offline behaviour), §4.1 Authorize, §4.8 StartTransaction,
§4.10 StopTransaction and transaction-related message delivery, §4.7 MeterValues with the §9.1 keys
(MeterValueSampleInterval, ClockAlignedDataInterval, MeterValuesSampledData, MeterValuesAlignedData,
StopTxnSampledData), ConnectionTimeOut, StopTransactionOnEVSideDisconnect, StopTransactionOnInvalidId,
LocalPreAuthorize, LocalAuthorizeOffline, AllowOfflineTxForUnknownId. Functions over ``Station16``.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Forget, Log, Persist, SetContactor, SetLock, SetPilotCurrent
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain.auth import AuthStatus, IdInfo
from chargepoint.core.domain.evse import Evse, Session
from chargepoint.core.domain.metering import Reading, readings
from chargepoint.core.rpc.endpoint import JsonObject, Outgoing
from chargepoint.core.rpc.framing import CallError
from hal.types import PilotState

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.station import Station16

SESSION = "session"
TXMAP = "txmap"
POWER_LOSS_WAIT_S = 10.0  # how long to wait for a first meter reading before stopping with the start value


def mask(token: str) -> str:
    """An id token shortened for logs: never the whole token in a log line."""
    return token[:4] + "…" if len(token) > 4 else "…"


# -- authorisation -----------------------------------------------------------------------------------


def local_info(st: Station16, token: str) -> IdInfo | None:
    """What the station knows locally: the Local Authorization List first, then the cache (§3.5.3)."""
    if st.settings.bool("LocalAuthListEnabled"):
        info = st.local_list.get(token)
        if info is not None:
            return info
    if st.settings.bool("AuthorizationCacheEnabled"):
        return st.cache.get(token)
    return None


def online(st: Station16) -> bool:
    return st.endpoint.connected and st.boot_status == "Accepted"


def on_token(st: Station16, token: str, now: Now) -> list[Action]:
    """A card was presented: stop the transaction it started, or begin authorising a new one."""
    info = local_info(st, token)
    for evse in st.evses.values():
        session = evse.session
        if session is None or session.ended:
            continue
        same = session.id_tag == token
        # Stopping with a token of the same group (parentIdTag), known locally (1.6 §3.3.3? / §5.16).
        group = info is not None and info.parent is not None and info.parent == session.parent
        if same or group:
            if session.started:
                return stop_tx(st, evse, "Local", now, id_tag=token)
            evse.session = None
            st.timers.cancel(f"conntimeout.{evse.evse_id}")
            return [Log(logging.INFO, f"EVSE {evse.evse_id}: authorisation cancelled by the driver")]
    if st.pending_auth is not None and st.pending_auth[0] == token:
        st.pending_auth = None
        st.timers.cancel("conntimeout.pending")
        return [Log(logging.INFO, "authorisation cancelled by the driver")]
    target = choose_evse(st, token, info.parent if info else None)
    if target is None:
        return [Log(logging.INFO, f"token {mask(token)}: no EVSE free")]
    return authorize(st, token, target, now)


def choose_evse(st: Station16, token: str, parent: str | None) -> int | None:
    """The EVSE a presented token is for: a plugged one waiting, else 0 (the next one plugged in)."""
    usable = [e for e in st.evses.values() if usable_for(st, e, token, parent)]
    plugged = [e for e in usable if e.plugged and not e.finishing]
    if plugged:
        return plugged[0].evse_id
    if not usable:
        return None
    return usable[0].evse_id if len(st.evses) == 1 else 0


def usable_for(st: Station16, evse: Evse, token: str, parent: str | None) -> bool:
    """Whether ``evse`` can take a new session for ``token`` (availability, faults, reservations)."""
    if evse.session is not None or evse.faults or not evse.operative or not st.station_operative:
        return False
    r = evse.reservation
    if r is not None and r.id_tag != token and (parent is None or r.parent != parent):
        return False
    sr = st.station_reservation
    if sr is not None and sr.id_tag != token and (parent is None or sr.parent != parent):
        # 1.6 §5.13: a reservation of connector 0 keeps one connector free for its holder.
        free = [e for e in st.evses.values() if e.session is None and e.reservation is None
                and not e.faults and e.operative]
        return len(free) > 1
    return True


def authorize(st: Station16, token: str, evse_id: int, now: Now, remote: bool = False) -> list[Action]:
    info = local_info(st, token)
    if online(st):
        # 1.6 §9.1 LocalPreAuthorize: start at once for a locally valid id, without Authorize.
        pre = st.settings.bool("LocalPreAuthorize") and info is not None
        if pre and info is not None and info.effective(st.time(now)) is AuthStatus.ACCEPTED:
            return authorized(st, token, info.parent, evse_id, now)
        meta: JsonObject = {"token": token, "evse": evse_id}
        return st.enqueue("Authorize", {"idTag": token}, now, meta=meta)
    return decide_offline(st, token, evse_id, now)


def decide_offline(st: Station16, token: str, evse_id: int, now: Now) -> list[Action]:
    """1.6 §3.5.1: offline, a locally valid id may start (LocalAuthorizeOffline), an unknown one only
    with AllowOfflineTxForUnknownId; an id known as invalid never."""
    info = local_info(st, token)
    if info is not None:
        valid = info.effective(st.time(now)) is AuthStatus.ACCEPTED
        if valid and st.settings.bool("LocalAuthorizeOffline"):
            return authorized(st, token, info.parent, evse_id, now)
        return [Log(logging.INFO, f"token {mask(token)} refused offline")]
    if st.settings.bool("AllowOfflineTxForUnknownId"):
        return authorized(st, token, None, evse_id, now)
    return [Log(logging.INFO, f"token {mask(token)} unknown and offline: refused")]


def id_info(payload: object) -> IdInfo | None:
    """Parse an idTagInfo object (1.6 §7.28)."""
    if not isinstance(payload, dict):
        return None
    return IdInfo.parse(payload.get("status"), payload.get("expiryDate"), payload.get("parentIdTag"))


def remember(st: Station16, token: str, info: IdInfo | None) -> list[Action]:
    """1.6 §3.5.2: every IdTagInfo the CSMS sends updates the cache, unless it is disabled or the id is
    on the local list (the list has priority and is managed by the CSMS)."""
    if info is None or not st.settings.bool("AuthorizationCacheEnabled"):
        return []
    if st.settings.bool("LocalAuthListEnabled") and st.local_list.get(token) is not None:
        return []
    return st.cache.update(token, info)


def authorized(
    st: Station16, token: str, parent: str | None, evse_id: int, now: Now, remote_start: bool = False
) -> list[Action]:
    """The token may charge: create the session on its EVSE (or wait for the next cable, §9.1
    ConnectionTimeOut) and start the transaction once the cable is in."""
    timeout = float(st.settings.int("ConnectionTimeOut"))
    evse = st.evses.get(evse_id)
    if evse is None:
        st.pending_auth = (token, parent, now.monotonic + timeout)
        st.timers.set("conntimeout.pending", now.monotonic + timeout)
        return [Log(logging.INFO, f"token {mask(token)} accepted: plug in a cable")]
    if not usable_for(st, evse, token, parent):
        return [Log(logging.INFO, f"EVSE {evse_id} is no longer free")]
    actions = new_session(st, evse, token, parent)
    if evse.plugged and not evse.finishing:
        return actions + start_tx(st, evse, now)
    st.timers.set(f"conntimeout.{evse_id}", now.monotonic + timeout)
    return [*actions, Log(logging.INFO, f"EVSE {evse_id}: authorised, waiting for the cable")]


def new_session(st: Station16, evse: Evse, token: str, parent: str | None) -> list[Action]:
    st.tx_seq += 1
    session = Session(st.tx_seq, token, parent)
    r = evse.reservation or st.station_reservation
    if r is not None and (r.id_tag == token or (parent is not None and r.parent == parent)):
        session.reservation_id = r.reservation_id
    evse.session = session
    return [Persist("meta", "tx_seq", st.tx_seq)]


# -- pilot and energy --------------------------------------------------------------------------------


def on_pilot(st: Station16, evse: Evse, state: PilotState, now: Now) -> list[Action]:
    previous = evse.pilot
    if state in (PilotState.E, PilotState.F):
        # A pilot error says nothing about the cable: keep the plug state, stop asking for power.
        state = PilotState.B if previous.connected else PilotState.A
    evse.pilot = state
    actions: list[Action] = []
    if state.connected and not previous.connected:
        evse.finishing = False
        if evse.session is None and st.pending_auth is not None:
            token, parent, _ = st.pending_auth
            if usable_for(st, evse, token, parent):
                st.pending_auth = None
                st.timers.cancel("conntimeout.pending")
                actions += new_session(st, evse, token, parent)
        session = evse.session
        if session is not None and not session.started:
            st.timers.cancel(f"conntimeout.{evse.evse_id}")
            actions += start_tx(st, evse, now)
    elif previous.connected and not state.connected:
        evse.finishing = False
        if evse.transaction is not None and st.settings.bool("StopTransactionOnEVSideDisconnect"):
            actions += stop_tx(st, evse, "EVDisconnected", now)
        if st.settings.bool("UnlockConnectorOnEVSideDisconnect") and _has_lock(st, evse.evse_id):
            actions.append(SetLock(evse.evse_id, False))
    return actions + apply_energy(st, evse)


def _has_lock(st: Station16, evse_id: int) -> bool:
    return any(s.evse_id == evse_id and s.has_lock for s in st.info.evses)


def apply_energy(st: Station16, evse: Evse) -> list[Action]:
    """Bring the pilot PWM and the contactor in line with the facts.

    Power flows only while a transaction runs for an authorised id, the EVSE is fault-free, and the EV
    asks for it (IEC 61851: PWM first, the EV answers with state C, then the contactor closes; opening
    goes the other way round).
    """
    tx = evse.transaction
    may_charge = tx is not None and tx.authorized and not evse.faults
    offered = evse.max_current_a if may_charge else 0.0
    close = may_charge and evse.pilot.wants_power and offered > 0
    actions: list[Action] = []
    if not close and evse.contactor_command:
        evse.contactor_command = False
        actions.append(SetContactor(evse.evse_id, False))
    if offered != evse.offered_a:
        evse.offered_a = offered
        actions.append(SetPilotCurrent(evse.evse_id, offered))
    if close and not evse.contactor_command:
        evse.contactor_command = True
        actions.append(SetContactor(evse.evse_id, True))
    return actions


# -- start and stop ----------------------------------------------------------------------------------


def tx_meta(st: Station16, session: Session, evse: Evse) -> JsonObject:
    return {"tx": session.local_id, "evse": evse.evse_id, "boot": st.boot_count,
            "unsynced": not st.synced}


def start_tx(st: Station16, evse: Evse, now: Now) -> list[Action]:
    """1.6 §4.8: the cable is in and the id is authorised: the transaction starts."""
    session = evse.session
    assert session is not None and not session.started
    session.started = True
    session.start_energy_wh = evse.energy_wh
    session.start_time = st.time(now)
    stamp = format_timestamp(session.start_time)
    session.begin_values = sampled_values(
        _readings(st, evse, "StopTxnSampledData"), "Transaction.Begin"
    )
    if evse.reservation is not None and evse.reservation.reservation_id == session.reservation_id:
        evse.reservation = None
        st.timers.cancel(f"reservation.{evse.evse_id}")
    sr = st.station_reservation
    if sr is not None and sr.reservation_id == session.reservation_id:
        st.station_reservation = None
        st.timers.cancel("reservation.0")
    payload: JsonObject = {
        "connectorId": evse.evse_id,
        "idTag": session.id_tag,
        "meterStart": round(session.start_energy_wh),
        "timestamp": stamp,
    }
    if session.reservation_id is not None:
        payload["reservationId"] = session.reservation_id
    actions: list[Action] = [
        Log(logging.INFO, f"EVSE {evse.evse_id}: transaction {session.local_id} starts "
            f"for {mask(session.id_tag)}"),
        Persist(SESSION, str(evse.evse_id), session.to_record()),
        *st.enqueue("StartTransaction", payload, now, durable=True, meta=tx_meta(st, session, evse)),
    ]
    arm_sampling(st, evse, now)
    return actions + apply_energy(st, evse)


def stop_tx(
    st: Station16, evse: Evse, reason: str, now: Now, id_tag: str | None = None
) -> list[Action]:
    """1.6 §4.10: end the transaction: power off first, then a durable StopTransaction."""
    session = evse.transaction
    if session is None:
        return []
    session.ended = True
    evse.session = None
    evse.finishing = evse.plugged
    st.timers.cancel(f"sample.{evse.evse_id}")
    actions: list[Action] = [
        Log(logging.INFO, f"EVSE {evse.evse_id}: transaction {session.local_id} stops ({reason})"),
        *apply_energy(st, evse),
    ]
    payload: JsonObject = {
        "meterStop": round(evse.energy_wh),
        "timestamp": st.timestamp(now),
        "reason": reason,
    }
    if id_tag is not None:
        payload["idTag"] = id_tag
    end_values = sampled_values(_readings(st, evse, "StopTxnSampledData"), "Transaction.End")
    data: list[object] = []
    if session.begin_values and session.start_time is not None:
        data.append({"timestamp": format_timestamp(session.start_time), "sampledValue": session.begin_values})
    if end_values:
        data.append({"timestamp": payload["timestamp"], "sampledValue": end_values})
    if data:
        payload["transactionData"] = data
    actions += st.enqueue("StopTransaction", payload, now, durable=True, meta=tx_meta(st, session, evse))
    actions.append(Forget(SESSION, str(evse.evse_id)))
    if evse.pending_operative is not None:
        from chargepoint.core.ocpp16.calls import set_operative

        actions += set_operative(st, evse, evse.pending_operative)
    return actions


def restore_sessions(st: Station16, rows: list[tuple[str, object]], now: Now) -> list[Action]:
    """A transaction that ran when the power was cut is stopped with reason PowerLoss (1.6 §4.10 /
    §7.42); its meterStop is the first meter reading after the restart."""
    actions: list[Action] = []
    for key, value in rows:
        if not key.isdigit() or int(key) not in st.evses or not isinstance(value, dict):
            continue
        local_id, id_tag = value.get("local_id"), value.get("id_tag")
        if not isinstance(local_id, int) or not isinstance(id_tag, str):
            continue
        start_energy = value.get("start_energy_wh")
        session = Session(local_id, id_tag, started=True)
        session.start_energy_wh = float(start_energy) if isinstance(start_energy, int | float) else 0.0
        begin = value.get("begin_values")
        session.begin_values = begin if isinstance(begin, list) else []
        start_time = value.get("start_time")
        if isinstance(start_time, str):
            session.start_time = datetime.fromisoformat(start_time)
        st.power_loss[int(key)] = session
        st.tx_seq = max(st.tx_seq, local_id)
        actions.append(Log(logging.WARNING, f"EVSE {key}: transaction {local_id} was cut by a power loss"))
    if st.power_loss:
        st.timers.set("powerloss", now.monotonic + POWER_LOSS_WAIT_S)
    return actions


def finish_power_loss(st: Station16, evse_id: int, now: Now) -> list[Action]:
    session = st.power_loss.pop(evse_id)
    evse = st.evses[evse_id]
    energy = evse.energy_wh if evse.last_sample is not None else session.start_energy_wh
    when = st.last_known or st.time(now)
    payload: JsonObject = {
        "meterStop": round(energy),
        "timestamp": format_timestamp(when),
        "reason": "PowerLoss",
    }
    if session.begin_values and session.start_time is not None:
        payload["transactionData"] = [
            {"timestamp": format_timestamp(session.start_time), "sampledValue": session.begin_values}
        ]
    meta = tx_meta(st, session, evse)
    meta["unsynced"] = False  # the last known time is a real time of the previous boot
    return [
        *st.enqueue("StopTransaction", payload, now, durable=True, meta=meta),
        Forget(SESSION, str(evse_id)),
    ]


# -- the outbox's side -------------------------------------------------------------------------------


def prepare(st: Station16, msg: Outgoing) -> JsonObject | None:
    """Fill in the CSMS transaction id of messages queued before StartTransaction was answered."""
    if msg.action not in ("StopTransaction", "MeterValues") or "tx" not in msg.meta:
        return msg.payload
    local = msg.meta["tx"]
    csms_id = st.tx_ids.get(local) if isinstance(local, int) else None
    if csms_id is None:
        # Its StartTransaction was discarded after its last attempt: nothing to attach this to.
        return None
    return {**msg.payload, "transactionId": csms_id}


def on_result(st: Station16, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
    if msg.action == "Authorize":
        token, evse_id = msg.meta.get("token"), msg.meta.get("evse")
        if not isinstance(token, str) or not isinstance(evse_id, int):
            return []
        info = id_info(payload.get("idTagInfo"))
        cached = remember(st, token, info)
        if info is not None and info.effective(st.time(now)) is AuthStatus.ACCEPTED:
            return cached + authorized(st, token, info.parent, evse_id, now)
        status = info.status.value if info else "Invalid"
        return [*cached, Log(logging.INFO, f"token {mask(token)} refused: {status}")]
    if msg.action == "StartTransaction":
        return _on_started(st, msg, payload, now)
    if msg.action == "StopTransaction":
        local = msg.meta.get("tx")
        done: list[Action] = []
        if isinstance(local, int):
            st.tx_ids.pop(local, None)
            done.append(Forget(TXMAP, str(local)))
        id_tag = msg.payload.get("idTag")
        if isinstance(id_tag, str):
            done += remember(st, id_tag, id_info(payload.get("idTagInfo")))
        return done
    return []


def _on_started(st: Station16, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
    local, tx_id = msg.meta.get("tx"), payload.get("transactionId")
    if not isinstance(local, int) or not isinstance(tx_id, int):
        return []
    st.tx_ids[local] = tx_id
    actions: list[Action] = [Persist(TXMAP, str(local), tx_id)]
    id_tag = msg.payload.get("idTag")
    info = id_info(payload.get("idTagInfo"))
    if isinstance(id_tag, str):
        actions += remember(st, id_tag, info)
    for evse in st.evses.values():
        session = evse.transaction
        if session is None or session.local_id != local:
            continue
        session.csms_id = tx_id
        if info is not None and info.parent is not None:
            session.parent = info.parent
        actions.append(Persist(SESSION, str(evse.evse_id), session.to_record()))
        if info is not None and info.status is not AuthStatus.ACCEPTED:
            # 1.6 §4.8 / §9.1 StopTransactionOnInvalidId: stop, or keep it suspended without energy.
            if st.settings.bool("StopTransactionOnInvalidId"):
                actions += stop_tx(st, evse, "DeAuthorized", now)
            else:
                session.authorized = False
                actions += apply_energy(st, evse)
    return actions


def on_failure(st: Station16, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
    if msg.action == "Authorize":
        token, evse_id = msg.meta.get("token"), msg.meta.get("evse")
        if isinstance(token, str) and isinstance(evse_id, int):
            # No answer (offline or timeout): the offline rules decide (1.6 §3.5.1).
            return decide_offline(st, token, evse_id, now)
    return []


def correct_unsynced(st: Station16, delta: timedelta) -> list[Action]:
    """Shift the timestamps of messages queued before this boot's first clock sync (they were taken
    from an unsynchronised board clock) by the correction the CSMS time revealed."""
    actions: list[Action] = []
    for msg in st.endpoint.durable_messages():
        if msg.meta.get("unsynced") is True and msg.meta.get("boot") == st.boot_count:
            msg.payload = _shift(msg.payload, delta)  # type: ignore[assignment]
            msg.meta["unsynced"] = False
            actions += st.endpoint.update(msg)
    return actions


def _shift(value: object, delta: timedelta) -> object:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            if key == "timestamp" and isinstance(item, str) and (moment := parse_timestamp(item)):
                out[key] = format_timestamp(moment + delta)
            else:
                out[key] = _shift(item, delta)
        return out
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    return value


# -- meter values ------------------------------------------------------------------------------------


def _readings(st: Station16, evse: Evse, key: str) -> list[Reading]:
    if evse.last_sample is None:
        return []
    return readings(evse.last_sample, st.settings.csl(key), evse.offered_a)


def sampled_values(values: list[Reading], context: str) -> list[dict[str, object]]:
    """1.6 §7.45 SampledValue objects (values are strings on the wire)."""
    out: list[dict[str, object]] = []
    for r in values:
        item: dict[str, object] = {"value": f"{r.value:g}", "context": context, "measurand": r.measurand,
                                   "location": "Outlet"}
        if r.unit:
            item["unit"] = r.unit
        if r.phase:
            item["phase"] = r.phase
        out.append(item)
    return out


def arm_sampling(st: Station16, evse: Evse, now: Now) -> None:
    interval = st.settings.int("MeterValueSampleInterval")
    if interval > 0 and evse.transaction is not None:
        st.timers.set(f"sample.{evse.evse_id}", now.monotonic + interval)
    else:
        st.timers.cancel(f"sample.{evse.evse_id}")


def meter_values(
    st: Station16, evse: Evse, key: str, context: str, now: Now, durable_if_tx: bool = True,
    triggered: bool = False,
) -> list[Action]:
    values = sampled_values(_readings(st, evse, key), context)
    if not values:
        return []
    payload: JsonObject = {
        "connectorId": evse.evse_id,
        "meterValue": [{"timestamp": st.timestamp(now), "sampledValue": values}],
    }
    tx = evse.transaction
    meta: JsonObject = {"triggered": True} if triggered else {}
    if tx is not None and durable_if_tx:
        # 1.6 §4.10: MeterValues of a transaction are transaction-related messages.
        return st.enqueue("MeterValues", payload, now, durable=True, meta={**tx_meta(st, tx, evse), **meta})
    if tx is not None and tx.local_id in st.tx_ids:
        payload["transactionId"] = st.tx_ids[tx.local_id]
    return st.enqueue("MeterValues", payload, now, meta=meta)


def next_aligned(st: Station16, now: Now) -> float:
    """The monotonic time of the next clock-aligned boundary (1.6 §9.1 ClockAlignedDataInterval)."""
    interval = st.settings.int("ClockAlignedDataInterval")
    if interval <= 0:
        return math.inf
    moment = st.time(now)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (moment - midnight).total_seconds()
    wait = interval - (elapsed % interval)
    return now.monotonic + wait


def arm_aligned(st: Station16, now: Now) -> None:
    deadline = next_aligned(st, now)
    if math.isinf(deadline):
        st.timers.cancel("aligned")
    else:
        st.timers.set("aligned", deadline)


def on_timer(st: Station16, name: str, now: Now) -> list[Action]:
    kind, _, arg = name.partition(".")
    if kind == "sample" and arg.isdigit():
        evse = st.evses[int(arg)]
        arm_sampling(st, evse, now)
        return meter_values(st, evse, "MeterValuesSampledData", "Sample.Periodic", now)
    if kind == "aligned":
        arm_aligned(st, now)
        actions: list[Action] = []
        for evse in st.evses.values():
            actions += meter_values(st, evse, "MeterValuesAlignedData", "Sample.Clock", now)
        return actions
    if kind == "conntimeout":
        if arg == "pending":
            st.pending_auth = None
            return [Log(logging.INFO, "no cable plugged in time: authorisation dropped")]
        evse = st.evses[int(arg)]
        if evse.session is not None and not evse.session.started:
            evse.session = None
            return [Log(logging.INFO, f"EVSE {arg}: no cable plugged in time (ConnectionTimeOut)")]
        return []
    if kind == "powerloss":
        actions = []
        for evse_id in list(st.power_loss):
            actions += finish_power_loss(st, evse_id, now)
        return actions
    if kind == "reservation":
        from chargepoint.core.ocpp16.calls import expire_reservation

        return expire_reservation(st, int(arg))
    if kind == "unlock":
        from chargepoint.core.ocpp16.calls import on_lock_result

        return on_lock_result(st, int(arg), False, False)
    return []

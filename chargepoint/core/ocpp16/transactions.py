"""OCPP 1.6 sessions and transactions: id tokens, authorisation, start/stop, meter values, recovery.

OCPP 1.6 §3.5 (local authorisation and offline behaviour), §4.1 Authorize, §4.8 StartTransaction,
§4.10 StopTransaction and transaction-related message delivery, §4.7 MeterValues with the §9.1 keys
(MeterValueSampleInterval, ClockAlignedDataInterval, MeterValuesSampledData, MeterValuesAlignedData,
StopTxnSampledData), ConnectionTimeOut, StopTransactionOnEVSideDisconnect, StopTransactionOnInvalidId,
LocalPreAuthorize, LocalAuthorizeOffline, AllowOfflineTxForUnknownId. Functions over ``Station16``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Forget, Log, Persist
from chargepoint.core.clock import Now, format_timestamp
from chargepoint.core.domain.auth import AuthStatus, IdInfo
from chargepoint.core.domain.charging import (
    apply_energy,
    arm_aligned,
    arm_sampling,
    authorize_answered,
    begin_session,
    deauthorize,
    decide_offline,
    end_session,
    mask,
    readings_for,
    remember,
)
from chargepoint.core.domain.evse import Evse, Session
from chargepoint.core.domain.metering import Reading
from chargepoint.core.rpc.endpoint import JsonObject, Outgoing
from chargepoint.core.rpc.framing import CallError

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.station import Station16

SESSION = "session"
TXMAP = "txmap"
POWER_LOSS_WAIT_S = 10.0  # how long to wait for a first meter reading before stopping with the start value


# -- authorisation -----------------------------------------------------------------------------------


def id_info(payload: object) -> IdInfo | None:
    """Parse an idTagInfo object (1.6 §7.28)."""
    if not isinstance(payload, dict):
        return None
    return IdInfo.parse(payload.get("status"), payload.get("expiryDate"), payload.get("parentIdTag"))


# -- pilot and energy --------------------------------------------------------------------------------


# -- start and stop ----------------------------------------------------------------------------------


def tx_meta(st: Station16, session: Session, evse: Evse) -> JsonObject:
    return {"tx": session.local_id, "evse": evse.evse_id, "boot": st.boot_count,
            "unsynced": not st.synced}


def start_tx(st: Station16, evse: Evse, now: Now) -> list[Action]:
    """1.6 §4.8: the cable is in and the id is authorised: the transaction starts."""
    session = begin_session(st, evse, now)
    assert session.start_time is not None
    stamp = format_timestamp(session.start_time)
    session.begin_values = sampled_values(
        readings_for(st, evse, "StopTxnSampledData"), "Transaction.Begin"
    )
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
    return actions + apply_energy(st, evse)


def stop_tx(
    st: Station16, evse: Evse, reason: str, now: Now, id_tag: str | None = None
) -> list[Action]:
    """1.6 §4.10: end the transaction: power off first, then a durable StopTransaction."""
    session, power_off = end_session(st, evse)
    if session is None:
        return []
    actions: list[Action] = [
        Log(logging.INFO, f"EVSE {evse.evse_id}: transaction {session.local_id} stops ({reason})"),
        *power_off,
    ]
    payload: JsonObject = {
        "meterStop": round(evse.energy_wh),
        "timestamp": st.timestamp(now),
        "reason": reason,
    }
    if id_tag is not None:
        payload["idTag"] = id_tag
    end_values = sampled_values(readings_for(st, evse, "StopTxnSampledData"), "Transaction.End")
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
        token, evse_id, stop_for = msg.meta.get("token"), msg.meta.get("evse"), msg.meta.get("stop_for")
        if not isinstance(token, str) or not isinstance(evse_id, int):
            return []
        return authorize_answered(st, token, evse_id, id_info(payload.get("idTagInfo")), now,
                                  stop_for if isinstance(stop_for, int) else None)
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
            done += remember(st, id_tag, id_info(payload.get("idTagInfo")), now)
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
        actions += remember(st, id_tag, info, now)
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
                actions += deauthorize(st, evse, session)
    return actions


def on_failure(st: Station16, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
    if msg.action == "Authorize":
        token, evse_id = msg.meta.get("token"), msg.meta.get("evse")
        if isinstance(token, str) and isinstance(evse_id, int):
            # No answer (offline or timeout): the offline rules decide (1.6 §3.5.1).
            return decide_offline(st, token, evse_id, now)
    return []


# -- meter values ------------------------------------------------------------------------------------


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


def meter_values(
    st: Station16, evse: Evse, key: str, context: str, now: Now, durable_if_tx: bool = True,
    triggered: bool = False,
) -> list[Action]:
    values = sampled_values(readings_for(st, evse, key), context)
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

"""OCPP 2.0.1 transactions (block E) and meter values (block J) over the domain's sessions.

A 2.0.1 transaction (``Tx``) is not the domain session: it begins at the first TxStartPoint event and ends
at the first TxStopPoint event (E01, E06), with station-generated ids, seqNo from 0 and a triggerReason
on every TransactionEvent. Supported points: EVConnected (and ParkingBayOccupancy, which without a bay
sensor is the cable), Authorized, PowerPathClosed and DataSigned (the moment the domain has an authorised
session with the cable in), EnergyTransfer (the contactor closed for an EV asking for power).

Every TransactionEvent is durable (the outbox: on disk before it is sent, forgotten when answered, E13
MessageAttemptsTransactionEvent), carries ``offline: true`` when it was generated without a connection
(E04.FR.01), and the Tx with its next seqNo is persisted with it, so kill -9 neither loses nor repeats one.
A transaction cut by a power loss ends at the next start with stoppedReason PowerLoss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Forget, Log, Persist, SetLock
from chargepoint.core.clock import Now
from chargepoint.core.domain import charging
from chargepoint.core.domain.auth import AuthStatus, IdInfo
from chargepoint.core.domain.evse import Evse, EvsePhase
from chargepoint.core.domain.metering import Reading
from chargepoint.core.rpc.endpoint import JsonObject, Outgoing
from chargepoint.core.rpc.framing import CallError
from hal.types import PilotState

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201

KIND = "tx201"
CARD = "ISO14443"  # IdTokenEnumType of the UIDs our readers give; tokens from the CSMS keep their own type
POWER_LOSS_WAIT_S = 10.0

# Domain stop reasons (1.6 terms) to ReasonEnumType, and the trigger that goes with them.
STOPPED_REASON = {
    "Local": "Local", "Remote": "Remote", "EVDisconnected": "EVDisconnected",
    "DeAuthorized": "DeAuthorized", "PowerLoss": "PowerLoss", "Reboot": "Reboot",
    "SoftReset": "ImmediateReset", "HardReset": "ImmediateReset",
    "ImmediateReset": "ImmediateReset", "UnlockCommand": "Other", "EmergencyStop": "EmergencyStop",
    "Timeout": "Timeout", "Other": "Other",
}
STOP_TRIGGER = {
    "Local": "StopAuthorized", "Remote": "RemoteStop", "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized", "SoftReset": "ResetCommand", "HardReset": "ResetCommand",
    "ImmediateReset": "ResetCommand", "UnlockCommand": "UnlockCommand", "Timeout": "EVConnectTimeout",
}
AUTHORIZATION_STOPS = frozenset({"Local", "Remote", "DeAuthorized"})
CABLE_STOP_POINTS = frozenset({"EVConnected", "ParkingBayOccupancy", "PowerPathClosed"})

# 2.0.1 AuthorizationStatusEnumType onto the domain's statuses (the richer ones mean "not now": Invalid).
AUTH_STATUS = {"Accepted": AuthStatus.ACCEPTED, "Blocked": AuthStatus.BLOCKED, "Expired": AuthStatus.EXPIRED,
               "ConcurrentTx": AuthStatus.CONCURRENT_TX}


@dataclass(slots=True)
class Tx:
    """One 2.0.1 transaction on one EVSE."""

    transaction_id: str
    evse_id: int
    seq_no: int = 0
    id_token: str | None = None
    token_type: str = CARD
    token_sent: bool = False
    charging_state: str = "Idle"
    remote_start_id: int | None = None
    pending_stop: str | None = None  # authorisation ended; the transaction ends at the next stop point
    pending_stop_token: str | None = None
    start_energy_wh: float = 0.0
    evse_sent: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {"transaction_id": self.transaction_id, "evse_id": self.evse_id, "seq_no": self.seq_no,
                "id_token": self.id_token, "token_type": self.token_type, "token_sent": self.token_sent,
                "charging_state": self.charging_state, "remote_start_id": self.remote_start_id,
                "start_energy_wh": self.start_energy_wh}

    @staticmethod
    def from_record(value: object) -> Tx | None:
        if not isinstance(value, dict):
            return None
        tx_id, evse_id, seq = value.get("transaction_id"), value.get("evse_id"), value.get("seq_no")
        if not isinstance(tx_id, str) or not isinstance(evse_id, int) or not isinstance(seq, int):
            return None
        token = value.get("id_token")
        energy = value.get("start_energy_wh")
        remote = value.get("remote_start_id")
        return Tx(tx_id, evse_id, seq, token if isinstance(token, str) else None,
                  str(value.get("token_type", CARD)), value.get("token_sent") is True,
                  str(value.get("charging_state", "Idle")), remote if isinstance(remote, int) else None,
                  start_energy_wh=float(energy) if isinstance(energy, int | float) else 0.0, evse_sent=True)


def id_token(token: str, token_type: str = CARD) -> JsonObject:
    """IdTokenType: card UIDs are ISO 14443 (C01); a token the CSMS sent keeps its own type."""
    return {"idToken": token, "type": token_type}


def id_info(payload: object) -> IdInfo | None:
    """IdTokenInfoType onto the domain's IdInfo (groupIdToken is the parent)."""
    if not isinstance(payload, dict):
        return None
    status = AUTH_STATUS.get(str(payload.get("status")), AuthStatus.INVALID)
    group = payload.get("groupIdToken")
    parent = group.get("idToken") if isinstance(group, dict) else None
    return IdInfo.parse(status.value, payload.get("cacheExpiryDateTime"), parent)


def points(st: Station201, name: str) -> tuple[str, ...]:
    return st.settings.csl(f"TxCtrlr.{name}")


def charging_state(evse: Evse) -> str:
    """ChargingStateEnumType from the domain phase."""
    phase = evse.phase()
    if phase is EvsePhase.FAULTED and evse.transaction is not None:
        return "SuspendedEVSE"  # the EV is there; the EVSE offers no energy
    if phase is EvsePhase.CHARGING:
        return "Charging"
    if phase is EvsePhase.SUSPENDED_EV:
        return "SuspendedEV"
    if phase is EvsePhase.SUSPENDED_EVSE:
        return "SuspendedEVSE"
    return "EVConnected" if evse.plugged else "Idle"


# -- beginning -------------------------------------------------------------------------------------------


def begin(st: Station201, evse: Evse, trigger: str, now: Now) -> list[Action]:
    """E01: the first TxStartPoint event happened: a transaction with a new id, TransactionEvent Started."""
    if evse.evse_id in st.txs:
        return []
    # One transaction per EVSE (E): one cut by a power loss ends before a new one begins, even if the
    # meter has not answered yet (its end value is then the last one known).
    ended = finish_power_loss(st, evse.evse_id, now) if evse.evse_id in st.power_loss else []
    st.tx_seq += 1
    tx = Tx(f"{st.info.station_id[-12:]}-{st.boot_count}-{st.tx_seq}", evse.evse_id,
            start_energy_wh=evse.energy_wh)
    st.txs[evse.evse_id] = tx
    remote = st.remote_starts.pop(evse.evse_id, None)
    if remote is not None:
        tx.remote_start_id = remote
        trigger = "RemoteStart"
    session = evse.session
    if session is not None and session.id_tag:
        tx.id_token = session.id_tag
        tx.token_type = st.token_types.get(session.id_tag, CARD)
    values = sampled_values(charging.readings_for(st, evse, "SampledDataCtrlr.TxStartedMeasurands"),
                            "Transaction.Begin")
    return [
        *ended,
        Persist("meta", "tx_seq", st.tx_seq),
        Log(logging.INFO, f"EVSE {evse.evse_id}: transaction {tx.transaction_id} starts ({trigger})"),
        *event(st, tx, "Started", trigger, now, values),
    ]


def on_pilot(st: Station201, evse: Evse, state: PilotState, now: Now) -> list[Action]:
    """The cable: EVConnected starts a transaction (E02), unplugging ends one (E06 EVConnected)."""
    was = evse.plugged
    had = st.txs.get(evse.evse_id)
    actions = charging.on_pilot(st, evse, state, now)
    if evse.plugged and not was:
        if had is not None and evse.evse_id in st.txs:
            actions += event(st, had, "Updated", "CablePluggedIn", now)  # E03: the EV came to it
        elif {"EVConnected", "ParkingBayOccupancy"} & set(points(st, "TxStartPoint")):
            actions += begin(st, evse, "CablePluggedIn", now)
    elif was and not evse.plugged:
        tx = st.txs.get(evse.evse_id)
        cable_stops = CABLE_STOP_POINTS & set(points(st, "TxStopPoint"))
        if tx is not None and evse.transaction is not None and cable_stops:
            # E06.FR.02/06: a cable stop point ends the transaction at unplugging, whatever
            # StopTxOnEVSideDisconnect says (E10's suspension is for stop points without the cable).
            actions += session_stopped(st, evse, "EVDisconnected", now, None)
        elif tx is not None and evse.transaction is None:
            # The session ended earlier (authorisation stopped) or never started: the cable ends it now.
            reason = tx.pending_stop or "EVDisconnected"
            actions += end(st, evse, tx, reason, "EVCommunicationLost", now, tx.pending_stop_token)
    return actions


def on_contactor(st: Station201, evse: Evse, now: Now) -> list[Action]:
    if evse.contactor_closed and "EnergyTransfer" in points(st, "TxStartPoint") and evse.session is not None:
        return begin(st, evse, "ChargingStateChanged", now)
    return []


def session_ready(st: Station201, evse: Evse, now: Now) -> list[Action]:
    """The domain's start: an authorised session with the cable in (PowerPathClosed / DataSigned, and
    the later of Authorized and EVConnected)."""
    session = charging.begin_session(st, evse, now)
    actions: list[Action] = charging.apply_energy(st, evse)  # the PWM first: the state reported is real
    start = set(points(st, "TxStartPoint"))
    if evse.evse_id not in st.txs and start & {"PowerPathClosed", "DataSigned", "Authorized", "EVConnected",
                                                "ParkingBayOccupancy"}:
        actions += begin(st, evse, "Authorized", now)
    tx = st.txs.get(evse.evse_id)
    if tx is not None and not tx.token_sent:
        tx.id_token = session.id_tag
        tx.token_type = st.token_types.get(session.id_tag, CARD)
        remote = st.remote_starts.pop(evse.evse_id, None)
        if remote is not None and tx.remote_start_id is None:
            tx.remote_start_id = remote
        actions += event(st, tx, "Updated", "RemoteStart" if remote is not None else "Authorized", now)
    return actions


def on_authorized(st: Station201, evse: Evse, now: Now) -> list[Action]:
    """E03: TxStartPoint Authorized starts the transaction before the cable is in."""
    if "Authorized" in points(st, "TxStartPoint"):
        return begin(st, evse, "Authorized", now)
    return []


# -- ending ----------------------------------------------------------------------------------------------


def session_stopped(st: Station201, evse: Evse, reason: str, now: Now, id_tag: str | None) -> list[Action]:
    """The domain's stop. An authorisation that ends while the cable stays in ends the transaction only
    when Authorized is a TxStopPoint; otherwise the cable does, later (E06)."""
    session, actions = charging.end_session(st, evse)
    if session is None:
        return []
    actions.insert(0, Log(logging.INFO, f"EVSE {evse.evse_id}: charging stops ({reason})"))
    tx = st.txs.get(evse.evse_id)
    if tx is None:
        return actions
    stop = set(points(st, "TxStopPoint"))
    keep = (reason in AUTHORIZATION_STOPS and "Authorized" not in stop and evse.plugged
            and {"EVConnected", "ParkingBayOccupancy"} & stop)
    if keep:
        tx.pending_stop, tx.pending_stop_token = reason, id_tag
        return [*actions, *event(st, tx, "Updated", STOP_TRIGGER.get(reason, "StopAuthorized"), now)]
    return [*actions, *end(st, evse, tx, reason, STOP_TRIGGER.get(reason, "AbnormalCondition"), now, id_tag)]


def end(st: Station201, evse: Evse, tx: Tx, reason: str, trigger: str, now: Now,
        id_tag: str | None = None) -> list[Action]:
    """E06: TransactionEvent Ended with the stoppedReason, the final meter values and, when a token stopped
    it, that token."""
    st.txs.pop(evse.evse_id, None)
    tx.extra["stoppedReason"] = STOPPED_REASON.get(reason, "Other")
    values = sampled_values(charging.readings_for(st, evse, "StopTxnSampledData"), "Transaction.End")
    actions = [Log(logging.INFO, f"EVSE {evse.evse_id}: transaction {tx.transaction_id} ends ({reason})"),
               *event(st, tx, "Ended", trigger, now, values, token=id_tag)]
    actions.append(Forget(KIND, str(evse.evse_id)))
    if evse.pending_operative is not None:
        from chargepoint.core.ocpp201.calls import set_operative

        actions += set_operative(st, evse, evse.pending_operative)
    if reason == "EVDisconnected" and st.settings.bool("UnlockConnectorOnEVSideDisconnect") and \
            charging.has_lock(st, evse.evse_id):
        actions.append(SetLock(evse.evse_id, False))
    return actions


# -- the message -----------------------------------------------------------------------------------------


def event(st: Station201, tx: Tx, kind: str, trigger: str, now: Now,
          values: list[JsonObject] | None = None, token: str | None = None, context: str | None = None,
          triggered: bool = False) -> list[Action]:
    """One TransactionEventRequest, durable, with the Tx (and its next seqNo) persisted alongside."""
    evse = st.evses[tx.evse_id]
    info: JsonObject = {"transactionId": tx.transaction_id, "chargingState": charging_state(evse)}
    tx.charging_state = str(info["chargingState"])
    if kind == "Ended":
        info["stoppedReason"] = tx.extra.get("stoppedReason", "Local")
        info["chargingState"] = "EVConnected" if evse.plugged else "Idle"
    if tx.remote_start_id is not None and (kind == "Started" or trigger == "RemoteStart"):
        info["remoteStartId"] = tx.remote_start_id  # F01.FR.25
    payload: JsonObject = {
        "eventType": kind,
        "timestamp": st.timestamp(now),
        "triggerReason": trigger,
        "seqNo": tx.seq_no,
        "transactionInfo": {k: v for k, v in info.items() if v is not None},
    }
    if not st.endpoint.connected:
        payload["offline"] = True  # E04.FR.01
    if not tx.evse_sent:
        payload["evse"] = {"id": tx.evse_id, "connectorId": 1}  # E01.FR.16: in the first event
        tx.evse_sent = True
    shown = token or (tx.id_token if not tx.token_sent else None)
    if shown:
        payload["idToken"] = id_token(shown, tx.token_type if shown == tx.id_token else
                                      st.token_types.get(shown, CARD))
        if shown == tx.id_token:
            tx.token_sent = True
            session = evse.session
            if session is not None and session.reservation_id is not None:
                payload["reservationId"] = session.reservation_id  # H01.FR.15 / E01.FR.13
    if values:
        payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": values}]
    tx.seq_no += 1
    meta: JsonObject = {"tx": tx.transaction_id, "evse": tx.evse_id, "boot": st.boot_count,
                        "unsynced": not st.synced}
    if token:
        meta["token"] = token
    if triggered:
        meta["triggered"] = True
    persist: list[Action] = [] if kind == "Ended" else [Persist(KIND, str(tx.evse_id), tx.record())]
    return [*persist, *st.enqueue("TransactionEvent", payload, now, durable=True, meta=meta)]


def sync(st: Station201, now: Now) -> list[Action]:
    """E: every change of the charging state in a transaction is a TransactionEvent Updated."""
    actions: list[Action] = []
    for evse_id, tx in list(st.txs.items()):
        evse = st.evses[evse_id]
        if charging_state(evse) != tx.charging_state:
            actions += event(st, tx, "Updated", "ChargingStateChanged", now)
    return actions


# -- meter values (J) ------------------------------------------------------------------------------------


def sampled_values(values: list[Reading], context: str) -> list[JsonObject]:
    """SampledValueType: numbers on the wire (not strings, unlike 1.6), the unit in unitOfMeasure."""
    out: list[JsonObject] = []
    for r in values:
        item: JsonObject = {"value": r.value, "context": context, "measurand": r.measurand,
                            "location": "Outlet"}
        if r.unit:
            item["unitOfMeasure"] = {"unit": r.unit}
        if r.phase:
            item["phase"] = r.phase
        out.append(item)
    return out


def meter_values(st: Station201, evse: Evse, key: str, context: str, trigger: str, now: Now,
                 triggered: bool = False) -> list[Action]:
    """In a transaction: an Updated TransactionEvent (J02); otherwise MeterValuesRequest (J01)."""
    values = sampled_values(charging.readings_for(st, evse, key), context)
    if not values:
        return []
    tx = st.txs.get(evse.evse_id)
    if tx is not None:
        return event(st, tx, "Updated", trigger, now, values, triggered=triggered)
    payload: JsonObject = {"evseId": evse.evse_id,
                           "meterValue": [{"timestamp": st.timestamp(now), "sampledValue": values}]}
    meta: JsonObject = {"triggered": True} if triggered else {}
    return st.enqueue("MeterValues", payload, now, meta=meta)


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    kind, _, arg = name.partition(".")
    if kind == "sample" and arg.isdigit():
        evse = st.evses[int(arg)]
        charging.arm_sampling(st, evse, now)
        if evse.transaction is None:
            return []
        return meter_values(st, evse, "MeterValuesSampledData", "Sample.Periodic", "MeterValuePeriodic", now)
    if kind == "aligned":
        charging.arm_aligned(st, now)
        actions: list[Action] = []
        idle = st.settings.bool("AlignedDataCtrlr.SendDuringIdle")
        for evse in st.evses.values():
            if evse.evse_id in st.txs or idle:
                actions += meter_values(st, evse, "MeterValuesAlignedData", "Sample.Clock", "MeterValueClock",
                                        now)
        return actions
    if kind == "conntimeout":
        if arg == "pending":
            st.pending_auth = None
            return [Log(logging.INFO, "no cable plugged in time: authorisation dropped")]
        evse = st.evses[int(arg)]
        if evse.session is not None and not evse.session.started:
            evse.session = None
            actions = [Log(logging.INFO, f"EVSE {arg}: no cable plugged in time (EVConnectionTimeOut)")]
            tx = st.txs.get(evse.evse_id)
            if tx is not None:  # E03: begun at Authorized; the EV never came
                actions += end(st, evse, tx, "Timeout", "EVConnectTimeout", now)
            return actions
        return []
    if kind == "powerloss":
        actions = []
        for evse_id in list(st.power_loss):
            actions += finish_power_loss(st, evse_id, now)
        return actions
    from chargepoint.core.ocpp201 import calls

    return calls.on_timer(st, name, now)


# -- recovery --------------------------------------------------------------------------------------------


def restore(st: Station201, rows: list[tuple[str, object]], now: Now) -> list[Action]:
    """Transactions that were running when the power went: ended as PowerLoss once the meter answers."""
    actions: list[Action] = []
    for key, value in rows:
        tx = Tx.from_record(value)
        if tx is None or tx.evse_id not in st.evses:
            continue
        st.power_loss[tx.evse_id] = tx
        actions.append(Log(logging.WARNING, f"EVSE {key}: transaction {tx.transaction_id} was cut by a "
                           "power loss"))
    if st.power_loss:
        st.timers.set("powerloss", now.monotonic + POWER_LOSS_WAIT_S)
    return actions


def finish_power_loss(st: Station201, evse_id: int, now: Now) -> list[Action]:
    tx = st.power_loss.pop(evse_id)
    evse = st.evses[evse_id]
    tx.extra["stoppedReason"] = "PowerLoss"
    values = sampled_values(charging.readings_for(st, evse, "StopTxnSampledData"), "Transaction.End")
    return [*event(st, tx, "Ended", "AbnormalCondition", now, values), Forget(KIND, str(evse_id))]


# -- answers ---------------------------------------------------------------------------------------------


def prepare(st: Station201, msg: Outgoing) -> JsonObject | None:
    return msg.payload  # transaction ids are the station's own: nothing to fill in late


def on_result(st: Station201, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
    if msg.action == "Authorize":
        token, evse_id, stop_for = msg.meta.get("token"), msg.meta.get("evse"), msg.meta.get("stop_for")
        if not isinstance(token, str) or not isinstance(evse_id, int):
            return []
        info = id_info(payload.get("idTokenInfo"))
        if info is None or info.status is not AuthStatus.ACCEPTED:
            st.remote_starts.pop(evse_id, None)
        return charging.authorize_answered(st, token, evse_id, info, now,
                                           stop_for if isinstance(stop_for, int) else None)
    if msg.action == "TransactionEvent":
        return _on_transaction_answer(st, msg, payload, now)
    return []


def _on_transaction_answer(st: Station201, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
    """E05: an idTokenInfo in the answer: cached, and an invalid id stops or suspends the charging."""
    info = id_info(payload.get("idTokenInfo"))
    token = msg.payload.get("idToken")
    if info is None or not isinstance(token, dict) or not isinstance(token.get("idToken"), str):
        return []
    value = str(token["idToken"])
    actions = charging.remember(st, value, info, now)
    if info.status is AuthStatus.ACCEPTED or msg.payload.get("eventType") == "Ended":
        return actions
    for evse in st.evses.values():
        session = evse.session
        if session is None or session.ended or session.id_tag != value:
            continue
        tx = st.txs.get(evse.evse_id)
        if not session.started:
            # Begun at TxStartPoint Authorized, the cable not in yet: the authorisation is withdrawn.
            evse.session = None
            st.timers.cancel(f"conntimeout.{evse.evse_id}")
            if tx is not None:
                actions += end(st, evse, tx, "DeAuthorized", "Deauthorized", now)
        elif st.settings.bool("StopTransactionOnInvalidId"):
            actions += session_stopped(st, evse, "DeAuthorized", now, None)
        else:
            actions += charging.deauthorize(st, evse, session)  # E05.FR.03: suspended
    return actions


def on_failure(st: Station201, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
    if msg.action == "Authorize":
        token, evse_id = msg.meta.get("token"), msg.meta.get("evse")
        if isinstance(token, str) and isinstance(evse_id, int):
            return charging.decide_offline(st, token, evse_id, now)  # C15: the offline rules
    return []

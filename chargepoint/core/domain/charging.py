"""Version-neutral charging: id tokens, sessions, authorisation rules, energy, sampling and alignment timers.

Both adapters run a station through these functions; each supplies its messages through the ``Host``
protocol (how to ask the CSMS to authorise a token, how a transaction starts and stops on the wire). The
rules are those OCPP 1.6 and 2.0.1 share: local authorisation first from the Local Authorization List, then
the Authorization Cache (1.6 §3.5 / 2.0.1 C12, C13), LocalPreAuthorize, offline rules (LocalAuthorizeOffline,
AllowOfflineTxForUnknownId / OfflineTxForUnknownIdEnabled), the connection timeout (ConnectionTimeOut /
EVConnectionTimeOut), stop on EV-side disconnect, and IEC 61851 energy sequencing. Settings are read under
their canonical (1.6) names; the 2.0.1 device model maps its variables onto them.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Protocol

from chargepoint.core.actions import Action, Log, Persist, SetContactor, SetLock, SetPilotCurrent
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain.auth import AuthorizationCache, AuthStatus, IdInfo, LocalList
from chargepoint.core.domain.evse import Evse, Reservation, Session
from chargepoint.core.domain.info import StationInfo
from chargepoint.core.domain.metering import Reading, readings
from chargepoint.core.domain.settings import Settings
from chargepoint.core.domain.smart import SmartCharging, may_charge
from chargepoint.core.rpc.endpoint import Endpoint
from chargepoint.core.timers import Timers
from hal.types import PilotState

CACHE_LIFETIME = "AuthCacheCtrlr.LifeTime"  # seconds; a 2.0.1 device-model variable only
NO_EVSE = -1  # an Authorize asked only about a group: no EVSE was free for a new session


class Host(Protocol):
    """What the charging rules need from an adapter's station object."""

    info: StationInfo
    settings: Settings
    cache: AuthorizationCache
    local_list: LocalList
    evses: dict[int, Evse]
    timers: Timers
    endpoint: Endpoint
    pending_auth: tuple[str, str | None, float] | None
    tx_seq: int
    station_reservation: Reservation | None
    station_operative: bool
    boot_count: int
    smart: SmartCharging

    def time(self, now: Now) -> datetime: ...

    def online(self) -> bool:
        """Connected and registered (BootNotification Accepted)."""
        ...

    def send_authorize(self, token: str, evse_id: int, now: Now, stop_for: int | None = None) -> list[Action]:
        """Ask the CSMS about ``token`` (1.6 Authorize.req / 2.0.1 C01 AuthorizeRequest); ``stop_for``: to
        learn whether it belongs to the group of the transaction on that EVSE. The answer goes to
        ``authorize_answered``."""
        ...

    def start_tx(self, evse: Evse, now: Now) -> list[Action]:
        """The session's transaction starts on the wire."""
        ...

    def stop_tx(self, evse: Evse, reason: str, now: Now, id_tag: str | None = None) -> list[Action]:
        """The transaction ends (``reason`` in 1.6 Reason terms; the 2.0.1 adapter maps them)."""
        ...

    def on_authorized(self, evse: Evse, now: Now) -> list[Action]:
        """A session was authorised and waits for the cable (2.0.1 TxStartPoint Authorized starts here)."""
        ...


def readings_for(st: Host, evse: Evse, key: str) -> list[Reading]:
    """The latest sample's readings of the measurands listed in setting ``key``."""
    if evse.last_sample is None:
        return []
    return readings(evse.last_sample, st.settings.csl(key), evse.offered_a)


def mask(token: str) -> str:
    """An id token shortened for logs: never the whole token in a log line."""
    return token[:4] + "…" if len(token) > 4 else "…"


def local_info(st: Host, token: str, now: Now | None = None) -> IdInfo | None:
    """What the station knows locally: the Local Authorization List first, then the cache (§3.5.3);
    a cache entry older than AuthCacheCtrlr.LifeTime (2.0.1 C10; 1.6 has no lifetime) is not used."""
    if st.settings.bool("LocalAuthListEnabled"):
        info = st.local_list.get(token)
        if info is not None:
            return info
    if st.settings.bool("AuthorizationCacheEnabled"):
        lifetime = st.settings.int(CACHE_LIFETIME) if st.settings.spec(CACHE_LIFETIME) else 0
        return st.cache.get(token, st.time(now) if now is not None else None, lifetime)
    return None


def online(st: Host) -> bool:
    return st.online()


def on_token(st: Host, token: str, now: Now) -> list[Action]:
    """A card was presented: stop the transaction it started, or begin authorising a new one."""
    info = local_info(st, token, now)
    for evse in st.evses.values():
        session = evse.session
        if session is None or session.ended:
            continue
        same = session.id_tag == token
        # Stopping with a token of the same group (parentIdTag), known locally (1.6 §5.16).
        group = info is not None and info.parent is not None and info.parent == session.parent
        if same or group:
            if session.started:
                return st.stop_tx(evse, "Local", now, id_tag=token)
            evse.session = None
            st.timers.cancel(f"conntimeout.{evse.evse_id}")
            return [Log(logging.INFO, f"EVSE {evse.evse_id}: authorisation cancelled by the driver")]
    if info is None and st.online():
        # 1.6 §5.16 / 2.0.1 C09.FR.03: an unknown card may belong to the group of a running transaction:
        # ask the CSMS for its group before deciding between stop and a new session.
        grouped = [e for e in st.evses.values() if e.transaction is not None and e.transaction.parent]
        if grouped:
            target = choose_evse(st, token, None)
            return st.send_authorize(token, target if target is not None else NO_EVSE, now,
                                     stop_for=grouped[0].evse_id)
    if st.pending_auth is not None and st.pending_auth[0] == token:
        st.pending_auth = None
        st.timers.cancel("conntimeout.pending")
        return [Log(logging.INFO, "authorisation cancelled by the driver")]
    target = choose_evse(st, token, info.parent if info else None)
    if target is None and info is None and st.online():
        # 2.0.1 H03 / 1.6 §5.13: an unknown card may belong to the group a reservation is held for:
        # ask the CSMS; ``authorized`` lets it in only if its group matches.
        held = [e for e in st.evses.values() if e.reservation is not None and e.reservation.parent
                and usable_for(st, e, token, e.reservation.parent)]
        if held:
            return st.send_authorize(token, held[0].evse_id, now)
    if target is None:
        return [Log(logging.INFO, f"token {mask(token)}: no EVSE free")]
    return authorize(st, token, target, now)


def authorize_answered(st: Host, token: str, evse_id: int, info: IdInfo | None, now: Now,
                       stop_for: int | None = None) -> list[Action]:
    """The CSMS's answer to an Authorize: cached; accepted → the session (or, for a card asked about a
    group's transaction, the stop when it is of that group)."""
    cached = remember(st, token, info, now)
    if info is None or info.effective(st.time(now)) is not AuthStatus.ACCEPTED:
        status = info.status.value if info else "Invalid"
        return [*cached, Log(logging.INFO, f"token {mask(token)} refused: {status}")]
    if stop_for is not None:
        evse = st.evses.get(stop_for)
        session = evse.transaction if evse is not None else None
        if evse is not None and session is not None and info.parent is not None and \
                info.parent == session.parent:
            return cached + st.stop_tx(evse, "Local", now, id_tag=token)
        if (evse_id == 0 and len(st.evses) == 1) or (evse_id not in st.evses and evse_id != 0):
            return [*cached, Log(logging.INFO, f"token {mask(token)}: no EVSE free")]
    return cached + authorized(st, token, info.parent, evse_id, now)


def choose_evse(st: Host, token: str, parent: str | None) -> int | None:
    """The EVSE a presented token is for: a plugged one waiting, else 0 (the next one plugged in)."""
    usable = [e for e in st.evses.values() if usable_for(st, e, token, parent)]
    plugged = [e for e in usable if e.plugged and not e.finishing]
    if plugged:
        return plugged[0].evse_id
    if not usable:
        return None
    return usable[0].evse_id if len(st.evses) == 1 else 0


def usable_for(st: Host, evse: Evse, token: str, parent: str | None) -> bool:
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


def authorize(st: Host, token: str, evse_id: int, now: Now, remote: bool = False) -> list[Action]:
    info = local_info(st, token, now)
    if online(st):
        # 1.6 §9.1 LocalPreAuthorize: start at once for a locally valid id, without Authorize.
        pre = st.settings.bool("LocalPreAuthorize") and info is not None
        if pre and info is not None and info.effective(st.time(now)) is AuthStatus.ACCEPTED:
            return authorized(st, token, info.parent, evse_id, now)
        return st.send_authorize(token, evse_id, now)
    return decide_offline(st, token, evse_id, now)


def decide_offline(st: Host, token: str, evse_id: int, now: Now) -> list[Action]:
    """1.6 §3.5.1: offline, a locally valid id may start (LocalAuthorizeOffline), an unknown one only
    with AllowOfflineTxForUnknownId; an id known as invalid never."""
    info = local_info(st, token, now)
    if info is not None:
        valid = info.effective(st.time(now)) is AuthStatus.ACCEPTED
        if valid and st.settings.bool("LocalAuthorizeOffline"):
            return authorized(st, token, info.parent, evse_id, now)
        return [Log(logging.INFO, f"token {mask(token)} refused offline")]
    if st.settings.bool("AllowOfflineTxForUnknownId"):
        return authorized(st, token, None, evse_id, now)
    return [Log(logging.INFO, f"token {mask(token)} unknown and offline: refused")]


def remember(st: Host, token: str, info: IdInfo | None, now: Now | None = None) -> list[Action]:
    """1.6 §3.5.2: every IdTagInfo the CSMS sends updates the cache, unless it is disabled or the id is
    on the local list (the list has priority and is managed by the CSMS)."""
    if info is None or not st.settings.bool("AuthorizationCacheEnabled"):
        return []
    if st.settings.bool("LocalAuthListEnabled") and st.local_list.get(token) is not None:
        return []
    return st.cache.update(token, info, st.time(now) if now is not None else None)


def authorized(
    st: Host, token: str, parent: str | None, evse_id: int, now: Now, remote_start: bool = False
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
        return actions + st.start_tx(evse, now)
    st.timers.set(f"conntimeout.{evse_id}", now.monotonic + timeout)
    return [*actions, Log(logging.INFO, f"EVSE {evse_id}: authorised, waiting for the cable"),
            *st.on_authorized(evse, now)]


def begin_session(st: Host, evse: Evse, now: Now) -> Session:
    """The session's transaction begins: the start reading and time, and its reservation is used up."""
    session = evse.session
    assert session is not None and not session.started
    session.started = True
    session.start_energy_wh = evse.energy_wh
    session.start_time = st.time(now)
    if evse.reservation is not None and evse.reservation.reservation_id == session.reservation_id:
        evse.reservation = None
        st.timers.cancel(f"reservation.{evse.evse_id}")
    sr = st.station_reservation
    if sr is not None and sr.reservation_id == session.reservation_id:
        st.station_reservation = None
        st.timers.cancel("reservation.0")
    arm_sampling(st, evse, now)
    return session


def end_session(st: Host, evse: Evse) -> tuple[Session | None, list[Action]]:
    """The running transaction's session ends: power off first (IEC 61851), sampling stops."""
    session = evse.transaction
    if session is None:
        return None, []
    session.ended = True
    evse.session = None
    evse.finishing = evse.plugged
    st.timers.cancel(f"sample.{evse.evse_id}")
    return session, apply_energy(st, evse)


def new_session(st: Host, evse: Evse, token: str, parent: str | None) -> list[Action]:
    st.tx_seq += 1
    session = Session(st.tx_seq, token, parent)
    r = evse.reservation or st.station_reservation
    if r is not None and (r.id_tag == token or (parent is not None and r.parent == parent)):
        session.reservation_id = r.reservation_id
    evse.session = session
    return [Persist("meta", "tx_seq", st.tx_seq)]


def on_pilot(st: Host, evse: Evse, state: PilotState, now: Now) -> list[Action]:
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
            actions += st.start_tx(evse, now)
    elif previous.connected and not state.connected:
        evse.finishing = False
        if evse.transaction is not None and st.settings.bool("StopTransactionOnEVSideDisconnect"):
            actions += st.stop_tx(evse, "EVDisconnected", now)
        if st.settings.bool("UnlockConnectorOnEVSideDisconnect") and has_lock(st, evse.evse_id):
            actions.append(SetLock(evse.evse_id, False))
    return actions + apply_energy(st, evse)


def has_lock(st: Host, evse_id: int) -> bool:
    return any(s.evse_id == evse_id and s.has_lock for s in st.info.evses)


def apply_energy(st: Host, evse: Evse) -> list[Action]:
    """Bring the pilot PWM and the contactor in line with the facts.

    Power flows only while a transaction runs for an authorised id, the EVSE is fault-free, and the EV
    asks for it (IEC 61851: PWM first, the EV answers with state C, then the contactor closes; opening
    goes the other way round). The current offered is the smart-charging limit in force (``smart.py``);
    below 6 A it is 0 and the EV pauses (SuspendedEVSE). When this EVSE's share grows, the others' shrink
    first, so the offers never add up to more than the site limit.
    """
    offered = st.smart.offer(st.evses, evse) if may_charge(evse) else 0.0
    actions: list[Action] = []
    if offered > evse.offered_a:
        for other in st.evses.values():
            if other is not evse and other.offered_a > 0:
                lower = st.smart.offer(st.evses, other) if may_charge(other) else 0.0
                if lower < other.offered_a:
                    actions += _energize(st, other, lower)
    return actions + _energize(st, evse, offered)


def _energize(st: Host, evse: Evse, offered: float) -> list[Action]:
    close = may_charge(evse) and evse.pilot.wants_power and offered > 0
    actions: list[Action] = []
    if not close and evse.contactor_command:
        evse.contactor_command = False
        actions.append(SetContactor(evse.evse_id, False))
    if offered != evse.offered_a:
        evse.offered_a = offered
        evse.offer_at = st.smart.moment
        actions.append(SetPilotCurrent(evse.evse_id, offered))
    if close and not evse.contactor_command:
        evse.contactor_command = True
        actions.append(SetContactor(evse.evse_id, True))
    return actions


def deauthorize(st: Host, evse: Evse, session: Session) -> list[Action]:
    """The CSMS declared the transaction's id invalid and StopTransactionOnInvalidId is false: suspend it,
    after at most MaxEnergyOnInvalidId Wh of the transaction (1.6 §9.1, 2.0.1 E05.FR.03)."""
    session.authorized = False
    limit = st.settings.int("MaxEnergyOnInvalidId")
    session.energy_cap_wh = session.start_energy_wh + limit if limit > 0 else None
    return apply_energy(st, evse)


def rebalance(st: Host, now: Now) -> list[Action]:
    """Re-apply the smart-charging limits to every EVSE: after each event (a transaction starts or ends,
    an EV draws less, a profile arrives) and at each period boundary (the ``smart`` timer). EVSEs whose
    offer falls go first, so the shares never add up to more than the site limit on the way."""
    moment = st.time(now)
    st.smart.moment = moment
    authorizing = st.pending_auth is not None or any(m.action == "Authorize" for m in st.endpoint.queued())
    actions = st.smart.cleanup(st.evses, authorizing)
    offers = st.smart.allocate(st.evses, moment)
    for evse in sorted(st.evses.values(),
                       key=lambda e: (offers.get(e.evse_id, 0.0) - e.offered_a, e.evse_id)):
        actions += apply_energy(st, evse)
    st.smart.arm(st.timers, st.evses, moment, now)
    return actions


def correct_unsynced(st: Host, delta: timedelta) -> list[Action]:
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


def arm_sampling(st: Host, evse: Evse, now: Now) -> None:
    interval = st.settings.int("MeterValueSampleInterval")
    if interval > 0 and evse.transaction is not None:
        st.timers.set(f"sample.{evse.evse_id}", now.monotonic + interval)
    else:
        st.timers.cancel(f"sample.{evse.evse_id}")


def next_aligned(st: Host, now: Now) -> float:
    """The monotonic time of the next clock-aligned boundary (1.6 §9.1 ClockAlignedDataInterval)."""
    interval = st.settings.int("ClockAlignedDataInterval")
    if interval <= 0:
        return math.inf
    moment = st.time(now)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (moment - midnight).total_seconds()
    wait = interval - (elapsed % interval)
    return now.monotonic + wait


def arm_aligned(st: Host, now: Now) -> None:
    deadline = next_aligned(st, now)
    if math.isinf(deadline):
        st.timers.cancel("aligned")
    else:
        st.timers.set("aligned", deadline)

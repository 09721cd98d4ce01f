"""The station's smart charging: installed profiles, what each EVSE may offer now, and when that changes.

Version-neutral (OCPP 1.6 §3.13 SmartCharging, 2.0.1 block K). The adapters translate messages into
``Profile``s and call ``install`` / ``clear``; the charging rules ask ``offer`` for the PWM current of an
EVSE that may charge. The offer is the minimum of the EVSE's hardware limit and the profiles in force
(``composite.limit_at``), shared under the site limit (the installer's ``site_max_current_a`` and the
station-maximum profile) between the EVSEs that charge (``sharing.share``); IEC 61851-1 allows no offer
below 6 A, so a smaller limit pauses the EV (0 A). ``rebalance`` runs after every event and at each
period boundary (the ``smart`` timer), so a limit changes to the second; profiles are rows on disk and
govern offline and after a restart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from chargepoint.core.actions import Action, Forget, Log, Persist
from chargepoint.core.clock import Now
from chargepoint.core.domain.composite import EvseLimits, Limit, limit_at, next_change
from chargepoint.core.domain.evse import Evse
from chargepoint.core.domain.info import StationInfo
from chargepoint.core.domain.profiles import (
    Kind,
    Period,
    Profile,
    ProfileLimits,
    ProfileStore,
    Purpose,
    RateUnit,
    Reason,
    Schedule,
)
from chargepoint.core.domain.settings import Settings
from chargepoint.core.domain.sharing import MIN_CURRENT_A, Demand, share
from chargepoint.core.timers import Timers

ROWS = "charging_profile"
TIMER = "smart"
SETTLE = timedelta(seconds=5)  # IEC 61851-1: the EV follows a new PWM offer within 5 s


def may_charge(evse: Evse) -> bool:
    """Power may flow: a transaction runs for an authorised id and the EVSE is fault-free."""
    tx = evse.transaction
    if tx is None or evse.faults:
        return False
    # 1.6 §9.1 / 2.0.1 E05: an id the CSMS declared invalid may still draw MaxEnergyOnInvalidId.
    return tx.authorized or (tx.energy_cap_wh is not None and evse.energy_wh < tx.energy_cap_wh)


class SmartCharging:
    """Profiles and the limits they give; one per station."""

    def __init__(self, info: StationInfo, tx_id: Callable[[Evse], str | None]) -> None:
        self.info = info
        self.store = ProfileStore()
        self._tx_id = tx_id  # the adapter's transaction id of an EVSE's running transaction
        self.moment: datetime | None = None  # station time of the event being handled
        self.awaiting: dict[int, Profile] = {}  # EVSE id → the TxProfile of a remote start, until its session
        self._memo: tuple[object, dict[int, float]] | None = None  # the last allocation and what it used

    # -- profiles ---------------------------------------------------------------------------------

    def restore(self, rows: Iterable[tuple[str, object]]) -> list[Action]:
        actions: list[Action] = []
        for key, value in rows:
            profile = Profile.from_row(value)
            if profile is None:
                actions += [Forget(ROWS, key), Log(logging.WARNING, f"charging profile row {key} unreadable")]
            else:
                self.store.profiles[profile.profile_id] = profile
        return actions

    def limits(self, settings: Settings) -> ProfileLimits:
        units = settings.csl("ChargingScheduleAllowedChargingRateUnit")
        allowed = tuple(u for name, u in (("Current", RateUnit.AMPS), ("Power", RateUnit.WATTS))
                        if name in units)
        return ProfileLimits(settings.int("ChargeProfileMaxStackLevel"), allowed,
                             settings.int("ChargingScheduleMaxPeriods"),
                             settings.int("MaxChargingProfilesInstalled"))

    def running(self, evses: Iterable[Evse]) -> dict[int, str]:
        """EVSE id → transaction id of each running transaction (TxProfile targets)."""
        out: dict[int, str] = {}
        for evse in evses:
            tx_id = self._tx_id(evse) if evse.transaction is not None else None
            if tx_id is not None:
                out[evse.evse_id] = tx_id
        return out

    def check(self, profile: Profile, settings: Settings, evses: dict[int, Evse],
              replace_same_level: bool) -> Reason | None:
        return self.store.check(profile, self.limits(settings), set(evses), self.running(evses.values()),
                                replace_same_level)

    def install(self, profile: Profile) -> list[Action]:
        """Install a checked profile: on disk before it governs (1.6 §3.13.2 / K01.FR.05 replace)."""
        gone = self.store.install(profile)
        actions: list[Action] = [Forget(ROWS, str(key)) for key in gone]
        actions += [Persist(ROWS, str(profile.profile_id), profile.to_row()),
                    Log(logging.INFO, f"charging profile {profile.profile_id} installed "
                        f"({profile.purpose.value}, EVSE {profile.evse_id}, level {profile.stack_level})")]
        return actions

    def remove(self, profiles: Iterable[Profile]) -> list[Action]:
        ids = [p.profile_id for p in profiles]
        self.store.remove(ids)
        return [a for key in ids for a in (Forget(ROWS, str(key)),
                                            Log(logging.INFO, f"charging profile {key} cleared"))]

    def check_remote(self, profile: Profile, settings: Settings, evses: dict[int, Evse]) -> Reason | None:
        """A TxProfile inside RemoteStartTransaction / RequestStartTransaction (1.6 §5.11, F01.FR.08): for
        the transaction about to start, so without a transaction id."""
        if profile.transaction_id is not None:
            return Reason.INVALID_PROFILE
        running = {**self.running(evses.values()), profile.evse_id: "remote-start"}
        return self.store.check(profile, self.limits(settings), set(evses), running, True)

    def await_session(self, profile: Profile) -> None:
        """Hold a remote start's TxProfile until the session it asked for exists."""
        self.awaiting[profile.evse_id] = profile

    def cleanup(self, evses: dict[int, Evse], authorizing: bool) -> list[Action]:
        """A TxProfile lives only as long as its session: it ends with the transaction (1.6 §3.13.3, 2.0.1
        K01); one that came with a remote start is installed when the session exists and dropped
        when no session follows (``authorizing``: an Authorize for a new session is still open)."""
        actions: list[Action] = []
        for evse in evses.values():
            live = evse.session is not None and not evse.session.ended
            waiting = self.awaiting.get(evse.evse_id)
            if waiting is not None and live:
                del self.awaiting[evse.evse_id]
                actions += self.install(waiting)
            elif waiting is not None and not authorizing:
                del self.awaiting[evse.evse_id]
            if not live:
                gone = self.store.end_transaction(evse.evse_id)
                actions += [Forget(ROWS, str(key)) for key in gone]
        return actions

    def set_external(self, evse_id: int, limit_a: float | None, source: str) -> list[Action]:
        """An external constraint (K12): a read-only profile the CSMS can see but not change; one per EVSE,
        with a negative id so it never collides with the CSMS's (2.0.1 allows negative ids for these)."""
        profile_id = -1 - evse_id
        if limit_a is None:
            gone = self.store.matching(profile_id=profile_id, purpose=Purpose.EXTERNAL)
            return self.remove(gone)
        profile = Profile(profile_id, 0, Purpose.EXTERNAL, Kind.RELATIVE,
                          Schedule(RateUnit.AMPS, (Period(0, max(0.0, limit_a)),)), evse_id, source=source)
        self.store.profiles[profile_id] = profile
        return [Persist(ROWS, str(profile_id), profile.to_row()),
                Log(logging.INFO, f"EVSE {evse_id}: external limit {limit_a:g} A ({source})")]

    # -- limits -----------------------------------------------------------------------------------

    def evse_limits(self, evse: Evse) -> EvseLimits:
        session = evse.transaction
        return EvseLimits(evse.evse_id, evse.max_current_a, evse.phases, self.info.voltage_v,
                          self._tx_id(evse) if session is not None else None,
                          session.start_time if session is not None else None)

    def station_limits(self, evses: Iterable[Evse]) -> EvseLimits:
        """The grid connection: evse 0, whose hardware limit is the installer's site limit, or the sum."""
        total = sum(e.max_current_a for e in evses)
        site = self.info.site_max_current_a
        return EvseLimits(0, min(total, site) if site else total, max((e.phases for e in evses), default=3),
                          self.info.voltage_v)

    def limit(self, evse: Evse, moment: datetime) -> Limit:
        return limit_at(self.store.profiles.values(), self.evse_limits(evse), moment)

    def allocate(self, evses: dict[int, Evse], moment: datetime) -> dict[int, float]:
        """What each EVSE may offer at ``moment`` (0 for those that may not charge). The charging rules ask
        once per EVSE within one event: the answer is kept while nothing it depends on changes."""
        key = (moment, tuple(self.store.profiles.values()),
               tuple((e.evse_id, may_charge(e), _drawing(e), self._tx_id(e) if e.transaction else None,
                      e.session.start_time if e.session else None) for e in evses.values()))
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        offers = self._allocate(evses, moment)
        self._memo = (key, offers)
        return offers

    def _allocate(self, evses: dict[int, Evse], moment: datetime) -> dict[int, float]:
        caps = {e.evse_id: self.limit(e, moment).amps for e in evses.values()}
        station = limit_at(self.store.profiles.values(), self.station_limits(evses.values()), moment).amps
        shared = len(evses) > 1 or station < min(caps.values(), default=math.inf)
        if not shared:
            return {k: (_floor(cap) if cap >= MIN_CURRENT_A and may_charge(evses[k]) else 0.0)
                    for k, cap in caps.items()}
        demands = [Demand(e.evse_id, caps[e.evse_id], may_charge(e), _drawing(e), e.phases)
                   for e in evses.values()]
        return share(station, demands)

    def offer(self, evses: dict[int, Evse], evse: Evse) -> float:
        """The PWM current for ``evse`` now (the charging rules call this while handling an event)."""
        if not may_charge(evse):
            return 0.0
        if self.moment is None:  # before the first event with a time: the hardware limit alone
            return evse.max_current_a
        return self.allocate(evses, self.moment).get(evse.evse_id, 0.0)

    def describe(self, evse: Evse) -> dict[str, object]:
        """For ``chargepoint status``: the limit the profiles give the EVSE now and what sets it."""
        if self.moment is None:
            return {}
        limit = self.limit(evse, self.moment)
        source = limit.source.value if limit.source else "hardware"
        return {"profile_limit_a": limit.amps, "limited_by": source,
                "charging_profiles": sorted(p.profile_id for p in self.store.profiles.values()
                                            if p.evse_id in (0, evse.evse_id))}

    def arm(self, timers: Timers, evses: dict[int, Evse], moment: datetime, now: Now) -> None:
        """The ``smart`` timer at the next moment any limit may change (a period boundary, to the second)."""
        profiles = list(self.store.profiles.values())
        if not profiles:
            timers.cancel(TIMER)
            return
        changes = [next_change(profiles, self.evse_limits(e), moment) for e in evses.values()]
        changes.append(next_change(profiles, self.station_limits(evses.values()), moment))
        upcoming = [c for c in changes if c is not None]
        if not upcoming:
            timers.cancel(TIMER)
            return
        timers.set(TIMER, now.monotonic + max(0.0, (min(upcoming) - moment).total_seconds()))


def _drawing(evse: Evse) -> float | None:
    """What the EV draws, from a reading taken once it had time to follow the last offer (IEC 61851-1
    gives it 5 s); ``None`` when there is no such reading, so the EV is not held to an old one."""
    sample, taken, offered = evse.last_sample, evse.sample_at, evse.offer_at
    if sample is None or not sample.current_a or not evse.contactor_closed or taken is None:
        return None
    if offered is not None and taken < offered + SETTLE:
        return None
    return max(sample.current_a)


def _floor(amps: float) -> float:
    return math.floor(amps * 10 + 1e-9) / 10

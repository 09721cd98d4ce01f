"""The limit in force and the composite schedule: what the installed charging profiles allow an EVSE, when.

Pure arithmetic over ``profiles.Profile`` (OCPP 1.6 §3.13, 2.0.1 part 2 block K); the caller passes the
moment (timezone-aware UTC) and the EVSE's hardware, so nothing here reads a clock.

The rules, for EVSE ``e`` >= 1 (OCPP 1.6 §3.13.1 / §3.13.3, 2.0.1 part 2 K §3.5 "Stacking" and §3.6
"Combining charging profile purposes"):

* a profile is *in force* at ``t`` when ``t`` is inside validFrom / validTo and its schedule has a
  period for ``t`` (after its start, before its duration ends, before the next recurrence);
* within one group, the profile in force with the highest stack level leads and its period gives the
  limit; when its schedule ends the next lower level leads again (1.6 §3.13.2 note: "If you use Stacking
  without a duration, on the highest stack level, the Charge Point will never fall back");
* the groups are: ChargePointMax / ChargingStationMax on 0; external constraints on 0; external
  constraints on ``e``; and the transaction group: a TxProfile of the running transaction if one is in
  force, else a TxDefaultProfile on ``e`` if one is in force, else one on 0 (1.6 §3.13.1: "the
  TxDefaultProfile SHALL be replaced only for that specific connector"; a TxProfile "SHALL overrule"
  the default for the current transaction only);
* the limit is the lowest of the leading limits and the hardware (1.6 §3.13.3: "less than or equal to
  lowest value of available power or current in any of the merged schedules").

External constraints on 0 and on ``e`` are kept as two groups (both minimised) rather than one stack:
one on 0 limits the whole grid connection, so a higher stack level on one EVSE must not lift it.
For EVSE 0 (the grid connection, 1.6 §5.7 connectorId 0 / 2.0.1 K08 evseId 0) only the station maximum
and the external constraints on 0 count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from chargepoint.core.domain.profiles import (
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)

DEFAULT_PHASES = 3  # 1.6 §7.14 / 2.0.1 ChargingSchedulePeriodType: "numberPhases=3 will be assumed"
_RECURRENCE = {Recurrency.DAILY: timedelta(days=1), Recurrency.WEEKLY: timedelta(days=7)}
# When two groups give the same limit, the first of these is named as its source.
_SOURCE_ORDER = (Purpose.STATION_MAX, Purpose.EXTERNAL, Purpose.TX, Purpose.TX_DEFAULT)


@dataclass(frozen=True, slots=True)
class EvseLimits:
    """The hardware and the transaction of one EVSE, as the composite needs them."""

    evse_id: int              # 0 = the whole station (grid connection)
    max_current_a: float      # hardware limit per phase (for evse 0: the station's own limit)
    phases: int               # phases wired (1 or 3)
    voltage_v: float = 230.0  # phase-to-neutral, for W <-> A
    transaction_id: str | None = None   # the transaction running on this EVSE
    tx_start: datetime | None = None    # its start (Relative profiles start here)


@dataclass(frozen=True, slots=True)
class Limit:
    """The current an EVSE may offer now."""

    amps: float     # per phase, never above max_current_a
    phases: int
    source: Purpose | None   # which purpose set the binding limit (None: the hardware)


def to_amps(limit: float, unit: RateUnit, phases: int, voltage_v: float) -> float:
    """A schedule limit as amps per phase: W / (V * phases) for a power limit."""
    _check_supply(phases, voltage_v)
    return limit / (voltage_v * phases) if unit is RateUnit.WATTS else limit


def from_amps(amps: float, unit: RateUnit, phases: int, voltage_v: float) -> float:
    """Amps per phase in ``unit``: A * V * phases for watts."""
    _check_supply(phases, voltage_v)
    return amps * voltage_v * phases if unit is RateUnit.WATTS else amps


def _check_supply(phases: int, voltage_v: float) -> None:
    if phases < 1 or voltage_v <= 0:
        raise ValueError(f"no conversion on {phases} phases at {voltage_v} V")


def limit_at(profiles: Iterable[Profile], evse: EvseLimits, moment: datetime) -> Limit:
    """The limit in force on ``evse`` at ``moment``. A Relative profile starts at the transaction's start,
    or, with no transaction, at ``moment`` itself (its first period: what a transaction starting now gets)."""
    return _limit(_applicable(profiles, evse), evse, moment, evse.tx_start or moment)


def next_change(profiles: Iterable[Profile], evse: EvseLimits, moment: datetime) -> datetime | None:
    """The earliest moment after ``moment`` at which ``limit_at`` may change, or ``None`` if it never does.
    A boundary where nothing changes may be returned (the caller only re-evaluates then)."""
    # With no transaction a Relative profile moves with the moment asked about: it never changes.
    return _next(_applicable(profiles, evse), moment, evse.tx_start)


def composite(profiles: Iterable[Profile], evse: EvseLimits, start: datetime, duration_s: int,
              unit: RateUnit | None = None) -> Schedule:
    """The composite schedule of ``evse`` for [start, start + duration_s) (1.6 §5.7: "from the moment the
    request PDU is received: Time X, up to X + Duration"; 2.0.1 K08). Periods start at 0, ascend, and
    equal neighbours are merged; limits are rounded down to 0.1 (the schema's multipleOf 0.1) so that
    rounding never allows more. A Relative profile with no transaction starts at ``start``. A window of
    less than a second has no schedule: ``ValueError`` (the adapter rejects such a request first)."""
    if duration_s < 1:
        raise ValueError(f"composite schedule of {duration_s} s")
    unit = unit or RateUnit.AMPS
    chosen = _applicable(profiles, evse)
    anchor = evse.tx_start or start
    end = start + timedelta(seconds=duration_s)
    # The exact pieces, each [moment, next boundary) with one limit.
    pieces: list[tuple[datetime, Limit]] = []
    t = start
    while t < end:
        pieces.append((t, _limit(chosen, evse, t, anchor)))
        t = min(_next(chosen, t, anchor) or end, end)
    periods: list[Period] = []
    for offset, amps, phases in _whole_seconds(pieces, start, duration_s):
        value = _round_down(from_amps(amps, unit, phases, evse.voltage_v))
        if periods and periods[-1].limit == value and periods[-1].phases == phases:
            continue  # equal neighbours merged
        periods.append(Period(offset, value, phases))
    return Schedule(unit, tuple(periods), start=start, duration_s=duration_s)


# -- which profiles, and which leads ---------------------------------------------------------------

def _applicable(profiles: Iterable[Profile], evse: EvseLimits) -> list[Profile]:
    """The profiles that may limit ``evse`` (1.6 §3.13.1, §5.16; 2.0.1 K01)."""
    out = []
    for p in profiles:
        if p.purpose is Purpose.STATION_MAX:
            ok = p.evse_id == 0  # 1.6 §3.13.1: "can only be set at Charge Point ConnectorId 0"
        elif p.purpose is Purpose.EXTERNAL:
            ok = p.evse_id in (0, evse.evse_id)
        elif evse.evse_id == 0:
            ok = False  # the grid connection: only station-wide limits (1.6 §5.7 connectorId 0)
        elif p.purpose is Purpose.TX_DEFAULT:
            ok = p.evse_id in (0, evse.evse_id)
        else:  # TX: only for the transaction it belongs to (1.6 §3.13.1 / §5.16, 2.0.1 K01)
            ok = (p.evse_id == evse.evse_id and evse.transaction_id is not None
                  and p.transaction_id in (None, evse.transaction_id))
        if ok:
            out.append(p)
    return out


def _groups(profiles: list[Profile], evse_id: int) -> Iterator[list[Profile]]:
    """The station-wide groups whose leaders are minimised (the transaction group is ``_tx_tiers``)."""
    yield [p for p in profiles if p.purpose is Purpose.STATION_MAX]
    yield [p for p in profiles if p.purpose is Purpose.EXTERNAL and p.evse_id == 0]
    if evse_id != 0:
        yield [p for p in profiles if p.purpose is Purpose.EXTERNAL and p.evse_id == evse_id]


def _tx_tiers(profiles: list[Profile], evse_id: int) -> list[list[Profile]]:
    """The transaction group in order of precedence: the first tier with a profile in force leads."""
    return [[p for p in profiles if p.purpose is Purpose.TX],
            [p for p in profiles if p.purpose is Purpose.TX_DEFAULT and p.evse_id == evse_id],
            [p for p in profiles if p.purpose is Purpose.TX_DEFAULT and p.evse_id == 0]]


def _leader(group: list[Profile], evse: EvseLimits, t: datetime,
            anchor: datetime) -> tuple[float, int, Purpose] | None:
    """(amps, phases, purpose) of the highest stack level in force at ``t``; a tie (never installed
    together, but never trusted) gives the lower limit."""
    best: tuple[int, float, int, Purpose] | None = None
    for p in group:
        period = _period_at(p, t, anchor)
        if period is None:
            continue
        phases = min(period.phases or DEFAULT_PHASES, evse.phases)
        amps = to_amps(period.limit, p.schedule.unit, phases, evse.voltage_v)
        key = (p.stack_level, -amps)
        if best is None or key > (best[0], -best[1]):
            best = (p.stack_level, amps, phases, p.purpose)
    return None if best is None else best[1:]


def _limit(profiles: list[Profile], evse: EvseLimits, t: datetime, anchor: datetime) -> Limit:
    leaders = [lead for g in _groups(profiles, evse.evse_id) if (lead := _leader(g, evse, t, anchor))]
    if evse.evse_id != 0:
        for tier in _tx_tiers(profiles, evse.evse_id):
            lead = _leader(tier, evse, t, anchor)
            if lead is not None:  # a TxProfile in force replaces the defaults (1.6 §3.13.1)
                leaders.append(lead)
                break
    amps, source = max(evse.max_current_a, 0.0), None
    for lead_amps, _, purpose in sorted(leaders, key=lambda x: _SOURCE_ORDER.index(x[2])):
        if lead_amps < amps or (source is None and lead_amps == amps):
            amps, source = lead_amps, purpose
    # The phases in force: the fewest any leader allows, so each W limit (converted on its own phases)
    # still holds on fewer (1.6 §3.13.7 note: phases are limited by station, EV and cable).
    phases = min([evse.phases, *(lead[1] for lead in leaders)])
    return Limit(max(amps, 0.0), phases, source)


# -- schedules in time ------------------------------------------------------------------------------

def _occurrence(p: Profile, t: datetime, anchor: datetime | None) -> tuple[datetime, timedelta | None] | None:
    """The start of the schedule occurrence governing ``t`` (before a recurring startSchedule: the first)
    and how long it may last (``None``: open), or ``None`` with no start at all (a floating Relative one)."""
    s = p.schedule
    length = None if s.duration_s is None else timedelta(seconds=s.duration_s)
    if p.kind is Kind.RELATIVE:  # 1.6 §7.13: relative to the start of charging
        return None if anchor is None else (anchor, length)
    if s.start is None:
        return None
    if p.kind is Kind.ABSOLUTE:
        return s.start, length
    if p.recurrency is None:
        return None
    every = _RECURRENCE[p.recurrency]
    k = max(0, (t - s.start) // every)  # not in force before startSchedule; the first occurrence is next
    return s.start + k * every, every if length is None else min(length, every)


def _period_at(p: Profile, t: datetime, anchor: datetime) -> Period | None:
    """The period of ``p`` covering ``t``, or ``None`` when ``p`` is not in force then."""
    if not p.valid_at(t):
        return None
    occurrence = _occurrence(p, t, anchor)
    if occurrence is None:
        return None
    base, length = occurrence
    offset = t - base
    if offset < timedelta(0) or (length is not None and offset >= length):
        return None
    found = None
    for period in p.schedule.periods:
        if timedelta(seconds=period.start_s) <= offset and (found is None or period.start_s > found.start_s):
            found = period
    return found


def _boundaries(p: Profile, t: datetime, anchor: datetime | None) -> Iterator[datetime]:
    """Every moment near ``t`` at which ``p`` may start or stop being in force or change period."""
    if p.valid_from is not None:
        yield p.valid_from
    if p.valid_to is not None:
        yield p.valid_to
    occurrence = _occurrence(p, t, anchor)
    if occurrence is None:
        return
    base, length = occurrence
    for period in p.schedule.periods:
        yield base + timedelta(seconds=period.start_s)
    if length is not None:
        yield base + length
    if p.kind is Kind.RECURRING and p.recurrency is not None:
        yield base + _RECURRENCE[p.recurrency]  # the next occurrence starts over


def _next(profiles: list[Profile], t: datetime, anchor: datetime | None) -> datetime | None:
    upcoming = [b for p in profiles for b in _boundaries(p, t, anchor) if b > t]
    return min(upcoming, default=None)


# -- the reported schedule ----------------------------------------------------------------------------

def _whole_seconds(pieces: list[tuple[datetime, Limit]], start: datetime,
                   duration_s: int) -> Iterator[tuple[int, float, int]]:
    """The exact pieces on whole seconds (startPeriod is an integer): a second in which the limit changes
    reports the lowest limit and fewest phases of that second, so the schedule never allows more."""
    offsets = [(t - start) / timedelta(seconds=1) for t, _ in pieces]
    cuts = sorted({c for o in offsets for c in (math.floor(o), math.ceil(o))} | {duration_s})
    i = 0
    for lo, hi in pairwise(cuts):
        if lo >= duration_s:
            break
        while i + 1 < len(offsets) and offsets[i + 1] <= lo:
            i += 1
        j, amps, phases = i, math.inf, DEFAULT_PHASES
        while j < len(offsets) and offsets[j] < hi:  # every piece overlapping [lo, hi)
            amps, phases = min(amps, pieces[j][1].amps), min(phases, pieces[j][1].phases)
            j += 1
        yield lo, amps, phases


def _round_down(value: float) -> float:
    """Down to a multiple of 0.1 (1.6 schema: multipleOf 0.1), after absorbing float noise (6000 W
    through amps and back is 5999.999…, still 6000)."""
    return math.floor(round(value * 10, 6)) / 10

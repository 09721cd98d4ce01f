"""Property tests (hypothesis) of the limit in force, its next change and the composite schedule."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.core.domain.composite import EvseLimits, composite, from_amps, limit_at, next_change
from chargepoint.core.domain.profiles import (
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)

# Deterministic (no example database, fixed seed) and free of timing (no deadline).
SETTINGS = settings(derandomize=True, deadline=None, max_examples=150, database=None)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DAY_S = 86400
EVERY_S = {Recurrency.DAILY: DAY_S, Recurrency.WEEKLY: 7 * DAY_S}
EPS = 1e-6


def spread(lo: int, hi: int, step: int = 1) -> st.SearchStrategy[int]:
    """Integers spread evenly over [lo, hi] (``st.integers`` favours small values), plus the edges."""
    return st.sampled_from(range(lo, hi + 1, step)) | st.sampled_from([lo, hi])


def seconds(lo: int, hi: int) -> st.SearchStrategy[datetime]:
    """Whole seconds from T0: on a quarter-hour grid, sometimes a few seconds off it."""
    return st.builds(lambda q, s: T0 + timedelta(seconds=q + s), spread(lo, hi, 900),
                     st.sampled_from([0, 0, 0, 1, 59, 450]))


# Strategies are built once: building them per draw costs more than the code under test.
whole_moments = seconds(-DAY_S // 2, 2 * DAY_S)
moments = st.builds(lambda t, us: t + timedelta(microseconds=us), whole_moments,
                    st.sampled_from([0, 1, 500_000, 999_999]))
lengths = st.sampled_from([1, 3600, 28800, 86400, 2 * DAY_S]) | st.sampled_from(range(1, 3 * DAY_S, 61))
maybe_lengths = st.none() | lengths
gap_lists = st.lists(st.sampled_from([1, 900, 3600, 7200, 21600]) | spread(1, 40_000, 7), max_size=3)
LIMITS = {
    RateUnit.AMPS: st.sampled_from([0.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 32.0, 40.0])
    | spread(0, 400).map(lambda t: t / 10),
    RateUnit.WATTS: st.sampled_from([1380.0, 4140.0, 6000.0, 7400.0, 11000.0, 22000.0])
    | spread(0, 300_000).map(lambda t: t / 10),
}
period_phases = st.sampled_from([None, 1, 2, 3])
units = st.sampled_from(RateUnit)
schedule_starts = seconds(-DAY_S, DAY_S // 2)
min_rates = st.none() | st.just(6.0)
purposes = st.sampled_from(Purpose)
PROFILE_EVSES = {Purpose.STATION_MAX: st.just(0), Purpose.EXTERNAL: st.sampled_from([0, 1, 2]),
                 Purpose.TX_DEFAULT: st.sampled_from([0, 1, 1, 2]), Purpose.TX: st.sampled_from([1, 1, 2])}
kinds = st.sampled_from(Kind)
valid_froms = st.none() | st.none() | seconds(-DAY_S, DAY_S)
stack_levels = st.integers(0, 3)
recurrencies = st.sampled_from(Recurrency)
tx_ids = st.sampled_from([None, "T1", "T1", "T2"])


@st.composite
def schedules(draw: st.DrawFn, kind: Kind) -> Schedule:
    unit = draw(units)
    gaps = draw(gap_lists)
    starts = [0, *(sum(gaps[: i + 1]) for i in range(len(gaps)))]
    periods = tuple(Period(s, draw(LIMITS[unit]), draw(period_phases)) for s in starts)
    start = None if kind is Kind.RELATIVE else draw(schedule_starts)
    return Schedule(unit, periods, start, draw(maybe_lengths), draw(min_rates))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    """Any profile ``ProfileStore.check`` would install, of every purpose, kind, unit and recurrency."""
    purpose = draw(purposes)
    kind = draw(kinds)
    valid_from = draw(valid_froms)
    valid_to = None if draw(st.booleans()) else (valid_from or T0) + timedelta(seconds=draw(lengths))
    return Profile(0, draw(stack_levels), purpose, kind, draw(schedules(kind)), draw(PROFILE_EVSES[purpose]),
                   draw(recurrencies) if kind is Kind.RECURRING else None, valid_from, valid_to,
                   draw(tx_ids) if purpose is Purpose.TX else None,
                   "EMS" if purpose is Purpose.EXTERNAL else "CSMS")


profile_sets = st.lists(profiles(), min_size=1, max_size=6).map(
    lambda ps: [replace(p, profile_id=i) for i, p in enumerate(ps)])

evses = st.builds(
    EvseLimits,
    evse_id=st.sampled_from([0, 1, 1, 1, 2]),
    max_current_a=st.sampled_from([6.0, 10.0, 16.0, 32.0, 40.0, 63.0]) | spread(0, 630).map(lambda t: t / 10),
    phases=st.sampled_from([1, 3]),
    transaction_id=st.sampled_from([None, "T1", "T1"]),
    tx_start=st.none() | seconds(-DAY_S, 2 * DAY_S),
)


# -- an independent reference: occurrences by walking, leaders by sorting -----------------------------
def ref_period(p: Profile, t: datetime, anchor: datetime) -> Period | None:
    if (p.valid_from is not None and t < p.valid_from) or (p.valid_to is not None and t >= p.valid_to):
        return None
    s = p.schedule
    length: float = math.inf if s.duration_s is None else s.duration_s
    if p.kind is Kind.RELATIVE:
        base = anchor
    else:
        assert s.start is not None
        base = s.start
        if p.kind is Kind.RECURRING:
            assert p.recurrency is not None
            every = EVERY_S[p.recurrency]
            while base + timedelta(seconds=every) <= t:
                base += timedelta(seconds=every)
            length = min(length, every)
    offset = (t - base).total_seconds()
    if not 0 <= offset < length:
        return None
    covering = [q for q in s.periods if q.start_s <= offset]
    return covering[-1] if covering else None


def ref_leaders(ps: list[Profile], evse: EvseLimits, t: datetime,
                anchor: datetime) -> list[tuple[float, int, Purpose]]:
    """(amps, phases, purpose) of the leading profile of each group that has one in force."""
    def lead(group: list[Profile]) -> tuple[float, int, Purpose] | None:
        live = [(p, q) for p in group if (q := ref_period(p, t, anchor)) is not None]
        if not live:
            return None
        top = max(p.stack_level for p, _ in live)
        options = []
        for p, q in live:
            if p.stack_level == top:
                phases = min(q.phases or 3, evse.phases)
                watts = p.schedule.unit is RateUnit.WATTS
                options.append((q.limit / (evse.voltage_v * phases) if watts else q.limit, phases, p.purpose))
        return min(options, key=lambda o: o[0])

    e = evse.evse_id
    groups = [[p for p in ps if p.purpose is Purpose.STATION_MAX and p.evse_id == 0],
              [p for p in ps if p.purpose is Purpose.EXTERNAL and p.evse_id == 0]]
    if e != 0:
        groups.append([p for p in ps if p.purpose is Purpose.EXTERNAL and p.evse_id == e])
    out = [x for g in groups if (x := lead(g)) is not None]
    if e != 0:
        running = evse.transaction_id
        tiers = [[p for p in ps if p.purpose is Purpose.TX and p.evse_id == e and running is not None
                  and p.transaction_id in (None, running)],
                 [p for p in ps if p.purpose is Purpose.TX_DEFAULT and p.evse_id == e],
                 [p for p in ps if p.purpose is Purpose.TX_DEFAULT and p.evse_id == 0]]
        for tier in tiers:
            x = lead(tier)
            if x is not None:
                out.append(x)
                break
    return out


# -- properties ------------------------------------------------------------------------------------
@SETTINGS
@given(profile_sets, evses, moments)
def test_limit_at_is_the_lowest_leader_and_the_hardware(ps: list[Profile], evse: EvseLimits,
                                                        moment: datetime) -> None:
    limit = limit_at(ps, evse, moment)
    leaders = ref_leaders(ps, evse, moment, evse.tx_start or moment)
    assert limit.amps == min([evse.max_current_a, *(a for a, _, _ in leaders)])
    assert limit.amps <= evse.max_current_a
    assert limit.phases == min([evse.phases, *(ph for _, ph, _ in leaders)])
    if limit.source is None:
        assert limit.amps == evse.max_current_a
    else:
        assert any(a == limit.amps and purpose is limit.source for a, _, purpose in leaders)


@SETTINGS
@given(st.sampled_from(Purpose), st.integers(0, 400), st.integers(0, 400), st.integers(0, 2),
       st.integers(1, 3), moments, st.integers(1, 630))
def test_a_higher_stack_level_of_the_same_purpose_wins(purpose: Purpose, low_tenths: int, high_tenths: int,
                                                       low: int, step: int, moment: datetime,
                                                       hardware_tenths: int) -> None:
    evse_id = 0 if purpose is Purpose.STATION_MAX else 1
    schedule_start = moment - timedelta(hours=1)

    def profile(pid: int, stack: int, tenths: int) -> Profile:
        return Profile(pid, stack, purpose, Kind.ABSOLUTE,
                       Schedule(RateUnit.AMPS, (Period(0, tenths / 10),), schedule_start), evse_id,
                       transaction_id="T1" if purpose is Purpose.TX else None)

    evse = EvseLimits(1, hardware_tenths / 10, 3, transaction_id="T1", tx_start=schedule_start)
    limit = limit_at([profile(1, low, low_tenths), profile(2, low + step, high_tenths)], evse, moment)
    assert limit.amps == min(hardware_tenths, high_tenths) / 10


@SETTINGS
@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 3), st.integers(0, 3), moments,
       st.integers(1, 630))
def test_evse_scope_tx_default_replaces_evse_0_while_external_constraints_both_hold(
        on_0: int, on_1: int, stack_0: int, stack_1: int, moment: datetime, hardware_tenths: int) -> None:
    def profile(pid: int, purpose: Purpose, evse_id: int, stack: int, tenths: int) -> Profile:
        schedule = Schedule(RateUnit.AMPS, (Period(0, tenths / 10),), moment - timedelta(hours=1))
        return Profile(pid, stack, purpose, Kind.ABSOLUTE, schedule, evse_id)

    evse = EvseLimits(1, hardware_tenths / 10, 3)
    defaults = [profile(1, Purpose.TX_DEFAULT, 0, stack_0, on_0),
                profile(2, Purpose.TX_DEFAULT, 1, stack_1, on_1)]
    assert limit_at(defaults, evse, moment).amps == min(hardware_tenths, on_1) / 10
    external = [profile(1, Purpose.EXTERNAL, 0, stack_0, on_0),
                profile(2, Purpose.EXTERNAL, 1, stack_1, on_1)]
    assert limit_at(external, evse, moment).amps == min(hardware_tenths, on_0, on_1) / 10


def _window() -> st.SearchStrategy[tuple[datetime, int]]:
    return st.tuples(whole_moments, st.sampled_from([1, 60, 3600, 86400, 2 * DAY_S]) | spread(1, 2 * DAY_S))


@SETTINGS
@given(profile_sets, evses, _window(), st.sampled_from([None, RateUnit.AMPS, RateUnit.WATTS]))
def test_composite_periods_cover_the_window_from_0_ascending_and_merged(
        ps: list[Profile], evse: EvseLimits, window: tuple[datetime, int], unit: RateUnit | None) -> None:
    start, duration = window
    result = composite(ps, evse, start, duration, unit)
    assert result.unit is (unit or RateUnit.AMPS)
    assert (result.start, result.duration_s) == (start, duration)
    starts = [p.start_s for p in result.periods]
    assert starts[0] == 0 and starts[-1] < duration
    assert all(a < b for a, b in pairwise(starts))
    pairs = [(p.limit, p.phases) for p in result.periods]
    assert all(a != b for a, b in pairwise(pairs))
    for p in result.periods:
        assert p.limit >= 0 and abs(p.limit * 10 - round(p.limit * 10)) < EPS  # multipleOf 0.1
        assert p.phases in (1, 2, 3)


def _period_ends(result: Schedule) -> list[tuple[Period, int]]:
    starts = [p.start_s for p in result.periods]
    assert result.duration_s is not None
    return list(zip(result.periods, [*starts[1:], result.duration_s], strict=True))


@SETTINGS
@given(profile_sets, evses, _window(), st.sampled_from(RateUnit), moments)
def test_composite_never_exceeds_a_leading_profile_nor_the_hardware(
        ps: list[Profile], evse: EvseLimits, window: tuple[datetime, int], unit: RateUnit,
        tx_start: datetime) -> None:
    evse = replace(evse, tx_start=evse.tx_start or tx_start)  # a fixed anchor for Relative profiles
    start, duration = window
    result = composite(ps, evse, start, duration, unit)
    for period, end_s in _period_ends(result):
        for offset in {period.start_s, (period.start_s + end_s) / 2, end_s - 1e-6}:
            t = start + timedelta(seconds=offset)
            assert period.phases is not None
            allowed = [(evse.max_current_a, evse.phases)]
            allowed += [(a, ph) for a, ph, _ in ref_leaders(ps, evse, t, evse.tx_start or start)]
            for amps, phases in allowed:
                assert period.phases <= phases
                if unit is RateUnit.AMPS:
                    assert period.limit <= amps + EPS
                else:  # the power reported never exceeds the power any leader allows
                    assert period.limit <= amps * evse.voltage_v * phases * (1 + EPS) + EPS


@SETTINGS
@given(profile_sets, evses, _window(), st.sampled_from(RateUnit), whole_moments)
def test_composite_agrees_with_limit_at_at_each_period_start_and_before_each_boundary(
        ps: list[Profile], evse: EvseLimits, window: tuple[datetime, int], unit: RateUnit,
        tx_start: datetime) -> None:
    # On whole seconds (CSMS timestamps) and with a transaction start, both anchor Relative profiles alike.
    evse = replace(evse, tx_start=evse.tx_start or tx_start)
    start, duration = window
    result = composite(ps, evse, start, duration, unit)
    for period, end_s in _period_ends(result):
        for t in (start + timedelta(seconds=period.start_s), start + timedelta(seconds=end_s - 1),
                  start + timedelta(seconds=end_s) - timedelta(microseconds=1)):
            limit = limit_at(ps, evse, t)
            exact = from_amps(limit.amps, unit, limit.phases, evse.voltage_v)
            assert period.phases == limit.phases
            assert -EPS <= exact - period.limit < 0.1 + EPS  # rounded down to 0.1, never up


@SETTINGS
@given(profile_sets, evses, moments, st.lists(st.floats(0, 1, exclude_max=True), max_size=4))
def test_next_change_is_later_and_limit_at_is_constant_until_then(
        ps: list[Profile], evse: EvseLimits, moment: datetime, fractions: list[float]) -> None:
    change = next_change(ps, evse, moment)
    now = limit_at(ps, evse, moment)
    if change is None:
        samples = [moment + timedelta(days=d) for d in (1, 9, 40)]
    else:
        assert change > moment
        span = change - moment
        last = change - timedelta(microseconds=1)
        samples = [last, *(min(moment + span * f, last) for f in fractions)]  # timedelta * f rounds
    for t in samples:
        assert limit_at(ps, evse, t) == now, t

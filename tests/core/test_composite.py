"""Unit tests of the limit in force and the composite schedule, incl. the worked examples of the specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargepoint.core.domain.composite import (
    EvseLimits,
    Limit,
    composite,
    from_amps,
    limit_at,
    next_change,
    to_amps,
)
from chargepoint.core.domain.profiles import (
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)

DAY = datetime(2024, 5, 1, tzinfo=UTC)  # a Wednesday
MONDAY = datetime(2024, 4, 29, tzinfo=UTC)
EVSE1 = EvseLimits(1, 32.0, 3)


def at(hours: float, base: datetime = DAY) -> datetime:
    return base + timedelta(hours=hours)


def amps(*periods: tuple[int, float]) -> tuple[Period, ...]:
    return tuple(Period(s, v) for s, v in periods)


def absolute(pid: int, purpose: Purpose, periods: tuple[Period, ...], start: datetime, *, evse: int = 0,
             stack: int = 0, duration: int | None = None, unit: RateUnit = RateUnit.AMPS,
             tx: str | None = None, valid_from: datetime | None = None,
             valid_to: datetime | None = None) -> Profile:
    return Profile(pid, stack, purpose, Kind.ABSOLUTE, Schedule(unit, periods, start, duration), evse,
                   valid_from=valid_from, valid_to=valid_to, transaction_id=tx,
                   source="EMS" if purpose is Purpose.EXTERNAL else "CSMS")


def relative(pid: int, purpose: Purpose, periods: tuple[Period, ...], *, evse: int = 1, stack: int = 0,
             duration: int | None = None, tx: str | None = None) -> Profile:
    return Profile(pid, stack, purpose, Kind.RELATIVE, Schedule(RateUnit.AMPS, periods, None, duration), evse,
                   transaction_id=tx)


def shape(schedule: Schedule) -> list[tuple[int, float, int | None]]:
    return [(p.start_s, p.limit, p.phases) for p in schedule.periods]


# -- OCPP 1.6 §3.13.7 "Example data structure for smart charging" -------------------------------------
# "a daily default profile that limits the power to 6 kW between 08:00h and 20:00h": chargingProfileId
# 100, stackLevel 0, TxDefaultProfile, Recurring Daily, duration 86400, startSchedule 2013-01-01T00:00Z,
# W, periods 0: 11000 / 28800: 6000 / 72000: 11000, numberPhases 3. OCPP 2.0.1 part 2 (edition 2, p. 240,
# block K "Example data structure") repeats the same profile (as EVerest libocpp's
# tests/lib/ocpp/v201/json/baseline/README.md records).
DAILY_6KW = Profile(100, 0, Purpose.TX_DEFAULT, Kind.RECURRING,
                    Schedule(RateUnit.WATTS,
                             (Period(0, 11000, 3), Period(28800, 6000, 3), Period(72000, 11000, 3)),
                             datetime(2013, 1, 1, tzinfo=UTC), 86400),
                    evse_id=0, recurrency=Recurrency.DAILY)


def test_spec_daily_6kw_limit_in_force_over_a_day() -> None:
    assert limit_at([DAILY_6KW], EVSE1, at(7.99)) == Limit(11000 / 690, 3, Purpose.TX_DEFAULT)
    assert limit_at([DAILY_6KW], EVSE1, at(8)).amps == pytest.approx(6000 / 690)
    assert limit_at([DAILY_6KW], EVSE1, at(19.99)).amps == pytest.approx(6000 / 690)
    assert limit_at([DAILY_6KW], EVSE1, at(20)).amps == pytest.approx(11000 / 690)


def test_spec_daily_6kw_composite_in_watts_gives_back_the_profile() -> None:
    result = composite([DAILY_6KW], EVSE1, DAY, 86400, RateUnit.WATTS)
    assert result.unit is RateUnit.WATTS and result.start == DAY and result.duration_s == 86400
    # 6000 W -> 8.69... A -> 6000 W again: float noise does not round it down to 5999.9.
    assert shape(result) == [(0, 11000.0, 3), (28800, 6000.0, 3), (72000, 11000.0, 3)]


def test_spec_daily_6kw_composite_in_amps_rounds_down() -> None:
    result = composite([DAILY_6KW], EVSE1, DAY, 86400)
    assert shape(result) == [(0, 15.9, 3), (28800, 8.6, 3), (72000, 15.9, 3)]


def test_spec_daily_6kw_recurs_across_midnight_and_merges_equal_neighbours() -> None:
    # 06:00 to 06:00 the next day: 20:00 -> 08:00 is one period of 11 kW across the recurrence at midnight.
    result = composite([DAILY_6KW], EVSE1, at(6), 86400, RateUnit.WATTS)
    assert shape(result) == [(0, 11000.0, 3), (7200, 6000.0, 3), (50400, 11000.0, 3)]
    assert next_change([DAILY_6KW], EVSE1, at(21)) == at(24)  # the next occurrence (may change)
    assert next_change([DAILY_6KW], EVSE1, at(24)) == at(32)


def test_spec_daily_6kw_on_a_single_phase_evse_converts_on_one_phase() -> None:
    one = EvseLimits(1, 63.0, 1)  # 1.6 §3.13.7 note: phases limited by the Charge Point, EV and cable
    limit = limit_at([DAILY_6KW], one, at(9))
    assert limit == Limit(6000 / 230, 1, Purpose.TX_DEFAULT)
    assert shape(composite([DAILY_6KW], one, at(8), 3600, RateUnit.WATTS)) == [(0, 6000.0, 1)]


# -- OCPP 1.6 §3.13.2 "Stacking charging profiles" -------------------------------------------------
# "a charging profile of purpose TxDefaultProfile with a duration and recurrence of one week that allows
# full power or current charging on weekdays from 23:00h to 06:00h and from 00:00h to 24:00h in weekends
# and reduced power or current charging at other times. On top of that, one can define other
# TxDefaultProfiles that define exception to this rule, for example for holidays."
FULL, REDUCED = 32.0, 10.0
H = 3600
_week = [(0, FULL)]
for _day in range(5):  # Monday .. Friday: reduced 06:00-23:00
    _week += [(_day * 24 * H + 6 * H, REDUCED), (_day * 24 * H + 23 * H, FULL)]
WEEKLY = Profile(1, 0, Purpose.TX_DEFAULT, Kind.RECURRING,
                 Schedule(RateUnit.AMPS, amps(*_week), MONDAY, 7 * 24 * H), evse_id=0,
                 recurrency=Recurrency.WEEKLY)
HOLIDAY = absolute(2, Purpose.TX_DEFAULT, amps((0, FULL)), DAY, stack=1, duration=24 * H)  # 1 May
HW = EvseLimits(1, 40.0, 3)


@pytest.mark.parametrize(("moment", "expected"), [
    (at(5.99, MONDAY), FULL), (at(6, MONDAY), REDUCED), (at(23, MONDAY), FULL),
    (at(12), FULL),  # Wednesday 1 May: the holiday profile (stack level 1) leads
    (at(24 + 12), REDUCED),  # Thursday: its schedule ended, stack level 0 leads again
    (at(24 * 3 + 12), FULL), (at(24 * 4 + 12), FULL),  # the weekend
    (at(24 * 7 + 5.99, MONDAY), FULL), (at(24 * 7 + 6, MONDAY), REDUCED),  # the next week recurs
])
def test_spec_weekly_stack_with_a_holiday_exception(moment: datetime, expected: float) -> None:
    assert limit_at([WEEKLY, HOLIDAY], HW, moment) == Limit(expected, 3, Purpose.TX_DEFAULT)


def test_spec_weekly_stack_composite_over_the_holiday_week() -> None:
    result = composite([WEEKLY, HOLIDAY], HW, at(0), 3 * 24 * H)  # Wed 00:00 .. Sat 00:00
    assert shape(result) == [(0, FULL, 3), (30 * H, REDUCED, 3), (47 * H, FULL, 3),
                             (54 * H, REDUCED, 3), (71 * H, FULL, 3)]


def test_weekly_recurrence_crosses_the_week_boundary() -> None:
    sunday_noon = at(24 * 6 + 12, MONDAY)
    assert next_change([WEEKLY], HW, sunday_noon) == at(24 * 7, MONDAY)
    result = composite([WEEKLY], HW, sunday_noon, 24 * H)
    assert shape(result) == [(0, FULL, 3), (18 * H, REDUCED, 3)]


def test_a_recurring_profile_is_not_in_force_before_its_start_schedule() -> None:
    later = Profile(1, 0, Purpose.TX_DEFAULT, Kind.RECURRING,
                    Schedule(RateUnit.AMPS, amps((0, 8)), at(10), None), 0, Recurrency.DAILY)
    assert limit_at([later], EVSE1, at(9)) == Limit(32.0, 3, None)
    assert next_change([later], EVSE1, at(9)) == at(10)
    assert limit_at([later], EVSE1, at(48)).amps == 8  # duration None: until the next recurrence


# -- OCPP 2.0.1 part 2, block K -------------------------------------------------------------------
def test_k_stacking_a_higher_level_without_a_period_then_does_not_shadow_a_lower_one() -> None:
    # 2.0.1 part 2 K §3.6: the leading schedule "has a schedule period defined for that time and ...
    # belongs to a charging profile with the highest stack level that is valid at that time".
    base = absolute(1, Purpose.TX_DEFAULT, amps((0, 16)), at(0), evse=1)
    top = absolute(2, Purpose.TX_DEFAULT, amps((0, 6)), at(2), evse=1, stack=3, duration=H)
    assert limit_at([base, top], EVSE1, at(1)).amps == 16  # before its startSchedule
    assert limit_at([base, top], EVSE1, at(2.5)).amps == 6
    assert limit_at([base, top], EVSE1, at(3)).amps == 16  # after its duration
    assert shape(composite([base, top], EVSE1, at(0), 4 * H)) == [(0, 16, 3), (2 * H, 6, 3), (3 * H, 16, 3)]


def test_k_stack_level_1_tx_profile_over_the_daily_profile() -> None:
    # 2.0.1 part 2 (edition 2, p. 240-241) stack levels 0 and 1, as reproduced in EVerest libocpp's baseline
    # profiles (TxProfile_100.json, TxProfile_1.json): a daily profile of 11 kW / 6 kW / 12 kW on 3 phases
    # and, at stack level 1, 2 kW on 1 phase for 1080 s daily from 18:00.
    tx = "f1522902-1170-416f-8e43-9e3bce28fab8"
    daily = Profile(100, 0, Purpose.TX, Kind.RECURRING,
                    Schedule(RateUnit.WATTS,
                             (Period(0, 11000, 3), Period(28800, 6000, 3), Period(72000, 12000, 3)),
                             datetime(2023, 1, 17, 17, tzinfo=UTC), 86400),
                    1, Recurrency.DAILY, transaction_id=tx)
    evening = Profile(1, 1, Purpose.TX, Kind.RECURRING,
                      Schedule(RateUnit.WATTS, (Period(0, 2000, 1),),
                               datetime(2024, 1, 17, 18, tzinfo=UTC), 1080),
                      1, Recurrency.DAILY, transaction_id=tx)
    evse = EvseLimits(1, 32.0, 3, transaction_id=tx, tx_start=at(-1))
    result = composite([daily, evening], evse, at(17), 2 * H, RateUnit.WATTS)
    assert shape(result) == [(0, 11000.0, 3), (H, 2000.0, 1), (H + 1080, 11000.0, 3)]
    assert limit_at([daily, evening], evse, at(18.1)) == Limit(2000 / 230, 1, Purpose.TX)


def test_k_tx_profile_overrules_tx_default_even_when_higher() -> None:
    # 1.6 §3.13.1 "SHALL overrule the default charging profile"; 2.0.1 part 2 K §3.6: "the TxProfile will
    # always overrule the TxDefaultProfile".
    default = absolute(1, Purpose.TX_DEFAULT, amps((0, 10)), at(0), evse=1, stack=5)
    tx = absolute(2, Purpose.TX, amps((0, 20), (H, 8)), at(1), evse=1, tx="T1", duration=2 * H)
    running = EvseLimits(1, 32.0, 3, transaction_id="T1", tx_start=at(0.5))
    assert limit_at([default, tx], running, at(1.5)) == Limit(20, 3, Purpose.TX)
    assert limit_at([default, tx], running, at(2.5)).amps == 8
    assert limit_at([default, tx], running, at(3.5)) == Limit(10, 3, Purpose.TX_DEFAULT)  # TX schedule over
    assert limit_at([default, tx], running, at(0.5)).amps == 10  # TX not yet started


def test_tx_profile_only_for_its_transaction() -> None:
    default = absolute(1, Purpose.TX_DEFAULT, amps((0, 10)), at(0), evse=1)
    other = absolute(2, Purpose.TX, amps((0, 20)), at(0), evse=1, tx="T2")
    unbound = absolute(3, Purpose.TX, amps((0, 24)), at(0), evse=1, stack=0)
    running = EvseLimits(1, 32.0, 3, transaction_id="T1")
    assert limit_at([default, other], running, at(1)).amps == 10
    assert limit_at([default, other], EVSE1, at(1)).amps == 10  # no transaction: no TxProfile
    assert limit_at([default, unbound], running, at(1)).amps == 24  # a TxProfile not yet bound applies
    assert limit_at([default, unbound], EVSE1, at(1)).amps == 10
    elsewhere = absolute(4, Purpose.TX, amps((0, 20)), at(0), evse=2, tx="T1")
    assert limit_at([default, elsewhere], running, at(1)).amps == 10


def test_evse_specific_tx_default_takes_precedence_over_evse_0() -> None:
    # 1.6 §3.13.1: "the TxDefaultProfile SHALL be replaced only for that specific connector".
    station = absolute(1, Purpose.TX_DEFAULT, amps((0, 10)), at(0), evse=0, stack=5)
    own = absolute(2, Purpose.TX_DEFAULT, amps((0, 20)), at(2), evse=1, duration=H)
    assert limit_at([station, own], EVSE1, at(2.5)).amps == 20
    assert limit_at([station, own], EvseLimits(2, 32.0, 3), at(2.5)).amps == 10
    assert limit_at([station, own], EVSE1, at(1)).amps == 10  # not in force yet: evse 0's applies
    result = composite([station, own], EVSE1, at(0), 4 * H)
    assert shape(result) == [(0, 10, 3), (2 * H, 20, 3), (3 * H, 10, 3)]


# -- combining purposes ---------------------------------------------------------------------------
def test_minimum_of_station_max_external_tx_and_hardware() -> None:
    # 1.6 §3.13.3: "less than or equal to lowest value ... in any of the merged schedules".
    station = absolute(1, Purpose.STATION_MAX, amps((0, 25), (2 * H, 12)), at(0))
    external = absolute(2, Purpose.EXTERNAL, amps((0, 30), (H, 14)), at(0), evse=1)
    default = absolute(3, Purpose.TX_DEFAULT, amps((0, 20), (3 * H, 6)), at(0), evse=1)
    profiles = [station, external, default]
    assert limit_at(profiles, EVSE1, at(0.5)) == Limit(20, 3, Purpose.TX_DEFAULT)
    assert limit_at(profiles, EVSE1, at(1.5)) == Limit(14, 3, Purpose.EXTERNAL)
    assert limit_at(profiles, EVSE1, at(2.5)) == Limit(12, 3, Purpose.STATION_MAX)
    assert limit_at(profiles, EVSE1, at(3.5)) == Limit(6, 3, Purpose.TX_DEFAULT)
    assert limit_at(profiles, EvseLimits(1, 5.0, 3), at(3.5)) == Limit(5, 3, None)  # the hardware
    assert shape(composite(profiles, EVSE1, at(0), 4 * H)) == [(0, 20, 3), (H, 14, 3), (2 * H, 12, 3),
                                                               (3 * H, 6, 3)]


def test_station_max_only_on_evse_0_and_evse_0_sees_only_station_wide_limits() -> None:
    wrong = absolute(1, Purpose.STATION_MAX, amps((0, 5)), at(0), evse=1)  # never installed; ignored
    station = absolute(2, Purpose.STATION_MAX, amps((0, 40)), at(0))
    external = absolute(3, Purpose.EXTERNAL, amps((0, 35)), at(0))
    external1 = absolute(4, Purpose.EXTERNAL, amps((0, 8)), at(0), evse=1)
    default = absolute(5, Purpose.TX_DEFAULT, amps((0, 7)), at(0))
    grid = EvseLimits(0, 63.0, 3)
    profiles = [wrong, station, external, external1, default]
    assert limit_at(profiles, grid, at(1)) == Limit(35, 3, Purpose.EXTERNAL)
    assert limit_at(profiles, EVSE1, at(1)) == Limit(7, 3, Purpose.TX_DEFAULT)
    assert shape(composite(profiles, grid, at(0), H)) == [(0, 35, 3)]


def test_an_external_constraint_on_the_evse_does_not_lift_the_one_on_0() -> None:
    on_0 = absolute(1, Purpose.EXTERNAL, amps((0, 10)), at(0))
    on_1 = absolute(2, Purpose.EXTERNAL, amps((0, 30)), at(0), evse=1, stack=7)
    assert limit_at([on_0, on_1], EVSE1, at(1)) == Limit(10, 3, Purpose.EXTERNAL)


# -- relative profiles ---------------------------------------------------------------------------
REL = relative(1, Purpose.TX_DEFAULT, amps((0, 16), (H, 10)), duration=2 * H)


def test_relative_profile_starts_with_the_transaction() -> None:
    running = EvseLimits(1, 32.0, 3, transaction_id="T1", tx_start=at(10))
    assert limit_at([REL], running, at(9)) == Limit(32, 3, None)  # before the transaction
    assert limit_at([REL], running, at(10.5)).amps == 16
    assert limit_at([REL], running, at(11)).amps == 10
    assert limit_at([REL], running, at(12)) == Limit(32, 3, None)  # the schedule's duration is over
    assert next_change([REL], running, at(10.5)) == at(11)
    assert next_change([REL], running, at(11)) == at(12)
    assert next_change([REL], running, at(12)) is None
    assert shape(composite([REL], running, at(10.5), 3 * H)) == [(0, 16, 3), (1800, 10, 3), (5400, 32, 3)]


def test_relative_profile_without_a_transaction() -> None:
    # limit_at: what a transaction starting at that moment gets; composite: as if it started at the window.
    assert limit_at([REL], EVSE1, at(3)).amps == 16
    assert limit_at([REL], EVSE1, at(30)).amps == 16
    assert next_change([REL], EVSE1, at(3)) is None
    assert shape(composite([REL], EVSE1, at(3), 3 * H)) == [(0, 16, 3), (H, 10, 3), (2 * H, 32, 3)]


# -- validity ------------------------------------------------------------------------------------
def test_valid_from_and_valid_to_bound_a_profile() -> None:
    capped = absolute(1, Purpose.STATION_MAX, amps((0, 8)), at(0), valid_from=at(12), valid_to=at(13))
    assert limit_at([capped], EVSE1, at(11.99)) == Limit(32, 3, None)
    assert limit_at([capped], EVSE1, at(12)) == Limit(8, 3, Purpose.STATION_MAX)
    assert limit_at([capped], EVSE1, at(13)) == Limit(32, 3, None)  # validTo is exclusive
    assert next_change([capped], EVSE1, at(11)) == at(12)
    assert next_change([capped], EVSE1, at(12.5)) == at(13)
    assert next_change([capped], EVSE1, at(13)) is None
    assert shape(composite([capped], EVSE1, at(11), 3 * H)) == [(0, 32, 3), (H, 8, 3), (2 * H, 32, 3)]


def test_a_higher_level_not_yet_valid_reverts_to_the_lower_one() -> None:
    # 1.6 §3.13.2 note: a profile "with a validFrom dateTime in the future ... revert to default behavior".
    low = absolute(1, Purpose.TX_DEFAULT, amps((0, 16)), at(0))
    high = absolute(2, Purpose.TX_DEFAULT, amps((0, 6)), at(0), stack=2, valid_from=at(5))
    assert limit_at([low, high], EVSE1, at(4)).amps == 16
    assert limit_at([low, high], EVSE1, at(5)).amps == 6


def test_nothing_installed_or_nothing_left_gives_the_hardware() -> None:
    assert limit_at([], EVSE1, at(0)) == Limit(32, 3, None)
    assert next_change([], EVSE1, at(0)) is None
    assert shape(composite([], EvseLimits(1, 16.0, 1), at(0), 60)) == [(0, 16, 1)]


# -- units and phases ----------------------------------------------------------------------------
def test_watts_and_amps_on_one_and_three_phases() -> None:
    assert to_amps(6900, RateUnit.WATTS, 3, 230) == pytest.approx(10)
    assert to_amps(2300, RateUnit.WATTS, 1, 230) == pytest.approx(10)
    assert to_amps(16, RateUnit.AMPS, 3, 230) == 16
    assert from_amps(10, RateUnit.WATTS, 3, 230) == pytest.approx(6900)
    assert from_amps(10, RateUnit.WATTS, 1, 230) == pytest.approx(2300)
    assert from_amps(10, RateUnit.AMPS, 1, 230) == 10
    with pytest.raises(ValueError):
        to_amps(1000, RateUnit.WATTS, 0, 230)


def test_watt_profile_phases_default_to_3_and_are_capped_by_the_evse() -> None:
    watts = absolute(1, Purpose.STATION_MAX, (Period(0, 11040),), at(0), unit=RateUnit.WATTS)  # phases None
    assert limit_at([watts], EvseLimits(1, 32.0, 3), at(1)) == Limit(11040 / 690, 3, Purpose.STATION_MAX)
    assert limit_at([watts], EvseLimits(1, 63.0, 1), at(1)) == Limit(48.0, 1, Purpose.STATION_MAX)
    assert limit_at([watts], EvseLimits(1, 32.0, 1), at(1)) == Limit(32.0, 1, None)  # the hardware binds


def test_phases_in_force_are_the_fewest_any_leader_allows() -> None:
    one_phase = absolute(1, Purpose.TX_DEFAULT, (Period(0, 3680, 1),), at(0), evse=1, unit=RateUnit.WATTS)
    station = absolute(2, Purpose.STATION_MAX, amps((0, 25)), at(0))
    limit = limit_at([one_phase, station], EVSE1, at(1))
    assert limit == Limit(16.0, 1, Purpose.TX_DEFAULT)
    assert shape(composite([one_phase, station], EVSE1, at(0), 60, RateUnit.WATTS)) == [(0, 3680.0, 1)]
    assert shape(composite([one_phase, station], EVSE1, at(0), 60)) == [(0, 16.0, 1)]


def test_a_limit_below_the_minimum_rate_stays_as_it_is() -> None:
    low = Profile(1, 0, Purpose.TX_DEFAULT, Kind.ABSOLUTE,
                  Schedule(RateUnit.AMPS, amps((0, 3)), at(0), None, min_rate=6.0))
    assert limit_at([low], EVSE1, at(1)).amps == 3
    assert shape(composite([low], EVSE1, at(0), 60)) == [(0, 3, 3)]


# -- the reported schedule ----------------------------------------------------------------------
def test_composite_on_a_fractional_start_never_reports_more_in_the_changing_second() -> None:
    start = at(8) - timedelta(milliseconds=500)  # the limit drops half a second into second 0
    assert shape(composite([DAILY_6KW], EVSE1, start, 60)) == [(0, 8.6, 3)]
    rising = at(20) - timedelta(milliseconds=500)  # it rises half a second in: second 0 keeps the lower
    assert shape(composite([DAILY_6KW], EVSE1, rising, 60)) == [(0, 8.6, 3), (1, 15.9, 3)]


def test_composite_window_ends_before_a_boundary_at_its_end() -> None:
    result = composite([DAILY_6KW], EVSE1, at(7), H)
    assert shape(result) == [(0, 15.9, 3)]
    assert result.duration_s == H


def test_composite_needs_a_window() -> None:
    with pytest.raises(ValueError):
        composite([DAILY_6KW], EVSE1, at(0), 0)

"""Local load sharing (chargepoint.core.domain.sharing): the fair split of the site current."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.core.domain.sharing import HEADROOM_A, MIN_CURRENT_A, Demand, share

TOL = 1e-9


def on(evse_id: int, cap_a: float = 32.0, drawing_a: float | None = None, phases: int = 3) -> Demand:
    return Demand(evse_id, cap_a, True, drawing_a, phases)


def off(evse_id: int, cap_a: float = 32.0) -> Demand:
    return Demand(evse_id, cap_a, False)


def deciamps(amps: float) -> int:
    return round(amps * 10)


# ---------------------------------------------------------------- one, two, three EVSEs


def test_one_evse_gets_the_site_limit_up_to_its_cap() -> None:
    assert share(32.0, [on(1, cap_a=16.0)]) == {1: 16.0}
    assert share(10.0, [on(1, cap_a=32.0)]) == {1: 10.0}
    assert share(32.0, [on(1, cap_a=32.0)]) == {1: 32.0}


def test_one_evse_below_the_minimum_is_paused_iec_61851_annex_a() -> None:
    # IEC 61851-1: no PWM offer below 6 A, so a site limit of 5 A pauses the EV instead of offering 5 A
    assert share(5.9, [on(1)]) == {1: 0.0}
    assert share(6.0, [on(1)]) == {1: 6.0}


def test_two_evses_split_equally() -> None:
    assert share(32.0, [on(1), on(2)]) == {1: 16.0, 2: 16.0}
    assert share(25.0, [on(1), on(2)]) == {1: 12.5, 2: 12.5}


def test_three_evses_split_equally_rounded_down_to_a_tenth() -> None:
    offers = share(32.0, [on(1), on(2), on(3)])
    assert offers == {1: 10.6, 2: 10.6, 3: 10.6}  # 32 / 3 = 10.666..., rounded down, never up
    assert sum(offers.values()) <= 32.0


def test_rounding_reads_the_number_as_written() -> None:
    # 16.1 in binary is a hair below 16.1; the offer must still be 16.1, not 16.0
    assert share(32.0, [on(1, cap_a=16.1)]) == {1: 16.1}
    assert share(16.1, [on(1)]) == {1: 16.1}
    assert share(20.0, [on(1), on(2), on(3)]) == {1: 6.6, 2: 6.6, 3: 6.6}


def test_mixed_phases_are_treated_as_loading_every_phase() -> None:
    # conservative for a mixed site: a 1-phase EVSE counts against the per-phase limit like a 3-phase one
    assert share(32.0, [on(1, phases=1), on(2, phases=3)]) == {1: 16.0, 2: 16.0}


# ---------------------------------------------------------------- caps below the share


def test_a_cap_below_the_equal_share_leaves_the_rest_to_the_others() -> None:
    assert share(48.0, [on(1, cap_a=10.0), on(2), on(3)]) == {1: 10.0, 2: 19.0, 3: 19.0}


def test_caps_cascade() -> None:
    # level 60 / 4 = 15: EVSE 1 (8) and 2 (13) are below it, the rest (39) goes to 3 and 4: 19.5 each,
    # but 3 may have only 16, so 4 gets 23
    offers = share(60.0, [on(1, cap_a=8.0), on(2, cap_a=13.0), on(3, cap_a=16.0), on(4)])
    assert offers == {1: 8.0, 2: 13.0, 3: 16.0, 4: 23.0}


def test_all_caps_below_the_limit_leave_current_unoffered() -> None:
    assert share(100.0, [on(1, cap_a=16.0), on(2, cap_a=10.0)]) == {1: 16.0, 2: 10.0}


def test_a_cap_below_the_minimum_pauses_that_evse_and_the_others_share_all() -> None:
    assert share(32.0, [on(1, cap_a=5.0), on(2), on(3)]) == {1: 0.0, 2: 16.0, 3: 16.0}
    assert share(32.0, [on(1, cap_a=0.0), on(2)]) == {1: 0.0, 2: 32.0}


def test_a_cap_just_above_the_minimum_is_offered_the_minimum() -> None:
    assert share(32.0, [on(1, cap_a=6.05), on(2)]) == {1: 6.0, 2: 26.0}


# ---------------------------------------------------------------- an EV drawing less


def test_an_ev_drawing_less_is_capped_at_its_draw_plus_headroom() -> None:
    assert share(32.0, [on(1, drawing_a=8.0), on(2)]) == {1: 9.0, 2: 23.0}


def test_an_ev_drawing_almost_nothing_keeps_the_minimum_so_it_can_resume() -> None:
    assert share(32.0, [on(1, drawing_a=0.0), on(2)]) == {1: 6.0, 2: 26.0}
    assert share(32.0, [on(1, drawing_a=-0.2), on(2)]) == {1: 6.0, 2: 26.0}  # meter noise reads as 0


def test_an_ev_drawing_close_to_its_share_keeps_its_share() -> None:
    # 15.5 + 1 is not below the fair 16: not "clearly less"
    assert share(32.0, [on(1, drawing_a=15.5), on(2)]) == {1: 16.0, 2: 16.0}
    assert share(32.0, [on(1, drawing_a=15.0), on(2)]) == {1: 16.0, 2: 16.0}


def test_an_unknown_drawing_gives_the_full_share() -> None:
    assert share(32.0, [on(1, drawing_a=None), on(2)]) == {1: 16.0, 2: 16.0}


def test_the_reading_is_rounded_up_so_the_headroom_is_never_short() -> None:
    assert share(32.0, [on(1, drawing_a=8.01), on(2)]) == {1: 9.1, 2: 22.9}


def test_readings_are_compared_with_the_plain_share_once() -> None:
    # plain share 16: EVSE 1 (10 + 1) is clearly below it, EVSE 2 (15.5 + 1) is not, so 2 and 3 split what
    # 1 leaves; 2 is not capped again against the raised 18.5 (it may be taking all it was offered)
    offers = share(48.0, [on(1, drawing_a=10.0), on(2, drawing_a=15.5), on(3)])
    assert offers == {1: 11.0, 2: 18.5, 3: 18.5}


def test_freed_current_goes_at_once_to_an_ev_taking_its_whole_offer() -> None:
    # EV 1 draws all of its 16 A; EV 2 only 8 A of its 16 A: EV 1 gets the 7 A at once, not 1 A per call
    assert share(32.0, [on(1, drawing_a=16.0), on(2, drawing_a=8.0)]) == {1: 23.0, 2: 9.0}


def test_a_higher_limit_may_cap_an_ev_at_what_it_draws() -> None:
    # the documented trade-off of the one-pass rule: at 32 A EVSE 1 (15.5 + 1 vs a plain 16) is not capped
    # and takes what EVSE 2 leaves; at 34 A its plain share is 17 and it is capped at 16.5
    demands = [on(1, drawing_a=15.5), on(2, drawing_a=0.0)]
    assert share(32.0, demands) == {1: 26.0, 2: 6.0}
    assert share(34.0, demands) == {1: 16.5, 2: 6.0}


def test_a_reading_caps_a_capped_evse_further_never_above_its_cap() -> None:
    assert share(64.0, [on(1, cap_a=10.0, drawing_a=4.0), on(2)]) == {1: 6.0, 2: 32.0}
    assert share(32.0, [on(1, cap_a=10.0, drawing_a=8.5), on(2)]) == {1: 9.5, 2: 22.5}
    assert share(32.0, [on(1, cap_a=10.0, drawing_a=9.5), on(2)]) == {1: 10.0, 2: 22.0}


def test_an_ev_that_wants_more_again_climbs_back_to_its_fair_share() -> None:
    """Liveness of rule 4: an EV taking its whole offer gets at least 1 A more per call until its share."""
    wants = {1: 32.0, 2: 8.0}  # EV 2 is limited by itself at 8 A for a while
    drawing: dict[int, float | None] = {1: None, 2: None}

    def step() -> dict[int, float]:
        offers = share(32.0, [on(i, drawing_a=drawing[i]) for i in (1, 2)])
        for i in (1, 2):
            drawing[i] = min(offers[i], wants[i])  # an EV draws up to its PWM offer (IEC 61851-1 Annex A)
        return offers

    assert step() == {1: 16.0, 2: 16.0}
    assert step() == {1: 23.0, 2: 9.0}
    assert step() == {1: 23.0, 2: 9.0}  # stable while EV 2 draws 8

    wants[2] = 32.0
    seen = [step()[2] for _ in range(10)]
    # the first call still sees the old reading (8 A); from then on +1 A per call up to the fair 16 A
    assert seen == [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 16.0, 16.0]


# ---------------------------------------------------------------- site limit below n * 6 A


def test_below_n_times_the_minimum_the_lowest_ids_charge() -> None:
    assert share(15.0, [on(3), on(1), on(2)]) == {3: 0.0, 1: 7.5, 2: 7.5}
    assert share(11.9, [on(1), on(2)]) == {1: 11.9, 2: 0.0}


def test_priority_decides_who_charges_when_not_all_can() -> None:
    demands = [on(1), on(2), on(3)]
    assert share(15.0, demands, priority=[3, 1]) == {1: 7.5, 2: 0.0, 3: 7.5}
    assert share(12.0, demands, priority=[2]) == {1: 6.0, 2: 6.0, 3: 0.0}  # unlisted ids follow, lowest first
    assert share(6.0, demands, priority=[9, 3, 3, 1]) == {1: 0.0, 2: 0.0, 3: 6.0}  # unknown ids are ignored


def test_priority_does_not_matter_when_all_can_charge() -> None:
    assert share(32.0, [on(1), on(2)], priority=[2]) == share(32.0, [on(1), on(2)])


def test_priority_passes_over_evses_that_cannot_charge() -> None:
    demands = [on(1), on(2, cap_a=5.0), off(3), on(4)]
    assert share(6.0, demands, priority=[3, 2, 4]) == {1: 0.0, 2: 0.0, 3: 0.0, 4: 6.0}


def test_paused_evses_get_nothing_and_the_charging_ones_keep_their_caps() -> None:
    offers = share(13.0, [on(1, cap_a=6.5), on(2), on(3)])
    assert offers == {1: 6.5, 2: 6.5, 3: 0.0}


# ---------------------------------------------------------------- zero limit, inactive EVSEs, misuse


def test_a_zero_or_negative_site_limit_pauses_everyone() -> None:
    assert share(0.0, [on(1), on(2), off(3)]) == {1: 0.0, 2: 0.0, 3: 0.0}
    assert share(-4.0, [on(1)]) == {1: 0.0}


def test_no_demands_no_offers() -> None:
    assert share(32.0, []) == {}


def test_inactive_evses_get_zero_and_take_nothing() -> None:
    assert share(32.0, [off(1), on(2), off(3)]) == {1: 0.0, 2: 32.0, 3: 0.0}
    assert share(32.0, [off(1), off(2)]) == {1: 0.0, 2: 0.0}


def test_every_demand_gets_an_entry_in_the_given_order() -> None:
    demands = [on(7), off(2), on(5, cap_a=1.0)]
    assert list(share(32.0, iter(demands))) == [7, 2, 5]


@pytest.mark.parametrize(
    ("site_limit_a", "demands"),
    [
        (32.0, [on(1), on(1)]),
        (math.nan, [on(1)]),
        (math.inf, [on(1)]),
        (32.0, [on(1, cap_a=math.nan)]),
        (32.0, [on(1, cap_a=math.inf)]),
        (32.0, [on(1, drawing_a=math.nan)]),
        (32.0, [on(1, phases=0)]),
        (32.0, [on(1, phases=4)]),
    ],
    ids=["duplicate-id", "nan-limit", "inf-limit", "nan-cap", "inf-cap", "nan-drawing", "0-phase", "4-phase"],
)
def test_misuse_raises(site_limit_a: float, demands: list[Demand]) -> None:
    with pytest.raises(ValueError):
        share(site_limit_a, demands)


# ---------------------------------------------------------------- properties

amps = st.floats(min_value=-2.0, max_value=80.0, allow_nan=False)
readings = st.none() | st.floats(min_value=-0.5, max_value=80.0, allow_nan=False)
limits = st.floats(min_value=0.0, max_value=250.0, allow_nan=False)


@st.composite
def demand_lists(draw: st.DrawFn) -> list[Demand]:
    ids = draw(st.lists(st.integers(min_value=0, max_value=30), max_size=8, unique=True))
    return [
        Demand(
            evse_id,
            cap_a=draw(amps),
            active=draw(st.booleans()),
            drawing_a=draw(readings),
            phases=draw(st.sampled_from([1, 3])),
        )
        for evse_id in ids
    ]


def can_charge(demand: Demand) -> bool:
    return demand.active and demand.cap_a >= MIN_CURRENT_A


@given(limits, demand_lists())
def test_property_the_sum_never_exceeds_the_site_limit(site_limit_a: float, demands: list[Demand]) -> None:
    offers = share(site_limit_a, demands)
    assert math.fsum(offers.values()) <= site_limit_a + TOL
    assert sum(deciamps(a) for a in offers.values()) <= math.floor(site_limit_a * 10 + TOL)


@given(limits, demand_lists())
def test_property_each_offer_is_zero_or_between_the_minimum_and_the_cap(
    site_limit_a: float, demands: list[Demand]
) -> None:
    offers = share(site_limit_a, demands)
    assert list(offers) == [d.evse_id for d in demands]
    for demand in demands:
        offer = offers[demand.evse_id]
        assert abs(offer * 10 - deciamps(offer)) < 1e-6  # a whole tenth of an amp
        if not can_charge(demand):
            assert offer == 0.0
        else:
            assert offer == 0.0 or MIN_CURRENT_A <= offer <= demand.cap_a + TOL


@given(limits, demand_lists())
def test_property_pausing_only_when_needed(site_limit_a: float, demands: list[Demand]) -> None:
    offers = share(site_limit_a, demands)
    paused = [d for d in demands if can_charge(d) and offers[d.evse_id] == 0.0]
    charging = [d for d in demands if offers[d.evse_id] > 0.0]
    if paused:
        # giving a paused EVSE 6 A would have taken some other below 6 A
        assert site_limit_a - MIN_CURRENT_A * len(charging) < MIN_CURRENT_A + TOL
        assert all(offers[d.evse_id] <= 2 * MIN_CURRENT_A for d in charging)


@given(limits, st.floats(min_value=0.0, max_value=100.0, allow_nan=False), demand_lists())
def test_property_raising_the_site_limit_never_lowers_the_total(
    site_limit_a: float, more_a: float, demands: list[Demand]
) -> None:
    blind = [replace(d, drawing_a=None) for d in demands]  # readings: see the next property
    before = sum(deciamps(a) for a in share(site_limit_a, blind).values())
    after = sum(deciamps(a) for a in share(site_limit_a + more_a, blind).values())
    assert after >= before


@given(limits, st.floats(min_value=0.0, max_value=100.0, allow_nan=False), demand_lists())
def test_property_raising_the_site_limit_takes_only_unused_current(
    site_limit_a: float, more_a: float, demands: list[Demand]
) -> None:
    before = share(site_limit_a, demands)
    after = share(site_limit_a + more_a, demands)
    if {i for i, a in before.items() if a > 0.0} != {i for i, a in after.items() if a > 0.0}:
        return  # more EVSEs charge now: they take their share from the others, as they should
    for demand in demands:
        keep = before[demand.evse_id]
        if demand.drawing_a is not None:
            keep = min(keep, max(demand.drawing_a + HEADROOM_A, MIN_CURRENT_A))
        assert after[demand.evse_id] >= keep - TOL


@given(
    st.integers(min_value=1, max_value=8),
    st.floats(min_value=MIN_CURRENT_A, max_value=80.0, allow_nan=False),
    readings,
    st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
)
def test_property_equal_claims_get_equal_offers(
    count: int, cap_a: float, drawing_a: float | None, extra_a: float
) -> None:
    site_limit_a = MIN_CURRENT_A * count + extra_a  # room for everyone: nobody is paused by priority
    offers = share(site_limit_a, [on(i, cap_a=cap_a, drawing_a=drawing_a) for i in range(count)])
    assert max(offers.values()) - min(offers.values()) <= 0.1 + TOL
    assert min(offers.values()) >= MIN_CURRENT_A


@given(limits, demand_lists(), st.randoms(use_true_random=False))
def test_property_the_order_of_the_demands_does_not_matter(
    site_limit_a: float, demands: list[Demand], rng: random.Random
) -> None:
    shuffled = list(demands)
    rng.shuffle(shuffled)
    assert share(site_limit_a, shuffled) == share(site_limit_a, demands)


@given(limits, demand_lists())
def test_property_max_min_fair_without_readings(site_limit_a: float, demands: list[Demand]) -> None:
    # water-filling: an EVSE held below its cap gets no less than any other (up to rounding)
    blind = [replace(d, drawing_a=None) for d in demands]
    offers = share(site_limit_a, blind)
    for demand in blind:
        offer = offers[demand.evse_id]
        if offer > 0.0 and offer + 0.1 <= demand.cap_a:
            assert all(other <= offer + TOL for other in offers.values())


@given(limits, demand_lists())
def test_property_readings_take_only_what_an_ev_leaves(site_limit_a: float, demands: list[Demand]) -> None:
    offers = share(site_limit_a, demands)
    plain = share(site_limit_a, [replace(d, drawing_a=None) for d in demands])
    for demand in demands:
        offer = offers[demand.evse_id]
        if demand.drawing_a is None or offer == 0.0:
            continue
        reading = math.ceil(Decimal(repr(demand.drawing_a)) * 10) / 10  # rounded up to 0.1 A, as written
        kept = max(reading + HEADROOM_A, MIN_CURRENT_A)
        if reading + HEADROOM_A < plain[demand.evse_id] - TOL:
            # drawing clearly less than its plain share: capped at its reading plus headroom
            assert abs(offer - kept) <= TOL
        else:
            # otherwise it keeps at least its plain share, and more if others leave some
            assert offer >= plain[demand.evse_id] - TOL


@settings(max_examples=200)
@given(limits, demand_lists(), st.data())
def test_property_an_ev_taking_its_whole_offer_is_not_starved(
    site_limit_a: float, demands: list[Demand], data: st.DataObject
) -> None:
    """Re-evaluated each call: an EV drawing all it was given gets 1 A more, or its plain fair share."""
    offers = share(site_limit_a, demands)
    charging = [d for d in demands if offers[d.evse_id] > 0.0]
    if not charging:
        return
    ev = data.draw(st.sampled_from(charging))
    again = [replace(d, drawing_a=offers[ev.evse_id]) if d is ev else d for d in demands]
    plain = share(site_limit_a, [replace(d, drawing_a=None) for d in demands])[ev.evse_id]
    assert share(site_limit_a, again)[ev.evse_id] >= min(offers[ev.evse_id] + HEADROOM_A, plain) - TOL

"""Local load sharing: split a site's per-phase current limit fairly between the EVSEs that charge.

A station with several EVSEs behind one supply (``site_max_current_a`` in its config) must keep the sum of
its offers within that limit (OCPP 1.6 §3.13 Smart Charging, use case "Load Balancing"; OCPP 2.0.1 K04
Internal Load Balancing). ``share`` is a pure function of its inputs, with no clock and
no memory: the caller calls it again whenever an EV starts, stops, is limited anew by the CSMS, or a
fresh meter reading shows it draws less (or more) than before, and offers the result (SetPilotCurrent).

The rules, in the order they are applied:

1. Who takes part. Only an ``active`` EVSE whose ``cap_a`` is at least ``MIN_CURRENT_A`` can be offered
   current; every other demand gets 0.0. IEC 61851-1 Annex A: the lowest current a PWM duty cycle may
   offer is 6 A; a smaller limit (from the hardware or a CSMS profile) cannot be signalled, so that EV is
   paused (offer 0).
2. Who charges when the site cannot feed everyone. ``k = site_limit // MIN_CURRENT_A`` EVSEs can get the
   minimum; if more take part, the first ``k`` in priority order charge and the rest are paused. The order
   is ``priority`` (EVSE ids, first = most deserving) followed by the ids it leaves out, lowest id first.
   The caller may rotate ``priority`` (e.g. longest-paused first) so pauses take turns; without it the
   order is simply lowest ``evse_id`` first. Pausing happens only when needed: a paused EVSE could have
   had 6 A only by taking another below 6 A.
3. Fair share. Water-filling (max-min fairness) among those that charge: all get the same level, an EVSE
   whose cap is below it gets its cap and what it leaves is split among the others.
4. Unused current. An EV that draws clearly less than its plain fair share (rule 3 with the ``cap_a``
   values only: ``drawing_a`` known and ``drawing_a + HEADROOM_A`` below that share) is treated as capped
   at ``max(drawing_a + HEADROOM_A, MIN_CURRENT_A)`` (never above ``cap_a``), and the water-filling runs
   once more so the others get what it leaves (the reading is first rounded UP to 0.1 A, so the
   headroom is never short). One pass, on purpose: the plain share is what the caller
   offered last time when nothing changed, so an EV drawing about that much is taking its whole offer
   and may want more. Comparing again with the raised share of the second pass would cap exactly the
   EVs that should get the freed current (one at 16 A of 16 A, when a neighbour stops using 7 A, would
   be offered 17 A instead of 23 A), and they would only climb back 1 A per call.
   Trade-off: with readings, raising the site limit can lower the total offered. The plain share rises
   past an EV's ``drawing_a + HEADROOM_A``, so it is capped at what it draws and stops receiving the
   current others leave: current it was not using at the time of its reading. A rising limit never
   lowers an EV below ``min(its previous offer, max(drawing_a + HEADROOM_A, MIN_CURRENT_A))`` while the
   same EVSEs charge; without readings the total offered never falls as the limit rises.
   Not starving an EV that wants more again: the rule is re-evaluated on every call and keeps no memory.
   An EV draws up to its PWM offer when it can (IEC 61851-1 Annex A), so one that wants more draws its
   whole offer ``drawing + HEADROOM_A`` and the next call offers it ``HEADROOM_A`` more, until the
   reading no longer sits clearly below the plain share and it gets the full share back: at least 1 A
   per call, the caller decides how often it calls. An EV is never offered less than ``MIN_CURRENT_A``
   because of its reading, so one that paused itself (drawing 0, IEC 61851 state C with no current) can
   always resume. The reading should be taken after the EV had time to follow its last offer change
   (IEC 61851-1 gives the EV 5 s); when the caller has no such reading (e.g. right after the offer was
   raised, or after the EV resumed) it passes ``drawing_a=None`` and the EV gets its full fair share.
5. Rounding. Every offer is rounded DOWN to 0.1 A (the granularity ``ROUNDING_A``); the computation runs
   in whole deciamps, so the sum of the offers, in deciamps, never exceeds the site limit rounded down.

Phases: every EVSE is treated as loading every phase with its whole offer, whatever its ``phases``: a
1-phase EVSE may sit on any phase and several of them on the same one, so this is the conservative reading
for a mixed 1/3-phase site (the site limit is per phase). ``phases`` is only checked, not used.

Misuse raises ``ValueError`` (a duplicate ``evse_id``, a NaN or infinite number, ``phases`` outside 1..3);
a negative limit, cap or reading is taken as 0 (meter noise, or a profile limit of 0: pause).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MIN_CURRENT_A = 6.0  # IEC 61851-1: the lowest PWM offer; below it the EV is paused (offer 0)
HEADROOM_A = 1.0  # an EV drawing less than its share by more than this is capped at its draw plus this
ROUNDING_A = 0.1  # offers are rounded down to this step

_STEPS_PER_A = 10  # deciamps: integer arithmetic keeps the sum exact and the rounding a plain floor
_MIN_DA = 60
_HEADROOM_DA = 10


@dataclass(frozen=True, slots=True)
class Demand:
    """What one EVSE may have and seems to use, as the caller sees it now."""

    evse_id: int
    cap_a: float  # the most this EVSE may get: min(hardware max, its CSMS profiles), per phase
    active: bool  # a transaction runs and the EV may charge (it wants or may want power)
    drawing_a: float | None = None  # the highest phase current the meter measured lately, None if unknown
    phases: int = 3


def share(
    site_limit_a: float,
    demands: Iterable[Demand],
    *,
    priority: Sequence[int] | None = None,
) -> dict[int, float]:
    """Amps offered per EVSE id; every demand gets an entry, inactive ones 0.0 (rules: module docstring).

    ``priority`` orders the EVSEs when the site cannot give every active one ``MIN_CURRENT_A``: listed ids
    first, in that order, then the others by ascending id; ids it names that are not demands are ignored.

    Raises:
        ValueError: two demands with one ``evse_id``, a NaN or infinite number, or ``phases`` outside 1..3.
    """
    items = tuple(demands)
    seen: set[int] = set()
    for demand in items:
        if demand.evse_id in seen:
            raise ValueError(f"two demands for EVSE {demand.evse_id}")
        seen.add(demand.evse_id)
        if not 1 <= demand.phases <= 3:
            raise ValueError(f"EVSE {demand.evse_id}: phases must be 1, 2 or 3, not {demand.phases}")
    limit = _floor_da(site_limit_a, "site_limit_a")
    caps = {d.evse_id: _floor_da(d.cap_a, f"EVSE {d.evse_id} cap_a") for d in items}
    drawing = {
        d.evse_id: _ceil_da(d.drawing_a, f"EVSE {d.evse_id} drawing_a")
        for d in items
        if d.drawing_a is not None
    }

    eligible = [d.evse_id for d in items if d.active and caps[d.evse_id] >= _MIN_DA]
    charging = _admit(eligible, limit // _MIN_DA, priority)
    offers_da = _share_unused(limit, {i: caps[i] for i in charging}, drawing)
    return {d.evse_id: offers_da.get(d.evse_id, 0) / _STEPS_PER_A for d in items}


def _admit(eligible: list[int], room: int, priority: Sequence[int] | None) -> list[int]:
    """The EVSEs that charge: all if the site has room for each at the minimum, else the first by priority."""
    if len(eligible) <= room:
        return eligible
    wanted = set(eligible)
    order: list[int] = []
    for evse_id in priority or ():
        if evse_id in wanted and evse_id not in order:
            order.append(evse_id)
    order.extend(sorted(wanted.difference(order)))
    return order[:room]


def _share_unused(limit: int, caps: dict[int, int], drawing: dict[int, int]) -> dict[int, int]:
    """Water-fill, cap every EV that draws clearly less than its plain share, water-fill again (rule 4)."""
    plain = _water_fill(limit, caps)
    effective = dict(caps)
    for evse_id, offer in plain.items():
        if evse_id in drawing and drawing[evse_id] + _HEADROOM_DA < offer:
            effective[evse_id] = min(caps[evse_id], max(drawing[evse_id] + _HEADROOM_DA, _MIN_DA))
    return plain if effective == caps else _water_fill(limit, effective)


def _water_fill(limit: int, caps: dict[int, int]) -> dict[int, int]:
    """Max-min fair split of ``limit`` deciamps: the highest whole level L with sum(min(cap, L)) <= limit.

    Those capped below L get their cap; the rest get L. The few deciamps left over (fewer than the EVSEs
    at L) stay unoffered: offers round down (rule 5) and equal claims get exactly equal offers.
    """
    remaining = limit
    left = len(caps)
    offers: dict[int, int] = {}
    for evse_id, cap in sorted(caps.items(), key=lambda item: (item[1], item[0])):
        if cap * left <= remaining:
            offers[evse_id] = cap
            remaining -= cap
            left -= 1
        else:
            level = remaining // left
            offers.update((other, level) for other in caps if other not in offers)
            break
    return offers


def _floor_da(value: float, what: str) -> int:
    """Whole deciamps at or below ``value`` as written (16.1 is 161, not 160 from its binary form)."""
    return max(0, int(_decimal(value, what).scaleb(1).to_integral_value(rounding=ROUND_FLOOR)))


def _ceil_da(value: float, what: str) -> int:
    """Whole deciamps at or above ``value``: a reading is never taken as smaller than measured."""
    return max(0, int(_decimal(value, what).scaleb(1).to_integral_value(rounding=ROUND_CEILING)))


def _decimal(value: float, what: str) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    # repr is the shortest text that reads back as the same float: the value the caller wrote
    return Decimal(repr(float(value)))

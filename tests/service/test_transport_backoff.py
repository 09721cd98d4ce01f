"""The reconnect back-off: OCPP 2.0.1 B10 (wait minimum, random range, repeat times) when configured."""

from __future__ import annotations

import itertools
import random

from chargepoint.service.transport import ocpp_backoff


def test_the_wait_doubles_up_to_the_repeat_times_then_stays() -> None:
    delays = list(itertools.islice(ocpp_backoff(3.0, 0.0, 3, random.Random(1)), 6))
    assert delays == [3.0, 6.0, 12.0, 24.0, 24.0, 24.0]


def test_the_random_part_stays_within_the_range() -> None:
    delays = list(itertools.islice(ocpp_backoff(2.0, 10.0, 0, random.Random(7)), 200))
    assert all(2.0 <= d <= 12.0 for d in delays)
    assert max(delays) - min(delays) > 5.0  # it is spread, not a constant

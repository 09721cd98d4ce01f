"""Time as an input: the ``Now`` the shell passes in, and OCPP timestamp formatting and parsing.

The core never reads a clock. ``Now.monotonic`` drives every timer; ``Now.utc`` is the board's wall
clock, which may be wrong (no RTC, never synchronised), so the station corrects it with an offset
learnt from the CSMS (OCPP 1.6 §4.6 Heartbeat, §4.2 BootNotification currentTime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Now:
    """One reading of both clocks, taken by the shell."""

    monotonic: float
    utc: datetime

    def later(self, seconds: float) -> Now:
        """The same clocks ``seconds`` later (used by tests and simulations)."""
        return Now(self.monotonic + seconds, self.utc + timedelta(seconds=seconds))


def format_timestamp(moment: datetime) -> str:
    """UTC, ``Z`` suffix, millisecond precision: what strict CSMSs accept (OCPP 2.0.1 part 4 §5)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp from the CSMS; ``None`` if it is not one. No zone means UTC."""
    match = _TS.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone = match.group(8)
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment -= sign * offset
    return moment

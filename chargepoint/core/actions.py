"""Actions: commands the core returns and the shell executes, in order. Frozen, slotted.

Ordering contract: the shell executes actions in the order given, and a ``Persist`` / ``Forget`` is
durable on disk before any later ``SendText`` goes out (the "nothing is lost" rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class SendText:
    """Send one OCPP-J text frame to the CSMS."""

    text: str


@dataclass(frozen=True, slots=True)
class SetContactor:
    """Close or open the contactor of an EVSE."""

    evse: int
    closed: bool


@dataclass(frozen=True, slots=True)
class SetPilotCurrent:
    """Offer ``current_a`` to the EV through the pilot PWM; 0 means no PWM (the EV may not charge)."""

    evse: int
    current_a: float


@dataclass(frozen=True, slots=True)
class SetEvseEnabled:
    """Enable or disable the EVSE at the controller (disabled: pilot F, unavailable)."""

    evse: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetLock:
    """Lock or unlock the connector cable of an EVSE; the shell answers with a ``LockResult``."""

    evse: int
    locked: bool


@dataclass(frozen=True, slots=True)
class Persist:
    """Write (insert or replace) one row: ``kind`` is the table, ``key`` orders rows within it. The value
    stays out of ``repr`` (it may be a key or an id token, and reprs end up in logs)."""

    kind: str
    key: str
    value: object = field(repr=False)


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete one row (no error if it is not there)."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class ConfigureConnection:
    """Settings the CSMS manages for the connection (OCPP 1.6 WebSocketPingInterval, AuthorizationKey):
    used from the next connection on. ``None`` leaves a value as it is; ``ping_interval_s`` 0 disables."""

    ping_interval_s: float | None = None
    password: str | None = field(default=None, repr=False)
    backoff: tuple[float, float, int] | None = None
    """OCPP 2.0.1 B10 reconnect back-off: (RetryBackOffWaitMinimum s, RetryBackOffRandomRange s,
    RetryBackOffRepeatTimes); ``None`` keeps the transport's own exponential back-off."""
    endpoint: tuple[str, int] | None = None
    """OCPP 2.0.1 B09/B10 network profile in use: (CSMS URL, security profile); ``("", 0)`` means the
    installer's own from the config file; ``None`` leaves it as it is."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close the WebSocket and connect again (e.g. after a credentials change)."""

    reason: str


class RebootKind(StrEnum):
    SOFT = "Soft"
    HARD = "Hard"


@dataclass(frozen=True, slots=True)
class Reboot:
    """Restart the station process (systemd restarts it); ``HARD`` may also reboot the board."""

    kind: RebootKind


@dataclass(frozen=True, slots=True)
class Log:
    """A state change worth one log line (the shell adds station context). No secrets in ``message``."""

    level: int
    message: str


@dataclass(frozen=True, slots=True)
class SetSystemClock:
    """Set the board's clock to ``utc`` (only when the installer allowed it: station.set_system_clock)."""

    utc: datetime


Action = (
    SendText
    | SetContactor
    | SetPilotCurrent
    | SetEvseEnabled
    | SetLock
    | Persist
    | Forget
    | ConfigureConnection
    | Reconnect
    | Reboot
    | Log
    | SetSystemClock
)

"""A socket-outlet cable lock on GPIO: an actuator line and its position switch (``hal.lock.ConnectorLock``).

Electrically a lock is a contactor's twin (drive a line, check a feedback contact follows), so it reuses
``GpioContactor``; only the meaning changes: "closed" is "locked", and an actuator that does not reach the
position is a ``DeviceFault`` the station reports as OCPP ConnectorLockFailure.

Config::

    lock = { driver = "gpio", chip = "/dev/gpiochip0", line = 22, feedback_line = 23, settle_s = 1.0 }
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.gpio.contactor import GpioContactor, contactor_settings
from drivers.gpio.lines import OpenLines, open_lines

DEFAULT_LOCK_SETTLE_S = 1.0  # a motorised latch takes longer than a contactor


class GpioLock:
    """The cable lock of one connector."""

    def __init__(self, actuator: GpioContactor) -> None:
        self.actuator = actuator

    async def set_locked(self, locked: bool) -> None:
        """Drive the actuator; with a position switch, raise ``DeviceFault`` if it does not get there."""
        await self.actuator.set_closed(locked)

    async def is_locked(self) -> bool:
        return await self.actuator.is_closed()

    async def close(self) -> None:
        """Leave the actuator unpowered (unlocked: a cable is never held by a dead station) and release."""
        await self.actuator.close()


def create_gpio_lock(options: Mapping[str, object], *, lines: OpenLines = open_lines) -> GpioLock:
    """The registry factory: a GPIO cable lock from its config table. Opens nothing yet."""
    table = dict(options)
    table.setdefault("settle_s", DEFAULT_LOCK_SETTLE_S)
    return GpioLock(GpioContactor(contactor_settings(table), open_lines=lines))

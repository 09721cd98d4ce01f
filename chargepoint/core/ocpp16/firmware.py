"""OCPP 1.6 firmware updates and log uploads (issue 7): FirmwareManagement, SignedUpdateFirmware, GetLog.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.events import JobProgress

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.calls import Handler
    from chargepoint.core.ocpp16.station import Station16

Rows = dict[str, list[tuple[str, object]]]

HANDLERS: dict[str, Handler] = {}


def restore(st: Station16, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind."""
    return []


def on_registered(st: Station16, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot)."""
    return []


def on_progress(st: Station16, event: JobProgress, now: Now) -> list[Action]:
    return []


def on_timer(st: Station16, name: str, now: Now) -> list[Action]:
    """Timers named ``fw.*`` and ``log.*``."""
    return []


def when_idle(st: Station16, now: Now) -> list[Action]:
    """After every event: an install waiting for the transactions to end may go now."""
    return []


def trigger(st: Station16, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    return None

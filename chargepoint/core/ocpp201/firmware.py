"""OCPP 2.0.1 blocks L (firmware) and N (logs): firmware updates and log uploads (to be completed, issue 7).

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.events import JobProgress

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.calls import Handler
    from chargepoint.core.ocpp201.station import Station201

Rows = dict[str, list[tuple[str, object]]]

HANDLERS: dict[str, Handler] = {}


def restore(st: Station201, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind."""
    return []


def on_registered(st: Station201, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot)."""
    return []


def on_progress(st: Station201, event: JobProgress, now: Now) -> list[Action]:
    return []


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    """Timers named ``fw.*`` and ``log.*``."""
    return []


def when_idle(st: Station201, now: Now) -> list[Action]:
    """After every event: an install waiting for the transactions to end may go now."""
    return []


def trigger(st: Station201, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    return None

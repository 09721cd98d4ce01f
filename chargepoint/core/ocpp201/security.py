"""OCPP 2.0.1 blocks A and M: certificates and security events (to be completed, issue 7).

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.events import PkiResult

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


def on_pki_result(st: Station201, event: PkiResult, now: Now) -> list[Action]:
    return []


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    """Timers named ``sec.*``."""
    return []


def on_connection_failed(st: Station201, reason: str, now: Now) -> list[Action]:
    """The transport closed or could not connect; ``reason`` starts with ``invalid-csms-certificate``
    or ``authentication-failed`` when that is why."""
    return []


def on_setting_changed(st: Station201, key: str, now: Now) -> list[Action]:
    """A setting changed by the CSMS (its 1.6 key name)."""
    return []


def trigger(st: Station201, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    return None


def on_clock_set(st: Station201, shift_s: float, now: Now) -> list[Action]:
    """The board clock was set from the CSMS time (SettingSystemTime)."""
    return []


def on_reset(st: Station201, kind: str, now: Now) -> list[Action]:
    """The CSMS asked for a reset (``kind``: 1.6 Soft / Hard, 2.0.1 Immediate / OnIdle)."""
    return []

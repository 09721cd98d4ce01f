"""OCPP 1.6 security extension (Improved security for OCPP 1.6-J): certificates and security events.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.events import PkiResult

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


def on_pki_result(st: Station16, event: PkiResult, now: Now) -> list[Action]:
    return []


def on_timer(st: Station16, name: str, now: Now) -> list[Action]:
    """Timers named ``sec.*``."""
    return []


def on_connection_failed(st: Station16, reason: str, now: Now) -> list[Action]:
    """The transport closed or could not connect; ``reason`` starts with ``invalid-csms-certificate``
    or ``authentication-failed`` when that is why."""
    return []


def on_setting_changed(st: Station16, key: str, now: Now) -> list[Action]:
    """A setting changed by the CSMS (its 1.6 key name)."""
    return []


def trigger(st: Station16, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    return None


def on_clock_set(st: Station16, shift_s: float, now: Now) -> list[Action]:
    """The board clock was set from the CSMS time (SettingSystemTime)."""
    return []


def on_reset(st: Station16, kind: str, now: Now) -> list[Action]:
    """The CSMS asked for a reset (``kind``: 1.6 Soft / Hard, 2.0.1 Immediate / OnIdle)."""
    return []

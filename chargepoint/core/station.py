"""The core's front door: build the charge point for the configured OCPP version.

Both adapters expose the same three entry points (``handle``, ``handle_timer``, ``next_deadline``) plus a
read-only ``snapshot``; the shell sees only this ``Core`` protocol, never a version.
"""

from __future__ import annotations

from typing import Protocol

from chargepoint.core.actions import Action
from chargepoint.core.clock import Now
from chargepoint.core.domain.info import EvseSpec, StationInfo
from chargepoint.core.events import Event
from chargepoint.core.ocpp16.station import Station16
from chargepoint.core.ocpp201.station import Station201

__all__ = ["Core", "EvseSpec", "StationInfo", "UnsupportedVersion", "build_core"]


class Core(Protocol):
    def handle(self, event: Event, now: Now) -> list[Action]: ...

    def handle_timer(self, now: Now) -> list[Action]: ...

    def next_deadline(self) -> float | None: ...

    def snapshot(self) -> dict[str, object]: ...


class UnsupportedVersion(ValueError):
    """The configured OCPP version has no adapter in this build."""


def build_core(info: StationInfo, ocpp_version: str) -> Core:
    if ocpp_version == "1.6":
        return Station16(info)
    if ocpp_version == "2.0.1":
        return Station201(info)
    raise UnsupportedVersion(f"OCPP {ocpp_version} is not available in this build (1.6 and 2.0.1 are)")

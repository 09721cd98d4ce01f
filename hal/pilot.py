"""The EVSE-controller port: control-pilot state in, PWM current limit and enable out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hal.types import FaultCode, PilotState


@dataclass(frozen=True, slots=True)
class PilotStatus:
    """What the EVSE controller reports: the pilot state and, in state F or on a fault, why."""

    state: PilotState
    fault: FaultCode | None = None


@runtime_checkable
class Pilot(Protocol):
    """The control pilot of one EVSE (IEC 61851-1).

    Capability flags:
        supports_phase_switching: the controller can switch between 1 and 3 phases.

    Raises:
        DeviceTimeout / DeviceUnavailable / DeviceProtocolError from every command.
    """

    supports_phase_switching: bool

    async def set_current_limit(self, current_a: float) -> None:
        """Offer ``current_a`` through the PWM duty cycle; 0 stops the PWM (the EV may not draw)."""
        ...

    async def set_enabled(self, enabled: bool) -> None:
        """Enable the EVSE, or disable it (pilot F: the EV sees the station unavailable)."""
        ...

    def status_updates(self) -> AsyncIterator[PilotStatus]:
        """Every change of the pilot state, starting with the current one."""
        ...

    async def close(self) -> None:
        """Release the port."""
        ...

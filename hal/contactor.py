"""The contactor (power relay) port, with optional feedback from a mirror contact."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Contactor(Protocol):
    """The contactor that switches power to one EVSE's outlet.

    Capability flags:
        has_feedback: the driver reads a mirror contact and checks the relay followed the command.

    Raises (from ``set_closed``):
        DeviceFault: with feedback, the contactor did not follow (welded or stuck open).
        DeviceUnavailable / DeviceTimeout: the relay could not be commanded.
    """

    has_feedback: bool

    async def set_closed(self, closed: bool) -> None:
        """Close (energise) or open the contactor and return once it has followed."""
        ...

    async def is_closed(self) -> bool:
        """The contactor's state: the feedback contact if there is one, else the last command."""
        ...

    async def close(self) -> None:
        """Release the line (opening the contactor first)."""
        ...

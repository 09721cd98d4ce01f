"""The energy-meter port: one read gives every quantity the meter has."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hal.types import MeterSample


@runtime_checkable
class Meter(Protocol):
    """An energy meter for one EVSE.

    Capability flags:
        phases: 1 or 3, how many per-phase values a sample carries.

    Raises (from ``read``):
        DeviceTimeout: no answer within the driver's short timeout (about a second).
        DeviceUnavailable: the port is gone.
        DeviceProtocolError: a garbled or exception reply (counted by the driver, then raised).
    """

    phases: int

    async def read(self) -> MeterSample:
        """Read the meter once."""
        ...

    async def close(self) -> None:
        """Release the port or the bus share."""
        ...

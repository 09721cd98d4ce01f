"""The connector-lock port (sockets with a locking actuator)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class ConnectorLock(Protocol):
    """The cable lock of one connector.

    Raises (from ``set_locked``):
        DeviceFault: the actuator did not reach the position (OCPP ConnectorLockFailure).
    """

    async def set_locked(self, locked: bool) -> None:
        """Lock or unlock the cable and return once the actuator is there."""
        ...

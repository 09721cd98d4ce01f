"""The identification port: RFID readers and anything else that presents an id token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenReader(Protocol):
    """A card reader. Tokens are UIDs as upper-case hex (``"DEADBEEF"``).

    A card held in the field or tapped twice within a second yields one token (the driver debounces).

    Raises (from the iterator):
        DeviceUnavailable: the reader went away; the caller reopens it later.
    """

    name: str

    def tokens(self) -> AsyncIterator[str]:
        """Each card presented, once."""
        ...

    async def close(self) -> None:
        """Release the port."""
        ...

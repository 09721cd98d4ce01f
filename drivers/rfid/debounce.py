"""Tells a new card from the same card still in the field (a reader repeats a held card's UID)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Debouncer:
    """``accept(uid)`` is True for a new token, False for the same UID seen again within ``window_s``.

    The window runs from the UID's *last* sighting, so a card held in the field (the PN532 lists it on
    every poll, the RDM6300 repeats its frame; HARDWARE.md §3) stays one token however long it is held.
    A different UID is always a new token. ``hal.token_reader.TokenReader``: "a card held in the field
    or tapped twice within a second yields one token".
    """

    def __init__(self, window_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must not be negative, got {window_s}")
        self.window_s = window_s
        self._clock = clock
        self._last_uid: str | None = None
        self._last_seen = 0.0

    def accept(self, uid: str) -> bool:
        """Record a sighting of ``uid``; True when it is a new token."""
        now = self._clock()
        same = uid == self._last_uid and now - self._last_seen < self.window_s
        self._last_uid, self._last_seen = uid, now  # every sighting refreshes the window
        return not same

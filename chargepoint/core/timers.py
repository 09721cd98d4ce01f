"""Named deadlines on the monotonic clock: the core's one timer mechanism.

Heartbeats, call timeouts, retries, sampling, connection timeouts and reservation expiry all register a
deadline here under a name; the station reports the earliest as ``next_deadline()`` and the shell calls
``handle_timer(now)`` once it has passed. Tests therefore drive hours of charging in milliseconds.
"""

from __future__ import annotations


class Timers:
    """A small map from timer name to monotonic deadline."""

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}

    def set(self, name: str, deadline: float) -> None:
        """Arm (or re-arm) ``name`` to fire at ``deadline``."""
        self._deadlines[name] = deadline

    def cancel(self, name: str) -> None:
        """Disarm ``name``; no error if it is not armed."""
        self._deadlines.pop(name, None)

    def cancel_prefix(self, prefix: str) -> None:
        """Disarm every timer whose name starts with ``prefix``."""
        for name in [n for n in self._deadlines if n.startswith(prefix)]:
            del self._deadlines[name]

    def armed(self, name: str) -> bool:
        return name in self._deadlines

    def deadline(self, name: str) -> float | None:
        return self._deadlines.get(name)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or ``None``."""
        return min(self._deadlines.values(), default=None)

    def pop_due(self, monotonic: float) -> list[str]:
        """Disarm and return the names of every timer due at ``monotonic``, earliest first."""
        due = sorted((d, n) for n, d in self._deadlines.items() if d <= monotonic)
        for _, name in due:
            del self._deadlines[name]
        return [name for _, name in due]

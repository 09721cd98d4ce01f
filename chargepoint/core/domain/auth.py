"""Authorisation data: the Local Authorization List and the Authorization Cache, version-neutral.

OCPP 1.6 §3.5 (local authorisation), §5.15 SendLocalList, §5.4 ClearCache; OCPP 2.0.1 C10-C14, D01-D02.
The local list takes precedence over the cache (1.6 §3.5.3 "the Local Authorization List has priority").
Both are persisted through ``Persist`` / ``Forget`` actions so they survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chargepoint.core.actions import Action, Forget, Persist
from chargepoint.core.clock import format_timestamp, parse_timestamp

CACHE = "auth_cache"
LOCAL_LIST = "local_list"
CACHE_LIMIT = 1000  # entries; the least recently used goes first (1.6 §3.5.2 leaves the size to us)


class AuthStatus(StrEnum):
    """The outcome of an authorisation (1.6 AuthorizationStatus; 2.0.1 maps its richer set onto these)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class IdInfo:
    """What is known about an id token: its status, expiry and group (parent) token."""

    status: AuthStatus
    expiry: datetime | None = None
    parent: str | None = None

    def effective(self, at: datetime) -> AuthStatus:
        """The status at ``at``: an Accepted entry past its expiry is Expired (1.6 §3.5.2)."""
        if self.status is AuthStatus.ACCEPTED and self.expiry is not None and at >= self.expiry:
            return AuthStatus.EXPIRED
        return self.status

    def to_record(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "expiry": format_timestamp(self.expiry) if self.expiry else None,
            "parent": self.parent,
        }

    @staticmethod
    def parse(status: object, expiry: object, parent: object) -> IdInfo | None:
        """Build from loosely typed parts (a persisted row, or an adapter's message); ``None`` if the
        status is not one we know."""
        try:
            known = AuthStatus(str(status))
        except ValueError:
            return None
        return IdInfo(
            known,
            parse_timestamp(expiry) if isinstance(expiry, str) else None,
            parent if isinstance(parent, str) else None,
        )

    @staticmethod
    def from_record(value: object) -> IdInfo | None:
        if not isinstance(value, dict):
            return None
        return IdInfo.parse(value.get("status"), value.get("expiry"), value.get("parent"))


class AuthorizationCache:
    """Id tokens the CSMS answered for recently (1.6 §3.5.2 / 2.0.1 C10), with when each was answered so
    an entry older than AuthCacheCtrlr.LifeTime is not used (2.0.1 C10)."""

    def __init__(self) -> None:
        self._entries: dict[str, IdInfo] = {}
        self._at: dict[str, datetime] = {}

    def restore(self, rows: list[tuple[str, object]]) -> None:
        for key, value in rows:
            info = IdInfo.from_record(value)
            if info is not None:
                self._entries[key] = info
                at = value.get("cachedAt") if isinstance(value, dict) else None
                moment = parse_timestamp(at) if isinstance(at, str) else None
                if moment is not None:
                    self._at[key] = moment

    def get(self, token: str, now: datetime | None = None, lifetime_s: int = 0) -> IdInfo | None:
        """The cached answer, unless it is older than ``lifetime_s`` (0: no limit) at ``now``."""
        info = self._entries.get(token)
        at = self._at.get(token)
        if info is not None and lifetime_s > 0 and now is not None and at is not None \
                and (now - at).total_seconds() > lifetime_s:
            return None
        return info

    def __len__(self) -> int:
        return len(self._entries)

    def update(self, token: str, info: IdInfo, at: datetime | None = None) -> list[Action]:
        """Store the latest answer for ``token`` (answered ``at``), evicting the oldest entry when full."""
        actions: list[Action] = []
        self._entries.pop(token, None)
        self._at.pop(token, None)
        if len(self._entries) >= CACHE_LIMIT:
            oldest = next(iter(self._entries))
            del self._entries[oldest]
            self._at.pop(oldest, None)
            actions.append(Forget(CACHE, oldest))
        self._entries[token] = info
        record = info.to_record()
        if at is not None:
            self._at[token] = at
            record["cachedAt"] = format_timestamp(at)
        actions.append(Persist(CACHE, token, record))
        return actions

    def clear(self) -> list[Action]:
        actions: list[Action] = [Forget(CACHE, token) for token in self._entries]
        self._entries.clear()
        self._at.clear()
        return actions


class ListUpdateStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class LocalList:
    """The Local Authorization List with its version (1.6 §5.15, 2.0.1 D01)."""

    VERSION_KEY = "__version__"

    def __init__(self) -> None:
        self.version = 0
        self._entries: dict[str, IdInfo] = {}

    def restore(self, rows: list[tuple[str, object]]) -> None:
        for key, value in rows:
            if key == self.VERSION_KEY:
                self.version = value if isinstance(value, int) else 0
                continue
            info = IdInfo.from_record(value)
            if info is not None:
                self._entries[key] = info

    def get(self, token: str) -> IdInfo | None:
        return self._entries.get(token)

    def __len__(self) -> int:
        return len(self._entries)

    def apply(
        self,
        version: int,
        full: bool,
        entries: list[tuple[str, IdInfo | None]],
        max_length: int,
    ) -> tuple[ListUpdateStatus, list[Action]]:
        """Apply a full or differential update atomically; ``None`` info deletes an entry.

        1.6 §5.15: a differential update whose version is not newer than ours is a VersionMismatch;
        an update that would overflow LocalAuthListMaxLength fails and changes nothing.
        """
        if not full and version <= self.version:
            return ListUpdateStatus.VERSION_MISMATCH, []
        new = {} if full else dict(self._entries)
        for token, info in entries:
            if info is None:
                new.pop(token, None)
            else:
                new[token] = info
        if len(new) > max_length:
            return ListUpdateStatus.FAILED, []
        actions: list[Action] = [Forget(LOCAL_LIST, t) for t in self._entries if t not in new]
        changed = [(t, i) for t, i in new.items() if self._entries.get(t) != i]
        actions += [Persist(LOCAL_LIST, t, i.to_record()) for t, i in changed]
        actions.append(Persist(LOCAL_LIST, self.VERSION_KEY, version))
        self._entries = new
        self.version = version
        return ListUpdateStatus.ACCEPTED, actions

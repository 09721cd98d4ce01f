"""The durable store: SQLite in WAL mode, one table of (kind, key, JSON value) rows, written off the loop.

The core persists through ``Persist`` / ``Forget`` actions; ``apply`` writes a batch in one transaction and
returns only once it is durable (``synchronous=FULL``: the WAL is fsynced at each commit), so a transaction
message is on disk before it is sent and a kill -9 or power cut neither loses nor duplicates a row.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chargepoint.core.actions import Forget, Persist
from chargepoint.core.events import Record

SCHEMA_VERSION = 1
PAGE_SIZE = 1024  # small pages: one message touches ~1 KiB of WAL instead of 4 KiB (flash wear)


class StoreError(Exception):
    """The store could not be opened or written; the message names the file."""


class Store:
    """Synchronous store; use ``AsyncStore`` from the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._commits = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            fresh = not path.exists() or path.stat().st_size == 0
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            if fresh:
                self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA wal_autocheckpoint=256")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{path}: cannot open the state database: {err}") from err
        except OSError as err:
            raise StoreError(f"{path}: {err.strerror or err}") from err

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer version (schema {version} > {SCHEMA_VERSION})")
        if version < 1:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL,"
                " value TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID"
            )
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    def load(self) -> list[Record]:
        try:
            rows = self._db.execute("SELECT kind, key, value FROM records ORDER BY kind, key").fetchall()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: {err}") from err
        return [Record(kind, key, json.loads(value)) for kind, key, value in rows]

    def apply(self, ops: Sequence[Persist | Forget]) -> None:
        """Write ``ops`` in one transaction; durable when this returns."""
        try:
            encoded = [
                (op.kind, op.key, json.dumps(op.value, separators=(",", ":"), allow_nan=False))
                if isinstance(op, Persist) else (op.kind, op.key, None)
                for op in ops
            ]
        except (TypeError, ValueError) as err:
            raise StoreError(f"{self.path}: value is not JSON data: {err}") from err
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for kind, key, value in encoded:
                if value is None:
                    self._db.execute("DELETE FROM records WHERE kind=? AND key=?", (kind, key))
                else:
                    self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (kind, key, value))
            self._db.execute("COMMIT")
            self._commits += 1
        except sqlite3.DatabaseError as err:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: {err}") from err

    def counters(self) -> dict[str, int]:
        return {"commits": self._commits}

    def close(self) -> None:
        self._db.close()


class AsyncStore:
    """The store behind one worker thread: writes keep their order and never block the event loop."""

    def __init__(self, store: Store, executor: ThreadPoolExecutor) -> None:
        self._store = store
        self._executor = executor

    @classmethod
    async def open(cls, path: Path) -> AsyncStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        loop = asyncio.get_running_loop()
        try:
            store = await loop.run_in_executor(executor, Store, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor)

    async def load(self) -> list[Record]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._store.load)

    async def apply(self, ops: Sequence[Persist | Forget]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.apply, list(ops))

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)

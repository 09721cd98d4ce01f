"""The SQLite store: rows round-trip, batches are atomic, WAL + synchronous=FULL, and a killed writer
loses nothing it reported as written."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chargepoint.core.actions import Forget, Persist
from chargepoint.service.persistence import AsyncStore, Store, StoreError


def test_round_trip_ordered_by_kind_and_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply([Persist("outbox", "000000000002", {"a": 2}), Persist("outbox", "000000000001", {"a": 1}),
                 Persist("settings", "HeartbeatInterval", 60), Forget("outbox", "missing")])
    store.apply([Persist("settings", "HeartbeatInterval", 120)])
    store.close()
    rows = [(r.kind, r.key, r.value) for r in Store(tmp_path / "s.db").load()]
    assert rows == [("outbox", "000000000001", {"a": 1}), ("outbox", "000000000002", {"a": 2}),
                    ("settings", "HeartbeatInterval", 120)]


def test_a_batch_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(StoreError, match=r"s\.db"):
        store.apply([Persist("outbox", "1", {"ok": 1}), Persist("outbox", "2", {"bad": {1, 2}})])
    assert store.load() == []


def test_wal_and_full_sync_are_in_force(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = Store(tmp_path / "s.db")
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_garbage_file_is_an_error_naming_the_file_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=str(path)):
        Store(path)
    assert path.read_bytes().startswith(b"this is not")


def test_a_killed_writer_loses_nothing_it_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import sys
        from chargepoint.core.actions import Persist
        from chargepoint.service.persistence import Store
        store = Store(__import__("pathlib").Path({str(path)!r}))
        for i in range(100000):
            store.apply([Persist("outbox", f"{{i:012d}}", {{"n": i, "pad": "x" * 300}})])
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    reported = -1
    for line in proc.stdout:
        reported = int(line)
        if reported >= 150:
            break
    proc.kill()
    proc.wait()
    keys = [r.key for r in Store(path).load()]
    assert len(keys) == len(set(keys))
    assert len(keys) >= reported + 1
    assert keys == [f"{i:012d}" for i in range(len(keys))]


async def test_async_store_keeps_order(tmp_path: Path) -> None:
    store = await AsyncStore.open(tmp_path / "s.db")
    for i in range(50):
        await store.apply([Persist("k", "x", i)])
    assert [r.value for r in await store.load()] == [49]
    await store.close()

"""Flash wear: bytes written to the block device per durable transaction message.

One message's life on disk: inserted into the outbox before it is sent, deleted when the CSMS answered;
each a durable commit. Measured with ``/proc/self/io`` ``write_bytes`` (what reached the block layer) for N
messages, side by side: our store (WAL, synchronous=FULL, 1 KiB pages), the same WAL with SQLite's default
4 KiB pages, and the default rollback journal (journal_mode=DELETE, synchronous=FULL). Goal: at most 6 KiB
per message for ours. Run on a real disk (not tmpfs): the files go under ``.bench-tmp/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from chargepoint.core.actions import Forget, Persist
from chargepoint.service.persistence import Store

N = 300
MESSAGE = {
    "action": "MeterValues",
    "payload": {"connectorId": 1, "meterValue": [{"timestamp": "2026-11-24T12:00:00.000Z", "sampledValue": [
        {"value": "12345.6", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
         "location": "Outlet", "unit": "Wh"},
        {"value": "11000", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
         "location": "Outlet", "unit": "W"}]}]},
    "attempts": 0,
    "meta": {"tx": 42, "evse": 1, "boot": 3, "unsynced": False},
}


def write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def ours(path: Path) -> Callable[[int], None]:
    store = Store(path)

    def one(i: int) -> None:
        store.apply([Persist("outbox", f"{i:012d}", MESSAGE)])
        store.apply([Forget("outbox", f"{i:012d}")])

    return one


def plain(path: Path, journal: str, page_size: int | None) -> Callable[[int], None]:
    db = sqlite3.connect(path, isolation_level=None)
    if page_size:
        db.execute(f"PRAGMA page_size={page_size}")
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE records (kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key)) WITHOUT ROWID"
    )
    text = json.dumps(MESSAGE)

    def one(i: int) -> None:
        db.execute("INSERT OR REPLACE INTO records VALUES ('outbox', ?, ?)", (f"{i:012d}", text))
        db.execute("DELETE FROM records WHERE kind='outbox' AND key=?", (f"{i:012d}",))

    return one


def measure(name: str, make: Callable[[Path], Callable[[int], None]], root: Path) -> float:
    folder = root / name.replace(" ", "-")
    folder.mkdir(parents=True)
    one = make(folder / "state.db")
    for i in range(20):  # warm up: the file and WAL exist, the first checkpoint happened
        one(i)
    os.sync()
    before = write_bytes()
    for i in range(20, 20 + N):
        one(i)
    os.sync()
    return (write_bytes() - before) / N / 1024


def main() -> None:
    root = Path(".bench-tmp") / "flash"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        results = {
            "ours (WAL, 1 KiB pages)": measure("ours", ours, root),
            "WAL, 4 KiB pages": measure("wal4k", lambda p: plain(p, "WAL", None), root),
            "rollback journal": measure("delete", lambda p: plain(p, "DELETE", None), root),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = results["rollback journal"]
    print(f"bytes written per durable transaction message (insert + delete, {N} messages, /proc/self/io):")
    for name, kib in results.items():
        print(f"  {name:<26} {kib:6.2f} KiB   {kib / base:4.2f}x rollback journal")
    verdict = "meets" if results["ours (WAL, 1 KiB pages)"] <= 6 else "misses"
    print(f"  goal <= 6 KiB per message: {verdict}")


if __name__ == "__main__":
    main()

"""The diagnostics / log archive (OCPP 1.6 §5.9 GetDiagnostics, 2.0.1 N01 GetLog): the requested period is
honoured by file mtime and by line timestamps, the security log sits under security/, the archive opens."""

from __future__ import annotations

import datetime as dt
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chargepoint.service.logbundle import bundle

UTC = dt.UTC
SINCE = dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
UNTIL = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def touch(path: Path, when: dt.datetime, data: bytes = b"x\x00binary") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        out: dict[str, bytes] = {}
        for info in tar.getmembers():
            file = tar.extractfile(info)
            assert file is not None
            out[info.name] = file.read()
        return out


STATION_LOG = (
    "2024-05-01T09:59:59Z INFO before the window\n"
    "2024-05-01T10:00:00Z INFO first in the window\n"
    "Traceback (most recent call last):\n"  # no timestamp: belongs to the line above
    "  ValueError: boom\n"
    "2024-05-01 13:30:00.123+01:00 INFO same instant as 12:30 UTC, out\n"
    "2024-05-01T11:59:59.999999999Z INFO nanoseconds, in\n"
    "[2024-05-01T12:00:00Z] INFO last, bracketed, in\n"
    "2024-05-01T12:00:01Z INFO after the window\n"
)


def test_lines_are_cut_to_the_period_and_files_by_mtime(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    station = logs / "station.log"
    station.parent.mkdir()
    station.write_text(STATION_LOG)
    inside = touch(logs / "dump.bin", dt.datetime(2024, 5, 1, 11, 0, tzinfo=UTC))
    touch(logs / "old.bin", dt.datetime(2024, 4, 1, tzinfo=UTC))
    touch(logs / "new.bin", dt.datetime(2024, 6, 1, tzinfo=UTC))

    archive = bundle(tmp_path / "out", [station, inside, logs / "old.bin", logs / "new.bin"],
                     since=SINCE, until=UNTIL, name="diag-CP1")

    assert archive == tmp_path / "out" / "diag-CP1.tar.gz"
    got = members(archive)
    assert set(got) == {"diag-CP1/station.log", "diag-CP1/dump.bin", "diag-CP1/README.txt"}
    assert got["diag-CP1/station.log"].decode().splitlines() == [
        "2024-05-01T10:00:00Z INFO first in the window",
        "Traceback (most recent call last):",
        "  ValueError: boom",
        "2024-05-01T11:59:59.999999999Z INFO nanoseconds, in",
        "[2024-05-01T12:00:00Z] INFO last, bracketed, in",
    ]
    assert got["diag-CP1/dump.bin"] == inside.read_bytes()
    assert b"station.log" in got["diag-CP1/README.txt"]


@pytest.fixture
def far_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time 5:30 off UTC, so treating a zone-less stamp as UTC would pick the wrong lines."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_zone")
def test_naive_line_timestamps_are_local_time(tmp_path: Path) -> None:
    # Python's logging writes "2024-05-01 11:00:00,123" in local time, without a zone.
    local = dt.datetime(2024, 5, 1, 11, 0, tzinfo=UTC).astimezone()
    log = tmp_path / "chargepoint.log"
    log.write_text(f"{local:%Y-%m-%d %H:%M:%S},123 INFO in\n{local.year + 1}-01-01 00:00:00,000 INFO out\n")
    got = members(bundle(tmp_path / "out", [log], since=SINCE, until=UNTIL))
    assert got["diagnostics/chargepoint.log"].endswith(b"INFO in\n")
    assert b"out" not in got["diagnostics/chargepoint.log"]


def test_folders_open_ends_and_name_clashes(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        touch(tmp_path / folder / "app.bin", dt.datetime(2020, 1, 1, tzinfo=UTC), folder.encode() + b"\x00")
    touch(tmp_path / "nested" / "deep" / "x.bin", dt.datetime(2020, 1, 1, tzinfo=UTC))
    sources = [tmp_path / "a" / "app.bin", tmp_path / "b" / "app.bin", tmp_path / "nested"]
    got = members(bundle(tmp_path / "out", sources, since=None, until=None))
    assert got["diagnostics/app.bin"] == b"a\x00" and got["diagnostics/app.bin.2"] == b"b\x00"
    assert "diagnostics/nested/deep/x.bin" in got


def test_security_log_goes_under_security(tmp_path: Path) -> None:
    security = tmp_path / "security.log"
    security.write_text("2024-05-01T10:30:00Z SettingSystemTime\n2024-05-02T00:00:00Z later\n")
    got = members(bundle(tmp_path / "out", [], since=SINCE, until=UNTIL, security_log=security))
    assert got["diagnostics/security/security.log"] == b"2024-05-01T10:30:00Z SettingSystemTime\n"


def test_empty_period_gives_a_valid_archive_saying_so(tmp_path: Path) -> None:
    log = tmp_path / "station.log"
    log.write_text("2024-05-01T09:00:00Z INFO too early\n")
    old = touch(tmp_path / "old.bin", dt.datetime(2024, 1, 1, tzinfo=UTC))
    archive = bundle(tmp_path / "out", [log, old, tmp_path / "missing.log"], since=SINCE, until=UNTIL)
    assert tarfile.is_tarfile(archive)
    got = members(archive)
    assert list(got) == ["diagnostics/README.txt"]
    readme = got["diagnostics/README.txt"].decode()
    assert "Nothing matched" in readme and "missing.log" in readme
    assert not list((tmp_path / "out").glob("*.part"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"since": dt.datetime(2024, 5, 1), "until": None}, "time zone"),  # naive on purpose
    ({"since": UNTIL, "until": SINCE}, "after"),
    ({"since": None, "until": None, "name": "../x"}, "name"),
])
def test_misuse_is_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bundle(tmp_path, [], **kwargs)  # type: ignore[arg-type]

"""The `chargepoint` command as a user runs it: check-config, sim against a running station, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chargepoint.service.csms import Csms

CLI = [sys.executable, "-m", "chargepoint"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_check_config_accepts_the_example_and_names_every_problem(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "chargepoint.example.toml"
    good = tmp_path / "good.toml"
    good.write_text(example.read_text())
    assert run("check-config", "--config", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(example.read_text().replace("security_profile = 0", "security_profile = 2\ncolour = 1"))
    result = run("check-config", "--config", str(bad))
    assert result.returncode == 2
    assert "csms.colour" in result.stderr  # unknown key
    assert "wss" in result.stderr  # profile 2 over ws://
    assert str(bad) in result.stderr


def test_run_refuses_a_broken_config_with_the_key_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[station]\nid = "X"\n')
    result = run("run", "--config", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "station.vendor" in result.stderr


async def test_sim_commands_drive_a_running_station(csms: Csms, station_factory: Any) -> None:
    station = station_factory(csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    config = str(station.config)
    assert run("sim", "--config", config, "plug", "1").returncode == 0
    assert run("sim", "--config", config, "tap", "A1B2C3D4").returncode == 0
    await csms.wait_for(lambda: bool(csms.transactions), 20)
    await csms.wait_for(lambda: any('"Charging"' in f.text for f in csms.frames), 20)
    status = json.loads(run("sim", "--config", config, "status").stdout)
    evse = status["evses"][0]
    assert evse["status"] == "Charging" and evse["relay_closed"] is True
    assert evse["transaction_id"] == 1001 and evse["current_limit_a"] == 32.0
    assert "meter_energy_wh" in evse and status["connected"] is True
    bad = run("sim", "--config", config, "plug", "7")
    assert bad.returncode == 1 and "no EVSE 7" in bad.stdout
    assert station.terminate() == 0
    gone = run("sim", "--config", config, "status")
    assert gone.returncode == 69 and "chargepoint run" in gone.stderr


def test_demo_runs_a_whole_session_and_exits() -> None:
    result = run("demo", "--seconds", "1", timeout=90)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("BootNotification", "Authorize", "StartTransaction", "StopTransaction", "== summary ==",
                   "transaction id : 1001", "kWh"):
        assert needle in out


async def test_status_prints_what_the_running_station_does(csms: Csms, station_factory: Any) -> None:
    station = station_factory(csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    config = str(station.config)
    assert run("sim", "--config", config, "fault", "1", "meter").returncode == 0
    await csms.wait_for(lambda: any("PowerMeterFailure" in f.text for f in csms.frames), 30)
    result = run("status", "--config", config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SYS-CP-1  OCPP 1.6  connected, registration Accepted")
    assert lines[1].startswith("EVSE 1: Faulted") and "relay open" in lines[1]
    assert lines[2].strip().startswith("fault PowerMeterFailure:")
    raw = json.loads(run("status", "--config", config, "--json").stdout)
    assert raw["evses"][0]["faults"].keys() == {"PowerMeterFailure"}
    assert raw["evses"][0]["simulated_faults"] == ["PowerMeterFailure"]
    assert station.terminate() == 0
    gone = run("status", "--config", config)
    assert gone.returncode == 69

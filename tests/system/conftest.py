"""Fixtures for system tests: the real ``chargepoint`` process with the simulated HAL, a CSMS on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from chargepoint.service.control import ControlError, send_command
from chargepoint.service.csms import Csms

CONFIG = """\
[station]
id = "SYS-CP-1"
vendor = "Acme"
model = "AC22"
serial_number = "SN-SYS"
firmware_version = "0.1.0"
ocpp_version = "1.6"

[csms]
url = "{url}"
security_profile = 0
call_timeout_s = 5

[storage]
dir = "{state}"

[hal]
driver = "sim"
control_socket = "{state}/sim.sock"

[[evse]]
id = 1
max_current_a = 32
phases = 3
"""


class StationProcess:
    """``python -m chargepoint run`` as a child process."""

    def __init__(self, config: Path, state: Path) -> None:
        self.config = config
        self.state = state
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state / "station.log"

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chargepoint", "run", "--config", str(self.config), "--log-level",
                 "DEBUG"],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )
        await self.wait_control()

    async def wait_control(self, timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                try:
                    await send_command(self.state / "sim.sock", ["status"], timeout_s=1.0)
                    return
                except ControlError:
                    await asyncio.sleep(0.1)

    async def sim(self, *argv: str) -> dict[str, object]:
        return await send_command(self.state / "sim.sock", list(argv))

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return -9
        return self.proc.returncode


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    server = Csms()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def station_factory(tmp_path: Path) -> Iterator[Callable[[str], StationProcess]]:
    made: list[StationProcess] = []

    def make(url: str) -> StationProcess:
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        config = tmp_path / "station.toml"
        config.write_text(CONFIG.format(url=url, state=state))
        station = StationProcess(config, state)
        made.append(station)
        return station

    yield make
    for station in made:
        if station.proc is not None and station.proc.poll() is None:
            station.proc.kill()
            station.proc.wait(5)

"""``chargepoint run`` with the real drivers, each talking to a simulated device over a real wire.

The SDM630 meter and a relay module share one RS-485 line (a pymodbus server on a pty), the EVSE
controller speaks OpenEVSE RAPI on a socat pty pair, and the card reader is a PN532 on another pair. The
station process does not know any of them is simulated: it is configured exactly like a board.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chargepoint.service.csms import Csms
from drivers.modbus.model import load_builtin_model
from hal.types import PilotState
from tests.drivers.modbus_peer import ModbusPeer, SimMeter, SimRelay
from tests.drivers.rapi_peer import OpenEvsePeer
from tests.drivers.rfid_peers import Pn532Peer
from tests.drivers.socat import SocatPair

ENERGY_START_WH = 1_000_000.0  # 1000 kWh: exact in the SDM630's float32 kWh register
CHARGED_WH = 1_500.0

CONFIG = """\
[station]
id = "HW-CP-1"
vendor = "Acme"
model = "AC22"
ocpp_version = "1.6"

[csms]
url = "{url}"
security_profile = 0
call_timeout_s = 5

[storage]
dir = "{state}"

[hal]
driver = "hardware"

[[evse]]
id = 1
max_current_a = 16
phases = 3
meter = {{ model = "eastron_sdm630", port = "{bus}", unit = 1 }}
pilot = {{ driver = "openevse", port = "{pilot}" }}
contactor = {{ driver = "modbus_relay", port = "{bus}", unit = 3, feedback = "discrete_input" }}

[[rfid]]
driver = "pn532"
port = "{reader}"
"""


class Rig:
    """Every simulated device of the station, on its own wire."""

    def __init__(self, tmp_path: Path) -> None:
        self.meter = SimMeter(load_builtin_model("eastron_sdm630"), unit=1)
        self.meter.set("Energy.Active.Import.Register", ENERGY_START_WH)
        self.relay = SimRelay(unit=3)
        self.bus = ModbusPeer([self.meter, self.relay])
        self.pilot_line = SocatPair(tmp_path, "openevse")
        self.evse: OpenEvsePeer | None = None
        self.reader_line = SocatPair(tmp_path, "pn532")
        self.reader: Pn532Peer | None = None

    async def start(self) -> None:
        await self.bus.start()
        await self.pilot_line.start()
        self.evse = OpenEvsePeer(self.pilot_line.peer_path, max_a=32, default_a=32)
        await self.evse.start()
        await self.reader_line.start()
        self.reader = Pn532Peer(self.reader_line.peer_path)
        await self.reader.start()

    async def close(self) -> None:
        if self.reader is not None:
            await self.reader.stop()
        await self.reader_line.close()
        if self.evse is not None:
            await self.evse.stop()
        await self.pilot_line.close()
        await self.bus.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    made = Rig(tmp_path)
    await made.start()
    yield made
    await made.close()


def frames(csms: Csms, name: str) -> list[dict[str, Any]]:
    out = []
    for frame in csms.frames:
        if frame.direction == "<":
            message = json.loads(frame.text)
            if message[0] == 2 and message[2] == name:
                out.append(message[3])
    return out


async def test_a_session_through_the_real_drivers(rig: Rig, csms: Csms, tmp_path: Path) -> None:
    assert rig.evse is not None and rig.reader is not None
    state = tmp_path / "state"
    config = tmp_path / "station.toml"
    config.write_text(CONFIG.format(url=csms.url, state=state, bus=rig.bus.port,
                                    pilot=rig.pilot_line.driver_path, reader=rig.reader_line.driver_path))
    check = subprocess.run([sys.executable, "-m", "chargepoint", "check-config", "--config", str(config)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    log = (tmp_path / "station.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--config", str(config),
                             "--log-level", "DEBUG"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        await csms.wait_for(lambda: any(s["status"] == "Available" and s["connectorId"] == 1
                                        for s in frames(csms, "StatusNotification")), 30)
        # The EV is plugged in, a card is tapped: authorised, the controller offers 16 A.
        await rig.evse.show(PilotState.B)
        await rig.reader.present(bytes.fromhex("04A1B2C3"))
        await csms.wait_for(lambda: bool(frames(csms, "StartTransaction")), 30)
        start = frames(csms, "StartTransaction")[0]
        assert start["idTag"] == "04A1B2C3" and start["meterStart"] == ENERGY_START_WH
        await rig.evse.wait_until(lambda: rig.evse is not None and rig.evse.capacity == 16)
        # The EV asks for power: the contactor (a relay module on the meter's bus) closes.
        await rig.evse.show(PilotState.C)
        await csms.wait_for(lambda: rig.relay.contactor_closed, 30)
        await csms.wait_for(
            lambda: any(s["status"] == "Charging" for s in frames(csms, "StatusNotification")), 30)
        rig.meter.set("Energy.Active.Import.Register", ENERGY_START_WH + CHARGED_WH)
        await asyncio.sleep(2.5)  # at least one meter poll sees the new register
        # The EV is unplugged: the transaction ends with what the meter counted.
        await rig.evse.show(PilotState.A)
        await csms.wait_for(lambda: bool(frames(csms, "StopTransaction")), 30)
        stop = frames(csms, "StopTransaction")[0]
        assert stop["meterStop"] - start["meterStart"] == CHARGED_WH
        assert stop["reason"] == "EVDisconnected"
        await csms.wait_for(lambda: not rig.relay.contactor_closed, 30)

        # The EVSE controller's cable is pulled: a fault on the connector, and it clears when it is back.
        await rig.evse.stop()
        await rig.pilot_line.unplug()
        await csms.wait_for(lambda: any(s["status"] == "Faulted" and s["errorCode"] == "InternalError"
                                        for s in frames(csms, "StatusNotification")), 30)
        await rig.pilot_line.replug()
        rig.evse = OpenEvsePeer(rig.pilot_line.peer_path, max_a=32, default_a=32)
        await rig.evse.start()
        faulted = max(i for i, s in enumerate(frames(csms, "StatusNotification")) if s["status"] == "Faulted")
        await csms.wait_for(lambda: any(s["status"] == "Available" and s["errorCode"] == "NoError"
                                        for s in frames(csms, "StatusNotification")[faulted + 1:]), 30)

        # The card reader's cable is pulled: ReaderFailure on connector 0 (the station) until it is back.
        await rig.reader.stop()
        await rig.reader_line.unplug()
        await csms.wait_for(lambda: any(s["connectorId"] == 0 and s["errorCode"] == "ReaderFailure"
                                        for s in frames(csms, "StatusNotification")), 30)
        await rig.reader_line.replug()
        rig.reader = Pn532Peer(rig.reader_line.peer_path)
        await rig.reader.start()
        failed = max(i for i, s in enumerate(frames(csms, "StatusNotification"))
                     if s["errorCode"] == "ReaderFailure")
        await csms.wait_for(lambda: any(s["connectorId"] == 0 and s["errorCode"] == "NoError"
                                        for s in frames(csms, "StatusNotification")[failed + 1:]), 30)
        assert not csms.violations
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(proc.wait, 20)  # the simulated devices keep answering meanwhile
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -9
        log.close()
    text = (tmp_path / "station.log").read_text()
    assert code == 0, text[-3000:]
    # Said once when it began and once when it ended, however many retries it took.
    assert text.count("EVSE 1 fault InternalError: EVSE controller unavailable") == 1, text[-3000:]
    assert text.count("EVSE 1 fault InternalError cleared") == 1
    assert "could not open the contactor" not in text  # on SIGTERM the relay was opened on the bus
    assert "04A1B2C3" not in text  # the full token never reaches the log

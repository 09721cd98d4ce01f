"""``chargepoint probe``: the installer's commands, run as processes against real protocol peers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from drivers.modbus.model import load_builtin_model
from hal.types import PilotState
from tests.drivers.modbus_peer import SAMPLE_VALUES, ModbusPeer, SimMeter, SimRelay
from tests.drivers.rapi_peer import OpenEvsePeer
from tests.drivers.rfid_peers import Pn532Peer
from tests.drivers.socat import SocatPair

CLI = [sys.executable, "-m", "chargepoint", "probe"]


async def probe(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_probe_meter_prints_every_measurand_with_units() -> None:
    meter = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([meter]) as peer:
        code, out, err = await probe("meter", "--model", "eastron_sdm630", "--port", peer.port)
    assert code == 0, err
    energy = SAMPLE_VALUES["Energy.Active.Import.Register"]
    line = next(line for line in out.splitlines() if "Energy.Active.Import.Register" in line)
    value, unit = line.split()[1:]
    assert unit == "Wh" and abs(float(value) - energy) < 1.0  # the SDM630 holds kWh as a float32
    for line in ("Current.Import.L2", "Voltage.L3", "Frequency", "Power.Factor", "Power.Active.Import"):
        assert line in out
    assert "15.520 A" in out and "229.300 V" in out and "49.900 Hz" in out


async def test_probe_meter_diagnoses_a_meter_that_does_not_answer() -> None:
    meter = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([meter]) as peer:
        code, _, err = await probe("meter", "--model", "eastron_sdm630", "--port", peer.port, "--unit", "7")
    assert code == 1
    assert "no answer" in err and "slave id 7" in err and "wiring" in err and "Traceback" not in err


async def test_probe_meter_names_a_bad_option_and_an_unknown_model() -> None:
    code, _, err = await probe("meter", "--model", "eastron_sdm630", "--port", "/dev/null",
                               "--option", "timeout_s=99")
    assert code == 2 and "timeout_s" in err
    code, _, err = await probe("meter", "--model", "acme_9000", "--port", "/dev/null")
    assert code == 2 and "acme_9000" in err and "eastron_sdm630" in err


async def test_probe_contactor_asks_first_and_never_leaves_it_closed() -> None:
    relay = SimRelay(unit=3)
    async with ModbusPeer([relay]) as peer:
        args = ("contactor", "--driver", "modbus_relay", "--port", peer.port, "--option", "unit=3")
        code, out, _ = await probe(*args, "--close", stdin=b"n\n")
        assert code == 0 and "nothing switched" in out
        assert relay.contactor_closed is False
        code, out, err = await probe(*args, "--close", stdin=b"y\n\n")
        assert code == 0, err
        assert "contactor now closed" in out and "press Enter" in out
        assert relay.contactor_closed is False  # opened again when the probe ended
        writes = [r for r in peer.requests_to(3) if r.function == 5]
        assert len(writes) >= 2  # closed, then opened


async def test_probe_rfid_prints_the_uid_of_the_card_held_to_the_reader(tmp_path: Path) -> None:
    async with SocatPair(tmp_path, "pn532") as line:
        peer = Pn532Peer(line.peer_path)
        await peer.start()
        try:
            process = asyncio.create_task(probe("rfid", "--driver", "pn532", "--port", line.driver_path,
                                                "--timeout", "20"))
            await asyncio.sleep(1.0)  # the installer reads the prompt, then holds the card
            await peer.present(bytes.fromhex("04A1B2C3"))
            code, out, err = await process
        finally:
            await peer.stop()
    assert code == 0, err
    assert "hold a card" in out and "card UID: 04A1B2C3" in out


async def test_probe_pilot_shows_the_state_and_its_changes(tmp_path: Path) -> None:
    async with SocatPair(tmp_path, "openevse") as line:
        peer = OpenEvsePeer(line.peer_path)
        await peer.start()
        try:
            await peer.show(PilotState.B)
            process = asyncio.create_task(probe("pilot", "--driver", "openevse", "--port", line.driver_path,
                                                "--watch", "3"))
            await asyncio.sleep(1.5)
            await peer.show(PilotState.C)
            code, out, err = await process
        finally:
            await peer.stop()
    assert code == 0, err
    assert "openevse on" in out and "pilot B" in out and out.strip().endswith("pilot C")


async def test_probe_pilot_diagnoses_a_missing_port(tmp_path: Path) -> None:
    code, _, err = await probe("pilot", "--driver", "openevse", "--port", str(tmp_path / "ttyNONE"))
    assert code == 1 and "ttyNONE" in err and "dialout" in err

"""``chargepoint demo``: one complete charging session between a simulated station and a local CSMS.

Starts the small CSMS of ``csms.py`` on loopback, a station with the simulated HAL in a temporary state
directory, then plugs in, taps a card, charges, and unplugs through the station's control socket, exactly as
a tester would with ``chargepoint sim``. Prints the OCPP exchange and a summary; leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from chargepoint.service.app import Station, serve
from chargepoint.service.config import load_config
from chargepoint.service.control import send_command
from chargepoint.service.csms import Csms

CARD = "04A2B3C4D5E6F7"

CONFIG = """\
[station]
id = "DEMO-CP-1"
vendor = "Demo"
model = "SimAC22"
serial_number = "DEMO-0001"
firmware_version = "0.1.0"
ocpp_version = "{version}"

[csms]
url = "{url}"
security_profile = 0

[storage]
dir = "{state}"

[hal]
driver = "sim"
control_socket = "{state}/sim.sock"

[[evse]]
id = 1
max_current_a = 16
phases = 3
"""


def _describe(text: str) -> str:
    msg = json.loads(text)
    if msg[0] == 2:
        payload = json.dumps(msg[3], separators=(", ", ": "))
        return f"{msg[2]} {payload}"
    if msg[0] == 3:
        return f"  answer {json.dumps(msg[2], separators=(', ', ': '))}"
    return f"  error {msg[2]} {msg[3]}"


def _print(line: str) -> None:
    print(line, flush=True)


async def run_demo(version: str = "1.6", seconds: float = 8.0) -> int:
    csms = Csms()
    url = await csms.start()
    shown = 0

    def show_new() -> None:
        nonlocal shown
        for frame in csms.frames[shown:]:
            arrow = "station -> CSMS" if frame.direction == "<" else "CSMS -> station"
            _print(f"  {arrow}  {_describe(frame.text)}")
        shown = len(csms.frames)

    with tempfile.TemporaryDirectory(prefix="chargepoint-demo-") as tmp:
        state = Path(tmp)
        config_path = state / "demo.toml"
        config_path.write_text(CONFIG.format(version=version, url=url, state=state))
        config = load_config(config_path)
        holder: list[Station] = []
        task = asyncio.create_task(serve(config, on_station=holder.append), name="demo-station")
        sock = state / "sim.sock"
        try:
            _print(f"CSMS listening on {url}; station DEMO-CP-1 connecting (OCPP {version})")
            connectors = 2 if version == "1.6" else 1  # 1.6 reports connector 0 (the station) too
            await csms.wait_for(lambda: len(csms.received("StatusNotification")) >= connectors, 15)
            show_new()
            _print("\n# CSMS asks for meter values every 2 s")
            await _sample_every_2s(csms, version)
            show_new()
            _print("\n# the driver plugs in the EV and taps a card")
            await send_command(sock, ["plug", "1"])
            await send_command(sock, ["tap", CARD])
            await csms.wait_for(lambda: bool(csms.transactions), 15)
            await csms.wait_for(lambda: any('"Charging"' in f.text for f in csms.frames), 15)
            show_new()
            _print(f"\n# charging for {seconds:g} s")
            await asyncio.sleep(seconds)
            show_new()
            status = await send_command(sock, ["status"])
            _print("\n# the driver unplugs")
            await send_command(sock, ["unplug", "1"])
            await csms.wait_for(lambda: any("meter_stop" in t for t in csms.transactions.values()), 15)
            await asyncio.sleep(0.3)
            show_new()
            _summary(csms, status)
        finally:
            if holder:
                holder[0].runner.stop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await task
            await csms.close()
    if csms.violations:
        print("strict CSMS found problems:", *csms.violations, sep="\n  ", file=sys.stderr)
        return 1
    return 0


async def _sample_every_2s(csms: Csms, version: str) -> None:
    session = csms.sessions["DEMO-CP-1"]
    if version == "1.6":
        from ocpp.v16 import call

        await session.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="2"))
    else:
        from ocpp.v201 import call as call201

        await session.call(call201.SetVariables(set_variable_data=[{
            "attribute_value": "2", "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedInterval"}}]))


def _summary(csms: Csms, status: dict[str, Any]) -> None:
    tx_id, tx = next(iter(csms.transactions.items()))
    energy_wh = round(tx["meter_stop"] - tx["meter_start"])
    start = datetime.fromisoformat(tx["start"].replace("Z", "+00:00"))
    stop = datetime.fromisoformat(tx["stop"].replace("Z", "+00:00"))
    _print("\n== summary ==")
    _print(f"transaction id : {tx_id}")
    _print(f"energy         : {energy_wh / 1000:.3f} kWh ({energy_wh} Wh)")
    _print(f"duration       : {(stop - start).total_seconds():.1f} s")
    _print(f"stop reason    : {tx.get('reason')}")
    _print(f"frames on wire : {len(csms.frames)}")

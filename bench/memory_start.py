"""Memory and start: resident memory of ``chargepoint run`` (simulated HAL, connected, idle) and the time
from process start to BootNotification, side by side with a bare ``ocpp``-library client doing only boot and
heartbeat. Goal: at most 1.15x the bare client's memory.

Idle time defaults to 60 s (``BENCH_IDLE_S`` to change it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.tap_to_contactor import CONFIG

BARE_CLIENT = r'''
import asyncio, sys
import websockets
from ocpp.v16 import ChargePoint, call

class CP(ChargePoint):
    async def run(self):
        await self.call(call.BootNotification(charge_point_vendor="Bare", charge_point_model="B"))
        while True:
            await asyncio.sleep(30)
            await self.call(call.Heartbeat())

async def main():
    async with websockets.connect(sys.argv[1] + "/BARE-1", subprotocols=["ocpp1.6"]) as ws:
        cp = CP("BARE-1", ws)
        await asyncio.gather(cp.start(), cp.run())

asyncio.run(main())
'''


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(idle_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        from chargepoint.service.csms import Csms

        probe = Csms()
        await probe.start()
        port = probe.port
        await probe.close()
        url = f"ws://127.0.0.1:{port}/ocpp"
        config = Path(tmp) / "bench.toml"
        config.write_text(CONFIG.format(url=url, state=tmp))
        script = Path(tmp) / "bare.py"
        script.write_text(BARE_CLIENT)
        results = {}
        for name, argv, station_id in (
            ("bare ocpp client", [sys.executable, str(script), url], "BARE-1"),
            ("chargepoint run", [sys.executable, "-m", "chargepoint", "run", "--config", str(config)],
             "BENCH-1"),
        ):
            results[name] = await run_fixed_port(argv, station_id, idle_s, port)
    bare_rss, bare_boot = results["bare ocpp client"]
    ours_rss, ours_boot = results["chargepoint run"]
    print(f"idle {idle_s:g} s after connecting; RSS from /proc/PID/status")
    print(f"  bare ocpp client : {bare_rss:6.1f} MiB   boot sent after {bare_boot:.2f} s")
    print(f"  chargepoint run  : {ours_rss:6.1f} MiB   boot sent after {ours_boot:.2f} s")
    print(f"  ratio            : {ours_rss / bare_rss:.2f}x memory (goal <= 1.15x), "
          f"{ours_boot / bare_boot:.2f}x start time")


async def run_fixed_port(argv: list[str], station_id: str, idle_s: float, port: int) -> tuple[float, float]:
    from chargepoint.service.csms import Csms

    csms = Csms()
    await csms.start(port)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await csms.wait_for(lambda: any(f.direction == "<" and "BootNotification" in f.text
                                        and f.station_id == station_id for f in csms.frames), 30)
        boot_s = time.perf_counter() - started
        await asyncio.sleep(idle_s)
        return rss_mib(proc.pid), boot_s
    finally:
        proc.terminate()
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
        await csms.close()


def main() -> None:
    asyncio.run(measure(float(os.environ.get("BENCH_IDLE_S", "60"))))


if __name__ == "__main__":
    main()

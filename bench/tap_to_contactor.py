"""Tap to contactor: the time the stack adds from a card tap to the contactor command.

The station runs in-process with the simulated HAL against the loopback CSMS of ``chargepoint.service.csms``,
which answers Authorize and StartTransaction at once. Each round: plug in, tap, wait for the contactor to
close, unplug. Reported: p50 / p99 / max over the rounds (goal: p99 under 2 ms).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

ROUNDS = 200

CONFIG = """\
[station]
id = "BENCH-1"
vendor = "Bench"
model = "B"
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
max_current_a = 32
phases = 3
"""


async def measure(rounds: int = ROUNDS) -> list[float]:
    from chargepoint.service.app import Station, serve
    from chargepoint.service.config import load_config
    from chargepoint.service.csms import Csms

    csms = Csms()
    url = await csms.start()
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(CONFIG.format(url=url, state=tmp))
        holder: list[Station] = []
        task = asyncio.create_task(serve(load_config(path), on_station=holder.append))
        await csms.wait_for(lambda: len(csms.received("StatusNotification")) >= 2, 20)
        station = holder[0]
        assert station.sim is not None
        sim = station.sim
        contactor = sim.hardware.evses[0].contactor
        closed_at: list[float] = []
        original = contactor.set_closed

        async def timed(closed: bool) -> None:
            if closed:
                closed_at.append(time.perf_counter())
            await original(closed)

        contactor.set_closed = timed  # type: ignore[method-assign]
        for i in range(rounds):
            await sim.command(["plug", "1"])
            await asyncio.sleep(0.01)
            closed_at.clear()
            t0 = time.perf_counter()
            await sim.command(["tap", f"CARD{i:04d}"])
            async with asyncio.timeout(5):
                while not closed_at:
                    await asyncio.sleep(0)
            samples.append(closed_at[0] - t0)
            await sim.command(["unplug", "1"])
            await csms.wait_for(lambda n=i: len(csms.received("StopTransaction")) > n, 5)
        station.runner.stop()
        await task
    await csms.close()
    return samples


def main() -> None:
    samples = sorted(asyncio.run(measure()))
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    print(f"tap -> contactor command over {len(samples)} rounds (Authorize + StartTransaction on loopback)")
    print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {samples[-1] * 1000:.2f} ms   (goal: p99 < 2 ms)")


if __name__ == "__main__":
    main()

"""Tap to contactor: the time the stack adds from a card tap to the contactor command.

The station runs in-process with the simulated HAL against the loopback CSMS of ``chargepoint.service.csms``,
which answers Authorize and StartTransaction at once. Each round: plug in, tap, wait for the contactor to
close, unplug. Reported: p50 / p99 / max over the rounds (goal: p99 under 2 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
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


class InstantCsms:
    """A CSMS that answers every call at once, with no validation and no thread hops: so the figure is
    what the station adds (the ``ocpp`` library's server validates each message with jsonschema in an
    executor, which would dominate the measurement)."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.tx = 1000
        self._event = asyncio.Event()

    async def start(self) -> str:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp"

    async def _handler(self, ws: object) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):  # the station stops at the end of the run
            await self._serve(ws)

    async def _serve(self, ws: object) -> None:
        async for text in ws:  # type: ignore[attr-defined]
            msg = json.loads(text)
            self.frames.append(text)
            self._event.set()
            if msg[0] != 2:
                continue
            answer: dict[str, object] = {}
            if msg[2] == "BootNotification":
                answer = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00.000Z", "interval": 300}
            elif msg[2] == "Authorize":
                answer = {"idTagInfo": {"status": "Accepted"}}
            elif msg[2] == "StartTransaction":
                self.tx += 1
                answer = {"transactionId": self.tx, "idTagInfo": {"status": "Accepted"}}
            await ws.send(json.dumps([3, msg[1], answer]))  # type: ignore[attr-defined]

    def count(self, action: str) -> int:
        return sum(1 for t in self.frames if f'"{action}"' in t)

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._event.clear()
                await self._event.wait()

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


async def measure(rounds: int = ROUNDS) -> list[float]:
    from chargepoint.service.app import Station, serve
    from chargepoint.service.config import load_config

    csms = InstantCsms()
    url = await csms.start()
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(CONFIG.format(url=url, state=tmp))
        holder: list[Station] = []
        task = asyncio.create_task(serve(load_config(path), on_station=holder.append))
        await csms.wait_for(lambda: csms.count("StatusNotification") >= 2, 20)
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
            await csms.wait_for(lambda n=i: csms.count("StopTransaction") > n, 5)
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

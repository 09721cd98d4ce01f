"""Benchmark: the SDM630 poll cycle over a baud-paced RS-485 stand-in, against the wire minimum T_min(N).

A pymodbus server serves the SDM630 model in a child process behind ``PtyLink`` (two pseudo-terminals
joined by a relay that releases each byte when it would have left a real wire:
``t_byte = max(t_arrival, t_prev_byte) + bits/baud``, and answers only t3.5 after the request's last
byte). The driver polls it back to back; each cycle is compared with

    T_min(N) = (13 + 2N)·Tc + 2·t3.5      summed over the requests one read makes (HARDWARE.md §2)

which excludes the device's turnaround; the driver adds 5 ms of it on purpose (``inter_frame_delay_s``
= t3.5 + 5 ms). Goal: cycle within 1.15 x T_min. Then two meters on one line at 9600 baud, polled at 1 Hz:
is each second's pair of reads done within that second?

Run: ``python -m bench.meter_poll`` (from the repository root; ``--cycles``, ``--seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection

from drivers.modbus.bus import LineSettings
from drivers.modbus.meter import ModbusMeter, create_meter
from drivers.modbus.model import ReadBlock, load_builtin_model
from tests.drivers.modbus_peer import ModbusPeer, PtyLink, SimMeter

MODEL = "eastron_sdm630"
GOAL = 1.15


def t_min_s(plan: Sequence[ReadBlock], line: LineSettings) -> float:
    """The wire minimum of one read: (13 + 2N)·Tc + 2·t3.5 per request."""
    return sum((13 + 2 * block.count) * line.char_time_s + 2 * line.t35_s for block in plan)


# --- the simulated line, in its own process so its timers do not share a loop with the driver ---------


def _serve(conn: Connection, baudrate: int, units: Sequence[int]) -> None:
    asyncio.run(_serve_async(conn, baudrate, units))


async def _serve_async(conn: Connection, baudrate: int, units: Sequence[int]) -> None:
    link = PtyLink(baudrate=baudrate, bits_per_char=10)
    sims = [SimMeter(load_builtin_model(MODEL), unit=unit) for unit in units]
    peer = ModbusPeer(sims, link=link, baudrate=baudrate)
    link.open()
    await peer.start()
    conn.send(link.client_port)
    await asyncio.to_thread(conn.recv)  # the parent says when it is done
    conn.send({"requests": len(peer.requests), "gap_violations": link.gap_violations})
    await peer.close()
    link.close()


class SimulatedLine:
    """A child process serving ``units`` SDM630s on a paced pty link; ``port`` is the driver's end."""

    def __init__(self, baudrate: int, units: Sequence[int]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, baudrate, list(units)), daemon=True
        )
        self._process.start()
        if not self._conn.poll(30):
            raise RuntimeError("the simulated line did not start")
        self.port: str = self._conn.recv()
        self.stats: dict[str, int] = {}

    def close(self) -> None:
        self._conn.send("stop")
        if self._conn.poll(10):
            self.stats = self._conn.recv()
        self._process.join(10)


# --- measurements ------------------------------------------------------------------------------------


async def _poll_cycles(meter: ModbusMeter, cycles: int) -> list[float]:
    await meter.read()  # opens the port
    durations = []
    for _ in range(cycles):
        start = time.perf_counter()
        await meter.read()
        durations.append(time.perf_counter() - start)
    return durations


def single_meter(baudrate: int, cycles: int) -> float:
    line_sim = SimulatedLine(baudrate, [1])
    try:
        meter = create_meter(
            {"model": MODEL, "port": line_sim.port, "baudrate": baudrate}, phases=3
        )

        async def run() -> list[float]:
            try:
                return await _poll_cycles(meter, cycles)
            finally:
                await meter.close()

        durations = asyncio.run(run())
    finally:
        line_sim.close()
    line = meter.bus.line
    plan = meter.model.plan
    floor = t_min_s(plan, line)
    median = statistics.median(durations)
    shape = " + ".join(f"{block.count}" for block in plan)
    print(
        f"{baudrate:>6}  {len(plan)} req (N = {shape:<4})  T_min {floor * 1e3:6.1f} ms  "
        f"cycle median {median * 1e3:6.1f}  min {min(durations) * 1e3:6.1f}  "
        f"max {max(durations) * 1e3:6.1f} ms  ratio {median / floor:4.2f}x  "
        f"(wire-only {(13 + 2 * plan[0].count) * line.char_time_s * 1e3:.1f} ms; "
        f"gap violations {line_sim.stats.get('gap_violations', '?')})",
        flush=True,
    )
    return median / floor


def two_meters(baudrate: int, seconds: int) -> bool:
    line_sim = SimulatedLine(baudrate, [1, 2])
    try:
        options = {"model": MODEL, "port": line_sim.port, "baudrate": baudrate}
        meters = [create_meter({**options, "unit": unit}, phases=3) for unit in (1, 2)]

        async def run() -> list[float]:
            loop = asyncio.get_running_loop()
            try:
                for meter in meters:
                    await meter.read()
                busy = []
                tick = loop.time()
                for _ in range(seconds):
                    tick += 1.0
                    await asyncio.sleep(max(0.0, tick - loop.time()))
                    start = loop.time()
                    await asyncio.gather(
                        *(meter.read() for meter in meters)
                    )  # the bus serialises them
                    busy.append(loop.time() - start)
                return busy
            finally:
                for meter in meters:
                    await meter.close()

        busy = asyncio.run(run())
    finally:
        line_sim.close()
    floor = 2 * t_min_s(meters[0].model.plan, meters[0].bus.line)
    fits = max(busy) < 1.0
    print(
        f"two SDM630s (units 1, 2) on one line at {baudrate} baud, 1 Hz for {seconds} s: both read in "
        f"{statistics.median(busy) * 1e3:.1f} ms median, {max(busy) * 1e3:.1f} ms max per second "
        f"(2 x T_min = {floor * 1e3:.1f} ms); within each second: {'yes' if fits else 'NO'}",
        flush=True,
    )
    return fits


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=20, help="back-to-back reads per baud rate")
    parser.add_argument("--seconds", type=int, default=5, help="length of the two-meter 1 Hz run")
    args = parser.parse_args([] if argv is None else argv)
    print(
        f"{MODEL} poll cycle over a baud-paced pty link, 8N1 (Tc = 10 bits / baud), goal <= {GOAL}x T_min"
    )
    ratios = {baud: single_meter(baud, args.cycles) for baud in (9600, 19200)}
    two_meters(9600, args.seconds)
    verdict = "met" if all(ratio <= GOAL for ratio in ratios.values()) else "NOT met"
    print(f"goal cycle <= {GOAL} x T_min: {verdict}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

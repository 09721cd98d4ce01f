"""Fake GPIO hardware for the driver tests: a chip, line requests with real edge fds, and what hangs on them.

``FakeChip`` holds the physical level of every line and hands out ``FakeLines`` (the ``LineRequest`` seam)
whose ``fd`` is a real pipe: an input edge writes a byte, so the drivers' event-loop reader wakes exactly as
on a libgpiod request fd. Logical values follow ``active_low`` as the kernel does. On the far side sit a
contactor with a mirror contact (``FakeContactorHardware``) and a window-comparator pilot board with a PWM
sysfs tree in a temporary directory (``FakePilotBoard``, a ``PilotPeer``).
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drivers.gpio.lines import CONSUMER, gpio_error
from hal.errors import DeviceUnavailable
from hal.types import PilotState


@dataclass(frozen=True)
class OpenCall:
    """One ``open_lines`` call as the fake chip saw it."""

    chip: str
    outputs: dict[int, bool]
    inputs: list[int]
    active_low: frozenset[int]
    debounce_s: float
    consumer: str


class FakeChip:
    """One GPIO chip: physical levels, live requests, and callbacks for whatever an output drives."""

    def __init__(self, path: str = "/dev/gpiochip0") -> None:
        self.path = path
        self.levels: dict[int, bool] = {}
        self.requests: list[FakeLines] = []
        self.calls: list[OpenCall] = []
        self._loads: dict[int, list[Callable[[bool], None]]] = {}

    def open_lines(
        self,
        chip: str,
        outputs: Mapping[int, bool],
        inputs: Sequence[int],
        *,
        active_low: Collection[int] = (),
        debounce_s: float = 0.0,
        consumer: str = CONSUMER,
    ) -> FakeLines:
        offsets = [*outputs, *inputs]
        self.calls.append(
            OpenCall(chip, dict(outputs), list(inputs), frozenset(active_low), debounce_s, consumer)
        )
        if chip != self.path:
            raise gpio_error(chip, offsets, FileNotFoundError(errno.ENOENT, "No such file or directory"))
        held = {offset for request in self.requests for offset in request.offsets}
        if held & set(offsets):  # the kernel grants a line to one request at a time
            raise gpio_error(chip, offsets, OSError(errno.EBUSY, "Device or resource busy"))
        lines = FakeLines(self, outputs, inputs, active_low)
        self.requests.append(lines)
        return lines

    def connect(self, offset: int, load: Callable[[bool], None]) -> None:
        """Call ``load`` with the physical level whenever output ``offset`` is driven."""
        self._loads.setdefault(offset, []).append(load)

    def drive(self, offset: int, level: bool) -> None:
        self.levels[offset] = level
        for load in self._loads.get(offset, []):
            load(level)

    def set_input(self, offset: int, level: bool) -> None:
        """The outside world moves an input line; each request watching it gets an edge."""
        if self.levels.get(offset, False) == level:
            return
        self.levels[offset] = level
        for request in self.requests:
            if offset in request.inputs:
                request.edge(offset)


class FakeLines:
    """A ``LineRequest`` on a ``FakeChip``; its ``fd`` is a pipe that is readable while edges wait."""

    def __init__(
        self, chip: FakeChip, outputs: Mapping[int, bool], inputs: Iterable[int], active_low: Collection[int]
    ) -> None:
        self.chip = chip
        self.outputs = set(outputs)
        self.inputs = set(inputs)
        self.offsets = self.outputs | self.inputs
        self.active_low = frozenset(active_low)
        self.released = False
        self.broken: DeviceUnavailable | None = None
        self._pending: list[int] = []
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        for offset, value in outputs.items():
            chip.drive(offset, value != (offset in self.active_low))

    def _check(self, offset: int | None = None) -> None:
        if self.released:
            raise DeviceUnavailable(f"GPIO {self.chip.path}: GPIO lines have been released")
        if self.broken is not None:
            raise self.broken
        if offset is not None and offset not in self.offsets:
            raise AssertionError(f"line {offset} was not requested")

    @property
    def fd(self) -> int:
        self._check()
        return self._read_fd

    def get_value(self, offset: int) -> bool:
        self._check(offset)
        return self.chip.levels.get(offset, False) != (offset in self.active_low)

    def set_value(self, offset: int, value: bool) -> None:
        self._check(offset)
        assert offset in self.outputs, f"line {offset} is an input"
        self.chip.drive(offset, value != (offset in self.active_low))

    def read_edge_events(self) -> list[int]:
        self._check()
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        events, self._pending = self._pending, []
        return events

    @property
    def pending_edges(self) -> int:
        """Edges the driver has not read yet."""
        return len(self._pending)

    def release(self) -> None:
        if not self.released:
            self.released = True
            os.close(self._read_fd)
            os.close(self._write_fd)
            self.chip.requests.remove(self)

    def edge(self, offset: int) -> None:
        if not self.released:
            self._pending.append(offset)
            os.write(self._write_fd, b"\0")

    def break_(self, why: str = "the chip went away") -> None:
        """Make every further call fail, and wake the reader so the driver finds out."""
        self.broken = DeviceUnavailable(f"GPIO {self.chip.path}: {why}")
        os.write(self._write_fd, b"\0")


class FakeContactorHardware:
    """A contactor whose coil hangs on an output line and whose mirror contact drives an input line.

    The contacts follow the coil after ``delay_s`` unless ``welded`` (they stay closed) or ``stuck`` (they
    stay open). ``coil_active_low``: the relay board energises the coil on a low level; ``feedback_nc``: the
    mirror contact is normally closed (its line is high while the contactor is open).
    """

    def __init__(
        self,
        chip: FakeChip,
        coil: int,
        feedback: int | None = None,
        *,
        coil_active_low: bool = False,
        feedback_nc: bool = False,
        delay_s: float = 0.01,
    ) -> None:
        self.chip = chip
        self.feedback = feedback
        self.coil_active_low = coil_active_low
        self.feedback_nc = feedback_nc
        self.delay_s = delay_s
        self.energised = False
        self.closed = False
        self.welded = False
        self.stuck = False
        chip.connect(coil, self._coil)
        chip.levels[coil] = coil_active_low  # the coil rests off
        if feedback is not None:
            chip.levels[feedback] = feedback_nc

    def _coil(self, level: bool) -> None:
        self.energised = level != self.coil_active_low
        asyncio.get_running_loop().call_later(self.delay_s, self._move)

    def _move(self) -> None:
        self.closed = True if self.welded else False if self.stuck else self.energised
        if self.feedback is not None:
            self.chip.set_input(self.feedback, self.closed != self.feedback_nc)


PWM_PERIOD_FILES = ("period", "duty_cycle", "enable", "polarity")


def create_pwm_chip(root: Path, *, npwm: int = 1, exported: Sequence[int] = (0,)) -> Path:
    """A PWM chip's sysfs directory as the kernel shows it (Documentation/ABI/testing/sysfs-class-pwm)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "npwm").write_text(f"{npwm}\n")
    (root / "export").write_text("")
    (root / "unexport").write_text("")
    for channel in exported:
        export_channel(root, channel)
    return root


def export_channel(root: Path, channel: int) -> None:
    """What the kernel creates on ``export``: a disabled channel with period and duty 0, normal polarity."""
    directory = root / f"pwm{channel}"
    directory.mkdir()
    for name, value in (("period", "0"), ("duty_cycle", "0"), ("enable", "0"), ("polarity", "normal")):
        (directory / name).write_text(f"{value}\n")


async def serve_exports(root: Path) -> None:
    """Play the kernel's part of ``export`` until cancelled: a channel number written there appears."""
    export = root / "export"
    while True:
        written = export.read_text().strip()
        if written:
            export.write_text("")
            export_channel(root, int(written))
        await asyncio.sleep(0.005)


class FakePilotBoard:
    """A window-comparator pilot board on a ``FakeChip`` with its PWM channel in a sysfs tree (``PilotPeer``).

    ``show(state)`` puts the pilot voltage in that state's window: its line goes active, the others not.
    ``offered_a`` decodes the PWM files with IEC 61851-1 Table A.8.
    """

    def __init__(
        self,
        chip: FakeChip,
        state_lines: Mapping[PilotState, int],
        pwm_chip: Path,
        *,
        channel: int = 0,
        fault_line: int | None = None,
        active_low: bool = False,
        fault_active_low: bool = False,
    ) -> None:
        self.chip = chip
        self.state_lines = dict(state_lines)
        self.pwm = pwm_chip / f"pwm{channel}"
        self.fault_line = fault_line
        self.active_low = active_low
        self.fault_active_low = fault_active_low
        self.set_active(set())
        if fault_line is not None:
            chip.levels[fault_line] = fault_active_low

    def set_active(self, states: Collection[PilotState]) -> None:
        """Make exactly ``states`` active (a broken or settling board may show none or several)."""
        for state, offset in self.state_lines.items():
            self.chip.set_input(offset, (state in states) != self.active_low)

    def set_fault(self, active: bool) -> None:
        assert self.fault_line is not None
        self.chip.set_input(self.fault_line, active != self.fault_active_low)

    def file(self, name: str) -> str:
        return (self.pwm / name).read_text().strip()

    def duty_percent(self) -> float:
        return int(self.file("duty_cycle")) * 100 / int(self.file("period"))

    # -- PilotPeer -------------------------------------------------------------------------------------

    async def show(self, state: PilotState) -> None:
        self.set_active({state} if state in self.state_lines else set())

    async def offered_a(self) -> float:
        if self.file("enable") != "1":
            return 0.0
        duty = self.duty_percent()
        if 8.0 <= duty <= 85.0:
            return round(duty * 0.6, 1)
        if 85.0 < duty <= 97.0:
            return round((duty - 64.0) * 2.5, 1)
        return 0.0  # 100 %: +12 V, no current offered; 0 %: -12 V, state F

    async def enabled(self) -> bool:
        return self.file("enable") == "1" and int(self.file("duty_cycle")) > 0

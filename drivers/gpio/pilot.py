"""A simple control-pilot board: window comparators on GPIO inputs give the CP state, sysfs PWM the current.

Config (the pilot's TOML inline table)::

    pilot = { driver = "gpio", chip = "/dev/gpiochip0",
              state_lines = { A = 5, B = 6, C = 13, D = 19, E = 20, F = 26 }, fault_line = 21,
              pwm_chip = "/sys/class/pwm/pwmchip0", pwm_channel = 0 }

Options: ``chip`` (required); ``state_lines`` (one comparator output per IEC 61851-1 state, at least A, B
and C); ``active_low`` (the state lines are active low, as open-collector comparators with pull-ups are);
``fault_line`` (e.g. the RCD's trip contact, reported as GroundFailure) and ``fault_active_low``;
``debounce_ms`` (inputs must be quiet this long before they are read, default 10); ``pwm_chip`` and
``pwm_channel`` (the Linux PWM channel driving the pilot's +/-12 V stage, default pwmchip0 channel 0).

How the lines read:
    exactly one state line active  -> that state;
    none active                    -> E: the voltage is in no window (a short to PE, a diode fault, or a
                                      state the board has no line for, e.g. D on an A/B/C board); the core
                                      then stops asking for power and keeps the plug state, safe for all;
    several active (after settling)-> F with InternalError: a window comparator puts the voltage in one
                                      window only, so the board itself is broken;
    fault line active              -> F with GroundFailure, whatever the state lines say;
    disabled by us                 -> F (we drive a constant -12 V), whatever the state lines say.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.gpio.lines import MAX_LINE, LineRequest, OpenLines, open_lines, watch_edges
from drivers.options import OptionError, check_known, flag, integer, number, text
from hal.errors import DeviceUnavailable, HalError
from hal.pilot import PilotStatus
from hal.types import FaultCode, PilotState

log = logging.getLogger(__name__)

PILOT_OPTIONS = frozenset(
    {"driver", "chip", "state_lines", "active_low", "fault_line", "fault_active_low", "debounce_ms",
     "pwm_chip", "pwm_channel"}
)
REQUIRED_STATES = (PilotState.A, PilotState.B, PilotState.C)
DEFAULT_PWM_CHIP = "/sys/class/pwm/pwmchip0"
DEFAULT_DEBOUNCE_MS = 10.0
PERIOD_NS = 1_000_000
"""IEC 61851-1: the pilot PWM runs at 1 kHz (+/- 2 %)."""
MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
EXPORT_WAIT_S = 2.0
"""After ``export`` the kernel creates pwmN at once, but udev may need a moment to grant us write access."""


def duty_percent(current_a: float) -> float:
    """The PWM duty cycle (%) that offers ``current_a``, per IEC 61851-1 Table A.8 (and its 100 % "no PWM").

    6..51 A: duty = A / 0.6; 51..80 A: duty = A / 2.5 + 64; below 6 A no PWM (constant +12 V, the EV may
    not draw); above 80 A the maximum, 96 %.
    """
    if not math.isfinite(current_a) or current_a < 0:
        raise ValueError(f"current limit must be a finite number >= 0 A, got {current_a!r}")
    if current_a < MIN_CURRENT_A:
        return 100.0
    if current_a <= 51.0:
        return current_a / 0.6
    if current_a < 52.5:
        # The upper band starts just above 85 % (52.5 A): offer 51 A rather than more than was asked.
        return 85.0
    return min(current_a, MAX_CURRENT_A) / 2.5 + 64.0


def _sysfs_error(path: Path, err: OSError) -> DeviceUnavailable:
    if isinstance(err, FileNotFoundError):
        why = "no such file (is the PWM enabled in the device tree, e.g. dtoverlay=pwm on a Raspberry Pi?)"
    elif isinstance(err, PermissionError):
        why = "permission denied: give the service user write access to /sys/class/pwm (a udev rule)"
    else:
        why = err.strerror or str(err)
    return DeviceUnavailable(f"PWM {path}: {why}")


class SysfsPwm:
    """One channel of a Linux PWM chip through sysfs (kernel Documentation/ABI/testing/sysfs-class-pwm).

    Blocking file I/O: call it from a worker thread. The channel stays enabled once set up, also at 0 % and
    100 %: a disabled PWM output has no defined level, and the pilot must be driven at all times.
    """

    def __init__(self, chip: Path, channel: int, period_ns: int = PERIOD_NS) -> None:
        self.chip = chip
        self.channel = channel
        self.dir = chip / f"pwm{channel}"
        self.period_ns = period_ns
        self.ready = False
        self._enabled = False

    def _read(self, path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError as err:
            raise _sysfs_error(path, err) from err

    def _write(self, path: Path, value: int | str) -> None:
        try:
            path.write_text(str(value))  # one write(2); the attribute's store() parses it whole
        except OSError as err:
            raise _sysfs_error(path, err) from err

    def setup(self) -> None:
        """Export the channel if needed and set the period, keeping every step valid for the kernel."""
        npwm_text = self._read(self.chip / "npwm")
        try:
            npwm = int(npwm_text)
        except ValueError as err:
            raise DeviceUnavailable(f"PWM {self.chip}/npwm: not a number: {npwm_text!r}") from err
        if not 0 <= self.channel < npwm:
            raise DeviceUnavailable(f"PWM {self.chip}: no channel {self.channel} (npwm = {npwm})")
        enable = self.dir / "enable"
        if not enable.exists():
            try:
                (self.chip / "export").write_text(str(self.channel))
            except OSError as err:
                if err.errno != errno.EBUSY:  # EBUSY: exported meanwhile, by us or someone else
                    raise _sysfs_error(self.chip / "export", err) from err
            self._await_export()
        enabled = self._read(enable) == "1"
        polarity = self.dir / "polarity"
        if polarity.exists() and self._read(polarity) != "normal":
            # "normal": duty_cycle is the high (+12 V) time. The ABI allows a polarity change only while
            # the channel is disabled.
            if enabled:
                self._write(enable, 0)
                enabled = False
            self._write(polarity, "normal")
        if self._read(self.dir / "period") != str(self.period_ns):
            # duty_cycle may never exceed period (the store fails with EINVAL): 0 fits any period, so
            # lower it first, then set the period.
            self._write(self.dir / "duty_cycle", 0)
            self._write(self.dir / "period", self.period_ns)
        self._enabled = enabled
        self.ready = True

    def _await_export(self) -> None:
        deadline = time.monotonic() + EXPORT_WAIT_S
        files = [self.dir / name for name in ("period", "duty_cycle", "enable")]
        while not all(os.access(path, os.W_OK) for path in files):
            if time.monotonic() >= deadline:
                raise DeviceUnavailable(
                    f"PWM {self.dir}: not writable {EXPORT_WAIT_S} s after export (a udev rule missing?)"
                )
            time.sleep(0.01)

    def set_duty(self, duty_ns: int) -> None:
        """Set the high time (0..period ns) and make sure the channel runs."""
        if not 0 <= duty_ns <= self.period_ns:
            raise ValueError(f"duty cycle {duty_ns} ns is outside 0..{self.period_ns}")
        try:
            if not self.ready:
                self.setup()
            # The period is already set, so any duty_cycle <= period is valid; enable after it, so the
            # channel starts with the right duty.
            self._write(self.dir / "duty_cycle", duty_ns)
            if not self._enabled:
                self._write(self.dir / "enable", 1)
                self._enabled = True
        except HalError:
            self.ready = False  # set up again next time (the channel may have been unexported)
            raise


@dataclass(frozen=True, slots=True)
class GpioPilotSettings:
    chip: str
    state_lines: Mapping[PilotState, int] = field(default_factory=dict)
    active_low: bool = False
    fault_line: int | None = None
    fault_active_low: bool = False
    debounce_s: float = DEFAULT_DEBOUNCE_MS / 1000
    pwm_chip: str = DEFAULT_PWM_CHIP
    pwm_channel: int = 0


def classify(active: Sequence[PilotState]) -> PilotStatus:
    """The pilot status from the states whose comparator line is active (see the module docstring)."""
    if len(active) == 1:
        return PilotStatus(active[0])
    if not active:
        return PilotStatus(PilotState.E)
    return PilotStatus(PilotState.F, FaultCode.INTERNAL_ERROR)


_Item = PilotStatus | HalError | None  # None: the pilot was closed


class GpioPilot:
    """The control pilot of one EVSE on a GPIO comparator board and a PWM channel (``hal.pilot.Pilot``)."""

    supports_phase_switching = False

    def __init__(self, settings: GpioPilotSettings, *, open_lines: OpenLines = open_lines) -> None:
        self.settings = settings
        self._open_lines = open_lines
        self.pwm = SysfsPwm(Path(settings.pwm_chip), settings.pwm_channel)
        self._pwm_lock = asyncio.Lock()
        self._limit_a = 0.0
        self._enabled = True
        self._lines: LineRequest | None = None
        self._unwatch: Callable[[], None] | None = None
        self._quiet: asyncio.TimerHandle | None = None
        self._listeners: set[asyncio.Queue[_Item]] = set()
        self._last: PilotStatus | None = None

    def __repr__(self) -> str:
        return f"<GpioPilot {self.settings.chip} {self.settings.pwm_chip}/pwm{self.settings.pwm_channel}>"

    # -- PWM -----------------------------------------------------------------------------------------

    def _duty_ns(self) -> int:
        if not self._enabled:
            return 0  # IEC 61851-1: a constant -12 V is state F, the EV sees the EVSE unavailable
        return round(PERIOD_NS * duty_percent(self._limit_a) / 100)

    async def _apply_pwm(self) -> None:
        async with self._pwm_lock:  # the last command's duty is written last
            await asyncio.to_thread(self.pwm.set_duty, self._duty_ns())

    async def set_current_limit(self, current_a: float) -> None:
        """Offer ``current_a`` on the PWM; below 6 A a constant +12 V (no PWM: the EV may not draw)."""
        duty_percent(current_a)  # reject a bad value before it becomes the state
        self._limit_a = current_a
        await self._apply_pwm()

    async def set_enabled(self, enabled: bool) -> None:
        """Enable, or disable with a constant -12 V (state F); the status follows at once."""
        self._enabled = enabled
        await self._apply_pwm()
        if self._lines is not None:
            self._refresh()

    # -- state lines ---------------------------------------------------------------------------------

    def _request(self) -> LineRequest:
        if self._lines is None:
            s = self.settings
            inputs = list(s.state_lines.values())
            active_low = set(inputs) if s.active_low else set()
            if s.fault_line is not None:
                inputs.append(s.fault_line)
                if s.fault_active_low:
                    active_low.add(s.fault_line)
            lines = self._open_lines(s.chip, {}, inputs, active_low=active_low, debounce_s=s.debounce_s)
            try:
                self._unwatch = watch_edges(lines, self._on_edges, self._fail)
            except BaseException:
                lines.release()
                raise
            self._lines = lines
        return self._lines

    def _read_status(self, lines: LineRequest) -> PilotStatus:
        s = self.settings
        if s.fault_line is not None and lines.get_value(s.fault_line):
            return PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)
        if not self._enabled:
            return PilotStatus(PilotState.F)
        return classify([state for state, offset in s.state_lines.items() if lines.get_value(offset)])

    def _evaluate(self) -> PilotStatus:
        """Read the lines and tell the listeners if the status changed."""
        status = self._read_status(self._request())
        if status != self._last:
            self._last = status
            log.debug("%r: %s%s", self, status.state, f" ({status.fault})" if status.fault else "")
            for queue in self._listeners:
                queue.put_nowait(status)
        return status

    def _on_edges(self, _offsets: list[int]) -> None:
        # Read only once the inputs have been quiet for the debounce time: as the pilot voltage moves
        # (12 V -> 6 V passes the 9 V window) the comparators switch one after another and would briefly
        # show no state or two.
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.get_running_loop().call_later(self.settings.debounce_s, self._refresh)

    def _refresh(self) -> None:
        self._quiet = None
        try:
            self._evaluate()
        except HalError as err:
            self._fail(err)

    def _fail(self, err: HalError) -> None:
        """The lines failed: drop them (the next subscription requests them again) and end the listeners."""
        log.warning("%r: %s", self, err)
        self._drop_lines()
        for queue in self._listeners:
            queue.put_nowait(err)

    def _drop_lines(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._lines is not None:
            self._lines.release()
            self._lines = None
        self._last = None

    async def status_updates(self) -> AsyncGenerator[PilotStatus, None]:
        """The current status first, then every change (edge events on the comparator lines)."""
        if not self.pwm.ready:
            await self._apply_pwm()  # the EV can only show A/B/C against our +12 V
        try:
            current = self._evaluate()  # a pending change reaches the other listeners first
        except HalError as err:
            self._fail(err)
            raise
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            yield current
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, HalError):
                    raise item
                yield item
        finally:
            self._listeners.discard(queue)

    async def close(self) -> None:
        """Release the lines, end the listeners, and leave the pilot at -12 V (F: unavailable)."""
        self._drop_lines()
        for queue in self._listeners:
            queue.put_nowait(None)
        if self.pwm.ready:
            self._enabled = False
            try:
                await self._apply_pwm()
            except HalError as err:
                log.warning("%r: could not set the pilot to F on close: %s", self, err)


def _state_lines(options: Mapping[str, object]) -> dict[PilotState, int]:
    table = options.get("state_lines")
    if not isinstance(table, Mapping):
        raise OptionError(
            "state_lines: " + ("missing" if table is None else f"expected a table such as "
                               f"{{ A = 5, B = 6, C = 13 }}, got {table!r}")
        )
    lines: dict[PilotState, int] = {}
    for key in table:
        if key not in PilotState.__members__:
            raise OptionError(f"state_lines.{key}: not a pilot state (A, B, C, D, E, F)")
        try:
            lines[PilotState(key)] = integer(table, key, None, 0, MAX_LINE)
        except OptionError as err:
            raise OptionError(f"state_lines.{err}") from None
    missing = [state.value for state in REQUIRED_STATES if state not in lines]
    if missing:
        raise OptionError(f"state_lines: missing {', '.join(missing)} (A, B and C are required)")
    if len(set(lines.values())) != len(lines):
        raise OptionError(f"state_lines: two states share a line: {table!r}")
    return lines


def pilot_settings(options: Mapping[str, object]) -> GpioPilotSettings:
    """Parse and check the pilot's options; errors name the key."""
    check_known(options, PILOT_OPTIONS)
    state_lines = _state_lines(options)
    fault_line: int | None = None
    if "fault_line" in options:
        fault_line = integer(options, "fault_line", None, 0, MAX_LINE)
        if fault_line in state_lines.values():
            raise OptionError(f"fault_line: {fault_line} is a state line too")
    elif "fault_active_low" in options:
        raise OptionError("fault_line: missing (fault_active_low needs it)")
    return GpioPilotSettings(
        chip=text(options, "chip"),
        state_lines=state_lines,
        active_low=flag(options, "active_low", False),
        fault_line=fault_line,
        fault_active_low=flag(options, "fault_active_low", False),
        debounce_s=number(options, "debounce_ms", DEFAULT_DEBOUNCE_MS, 0.0, 1000.0) / 1000,
        pwm_chip=text(options, "pwm_chip", DEFAULT_PWM_CHIP),
        pwm_channel=integer(options, "pwm_channel", 0, 0, 255),
    )


def create_gpio_pilot(options: Mapping[str, object]) -> GpioPilot:
    """The registry factory: a GPIO pilot board from its config table. Opens nothing yet."""
    return GpioPilot(pilot_settings(options))

"""The OpenEVSE controller as the HAL pilot: RAPI commands over a serial line, ``$AT`` frames as status.

Config (the pilot's TOML inline table)::

    pilot = { driver = "openevse", port = "/dev/ttyAMA0", baudrate = 115200, timeout_s = 0.5 }

Options: ``port`` (required; a device path or a pyserial URL such as ``socket://host:port``), ``baudrate``
(115200, current boards; HARDWARE.md §4), ``timeout_s`` (how long a reply may take, 0.5 s: the firmware's own
RAPI sender uses 500 ms, rapi_proc.h ``RAPIS_TIMEOUT_MS``) and ``name`` (for log lines).

One reader task owns the line: it splits it into frames and routes replies (``$OK``/``$NK``) to the one
outstanding command and notifications (``$AT``, ``$AB``, legacy ``$ST``) to ``status_updates``. The driver
remembers the limit and enabled state it was last told and applies them again whenever the line is reopened
or the controller announces a boot (``$AB``): a rebooted controller has forgotten them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from enum import Enum

from drivers.evse.rapi import (
    BadFrame,
    Frame,
    FrameReader,
    RapiFormatError,
    dec_field,
    encode_command,
    hex_field,
)
from drivers.options import check_known, integer, number, text
from drivers.serial_port import SerialPort
from hal.errors import DeviceProtocolError, DeviceTimeout, DeviceUnavailable, HalError
from hal.pilot import PilotStatus
from hal.types import FaultCode, PilotState

log = logging.getLogger(__name__)

OPTIONS = frozenset({"driver", "port", "baudrate", "timeout_s", "name"})
DEFAULT_BAUDRATE = 115200
DEFAULT_TIMEOUT_S = 0.5

MIN_CURRENT_A = 6
"""IEC 61851-1 Annex A: the lowest current a PWM duty cycle may offer; below it the EV may not draw."""
MAX_CURRENT_A = 80
"""The IEC 61851-1 / SAE J1772 PWM range ends at 80 A; rapi_proc.cpp parses $SC amps into a uint8."""

# EVSE_STATE_xxx codes (open_evse.h; HARDWARE.md §4).
STATE_UNKNOWN = 0x00
STATE_SLEEPING = 0xFE
STATE_DISABLED = 0xFF

_EV_STATES: dict[int, PilotState] = {
    0x01: PilotState.A,
    0x02: PilotState.B,
    0x03: PilotState.C,
    0x04: PilotState.D,
}
# Fault states 0x05..0x0E are shown to the EV as pilot F (-12 V); HARDWARE.md §4 maps them to "F/fault".
FAULTS: dict[int, FaultCode] = {
    0x05: FaultCode.EV_COMMUNICATION_ERROR,  # diode check failed: the EV's pilot diode is missing
    0x06: FaultCode.GROUND_FAILURE,  # GFCI fault
    0x07: FaultCode.GROUND_FAILURE,  # no ground
    0x08: FaultCode.POWER_SWITCH_FAILURE,  # stuck relay
    0x09: FaultCode.GROUND_FAILURE,  # GFI self-test failed
    0x0A: FaultCode.HIGH_TEMPERATURE,  # over temperature
    0x0B: FaultCode.OVER_CURRENT_FAILURE,  # over current
    0x0C: FaultCode.OTHER_ERROR,  # reserved: pilot self-test error
    0x0D: FaultCode.OTHER_ERROR,  # reserved: temperature sensor dead
    0x0E: FaultCode.POWER_SWITCH_FAILURE,  # relay closure fault
}


def status_from_codes(evse_state: int, pilot_state: int) -> PilotStatus | None:
    """The HAL status for an ``evsestate``/``pilotstate`` pair; ``None`` while it is unknown (booting)."""
    if evse_state == STATE_SLEEPING:
        # Sleeping stops the PWM but the EV stays plugged: pilotstate still reads the EV (rapi_proc.h $GS).
        ev = _EV_STATES.get(pilot_state)
        return None if ev is None else PilotStatus(ev)
    if evse_state == STATE_DISABLED:
        return PilotStatus(PilotState.F)  # not available, no fault
    if evse_state in _EV_STATES:
        return PilotStatus(_EV_STATES[evse_state])
    if 0x05 <= evse_state <= 0x0E:
        return PilotStatus(PilotState.F, FAULTS[evse_state])
    if evse_state == STATE_UNKNOWN:
        return None
    return PilotStatus(PilotState.F, FaultCode.OTHER_ERROR)  # a code newer than this table


@dataclass(slots=True)
class Counters:
    """What went wrong on the line since the driver was created (for diagnostics, never reset)."""

    bad_frames: int = 0  # frames that failed their checksum or did not decode
    retries: int = 0  # commands sent again after a corrupted reply
    timeouts: int = 0
    stray_replies: int = 0  # replies with no command outstanding (late, after a timeout)
    garbage_bytes: int = 0  # bytes outside any frame
    boots: int = 0  # $AB boot notifications seen
    reopens: int = 0  # the line was opened again after it went away


class _Mode(Enum):
    """What the driver last told the controller to do with the pilot."""

    ACTIVE = "FE"  # enabled: PWM offers the current capacity once an EV is plugged
    SLEEP = "FS"  # no PWM: the limit is below 6 A (IEC 61851-1)
    DISABLED = "FD"  # pilot -12 V: the EV sees the station unavailable


_Reply = tuple[int, Frame | BadFrame]
_Update = tuple[int, PilotStatus] | HalError


class OpenEvsePilot:
    """An OpenEVSE controller speaking RAPI (v2+, XOR checksums) on a serial line."""

    supports_phase_switching = False

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        name: str = "openevse",
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.counters = Counters()
        self._port = SerialPort(port, baudrate=baudrate)
        self._frames = FrameReader()
        self._lock = asyncio.Lock()  # one command outstanding at a time: RAPI replies carry no command name
        self._pending: asyncio.Future[_Reply] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribers: set[asyncio.Queue[_Update]] = set()
        self._seq = 0  # frames received, in order; orders $GS replies against $AT notifications
        self._limit_a: float | None = None  # last commanded, re-applied after a reopen or a boot
        self._enabled: bool | None = None
        self._mode: _Mode | None = None
        self._evse_state: int | None = None  # last reported EVSE_STATE_xxx
        self._opened_before = False

    def __repr__(self) -> str:
        return f"<OpenEvsePilot {self.name} {self._port.url}>"

    # -- HAL API ---------------------------------------------------------------------------------------

    async def set_current_limit(self, current_a: float) -> None:
        """Offer ``current_a`` (rounded down to whole amps); below 6 A put the controller to sleep."""
        if not math.isfinite(current_a) or current_a < 0:
            raise ValueError(f"current limit must be a finite number >= 0, got {current_a!r}")
        async with self._lock:
            await self._ensure_open()
            self._limit_a = current_a
            await self._apply(send_limit=True)

    async def set_enabled(self, enabled: bool) -> None:
        """``$FE`` (or ``$FS`` while the limit is below 6 A) to enable, ``$FD`` to disable."""
        async with self._lock:
            await self._ensure_open()
            self._enabled = enabled
            await self._apply(send_limit=False)

    async def status_updates(self) -> AsyncIterator[PilotStatus]:
        """The current state (``$GS``) first, then every change the controller announces (``$AT``)."""
        queue: asyncio.Queue[_Update] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            async with self._lock:
                await self._ensure_open()
                last_seq, first = await self._query_state()
            last: PilotStatus | None = None
            if first is not None:
                last = first
                yield first
            while True:
                item = await queue.get()
                if isinstance(item, HalError):
                    raise DeviceUnavailable(f"{self.name}: {item}") from item
                seq, status = item
                if seq <= last_seq or status == last:
                    continue  # older than what we yielded (queued before the $GS reply), or no change
                last_seq, last = seq, status
                yield status
        finally:
            self._subscribers.discard(queue)

    async def close(self) -> None:
        """Stop the reader and release the port (idempotent)."""
        tasks = [*self._tasks, *([self._reader_task] if self._reader_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reader_task = None
        await self._port.close()
        self._fail_waiters(DeviceUnavailable(f"{self.name}: closed"))

    # -- the line --------------------------------------------------------------------------------------

    async def _ensure_open(self) -> None:
        """Open the line and start the reader (lock held); after a reopen, apply the last commands again."""
        if self._port.is_open and self._reader_task is not None and not self._reader_task.done():
            return
        await self._port.open()  # DeviceUnavailable when the port is not there
        self._frames.reset()
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"{self.name}-rapi-reader")
        if self._opened_before:
            self.counters.reopens += 1
            log.info("%s: line %s open again; re-applying limit and enable", self.name, self._port.url)
            # The controller may have rebooted while we were away and its $AB was lost with the line.
            self._mode = None
            await self._apply(send_limit=True)
        else:
            log.info("%s: line %s open", self.name, self._port.url)
        self._opened_before = True

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._port.read()
                garbage = self._frames.garbage_bytes
                for item in self._frames.feed(data):
                    self._seq += 1
                    self._route(self._seq, item)
                self.counters.garbage_bytes += self._frames.garbage_bytes - garbage
        except DeviceUnavailable as err:
            await self._lost(err)
        except Exception as err:  # task boundary: one log line, then the line counts as gone
            log.exception("%s: reader failed", self.name)
            await self._lost(DeviceUnavailable(f"{self.name}: reader failed: {err}"))

    async def _lost(self, err: DeviceUnavailable) -> None:
        log.warning("%s: line lost: %s", self.name, err)
        reader = self._reader_task
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        self._reader_task = None
        await self._port.close()
        self._fail_waiters(err)

    def _fail_waiters(self, err: HalError) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(err)
        for queue in self._subscribers:
            queue.put_nowait(err)

    def _route(self, seq: int, item: Frame | BadFrame) -> None:
        if isinstance(item, BadFrame):
            self.counters.bad_frames += 1
            log.debug("%s: < bad frame %r: %s", self.name, item.text, item.reason)
            if item.looks_like_reply and self._pending is not None and not self._pending.done():
                self._pending.set_result((seq, item))  # the command is retried once
            elif item.text[1:3] in ("AT", "ST"):
                self._spawn(self._refresh(), "refresh")  # a lost state change: ask for the state instead
            return
        log.debug("%s: < $%s %s", self.name, item.kind, " ".join(item.params))
        if item.is_reply:
            if self._pending is not None and not self._pending.done():
                self._pending.set_result((seq, item))
            else:
                self.counters.stray_replies += 1
        elif item.kind == "AT":
            self._on_state_notification(seq, item)
        elif item.kind == "AB":
            self.counters.boots += 1
            post = item.params[0] if item.params else "?"
            firmware = item.params[1] if len(item.params) > 1 else "?"
            log.warning("%s: controller booted (post %s, fw %s); re-applying", self.name, post, firmware)
            self._spawn(self._after_boot(), "reapply")
        elif item.kind == "ST":
            # Legacy firmware: "$ST state" without the pilot state, which sleeping needs; ask with $GS.
            self._spawn(self._refresh(), "refresh")

    def _on_state_notification(self, seq: int, frame: Frame) -> None:
        # $AT evsestate(hex) pilotstate(hex) currentcapacity(dec) vflags(hex) (rapi_proc.h, v2+).
        try:
            evse_state, pilot_state = hex_field(frame, 0), hex_field(frame, 1)
        except RapiFormatError as err:
            self.counters.bad_frames += 1
            log.debug("%s: bad $AT: %s", self.name, err)
            self._spawn(self._refresh(), "refresh")
            return
        self._evse_state = evse_state
        status = status_from_codes(evse_state, pilot_state)
        if status is not None:
            self._publish(seq, status)

    def _publish(self, seq: int, status: PilotStatus) -> None:
        for queue in self._subscribers:
            queue.put_nowait((seq, status))

    def _spawn(self, coro: Coroutine[object, object, None], what: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_boot(self) -> None:
        try:
            async with self._lock:
                if not self._port.is_open:
                    return  # the next open re-applies anyway
                self._mode = None
                await self._apply(send_limit=True)
                seq, status = await self._query_state()
            if status is not None:
                self._publish(seq, status)
        except HalError as err:  # task boundary: the next command or reopen tries again
            log.warning("%s: re-applying after boot failed: %s", self.name, err)

    async def _refresh(self) -> None:
        try:
            async with self._lock:
                if not self._port.is_open:
                    return
                seq, status = await self._query_state()
            if status is not None:
                self._publish(seq, status)
        except HalError as err:
            log.warning("%s: state refresh failed: %s", self.name, err)

    # -- commands --------------------------------------------------------------------------------------

    async def _query_state(self) -> tuple[int, PilotStatus | None]:
        """``$GS`` → ``$OK evsestate elapsed pilotstate vflags`` (rapi_proc.h); lock held."""
        seq, reply = await self._command("GS")
        try:
            evse_state, pilot_state = hex_field(reply, 0), hex_field(reply, 2)
        except RapiFormatError as err:
            raise DeviceProtocolError(f"{self.name}: $GS reply {reply.params}: {err}") from err
        self._evse_state = evse_state
        return seq, status_from_codes(evse_state, pilot_state)

    def _wanted_mode(self) -> _Mode | None:
        if self._enabled is False:
            return _Mode.DISABLED
        if self._limit_a is not None and self._limit_a < MIN_CURRENT_A:
            return _Mode.SLEEP  # IEC 61851-1: no PWM below 6 A, the EV may not draw
        if self._enabled is True or self._mode is not None:
            return _Mode.ACTIVE
        return None  # never told to enable or disable: leave the controller as it is

    async def _apply(self, *, send_limit: bool) -> None:
        """Bring the controller to the commanded limit and mode, sending only what changed (lock held)."""
        want = self._wanted_mode()
        amps = None
        if send_limit and self._limit_a is not None and self._limit_a >= MIN_CURRENT_A:
            amps = min(math.floor(self._limit_a), MAX_CURRENT_A)  # whole amps, never more than asked
        if want is _Mode.DISABLED:
            if self._mode is not want:
                await self._command(want.value)
            if amps is not None:
                await self._set_capacity(amps)  # ready for the next enable; no PWM while disabled
        elif want is _Mode.SLEEP:
            if self._mode is not want or self._evse_state != STATE_SLEEPING:
                await self._command(want.value)
        else:
            if amps is not None:
                await self._set_capacity(amps)  # before waking, so the PWM starts at the new limit
            if want is _Mode.ACTIVE and (
                self._mode is not want or self._evse_state in (STATE_SLEEPING, STATE_DISABLED)
            ):
                await self._command(want.value)
        if want is not None:
            self._mode = want

    async def _set_capacity(self, amps: int) -> None:
        # "V": volatile, not written to EEPROM (rapi_proc.h $SC): limits change often under smart charging
        # and we re-apply them after a boot anyway.
        try:
            await self._command("SC", amps, "V")
        except _Refused as refused:
            # "$NK ampsset": clamped to the hardware maximum, or not raised during over-temperature. Less than
            # asked is safe; anything else is an error.
            try:
                granted = dec_field(refused.frame, 0)
            except RapiFormatError:
                granted = amps + 1
            if granted > amps:
                raise DeviceProtocolError(f"{self.name}: $SC {amps} refused: $NK {granted}") from None
            log.info("%s: asked %d A, the controller offers %d A", self.name, amps, granted)

    async def _command(self, command: str, *params: str | int) -> tuple[int, Frame]:
        """Send one command and wait for its reply; a corrupted reply is retried once (lock held)."""
        wire = encode_command(command, *params)
        for attempt in (1, 2):
            reply = await self._exchange(wire)
            seq, frame = reply
            if isinstance(frame, BadFrame):
                if attempt == 1:
                    self.counters.retries += 1
                    log.info("%s: corrupted reply to $%s (%s); retrying", self.name, command, frame.reason)
                    continue
                raise DeviceProtocolError(f"{self.name}: corrupted reply to ${command} twice: {frame.reason}")
            if frame.kind == "NK":
                raise _Refused(f"{self.name}: ${command} refused: $NK {' '.join(frame.params)}", frame)
            return seq, frame
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, wire: bytes) -> _Reply:
        future: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        self._pending = future
        try:
            log.debug("%s: > %r", self.name, wire)
            try:
                await self._port.write(wire)
            except DeviceUnavailable as err:
                self._pending = None  # nobody will read an error set on it
                await self._lost(err)
                raise
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await future
            except TimeoutError as err:
                self.counters.timeouts += 1
                raise DeviceTimeout(f"{self.name}: no reply to {wire!r} within {self.timeout_s} s") from err
        finally:
            self._pending = None


class _Refused(DeviceProtocolError):
    """``$NK``: the controller refused the command (a DeviceProtocolError to callers)."""

    def __init__(self, message: str, frame: Frame) -> None:
        super().__init__(message)
        self.frame = frame


def create_openevse(options: Mapping[str, object]) -> OpenEvsePilot:
    """The factory ``hal.registry`` calls with the pilot's options table (see the module docstring)."""
    check_known(options, OPTIONS)
    return OpenEvsePilot(
        text(options, "port"),
        baudrate=integer(options, "baudrate", DEFAULT_BAUDRATE, 1200, 4_000_000),
        timeout_s=number(options, "timeout_s", DEFAULT_TIMEOUT_S, 0.01, 60.0),
        name=text(options, "name", "openevse"),
    )

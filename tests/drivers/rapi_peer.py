"""A simulated OpenEVSE controller speaking RAPI on a pseudo-terminal, and the socat pty pair it runs on.

Pieces:

* ``SocatPair``: ``socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`` with ``unplug()`` (kill socat: both
  ends see the line go away) and ``replug()`` (start it again under the same link names).
* ``OpenEvsePeer``: the controller on the other end. It answers ``$GS $GC $GE $SC $FE $FD $FS $GV`` with
  ``^xk`` checksums, sends ``$AT`` on every state change and ``$AB 00 <fw>`` when it (re)boots, as
  OpenEVSE/open_evse ``firmware/open_evse/rapi_proc.cpp`` does. Its framing is written here again, apart
  from ``drivers.evse.rapi``, so a symmetric mistake in both cannot pass unnoticed.
  Test hooks: ``show`` (EV state A-D), ``raise_fault``/``clear_fault``, ``corrupt_next``, ``drop_next``,
  ``nak_next``, ``garbage_next``, ``split_next``, ``show_before_reply``, ``send_raw``, ``reboot``.
  It implements ``tests.hal.contract.PilotPeer``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from drivers.serial_port import SerialPort
from hal.errors import DeviceUnavailable
from hal.types import PilotState

BOUND_S = 5.0
FIRMWARE = "8.2.2"
RAPI_VERSION = "6.0.0"

_EV_CODES = {PilotState.A: 0x01, PilotState.B: 0x02, PilotState.C: 0x03, PilotState.D: 0x04}
SLEEPING = 0xFE
DISABLED = 0xFF
MIN_A = 6  # MIN_CURRENT_CAPACITY_J1772


def frame(text: str, *, corrupt: bool = False) -> bytes:
    """``text^xk\\r`` with the XOR checksum in upper-case hex, like the firmware's ``appendChk``."""
    chk = 0
    for char in text.encode("ascii"):
        chk ^= char
    if corrupt:
        chk ^= 0x5A
    return f"{text}^{chk:02X}\r".encode("ascii")


def parse_command(raw: str) -> list[str] | None:
    """Tokens of a received command, checksum verified as rapi_proc.cpp ``tokenize`` does; None if bad."""
    body = raw
    for index, char in enumerate(raw):
        if char in "^*":
            body, digits = raw[:index], raw[index + 1 :]
            data = body.encode("ascii")
            if char == "^":
                expected = 0
                for byte in data:
                    expected ^= byte
            else:
                expected = sum(data) & 0xFF
            try:
                if int(digits, 16) != expected:
                    return None
            except ValueError:
                return None
            break
    return body[1:].split(" ")


class OpenEvsePeer:
    """The controller: EV state, fault, current capacity, enabled/sleeping, and the test hooks."""

    def __init__(self, url: str, *, max_a: int = 32, default_a: int = 32) -> None:
        self.url = url
        self.max_a = max_a
        self.default_a = default_a  # what the controller has in EEPROM; a reboot goes back to it
        self.ev = PilotState.A
        self.fault: int | None = None
        self.capacity = default_a
        self.is_enabled = True
        self.sleeping = False
        self.boots = 0
        self.commands: list[str] = []  # every command received, as text without checksum
        # hooks, each consumed by the next reply
        self.corrupt_next = 0
        self.drop_next = 0
        self.nak_next = 0
        self.split_next = 0
        self.garbage_next = b""
        self.show_before_reply: list[PilotState] = []
        self._port: SerialPort | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._sent: tuple[int, int, int] | None = None

    # -- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the peer's pty end and serve it (again, after a replug)."""
        self._port = SerialPort(self.url, baudrate=115200)
        await self._port.open()
        self._task = asyncio.create_task(self._serve(), name="openevse-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._port is not None:
            await self._port.close()

    async def _serve(self) -> None:
        assert self._port is not None
        buffer = b""
        try:
            while True:
                buffer += await self._port.read()
                while b"\r" in buffer:
                    line, buffer = buffer.split(b"\r", 1)
                    start = line.rfind(b"$")  # the firmware restarts a command on every '$'
                    if start >= 0:
                        await self._handle(line[start:].decode("latin-1"))
        except DeviceUnavailable:
            return  # unplugged

    # -- PilotPeer (tests/hal/contract.py) ---------------------------------------------------------------

    async def show(self, state: PilotState) -> None:
        if state not in _EV_CODES:
            raise ValueError(f"an EV shows A, B, C or D, not {state}")
        self.ev = state
        await self._announce()

    async def offered_a(self) -> float:
        active = self.is_enabled and not self.sleeping and self.fault is None
        return float(self.capacity) if active else 0.0

    async def enabled(self) -> bool:
        return self.is_enabled

    # -- test hooks ------------------------------------------------------------------------------------

    async def raise_fault(self, code: int) -> None:
        self.fault = code
        await self._announce()

    async def clear_fault(self) -> None:
        self.fault = None
        await self._announce()

    async def send_raw(self, data: bytes) -> None:
        assert self._port is not None
        await self._port.write(data)

    async def reboot(self, *, announce: bool = True) -> None:
        """Restart: capacity back to EEPROM, enabled, awake; ``$AB 00 <fw>`` then ``$AT`` if announced."""
        self.capacity = self.default_a
        self.is_enabled = True
        self.sleeping = False
        self.fault = None
        self.boots += 1
        self._sent = None  # RapiSendEvseState's "sent" statics start over
        if announce:
            await self.send_raw(frame(f"$AB 00 {FIRMWARE}"))
            await self._announce()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (bounded) until ``predicate`` holds after some command was handled."""
        async with asyncio.timeout(BOUND_S), self._changed:
            await self._changed.wait_for(predicate)

    # -- the controller --------------------------------------------------------------------------------

    def evse_state(self) -> int:
        if self.fault is not None:
            return self.fault
        if not self.is_enabled:
            return DISABLED
        if self.sleeping:
            return SLEEPING
        return _EV_CODES[self.ev]

    async def _announce(self) -> None:
        """``$AT evsestate pilotstate currentcapacity vflags`` when one changed (RapiSendEvseState)."""
        now = (self.evse_state(), _EV_CODES[self.ev], self.capacity)
        if now != self._sent and self._port is not None and self._port.is_open:
            self._sent = now
            await self.send_raw(frame(f"$AT {now[0]:02x} {now[1]:02x} {now[2]} 0000"))

    async def _handle(self, raw: str) -> None:
        tokens = parse_command(raw)
        if tokens is None:
            await self._reply(False, "")  # rapi_proc.cpp doCmd: a bad checksum gets $NK
            return
        self.commands.append(" ".join(tokens))
        # The EV changes state while the command is on its way: each $AT goes out before the reply
        # (rapi_proc.h notes this for $F1), and the reply sees the new state.
        for state in self.show_before_reply:
            self.ev = state
            await self._announce()
        self.show_before_reply = []
        ok, data = self._execute(tokens)
        await self._reply(ok, data)
        await self._announce()  # processCmd ends with RapiSendEvseState()
        async with self._changed:
            self._changed.notify_all()

    def _execute(self, tokens: list[str]) -> tuple[bool, str]:
        cmd, args = tokens[0], tokens[1:]
        if cmd == "GS":
            return True, f"{self.evse_state():02x} 0 {_EV_CODES[self.ev]:02x} 0000"
        if cmd == "GC":
            return True, f"{MIN_A} {self.max_a} {self.capacity} {self.max_a}"
        if cmd == "GE":
            return True, f"{self.capacity} 0000"
        if cmd == "GV":
            return True, f"{FIRMWARE} {RAPI_VERSION}"
        if cmd == "SC" and len(args) in (1, 2):
            try:
                asked = int(args[0]) & 0xFF  # the firmware parses into a uint8
            except ValueError:
                return False, ""
            self.capacity = min(max(asked, MIN_A), self.max_a)
            return self.capacity == asked, str(self.capacity)  # clamped -> "$NK ampsset"
        if cmd == "FE":
            self.is_enabled, self.sleeping = True, False
            return True, ""
        if cmd == "FD":
            self.is_enabled, self.sleeping = False, False
            return True, ""
        if cmd == "FS":
            self.is_enabled, self.sleeping = True, True
            return True, ""
        return False, ""

    async def _reply(self, ok: bool, data: str) -> None:
        if self.drop_next:
            self.drop_next -= 1
            return
        if self.nak_next:
            self.nak_next -= 1
            ok = False
        text = ("$OK" if ok else "$NK") + (f" {data}" if data else "")
        wire = self.garbage_next + frame(text, corrupt=self.corrupt_next > 0)
        self.garbage_next = b""
        self.corrupt_next = max(0, self.corrupt_next - 1)
        if self.split_next:
            self.split_next -= 1
            for index in range(0, len(wire), 3):
                await self.send_raw(wire[index : index + 3])
                await asyncio.sleep(0.005)  # separate reads on the driver side
        else:
            await self.send_raw(wire)

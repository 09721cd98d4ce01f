"""A USB keyboard-wedge RFID reader as a HAL token reader: it types the UID on a Linux input event device.

Config (the token reader's TOML inline table)::

    token_reader = { driver = "wedge", path = "/dev/input/by-id/usb-xxxx-event-kbd" }

Options: ``path`` (required; the reader's event device, best its stable ``/dev/input/by-id`` name),
``name`` ("wedge", for log lines), ``grab`` (true: take the device exclusively with EVIOCGRAB so the
typed UID does not reach a console or getty; HARDWARE.md §3) and ``debounce_s`` (1.0).

The reader types the UID (usually decimal, sometimes hex) as ``EV_KEY`` key-down/key-up events, each
followed by ``EV_SYN``, and ends it with KEY_ENTER (HARDWARE.md §3). Records are read raw from the file
descriptor as ``struct input_event`` (linux/input.h: ``struct timeval time; __u16 type; __u16 code;
__s32 value``); the ``evdev`` package supplies only the key codes and the grab. The service needs read
access to the device (the ``input`` group or ``DeviceAllow=char-input r``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import AsyncGenerator, Mapping

from evdev import InputDevice, ecodes

from drivers.options import check_known, flag, number, text
from drivers.rfid.debounce import Debouncer
from hal.errors import DeviceUnavailable

log = logging.getLogger(__name__)

OPTIONS = frozenset({"driver", "path", "name", "grab", "debounce_s"})

EVENT = struct.Struct("@llHHi")
"""``struct input_event`` in the running platform's layout (24 bytes on 64-bit Linux)."""
KEY_DOWN = 1  # value 0 is key-up, 2 is autorepeat (linux/input.h, Documentation/input/input.rst)
MAX_TOKEN_CHARS = 32
"""Longer input is not a UID (someone typing on a real keyboard): it is dropped."""

KEY_CHARS: dict[int, str] = {
    **{getattr(ecodes, f"KEY_{digit}"): str(digit) for digit in range(10)},
    **{getattr(ecodes, f"KEY_KP{digit}"): str(digit) for digit in range(10)},
    **{getattr(ecodes, f"KEY_{letter}"): letter for letter in "ABCDEF"},
}
"""The keys a reader types for a UID: digits (top row or keypad) and the hex letters A-F."""
END_KEYS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})


class WedgeDecoder:
    """Turns input events into tokens: key-downs of 0-9/A-F collect characters, ENTER ends a token."""

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._overflow = False

    def feed(self, type: int, code: int, value: int) -> str | None:
        """One event; the token (upper-case) when it ends one, else None."""
        if type != ecodes.EV_KEY or value != KEY_DOWN:
            return None  # EV_SYN, EV_MSC scan codes, key-up and autorepeat carry no characters
        if code in END_KEYS:
            chars, overflow = self._chars, self._overflow
            self._chars, self._overflow = [], False
            if overflow or not chars:
                return None
            return "".join(chars).upper()
        char = KEY_CHARS.get(code)
        if char is None:
            return None  # shift and other keys a reader may send around the UID
        if len(self._chars) >= MAX_TOKEN_CHARS:
            self._overflow = True
        else:
            self._chars.append(char)
        return None


def decode_events(data: bytes) -> list[tuple[int, int, int]]:
    """``(type, code, value)`` of each complete ``input_event`` record in ``data``."""
    usable = len(data) - len(data) % EVENT.size
    return [(type_, code, value) for _sec, _usec, type_, code, value in EVENT.iter_unpack(data[:usable])]


def encode_event(type: int, code: int, value: int, sec: int = 0, usec: int = 0) -> bytes:
    """One ``input_event`` record (for tests and simulators)."""
    return EVENT.pack(sec, usec, type, code, value)


class WedgeReader:
    """A keyboard-wedge reader on an input event device (or any file that yields ``input_event`` records)."""

    def __init__(self, path: str, *, name: str = "wedge", grab: bool = True, debounce_s: float = 1.0) -> None:
        self.name = name
        self.path = path
        self.grab = grab
        self._debouncer = Debouncer(debounce_s)

    def __repr__(self) -> str:
        return f"<WedgeReader {self.name} {self.path}>"

    async def tokens(self) -> AsyncGenerator[str, None]:
        """Each card presented, once; ``DeviceUnavailable`` when the device is missing or goes away."""
        device, fd = self._open()
        decoder = WedgeDecoder()
        pending = b""
        try:
            while True:
                data = await self._read(fd)
                pending += data
                usable = len(pending) - len(pending) % EVENT.size  # a record may come in pieces
                records, pending = pending[:usable], pending[usable:]
                for event in decode_events(records):
                    token = decoder.feed(*event)
                    if token is not None and self._debouncer.accept(token):
                        log.info("%s: card ...%s", self.name, token[-4:])  # never the full UID (an id token)
                        yield token
        finally:
            if device is not None:
                with contextlib.suppress(OSError):
                    device.close()  # closing the fd also releases the grab
            else:
                with contextlib.suppress(OSError):
                    os.close(fd)

    async def close(self) -> None:
        """Nothing is held outside ``tokens()``, which closes the device when it ends."""

    def _open(self) -> tuple[InputDevice[str] | None, int]:
        """Open the device non-blocking; with ``grab`` through evdev, whose fd then holds the grab."""
        try:
            if not self.grab:
                return None, os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            device = InputDevice(self.path, readonly=True)
        except OSError as err:
            what = f"{self.name}: {self.path}: cannot open as an input device"
            raise DeviceUnavailable(f"{what}: {err}") from err
        try:
            # EVIOCGRAB is per open file: events then go to this fd only, so it is the one we read.
            device.grab()
        except OSError as err:
            device.close()
            raise DeviceUnavailable(f"{self.name}: {self.path}: cannot grab (EVIOCGRAB): {err}") from err
        os.set_blocking(device.fd, False)
        return device, device.fd

    async def _read(self, fd: int) -> bytes:
        """What the device has, waiting for it; ``DeviceUnavailable`` on ENODEV (unplugged) or EOF."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = os.read(fd, EVENT.size * 64)
            except BlockingIOError:
                data = None
            except OSError as err:
                raise DeviceUnavailable(f"{self.name}: {self.path}: {err}") from err
            if data == b"":
                raise DeviceUnavailable(f"{self.name}: {self.path}: end of file (device gone)")
            if data is not None:
                return data
            ready: asyncio.Future[None] = loop.create_future()

            def wake(ready: asyncio.Future[None] = ready) -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)


def create_wedge(options: Mapping[str, object]) -> WedgeReader:
    """The ``wedge`` token-reader driver from its options table (see the module docstring)."""
    check_known(options, OPTIONS)
    return WedgeReader(
        text(options, "path"),
        name=text(options, "name", "wedge"),
        grab=flag(options, "grab", True),
        debounce_s=number(options, "debounce_s", 1.0, 0.0, 60.0),
    )

"""The keyboard-wedge driver: the key decoder with event tuples, the reader with input_event bytes in a FIFO.

/dev/input and /dev/uinput do not exist on the test machine (HARDWARE.md §3), so the reader reads a FIFO
that the test writes real ``struct input_event`` records into, with ``grab = false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from evdev import ecodes

from drivers.options import OptionError
from drivers.rfid.wedge import WedgeDecoder, WedgeReader, create_wedge, decode_events, encode_event
from hal.errors import DeviceUnavailable
from tests.hal.contract import check_token_reader_contract

BOUND_S = 5.0
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
# linux/input-event-codes.h, written out here (HARDWARE.md §3) rather than taken from the driver.
KEYS = {
    **{str(digit): 2 + (digit - 1) % 10 for digit in range(10)},  # KEY_1..KEY_9 = 2..10, KEY_0 = 11
    "A": 30,
    "B": 48,
    "C": 46,
    "D": 32,
    "E": 18,
    "F": 33,
}
KEY_ENTER = 28
KEY_LEFTSHIFT = 42
INPUT_EVENT = struct.Struct("llHHi")  # struct timeval + __u16 type + __u16 code + __s32 value


def typed(text: str) -> Iterator[tuple[int, int, int]]:
    """The events a wedge reader sends for ``text`` + ENTER: down, SYN, up, SYN per key (HARDWARE.md §3)."""
    for code in [KEYS[char] for char in text] + [KEY_ENTER]:
        yield EV_MSC, 4, 0x70000 + code  # the scan code a USB keyboard reports first
        yield EV_KEY, code, 1
        yield EV_SYN, 0, 0
        yield EV_KEY, code, 0
        yield EV_SYN, 0, 0


def records(events: Iterator[tuple[int, int, int]]) -> bytes:
    now = time.time()
    sec, usec = int(now), int(now % 1 * 1e6)
    return b"".join(INPUT_EVENT.pack(sec, usec, *event) for event in events)


# -- decoder -----------------------------------------------------------------------------------------------


def feed_all(decoder: WedgeDecoder, events: Iterator[tuple[int, int, int]]) -> list[str]:
    return [token for event in events if (token := decoder.feed(*event)) is not None]


def test_key_codes_match_evdev() -> None:
    assert KEYS["1"] == ecodes.KEY_1 and KEYS["0"] == ecodes.KEY_0 and KEYS["F"] == ecodes.KEY_F
    assert INPUT_EVENT.size == struct.calcsize("@llHHi") == len(encode_event(1, 2, 3))


def test_decimal_uid_keeps_its_digits() -> None:
    assert feed_all(WedgeDecoder(), typed("0012345678")) == ["0012345678"]


def test_hex_uid_is_upper_case() -> None:
    assert feed_all(WedgeDecoder(), typed("DEADBEEF")) == ["DEADBEEF"]


def test_key_up_repeat_syn_and_other_keys_are_ignored() -> None:
    decoder = WedgeDecoder()
    events = [
        (EV_KEY, KEY_LEFTSHIFT, 1),  # shift around the letters
        (EV_KEY, KEYS["A"], 1),
        (EV_KEY, KEYS["A"], 2),  # autorepeat
        (EV_KEY, KEYS["A"], 0),
        (EV_SYN, 0, 0),
        (EV_KEY, KEYS["1"], 1),
        (EV_KEY, KEY_ENTER, 1),
    ]
    assert feed_all(decoder, iter(events)) == ["A1"]


def test_empty_and_overlong_input_gives_no_token() -> None:
    decoder = WedgeDecoder()
    assert feed_all(decoder, typed("")) == []
    assert feed_all(decoder, typed("1" * 40)) == []
    assert feed_all(decoder, typed("42")) == ["42"]  # and the next one reads


def test_decode_events_keeps_only_whole_records() -> None:
    data = records(typed("1"))
    assert decode_events(data[:-5]) == list(typed("1"))[:-1]


# -- options -----------------------------------------------------------------------------------------------


def test_options_defaults() -> None:
    reader = create_wedge({"driver": "wedge", "path": "/dev/input/by-id/usb-x-event-kbd"})
    assert (reader.name, reader.path, reader.grab) == ("wedge", "/dev/input/by-id/usb-x-event-kbd", True)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "path"),
        ({"path": "/dev/x", "grab": "yes"}, "grab"),
        ({"path": "/dev/x", "port": "/dev/x"}, "port"),
        ({"path": "/dev/x", "debounce_s": 100}, "debounce_s"),
    ],
)
def test_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=f"^{key}:"):
        create_wedge(options)


# -- the reader on a FIFO ----------------------------------------------------------------------------------


class FifoKeyboard:
    """A wedge reader typing into a FIFO; implements ``tests.hal.contract.ReaderPeer``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._fd: int | None = None

    def plug(self) -> None:
        # O_RDWR on a FIFO (Linux) opens without waiting for a reader and keeps a writer on the pipe,
        # so the driver's non-blocking reads wait instead of seeing end of file.
        self._fd = os.open(self.path, os.O_RDWR)

    def unplug(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        os.write(self._fd, data)

    async def present(self, uid: bytes) -> None:
        self.write(records(typed(uid.hex().upper())))

    def uid(self, n: int) -> bytes:
        return bytes([0x12, 0xAB, 0xCD, n & 0xFF])


@pytest.fixture
def keyboard(tmp_path: Path) -> Iterator[FifoKeyboard]:
    fifo = FifoKeyboard(tmp_path / "usb-reader-event-kbd")
    fifo.plug()
    yield fifo
    fifo.unplug()


def make_reader(keyboard: FifoKeyboard, **options: object) -> WedgeReader:
    return create_wedge({"path": str(keyboard.path), "grab": False, **options})


async def next_token(tokens: AsyncIterator[str]) -> str:
    async with asyncio.timeout(BOUND_S):
        return await anext(tokens)


async def test_reads_tokens_and_debounces(keyboard: FifoKeyboard) -> None:
    reader = make_reader(keyboard)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        keyboard.write(records(typed("0012345678")))
        keyboard.write(records(typed("0012345678")))  # tapped again at once
        keyboard.write(records(typed("ABCDEF0123")))
        assert await next_token(tokens) == "0012345678"
        assert await next_token(tokens) == "ABCDEF0123"


async def test_records_in_pieces(keyboard: FifoKeyboard) -> None:
    reader = make_reader(keyboard)
    data = records(typed("99"))
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        for start in range(0, len(data), 7):  # 7 bytes at a time: every record split
            keyboard.write(data[start : start + 7])
            await asyncio.sleep(0.001)
        assert await waiting == "99"


async def test_unplug_and_replug(keyboard: FifoKeyboard) -> None:
    reader = make_reader(keyboard)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        keyboard.write(records(typed("1111")))
        assert await next_token(tokens) == "1111"
        keyboard.unplug()  # the last writer goes: end of file, as the device vanishing is for the driver
        with pytest.raises(DeviceUnavailable, match="usb-reader-event-kbd"):
            await next_token(tokens)
    keyboard.plug()
    async with contextlib.aclosing(reader.tokens()) as tokens:
        keyboard.write(records(typed("2222")))
        assert await next_token(tokens) == "2222"


async def test_a_missing_device_is_unavailable(tmp_path: Path) -> None:
    reader = create_wedge({"path": str(tmp_path / "gone-event-kbd"), "grab": False})
    with pytest.raises(DeviceUnavailable, match="gone-event-kbd"):
        await next_token(reader.tokens())


async def test_a_failed_grab_is_unavailable(keyboard: FifoKeyboard) -> None:
    reader = make_reader(keyboard, grab=True)  # a FIFO is no input device: EVIOCGRAB cannot succeed
    with pytest.raises(DeviceUnavailable, match="usb-reader-event-kbd"):
        await next_token(reader.tokens())


async def test_token_reader_contract(keyboard: FifoKeyboard) -> None:
    await check_token_reader_contract(make_reader(keyboard), keyboard)

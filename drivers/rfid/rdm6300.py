"""The RDM6300 125 kHz (EM4100) reader as a HAL token reader: it only sends, 14-byte ASCII frames at 9600 8N1.

Config (the token reader's TOML inline table)::

    token_reader = { driver = "rdm6300", port = "/dev/ttyS0" }

Options: ``port`` (required; a device path or a pyserial URL), ``baudrate`` (9600, the module's fixed rate;
HARDWARE.md §3), ``name`` ("rdm6300", for log lines) and ``debounce_s`` (1.0: the module repeats a held
tag's frame, so the same tag again within this time of its last frame is not a new token).

Frame (HARDWARE.md §3): ``02 | 10 ASCII hex (2 version/customer + 8 tag) | 2 ASCII hex checksum | 03``,
the checksum being the XOR of the 5 data bytes. The token is the 10 hex characters, upper-case.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from drivers.options import check_known, integer, number, text
from drivers.rfid.debounce import Debouncer
from drivers.serial_port import SerialPort

log = logging.getLogger(__name__)

OPTIONS = frozenset({"driver", "port", "baudrate", "name", "debounce_s"})
DEFAULT_BAUDRATE = 9600
STX = 0x02
ETX = 0x03
FRAME_LENGTH = 14
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class Rdm6300FrameError(ValueError):
    """Bytes that are not a valid RDM6300 frame."""


def encode_frame(data: bytes) -> bytes:
    """The frame for 5 data bytes (version + 4 tag bytes): STX, hex, XOR checksum in hex, ETX."""
    if len(data) != 5:
        raise ValueError(f"an EM4100 frame carries 5 bytes, not {len(data)}")
    checksum = 0
    for byte in data:
        checksum ^= byte
    return bytes([STX]) + (data.hex() + f"{checksum:02x}").upper().encode("ascii") + bytes([ETX])


def decode_frame(raw: bytes) -> str:
    """The token (10 upper-case hex characters) of one complete 14-byte frame; ``Rdm6300FrameError``."""
    if len(raw) != FRAME_LENGTH or raw[0] != STX or raw[-1] != ETX:
        raise Rdm6300FrameError("not STX + 12 characters + ETX")
    body = raw[1:-1]
    if not all(char in _HEX for char in body):
        raise Rdm6300FrameError("not hex")
    data = bytes.fromhex(body.decode("ascii"))
    checksum = 0
    for byte in data[:5]:
        checksum ^= byte
    if checksum != data[5]:
        raise Rdm6300FrameError("bad checksum")
    return body[:10].decode("ascii").upper()


class FrameReader:
    """Splits the byte stream into tokens, counting bad frames and resyncing on the next STX.

    A frame cut short (an STX inside it) or with a bad checksum or garbage before it counts once and is
    dropped; the search restarts at the next STX, so the good frame behind a partial one still reads.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        """Add received bytes; return the tokens of the frames now complete."""
        buf = self._buffer
        buf += data
        tokens: list[str] = []
        while True:
            start = buf.find(STX)
            if start < 0:
                if buf:
                    self.bad_frames += 1  # garbage with no frame start in it
                    buf.clear()
                return tokens
            if start:
                self.bad_frames += 1  # garbage (or a frame's tail) before the STX
                del buf[:start]
            restart = buf.find(STX, 1, FRAME_LENGTH)
            if restart > 0:
                self.bad_frames += 1  # a partial frame: a new one began inside it
                del buf[:restart]
                continue
            if len(buf) < FRAME_LENGTH:
                return tokens
            raw = bytes(buf[:FRAME_LENGTH])
            del buf[:FRAME_LENGTH]
            try:
                tokens.append(decode_frame(raw))
            except Rdm6300FrameError as err:
                self.bad_frames += 1
                log.debug("skipped a frame: %s", err)


@dataclass
class Rdm6300Counters:
    """What went wrong on the line since the reader was made (for diagnostics)."""

    bad_frames: int = 0
    """Frames with a bad checksum, partial frames and garbage, each skipped up to the next STX."""


class Rdm6300Reader:
    """An RDM6300 on a serial line (receive only). ``tokens()`` opens the line and reads tag frames."""

    def __init__(
        self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, name: str = "rdm6300", debounce_s: float = 1.0
    ) -> None:
        self.name = name
        self.url = port
        self.baudrate = baudrate
        self.counters = Rdm6300Counters()
        self._debouncer = Debouncer(debounce_s)
        self._port: SerialPort | None = None

    def __repr__(self) -> str:
        return f"<Rdm6300Reader {self.name} {self.url}>"

    async def tokens(self) -> AsyncGenerator[str, None]:
        """Each tag presented, once; ``DeviceUnavailable`` when the line goes."""
        port = SerialPort(self.url, baudrate=self.baudrate)
        await port.open()
        self._port = port
        frames = FrameReader()
        try:
            while True:
                data = await port.read()
                before = frames.bad_frames
                found = frames.feed(data)
                if frames.bad_frames != before:
                    self.counters.bad_frames += frames.bad_frames - before
                    log.debug("%s: %d bad frame(s) skipped", self.name, frames.bad_frames - before)
                for token in found:
                    if self._debouncer.accept(token):
                        log.info("%s: tag ...%s", self.name, token[-4:])  # never the full UID (an id token)
                        yield token
        finally:
            self._port = None
            await port.close()

    async def close(self) -> None:
        """Release the port."""
        if self._port is not None:
            await self._port.close()


def create_rdm6300(options: Mapping[str, object]) -> Rdm6300Reader:
    """The ``rdm6300`` token-reader driver from its options table (see the module docstring)."""
    check_known(options, OPTIONS)
    return Rdm6300Reader(
        text(options, "port"),
        baudrate=integer(options, "baudrate", DEFAULT_BAUDRATE, 1200, 115200),
        name=text(options, "name", "rdm6300"),
        debounce_s=number(options, "debounce_s", 1.0, 0.0, 60.0),
    )

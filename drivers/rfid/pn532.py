"""The NXP PN532 on its UART (HSU) as a HAL token reader: frame codec, wake-up, InListPassiveTarget polling.

Config (the token reader's TOML inline table)::

    token_reader = { driver = "pn532", port = "/dev/ttyUSB0", baudrate = 115200 }

Options: ``port`` (required; a device path or a pyserial URL such as ``socket://host:port``), ``baudrate``
(115200, the HSU default the Adafruit driver uses; HARDWARE.md §3), ``name`` ("pn532", for log lines),
``debounce_s`` (1.0: the same card again within this time of its last sighting is not a new token),
``timeout_s`` (0.5: how long the ACK and a reply to a set-up command may take) and ``poll_interval_s``
(0.2: how long one InListPassiveTarget waits for a card before it is issued again, and the pause between
polls while a card is in the field).

Sections cited as "UM §" are from the NXP PN532 User Manual (UM0701-02).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from drivers.options import check_known, integer, number, text
from drivers.rfid.debounce import Debouncer
from drivers.serial_port import SerialPort
from hal.errors import DeviceUnavailable

log = logging.getLogger(__name__)

OPTIONS = frozenset({"driver", "port", "baudrate", "name", "debounce_s", "timeout_s", "poll_interval_s"})
DEFAULT_BAUDRATE = 115200
DEFAULT_TIMEOUT_S = 0.5
DEFAULT_POLL_INTERVAL_S = 0.2
ATTEMPTS = 3
"""How often a command is sent before the chip counts as gone (NACK or no ACK each time)."""

# -- frames (UM §6.2.1; HARDWARE.md §3) ------------------------------------------------------------------

START_CODE = b"\x00\xff"
"""Every frame is ``00 | 00 FF | ...``; the leading preamble 00 is not needed to find the start code."""
ACK = bytes.fromhex("0000ff00ff00")  # UM §6.2.1.3
NACK = bytes.fromhex("0000ffff0000")  # UM §6.2.1.4
WAKEUP = b"\x55\x55" + bytes(15)
"""HSU wake-up (UM §7.2.11, HARDWARE.md §3): the chip sleeps after power-up and ignores frames until it."""
TFI_HOST = 0xD4  # host -> PN532
TFI_PN532 = 0xD5  # PN532 -> host
TFI_ERROR = 0x7F  # UM §6.2.1.5: the application-level error frame 00 00 FF 01 FF 7F 81 00
MAX_PAYLOAD = 254  # a normal frame's LEN counts TFI + PD and is one byte (UM §6.2.1.1)

CMD_GET_FIRMWARE_VERSION = 0x02  # UM §7.2.2
CMD_SAM_CONFIGURATION = 0x14  # UM §7.2.10
CMD_IN_LIST_PASSIVE_TARGET = 0x4A  # UM §7.3.5
IC_PN532 = 0x32  # GetFirmwareVersion's IC byte for a PN532

SAM_NORMAL = bytes([CMD_SAM_CONFIGURATION, 0x01, 0x14, 0x01])
"""Normal mode (no SAM), virtual-card timeout 0x14 * 50 ms = 1 s, use the IRQ pin (HARDWARE.md §3)."""
GET_FIRMWARE_VERSION = bytes([CMD_GET_FIRMWARE_VERSION])
IN_LIST_106A = bytes([CMD_IN_LIST_PASSIVE_TARGET, 0x01, 0x00])
"""MaxTg = 1, BrTy = 0x00: 106 kbps ISO/IEC 14443 type A (UM §7.3.5)."""


class Pn532FrameError(ValueError):
    """Bytes that are not a valid PN532 frame (length or data checksum, framing)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The ACK frame: the PN532 accepted the command (UM §6.2.1.3)."""


@dataclass(frozen=True, slots=True)
class Nack:
    """The NACK frame: the other side asks for the last frame again (UM §6.2.1.4)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A normal information frame: ``tfi`` and its data ``PD0..PDn`` (``data[0]`` is the command code)."""

    tfi: int
    data: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes skipped while resyncing: a bad LCS or DCS, an unsupported frame, or garbage."""

    reason: str


Item = Ack | Nack | Frame | BadFrame


def encode_frame(data: bytes, tfi: int = TFI_HOST) -> bytes:
    """``00 00 FF LEN LCS TFI PD0..PDn DCS 00`` (UM §6.2.1.1)."""
    if not 0 < len(data) <= MAX_PAYLOAD:
        raise ValueError(f"a normal frame carries 1..{MAX_PAYLOAD} data bytes, not {len(data)}")
    body = bytes([tfi]) + data
    length = len(body)
    return b"\x00" + START_CODE + bytes([length, -length & 0xFF]) + body + bytes([-sum(body) & 0xFF, 0])


def decode_frame(raw: bytes) -> Ack | Nack | Frame:
    """One complete frame as received (preamble and postamble optional); ``Pn532FrameError`` if invalid."""
    start = raw.find(START_CODE)
    if start < 0 or any(raw[:start]):
        raise Pn532FrameError("no start code 00 FF")
    items = FrameReader().feed(raw)
    if len(items) != 1:
        raise Pn532FrameError(f"expected one frame, got {len(items)} items")
    item = items[0]
    if isinstance(item, BadFrame):
        raise Pn532FrameError(item.reason)
    return item


def parse_in_list_reply(data: bytes) -> bytes | None:
    """The UID of the first target in an InListPassiveTarget reply (``4B NbTg Tg ATQA(2) SAK len UID``).

    UM §7.3.5, 106 kbps type A target data: Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, [ATS].
    ``None`` when no target was listed; ``Pn532FrameError`` when the reply is malformed.
    """
    if len(data) < 2 or data[0] != CMD_IN_LIST_PASSIVE_TARGET + 1:
        raise Pn532FrameError("not an InListPassiveTarget reply")
    if data[1] == 0:
        return None
    if len(data) < 7:
        raise Pn532FrameError("target data too short")
    uid_length = data[6]
    uid = data[7 : 7 + uid_length]
    if uid_length not in (4, 7, 10) or len(uid) != uid_length:  # ISO/IEC 14443-3 single/double/triple UID
        raise Pn532FrameError(f"bad UID length {uid_length}")
    return uid


class FrameReader:
    """Splits a byte stream into ACK, NACK, frames and ``BadFrame`` notes, resyncing on the start code.

    After a bad length checksum (LCS) or data checksum (DCS) only the start code is dropped and the
    search goes on, so a truncated frame does not swallow the good frame behind it. One bad stretch
    (garbage, then a bad frame) gives one ``BadFrame``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_bad = False

    def feed(self, data: bytes) -> list[Item]:
        """Add received bytes; return the items now complete."""
        buf = self._buffer
        buf += data
        items: list[Item] = []
        while True:
            start = buf.find(START_CODE)
            if start < 0:
                keep = 1 if buf.endswith(b"\x00") else 0  # maybe the first half of a start code
                self._skip(len(buf) - keep, items)
                return items
            self._skip(start, items)
            if len(buf) < 4:
                return items
            length, lcs = buf[2], buf[3]
            if (length, lcs) == (0x00, 0xFF):
                del buf[:4]
                self._good(Ack(), items)
                continue
            if (length, lcs) == (0xFF, 0x00):
                del buf[:4]
                self._good(Nack(), items)
                continue
            if (length, lcs) == (0xFF, 0xFF):
                self._bad("extended frame (not used by this driver)", items)  # UM §6.2.1.2
                del buf[:2]
                continue
            if length == 0 or (length + lcs) & 0xFF:
                self._bad("bad length checksum (LCS)", items)
                del buf[:2]
                continue
            end = 4 + length + 1
            if len(buf) < end:
                return items
            body = bytes(buf[4 : 4 + length])
            if (sum(body) + buf[4 + length]) & 0xFF:
                self._bad("bad data checksum (DCS)", items)
                del buf[:2]
                continue
            del buf[:end]
            self._good(Frame(body[0], body[1:]), items)

    def _skip(self, count: int, items: list[Item]) -> None:
        """Drop ``count`` leading bytes; non-zero ones are garbage (00 is a pre- or postamble)."""
        if count <= 0:
            return
        if any(self._buffer[:count]):
            self._bad("garbage", items)
        del self._buffer[:count]

    def _bad(self, reason: str, items: list[Item]) -> None:
        if not self._in_bad:
            items.append(BadFrame(reason))
        self._in_bad = True

    def _good(self, item: Item, items: list[Item]) -> None:
        self._in_bad = False
        items.append(item)


# -- the reader ------------------------------------------------------------------------------------------


@dataclass
class Pn532Counters:
    """What went wrong on the line since the reader was made (for diagnostics)."""

    bad_frames: int = 0
    """Frames with a bad LCS/DCS and garbage stretches, each skipped up to the next start code."""
    retries: int = 0
    """Commands sent again after a NACK or a missing ACK."""
    polls: int = 0
    """InListPassiveTarget commands issued."""


class Pn532Reader:
    """A PN532 on a serial line. ``tokens()`` opens the line, wakes the chip and polls for cards."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        name: str = "pn532",
        debounce_s: float = 1.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        self.name = name
        self.url = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.counters = Pn532Counters()
        self.firmware: tuple[int, int, int] | None = None
        """(IC, Ver, Rev) from GetFirmwareVersion once the chip has answered."""
        self._debouncer = Debouncer(debounce_s)
        self._port: SerialPort | None = None
        self._frames = FrameReader()
        self._pending: collections.deque[Item] = collections.deque()
        self._late: bytes | None = None

    def __repr__(self) -> str:
        return f"<Pn532Reader {self.name} {self.url}>"

    async def tokens(self) -> AsyncGenerator[str, None]:
        """Each card presented, once (upper-case hex UID); ``DeviceUnavailable`` when the line goes."""
        port = SerialPort(self.url, baudrate=self.baudrate)
        await port.open()
        self._port = port
        port.reset_input()  # whatever a previous session left unread
        self._frames = FrameReader()
        self._pending.clear()
        self._late = None
        try:
            await self._start_chip()
            while True:
                uid = await self._poll()
                if uid is None:
                    continue  # no card: the poll itself waited poll_interval_s
                token = uid.hex().upper()
                if self._debouncer.accept(token):
                    log.info("%s: card ...%s", self.name, token[-4:])  # never the full UID (an id token)
                    yield token
                await asyncio.sleep(self.poll_interval_s)  # a card in the field answers at once: pace polls
        finally:
            self._port = None
            await port.close()

    async def close(self) -> None:
        """Release the port (a running ``tokens()`` then fails with ``DeviceUnavailable``)."""
        if self._port is not None:
            await self._port.close()

    # -- the chip --------------------------------------------------------------------------------------

    async def _start_chip(self) -> None:
        """Wake-up, SAMConfiguration, GetFirmwareVersion (HARDWARE.md §3, the Adafruit driver's order)."""
        await self._required(SAM_NORMAL, wake=True)  # UM §7.2.11: HSU wake-up precedes the first command
        reply = await self._required(GET_FIRMWARE_VERSION)
        if len(reply) < 4:
            raise DeviceUnavailable(f"{self.name}: {self.url}: short GetFirmwareVersion reply")
        ic, version, revision = reply[1], reply[2], reply[3]
        if ic != IC_PN532:
            raise DeviceUnavailable(f"{self.name}: {self.url}: not a PN532 (IC 0x{ic:02X})")
        self.firmware = (ic, version, revision)
        log.info("%s: PN532 firmware %d.%d on %s", self.name, version, revision, self.url)

    async def _required(self, command: bytes, *, wake: bool = False) -> bytes:
        """A set-up command that must be answered; sent again (with the wake-up) while it is not."""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.counters.retries += 1
            reply = await self._command(command, self.timeout_s, wake=wake)
            if reply is not None:
                return reply
        raise DeviceUnavailable(f"{self.name}: {self.url}: no reply to command 0x{command[0]:02X}")

    async def _poll(self) -> bytes | None:
        """One InListPassiveTarget: the UID of a card in the field, or None after ``poll_interval_s``."""
        self.counters.polls += 1
        # With no card the PN532 stays silent; the next command aborts the pending one (HARDWARE.md §3).
        reply = await self._command(IN_LIST_106A, self.poll_interval_s)
        if reply is None:
            reply, self._late = self._late, None  # a reply that came just after we gave up on it
        else:
            self._late = None
        if reply is None:
            return None
        try:
            return parse_in_list_reply(reply)
        except Pn532FrameError as err:
            self.counters.bad_frames += 1
            log.debug("%s: bad InListPassiveTarget reply: %s", self.name, err)
            return None

    async def _command(self, command: bytes, reply_timeout_s: float, *, wake: bool = False) -> bytes | None:
        """Send ``command``; the reply's data (from the response code on), or None when none came in time.

        The PN532 ACKs every valid command at once (UM §6.2.1.3); after a NACK or no ACK the command is
        sent again, and after ``ATTEMPTS`` tries the chip counts as gone.
        """
        port = self._line()
        wire = (WAKEUP if wake else b"") + encode_frame(command)
        for attempt in range(ATTEMPTS):
            if attempt:
                self.counters.retries += 1
            await port.write(wire)
            if await self._await_ack():
                return await self._await_reply(command[0] + 1, reply_timeout_s)
        raise DeviceUnavailable(f"{self.name}: {self.url}: no ACK from the PN532 after {ATTEMPTS} tries")

    async def _await_ack(self) -> bool:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while (item := await self._next_item(deadline)) is not None:
            if isinstance(item, Ack):
                return True
            if isinstance(item, Nack):
                log.debug("%s: NACK, sending the command again", self.name)
                return False
            self._stray(item)
        log.debug("%s: no ACK in %.2f s", self.name, self.timeout_s)
        return False

    async def _await_reply(self, code: int, timeout_s: float) -> bytes | None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (item := await self._next_item(deadline)) is not None:
            if isinstance(item, Frame) and item.tfi == TFI_PN532 and item.data[:1] == bytes([code]):
                return item.data
            if isinstance(item, Frame) and item.tfi == TFI_ERROR:
                log.debug("%s: the PN532 reports a syntax error", self.name)  # UM §6.2.1.5
                return None
            self._stray(item)
        return None

    def _stray(self, item: Item) -> None:
        """An item nobody waits for: count bad frames, keep a late InListPassiveTarget reply."""
        if isinstance(item, BadFrame):
            self.counters.bad_frames += 1
            log.debug("%s: skipped %s", self.name, item.reason)
        elif isinstance(item, Frame) and item.tfi == TFI_PN532 and item.data[:1] == b"\x4b":
            self._late = item.data

    async def _next_item(self, deadline: float) -> Item | None:
        """The next item from the line, or None at ``deadline`` (loop time)."""
        if not self._pending:
            port = self._line()
            try:
                async with asyncio.timeout_at(deadline):
                    while not self._pending:
                        self._pending.extend(self._frames.feed(await port.read()))
            except TimeoutError:
                return None
        return self._pending.popleft()

    def _line(self) -> SerialPort:
        if self._port is None:
            raise DeviceUnavailable(f"{self.name}: {self.url}: not open")
        return self._port


def create_pn532(options: Mapping[str, object]) -> Pn532Reader:
    """The ``pn532`` token-reader driver from its options table (see the module docstring)."""
    check_known(options, OPTIONS)
    return Pn532Reader(
        text(options, "port"),
        baudrate=integer(options, "baudrate", DEFAULT_BAUDRATE, 1200, 1_288_000),  # UM §6.2.5: HSU rates
        name=text(options, "name", "pn532"),
        debounce_s=number(options, "debounce_s", 1.0, 0.0, 60.0),
        timeout_s=number(options, "timeout_s", DEFAULT_TIMEOUT_S, 0.01, 10.0),
        poll_interval_s=number(options, "poll_interval_s", DEFAULT_POLL_INTERVAL_S, 0.01, 10.0),
    )

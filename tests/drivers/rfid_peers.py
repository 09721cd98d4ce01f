"""Simulated RFID readers (a PN532 chip, an RDM6300 module) on a socat pseudo-terminal pair, for driver tests.

Pieces:

* ``SocatPair``: ``socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`` as an async context manager, with
  ``unplug()`` (kill socat: both ends see the line go away) and ``replug()`` (start it again under the same
  link names).
* ``Pn532Peer``: the chip on the other end (HARDWARE.md §3; NXP PN532 User Manual "UM §"). It drops input
  until the HSU wake-up ``55 55``, ACKs each valid command, answers SAMConfiguration, GetFirmwareVersion
  and InListPassiveTarget (only while a card is in the field), NACKs a frame with a bad checksum.
  Its framing is written here again, apart from ``drivers.rfid.pn532``, so a symmetric mistake in both
  cannot pass unnoticed. Test hooks: ``garbage_next``, ``corrupt_next``, ``nack_next``, ``split_next``.
* ``Rdm6300Peer``: the module; it sends a tag's frame 3 times 50 ms apart, as a real one repeats a held
  tag. Test hooks: ``send_bad_checksum``, ``send_partial``, ``send_raw``.

Both implement ``tests.hal.contract.ReaderPeer``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass

from drivers.serial_port import SerialPort
from hal.errors import DeviceUnavailable

BOUND_S = 5.0


# -- PN532 -----------------------------------------------------------------------------------------------

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # IC PN532, Ver 1, Rev 6, Support ISO A + B + 18092
ATQA = b"\x00\x04"  # SENS_RES of a MIFARE Classic 1K, as in HARDWARE.md's DEADBEEF example
SAK = 0x08


def pn532_frame(tfi: int, data: bytes, *, corrupt: bool = False) -> bytes:
    """A normal information frame; ``corrupt`` spoils its data checksum (DCS)."""
    body = bytes([tfi, *data])
    dcs = (0x100 - sum(body) % 0x100) % 0x100
    if corrupt:
        dcs ^= 0x5A
    return bytes([0x00, 0x00, 0xFF, len(body), (0x100 - len(body)) % 0x100, *body, dcs, 0x00])


@dataclass
class _Card:
    uid: bytes
    polls_left: int


class Pn532Peer:
    """The chip: asleep until woken, then ACK + reply per command; a queue of cards in the field."""

    def __init__(self, url: str, *, hold_polls: int = 3) -> None:
        self.url = url
        self.hold_polls = hold_polls
        """How many InListPassiveTarget replies a presented card stays in the field for (>= 2 polls)."""
        self.awake = False
        self.commands: list[int] = []  # command codes of the valid frames received
        self.listed: list[bytes] = []  # the UID of each InListPassiveTarget reply sent
        self.bad_frames = 0  # frames from the host with a bad checksum (each NACKed)
        self.wakeups = 0
        # hooks, each consumed by the next frame(s) the chip sends
        self.garbage_next = b""  # bytes sent before the next frame
        self.corrupt_next = 0  # replies sent with a spoiled DCS
        self.nack_next = 0  # commands answered with NACK instead of ACK (and then ignored)
        self.split_next = 0  # frames sent in 3-byte pieces with pauses (the driver reads them apart)
        self._cards: collections.deque[_Card] = collections.deque()
        self._in_list_pending = False
        self._port: SerialPort | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        """Open the peer's pty end and serve it (again, after a replug: the chip starts asleep)."""
        self.awake = False
        self._in_list_pending = False
        self._port = SerialPort(self.url, baudrate=115200)
        await self._port.open()
        self._task = asyncio.create_task(self._serve(), name="pn532-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._port is not None:
            await self._port.close()

    # -- ReaderPeer (tests/hal/contract.py) ------------------------------------------------------------

    async def present(self, uid: bytes) -> None:
        """Put a card in the field (after the ones already there) for ``hold_polls`` polls."""
        self._cards.append(_Card(uid, self.hold_polls))
        if self._in_list_pending and len(self._cards) == 1:
            await self._answer_in_list()  # the chip was waiting for a target: it answers at once

    def uid(self, n: int) -> bytes:
        """A 4-byte ISO 14443A NUID."""
        return bytes([0xDE, 0xAD, 0xBE, n & 0xFF])

    # -- test helpers ----------------------------------------------------------------------------------

    @property
    def cards_in_field(self) -> int:
        return len(self._cards)

    async def wait_gone(self) -> None:
        """Wait (bounded) until every presented card has been read ``hold_polls`` times and taken away."""
        async with asyncio.timeout(BOUND_S), self._changed:
            await self._changed.wait_for(lambda: not self._cards)

    async def send_raw(self, data: bytes) -> None:
        assert self._port is not None
        await self._port.write(data)

    # -- the chip --------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        assert self._port is not None
        buffer = b""
        try:
            while True:
                buffer += await self._port.read()
                if not self.awake:
                    # UM §7.2.11 / HARDWARE.md §3: in power-down the chip ignores everything but the wake-up.
                    index = buffer.find(b"\x55\x55")
                    if index < 0:
                        buffer = buffer[-1:]
                        continue
                    self.awake = True
                    self.wakeups += 1
                    buffer = buffer[index + 2 :]
                buffer = await self._frames(buffer)
        except DeviceUnavailable:
            return  # unplugged

    async def _frames(self, buffer: bytes) -> bytes:
        """Handle the complete frames at the start of ``buffer``; return what is left."""
        while True:
            start = buffer.find(b"\x00\xff")
            if start < 0:
                return buffer[-1:]
            buffer = buffer[start:]
            if len(buffer) < 4:
                return buffer
            length, lcs = buffer[2], buffer[3]
            if (length, lcs) == (0x00, 0xFF):  # the host's ACK aborts a pending command (UM §6.2.1.3)
                self._in_list_pending = False
                buffer = buffer[4:]
                continue
            if (length, lcs) == (0xFF, 0x00):  # the host's NACK: nothing to repeat in this simulation
                buffer = buffer[4:]
                continue
            if (length + lcs) % 0x100 != 0 or length == 0:
                self.bad_frames += 1
                await self._send(NACK)
                buffer = buffer[2:]
                continue
            if len(buffer) < 4 + length + 1:
                return buffer
            body, dcs = buffer[4 : 4 + length], buffer[4 + length]
            buffer = buffer[5 + length :]
            if (sum(body) + dcs) % 0x100 != 0 or body[0] != 0xD4 or length < 2:
                self.bad_frames += 1
                await self._send(NACK)
                continue
            await self._command(body[1], body[2:])

    async def _command(self, code: int, params: bytes) -> None:
        self._in_list_pending = False  # a new command aborts a pending InListPassiveTarget (HARDWARE.md §3)
        if self.nack_next:
            self.nack_next -= 1
            await self._send(NACK)
            return
        self.commands.append(code)
        await self._send(ACK)
        if code == 0x14:  # SAMConfiguration (UM §7.2.10)
            await self._reply(bytes([0x15]))
        elif code == 0x02:  # GetFirmwareVersion (UM §7.2.2)
            await self._reply(bytes([0x03, *FIRMWARE]))
        elif code == 0x4A and params[:2] == b"\x01\x00":  # InListPassiveTarget, 1 target, 106 kbps A
            self._in_list_pending = True
            if self._cards:
                await self._answer_in_list()
        else:
            await self._send(b"\x00\x00\xff\x01\xff\x7f\x81\x00")  # UM §6.2.1.5: syntax error frame
        async with self._changed:
            self._changed.notify_all()

    async def _answer_in_list(self) -> None:
        """``D5 4B NbTg Tg ATQA SAK UIDlen UID`` for the first card; it leaves after ``hold_polls``."""
        self._in_list_pending = False
        card = self._cards[0]
        await self._reply(bytes([0x4B, 0x01, 0x01, *ATQA, SAK, len(card.uid), *card.uid]))
        self.listed.append(card.uid)
        card.polls_left -= 1
        if card.polls_left <= 0:
            self._cards.popleft()
        async with self._changed:
            self._changed.notify_all()

    async def _reply(self, data: bytes) -> None:
        corrupt = self.corrupt_next > 0
        self.corrupt_next = max(0, self.corrupt_next - 1)
        await self._send(pn532_frame(0xD5, data, corrupt=corrupt))

    async def _send(self, frame: bytes) -> None:
        if self._port is None or not self._port.is_open:
            return
        wire, self.garbage_next = self.garbage_next + frame, b""
        if self.split_next:
            self.split_next -= 1
            for index in range(0, len(wire), 3):
                await self._port.write(wire[index : index + 3])
                await asyncio.sleep(0.005)  # separate reads on the driver side
        else:
            await self._port.write(wire)


# -- RDM6300 ---------------------------------------------------------------------------------------------


def rdm6300_frame(data: bytes, *, corrupt: bool = False) -> bytes:
    """``STX + 10 hex + 2 hex XOR checksum + ETX`` (HARDWARE.md §3); ``corrupt`` spoils the checksum."""
    checksum = 0
    for byte in data:
        checksum ^= byte
    if corrupt:
        checksum ^= 0xFF
    return b"\x02" + "".join(f"{byte:02X}" for byte in (*data, checksum)).encode("ascii") + b"\x03"


class Rdm6300Peer:
    """The module: a sender task writes each presented tag's frame ``repeats`` times, in order."""

    def __init__(self, url: str, *, repeats: int = 3, gap_s: float = 0.05) -> None:
        self.url = url
        self.repeats = repeats
        self.gap_s = gap_s
        self._queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
        self._port: SerialPort | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._port = SerialPort(self.url, baudrate=9600)
        await self._port.open()
        self._task = asyncio.create_task(self._send_all(), name="rdm6300-peer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._port is not None:
            await self._port.close()

    # -- ReaderPeer (tests/hal/contract.py) ------------------------------------------------------------

    async def present(self, uid: bytes) -> None:
        """Hold a tag to the module: its frame goes out ``repeats`` times, ``gap_s`` apart."""
        self._queue.put_nowait([rdm6300_frame(uid)] * self.repeats)

    def uid(self, n: int) -> bytes:
        """A 5-byte EM4100 id: version/customer byte + 4 tag bytes."""
        return bytes([0x0F, 0x00, 0xA1, 0xB2, n & 0xFF])

    # -- test hooks ------------------------------------------------------------------------------------

    async def send_raw(self, *pieces: bytes) -> None:
        """Queue bytes as they are, each piece a separate write ``gap_s`` apart."""
        self._queue.put_nowait(list(pieces))

    async def send_bad_checksum(self, uid: bytes) -> None:
        self._queue.put_nowait([rdm6300_frame(uid, corrupt=True)])

    async def send_partial(self, uid: bytes, length: int = 7) -> None:
        """The first ``length`` bytes of a frame (the tag left the field mid-frame)."""
        self._queue.put_nowait([rdm6300_frame(uid)[:length]])

    async def drain(self) -> None:
        """Wait (bounded) until everything queued has been sent."""
        async with asyncio.timeout(BOUND_S):
            await self._queue.join()

    async def _send_all(self) -> None:
        while True:
            pieces = await self._queue.get()
            try:
                for piece in pieces:
                    if self._port is not None and self._port.is_open:
                        with contextlib.suppress(DeviceUnavailable):
                            await self._port.write(piece)
                    await asyncio.sleep(self.gap_s)
            finally:
                self._queue.task_done()

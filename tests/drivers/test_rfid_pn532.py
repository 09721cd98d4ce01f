"""The PN532 reader against a simulated PN532 on a pty pair: frames, polling, debounce, unplug."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.options import OptionError
from drivers.rfid.debounce import Debouncer
from drivers.rfid.pn532 import (
    ACK,
    GET_FIRMWARE_VERSION,
    IN_LIST_106A,
    NACK,
    SAM_NORMAL,
    Ack,
    BadFrame,
    Frame,
    FrameReader,
    Nack,
    Pn532FrameError,
    Pn532Reader,
    create_pn532,
    decode_frame,
    encode_frame,
    parse_in_list_reply,
)
from hal.errors import DeviceUnavailable
from tests.drivers.rfid_peers import Pn532Peer, pn532_frame
from tests.drivers.socat import SocatPair
from tests.hal.contract import check_token_reader_contract

BOUND_S = 5.0
DEADBEEF_REPLY = bytes.fromhex("00 00 ff 0c f4 d5 4b 01 01 00 04 08 04 de ad be ef 96 00")  # HARDWARE.md §3


# -- frame codec (HARDWARE.md §3, PN532 UM §6.2.1) --------------------------------------------------------


def test_encodes_the_commands_as_in_hardware_md() -> None:
    assert encode_frame(IN_LIST_106A) == bytes.fromhex("00 00 ff 04 fc d4 4a 01 00 e1 00")
    assert encode_frame(SAM_NORMAL) == bytes.fromhex("00 00 ff 05 fb d4 14 01 14 01 02 00")
    assert encode_frame(GET_FIRMWARE_VERSION) == bytes.fromhex("00 00 ff 02 fe d4 02 2a 00")


def test_decodes_the_deadbeef_in_list_reply() -> None:
    frame = decode_frame(DEADBEEF_REPLY)
    assert frame == Frame(0xD5, bytes.fromhex("4b 01 01 00 04 08 04 de ad be ef"))
    assert parse_in_list_reply(frame.data) == bytes.fromhex("deadbeef")


def test_decodes_ack_and_nack() -> None:
    assert decode_frame(ACK) == Ack()
    assert decode_frame(NACK) == Nack()


@pytest.mark.parametrize(
    ("index", "what"),
    [(3, "length checksum"), (4, "length checksum"), (16, "data checksum"), (17, "data checksum")],
)
def test_rejects_a_bad_checksum(index: int, what: str) -> None:
    raw = bytearray(DEADBEEF_REPLY)
    raw[index] ^= 0x01
    with pytest.raises(Pn532FrameError, match=what.split()[0]):
        decode_frame(bytes(raw))


def test_in_list_reply_without_target_and_malformed() -> None:
    assert parse_in_list_reply(b"\x4b\x00") is None
    with pytest.raises(Pn532FrameError):
        parse_in_list_reply(bytes.fromhex("4b 01 01 00 04 08 09 de ad be ef"))  # UID length 9
    with pytest.raises(Pn532FrameError):
        parse_in_list_reply(b"\x03\x32")


def test_reader_joins_a_frame_split_across_reads() -> None:
    reader = FrameReader()
    items = [item for byte in DEADBEEF_REPLY for item in reader.feed(bytes([byte]))]
    assert items == [decode_frame(DEADBEEF_REPLY)]


def test_reader_counts_garbage_once_and_resyncs() -> None:
    reader = FrameReader()
    items = reader.feed(b"\x13\x37\xff\xfe" + ACK + DEADBEEF_REPLY)
    assert items == [BadFrame("garbage"), Ack(), decode_frame(DEADBEEF_REPLY)]


def test_reader_keeps_the_good_frame_behind_a_truncated_one() -> None:
    reader = FrameReader()
    items = reader.feed(DEADBEEF_REPLY[:9] + DEADBEEF_REPLY)  # the first copy was cut off mid-frame
    assert [type(item) for item in items] == [BadFrame, Frame]
    assert items[-1] == decode_frame(DEADBEEF_REPLY)


def test_reader_reports_a_bad_dcs() -> None:
    items = FrameReader().feed(pn532_frame(0xD5, b"\x4b\x00", corrupt=True) + ACK)
    assert items == [BadFrame("bad data checksum (DCS)"), Ack()]


@given(st.binary(min_size=1, max_size=200), st.binary(max_size=60).filter(lambda b: b"\x00\xff" not in b))
def test_reader_survives_noise_and_still_finds_the_next_frame(data: bytes, noise: bytes) -> None:
    reader = FrameReader()
    payload = b"\x4b\x01" + data
    items = reader.feed(noise) + reader.feed(encode_frame(payload, 0xD5))
    assert items[-1] == Frame(0xD5, payload)
    assert len(items) == (2 if any(noise) else 1)  # the noise is one BadFrame, zeros are pre-/postambles


@given(st.binary(max_size=300))
def test_reader_never_raises(data: bytes) -> None:
    FrameReader().feed(data)


@given(st.binary(min_size=1, max_size=254), st.sampled_from([0xD4, 0xD5]))
def test_encode_decode_round_trip(data: bytes, tfi: int) -> None:
    assert decode_frame(encode_frame(data, tfi)) == Frame(tfi, data)


def test_debouncer_window_runs_from_the_last_sighting() -> None:
    now = [0.0]
    debouncer = Debouncer(1.0, clock=lambda: now[0])
    assert debouncer.accept("A")
    for _ in range(5):  # held in the field: seen every 0.5 s for 2.5 s, still one token
        now[0] += 0.5
        assert not debouncer.accept("A")
    assert debouncer.accept("B")  # a different card is a new token
    now[0] += 0.1
    assert debouncer.accept("A")
    now[0] += 1.0
    assert debouncer.accept("A")  # gone for the window: a new tap


# -- options -----------------------------------------------------------------------------------------------


def test_options_defaults() -> None:
    reader = create_pn532({"driver": "pn532", "port": "/dev/ttyUSB0"})
    assert (reader.name, reader.url, reader.baudrate) == ("pn532", "/dev/ttyUSB0", 115200)
    assert (reader.timeout_s, reader.poll_interval_s) == (0.5, 0.2)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "port"),
        ({"port": "/dev/x", "baud": 9600}, "baud"),
        ({"port": "/dev/x", "baudrate": "fast"}, "baudrate"),
        ({"port": "/dev/x", "debounce_s": -1}, "debounce_s"),
        ({"port": "/dev/x", "timeout_s": True}, "timeout_s"),
        ({"port": "/dev/x", "poll_interval_s": 0}, "poll_interval_s"),
        ({"port": ""}, "port"),
    ],
)
def test_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=f"^{key}:"):
        create_pn532(options)


# -- the reader against the simulated chip ----------------------------------------------------------------


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[SocatPair]:
    async with SocatPair(tmp_path) as line:
        yield line


@pytest.fixture
async def peer(pair: SocatPair) -> AsyncIterator[Pn532Peer]:
    chip = Pn532Peer(pair.peer_path)
    await chip.start()
    yield chip
    await chip.stop()


def make_reader(pair: SocatPair, **options: object) -> Pn532Reader:
    return create_pn532({"port": pair.driver_path, "poll_interval_s": 0.05, "timeout_s": 0.2, **options})


async def next_token(tokens: AsyncIterator[str]) -> str:
    async with asyncio.timeout(BOUND_S):
        return await anext(tokens)


async def test_wakes_the_chip_and_sets_it_up_before_polling(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))
        assert await next_token(tokens) == "DEADBE01"
    assert peer.wakeups == 1
    assert peer.commands[:3] == [0x14, 0x02, 0x4A]  # SAMConfiguration, GetFirmwareVersion, InList
    assert reader.firmware == (0x32, 1, 6)


async def test_a_held_card_is_one_token(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))  # stays for 3 polls
        assert await next_token(tokens) == "DEADBE01"
        await peer.present(peer.uid(2))
        assert await next_token(tokens) == "DEADBE02"  # not DEADBE01 from the 2nd and 3rd poll
    assert peer.listed[:3] == [peer.uid(1)] * 3  # so the first card really was listed 3 times


async def test_without_debounce_the_held_card_repeats(pair: SocatPair, peer: Pn532Peer) -> None:
    """The peer holds the card for several polls, so the test above would fail without the debouncer."""
    reader = make_reader(pair, debounce_s=0.0)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))
        assert [await next_token(tokens) for _ in range(2)] == ["DEADBE01", "DEADBE01"]


async def test_two_cards(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(7))
        assert await next_token(tokens) == "DEADBE07"
        waiting = asyncio.create_task(next_token(tokens))  # the driver goes on polling meanwhile
        await peer.wait_gone()
        await peer.present(peer.uid(8))
        assert await waiting == "DEADBE08"
    assert reader.counters.polls >= 4  # three listed the held first card, one the second


async def test_garbage_is_counted_and_the_card_still_reads(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))
        assert await next_token(tokens) == "DEADBE01"
        waiting = asyncio.create_task(next_token(tokens))
        await peer.wait_gone()
        peer.garbage_next = b"\x13\x37\xff\xfe\x00\xff\x42"  # noise, with a false start code in it
        await peer.present(peer.uid(2))
        assert await waiting == "DEADBE02"
    assert reader.counters.bad_frames >= 1


async def test_a_corrupt_reply_is_counted_and_the_card_still_reads(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))
        assert await next_token(tokens) == "DEADBE01"
        waiting = asyncio.create_task(next_token(tokens))
        await peer.wait_gone()
        peer.corrupt_next = 1  # the next reply: InList with the card
        await peer.present(peer.uid(2))
        assert await waiting == "DEADBE02"
    assert reader.counters.bad_frames == 1
    assert peer.corrupt_next == 0


async def test_nack_makes_the_driver_send_again(pair: SocatPair, peer: Pn532Peer) -> None:
    peer.nack_next = 1  # the SAMConfiguration
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(3))
        assert await next_token(tokens) == "DEADBE03"
    assert reader.counters.retries >= 1
    assert peer.nack_next == 0


async def test_frames_in_pieces(pair: SocatPair, peer: Pn532Peer) -> None:
    peer.split_next = 10  # ACKs and replies of the set-up and the first polls arrive 3 bytes at a time
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(4))
        assert await next_token(tokens) == "DEADBE04"
    assert peer.split_next < 10
    assert reader.counters.bad_frames == 0


async def test_a_silent_line_is_unavailable(pair: SocatPair) -> None:
    reader = make_reader(pair, timeout_s=0.05)  # nothing on the other end: no ACK
    async with contextlib.aclosing(reader.tokens()) as tokens:
        with pytest.raises(DeviceUnavailable, match="no ACK"):
            await next_token(tokens)


async def test_a_missing_port_is_unavailable(tmp_path: Path) -> None:
    reader = create_pn532({"port": str(tmp_path / "nope")})
    with pytest.raises(DeviceUnavailable, match="nope"):
        await next_token(reader.tokens())


async def test_unplug_and_replug(pair: SocatPair, peer: Pn532Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(1))
        assert await next_token(tokens) == "DEADBE01"
        await pair.unplug()
        with pytest.raises(DeviceUnavailable):
            await next_token(tokens)
    await peer.stop()
    await pair.replug()
    await peer.start()  # a fresh chip: asleep until the driver wakes it again
    async with contextlib.aclosing(reader.tokens()) as tokens:
        await peer.present(peer.uid(2))
        assert await next_token(tokens) == "DEADBE02"
    assert peer.wakeups == 2  # the replugged chip was woken again


async def test_token_reader_contract(pair: SocatPair, peer: Pn532Peer) -> None:
    await check_token_reader_contract(make_reader(pair), peer)

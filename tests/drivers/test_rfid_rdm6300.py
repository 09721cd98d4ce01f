"""The RDM6300 driver: its frame codec with HARDWARE.md's bytes, and the reader against a simulated module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.options import OptionError
from drivers.rfid.rdm6300 import (
    FrameReader,
    Rdm6300FrameError,
    Rdm6300Reader,
    create_rdm6300,
    decode_frame,
    encode_frame,
)
from hal.errors import DeviceUnavailable
from tests.drivers.rfid_peers import Rdm6300Peer, rdm6300_frame
from tests.drivers.socat import SocatPair
from tests.hal.contract import check_token_reader_contract

BOUND_S = 5.0
EXAMPLE = b"\x020F00A1B2C3DF\x03"  # HARDWARE.md §3


# -- frame codec -------------------------------------------------------------------------------------------


def test_encodes_and_decodes_the_hardware_md_example() -> None:
    assert encode_frame(bytes.fromhex("0F00A1B2C3")) == EXAMPLE
    assert decode_frame(EXAMPLE) == "0F00A1B2C3"
    assert decode_frame(EXAMPLE.lower()) == "0F00A1B2C3"  # lower-case hex from a clone: token upper-case


@pytest.mark.parametrize(
    "raw",
    [
        b"\x020F00A1B2C3DE\x03",  # checksum off by one
        b"\x020F00A1B2C3DF\x04",  # no ETX
        b"\x020F00A1B2C3D\x03",  # short
        b"\x020G00A1B2C3DF\x03",  # not hex
    ],
)
def test_rejects_bad_frames(raw: bytes) -> None:
    with pytest.raises(Rdm6300FrameError):
        decode_frame(raw)


def test_reader_joins_a_frame_split_across_reads() -> None:
    reader = FrameReader()
    tokens = [token for byte in EXAMPLE for token in reader.feed(bytes([byte]))]
    assert tokens == ["0F00A1B2C3"]
    assert reader.bad_frames == 0


def test_reader_skips_a_partial_frame_and_reads_the_next() -> None:
    reader = FrameReader()
    assert reader.feed(EXAMPLE[:7] + EXAMPLE) == ["0F00A1B2C3"]
    assert reader.bad_frames == 1


def test_reader_counts_garbage_and_a_bad_checksum() -> None:
    reader = FrameReader()
    tokens = reader.feed(b"\xff\x13" + rdm6300_frame(b"\x01\x02\x03\x04\x05", corrupt=True) + EXAMPLE)
    assert tokens == ["0F00A1B2C3"]
    assert reader.bad_frames == 2


@given(st.binary(max_size=100), st.binary(min_size=5, max_size=5))
def test_reader_resyncs_after_any_noise(noise: bytes, data: bytes) -> None:
    reader = FrameReader()
    tokens = reader.feed(noise) + reader.feed(encode_frame(data))
    assert tokens[-1:] == [data.hex().upper()]


# -- options -----------------------------------------------------------------------------------------------


def test_options_defaults() -> None:
    reader = create_rdm6300({"driver": "rdm6300", "port": "socket://127.0.0.1:7000"})
    assert (reader.name, reader.url, reader.baudrate) == ("rdm6300", "socket://127.0.0.1:7000", 9600)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "port"),
        ({"port": "/dev/x", "timeout_s": 1.0}, "timeout_s"),
        ({"port": "/dev/x", "baudrate": 9600.0}, "baudrate"),
        ({"port": "/dev/x", "debounce_s": "1s"}, "debounce_s"),
        ({"port": "/dev/x", "name": 7}, "name"),
    ],
)
def test_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=f"^{key}:"):
        create_rdm6300(options)


# -- the reader against the simulated module ---------------------------------------------------------------


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[SocatPair]:
    async with SocatPair(tmp_path) as line:
        yield line


@pytest.fixture
async def peer(pair: SocatPair) -> AsyncIterator[Rdm6300Peer]:
    module = Rdm6300Peer(pair.peer_path)
    await module.start()
    yield module
    await module.stop()


def make_reader(pair: SocatPair, **options: object) -> Rdm6300Reader:
    return create_rdm6300({"port": pair.driver_path, **options})


async def next_token(tokens: AsyncIterator[str]) -> str:
    async with asyncio.timeout(BOUND_S):
        return await anext(tokens)


# The reading task is created before the peer sends, so the driver has opened its end first (pyserial
# flushes the input on open): asyncio runs ready tasks in order.


async def test_a_held_tag_is_one_token(pair: SocatPair, peer: Rdm6300Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.present(peer.uid(1))  # its frame 3 times
        await peer.present(peer.uid(2))
        assert await waiting == "0F00A1B201"
        assert await next_token(tokens) == "0F00A1B202"  # not the first tag's repeats
    assert reader.counters.bad_frames == 0


async def test_without_debounce_the_repeats_are_tokens(pair: SocatPair, peer: Rdm6300Peer) -> None:
    """The peer repeats the frame, so the test above would fail without the debouncer."""
    reader = make_reader(pair, debounce_s=0.0)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.present(peer.uid(1))
        assert [await waiting, await next_token(tokens)] == ["0F00A1B201"] * 2


async def test_bad_frames_are_counted_and_the_next_tag_reads(pair: SocatPair, peer: Rdm6300Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.send_bad_checksum(peer.uid(1))
        await peer.send_raw(b"\xff\x13\x37")
        await peer.send_partial(peer.uid(1))
        await peer.present(peer.uid(2))
        assert await waiting == "0F00A1B202"
    assert reader.counters.bad_frames >= 3


async def test_a_frame_in_pieces(pair: SocatPair, peer: Rdm6300Peer) -> None:
    reader = make_reader(pair)
    frame = rdm6300_frame(peer.uid(3))
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.send_raw(frame[:3], frame[3:9], frame[9:])
        assert await waiting == "0F00A1B203"
    assert reader.counters.bad_frames == 0


async def test_a_missing_port_is_unavailable(tmp_path: Path) -> None:
    reader = create_rdm6300({"port": str(tmp_path / "nope")})
    with pytest.raises(DeviceUnavailable, match="nope"):
        await next_token(reader.tokens())


async def test_unplug_and_replug(pair: SocatPair, peer: Rdm6300Peer) -> None:
    reader = make_reader(pair)
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.present(peer.uid(1))
        assert await waiting == "0F00A1B201"
        await peer.drain()
        await pair.unplug()
        with pytest.raises(DeviceUnavailable):
            await next_token(tokens)
    await peer.stop()
    await pair.replug()
    await peer.start()
    async with contextlib.aclosing(reader.tokens()) as tokens:
        waiting = asyncio.create_task(next_token(tokens))
        await peer.present(peer.uid(2))
        assert await waiting == "0F00A1B202"


async def test_token_reader_contract(pair: SocatPair, peer: Rdm6300Peer) -> None:
    await check_token_reader_contract(make_reader(pair), peer)

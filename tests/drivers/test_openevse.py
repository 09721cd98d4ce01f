"""The OpenEVSE RAPI driver: framing against the firmware's examples, the driver against a simulated peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.evse.openevse import FAULTS, OpenEvsePilot, create_openevse, status_from_codes
from drivers.evse.rapi import BadFrame, Frame, FrameReader, decode_frame, encode_command, parse_frames
from drivers.options import OptionError
from hal.errors import DeviceProtocolError, DeviceTimeout, DeviceUnavailable
from hal.pilot import Pilot, PilotStatus
from hal.types import FaultCode, PilotState
from tests.drivers.rapi_peer import OpenEvsePeer, frame
from tests.drivers.socat import SocatPair
from tests.hal.contract import check_pilot_contract

BOUND_S = 5.0

# -- framing (rapi_proc.h examples; HARDWARE.md §4) -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "params", "wire"),
    [
        ("GS", (), b"$GS^30\r"),  # HARDWARE.md §4 and rapi_proc.h
        ("GV", (), b"$GV^35\r"),
        ("GC", (), b"$GC^20\r"),
        ("GE", (), b"$GE^26\r"),
        ("F0", (1,), b"$F0 1^43\r"),
        ("SK", (0,), b"$SK 0^2C\r"),
        ("ST", (0, 0, 0, 0), b"$ST 0 0 0 0^23\r"),
    ],
)
def test_encode_matches_the_firmware_examples(command: str, params: tuple[int, ...], wire: bytes) -> None:
    assert encode_command(command, *params) == wire


@pytest.mark.parametrize("text", ["$FD*AE", "$FE*AF", "$FR*BC", "$FS*BD", "$SL 1*14", "$SL A*24", "$S0 0*F7"])
def test_legacy_additive_checksums_from_the_firmware_verify(text: str) -> None:
    decoded = decode_frame(text)
    assert decoded.checksum == "sum"
    assert decoded.kind == text[1:3]


def test_decode_replies_and_notifications() -> None:
    items = parse_frames(
        frame("$OK 01 0 01 0000") + frame("$NK 32") + frame("$AT 02 02 16 0000") + frame("$AB 00 8.2.2")
    )
    assert items == [
        Frame("OK", ("01", "0", "01", "0000"), checksum="xor"),
        Frame("NK", ("32",), checksum="xor"),
        Frame("AT", ("02", "02", "16", "0000"), checksum="xor"),
        Frame("AB", ("00", "8.2.2"), checksum="xor"),
    ]
    assert isinstance(items[0], Frame) and items[0].is_reply
    assert isinstance(items[2], Frame) and items[2].is_async


def test_legacy_st_without_checksum_and_sequence_ids() -> None:
    # RAPI v1.0.3- replies and pre-2.0.1 notifications carry no checksum (rapi_proc.h "response format").
    assert parse_frames(b"$ST 3\r$OK\r") == [Frame("ST", ("3",)), Frame("OK")]
    # v3.0.0+: " :ss" before the checksum, echoed from the command.
    assert encode_command("GS", seq=0x2A) == frame("$GS :2A")
    assert decode_frame(frame("$OK 10 :2A").decode()[:-1]) == Frame("OK", ("10",), seq=0x2A, checksum="xor")


def test_bad_checksum_is_a_counted_bad_frame_not_an_exception() -> None:
    reader = FrameReader()
    items = reader.feed(frame("$OK 16", corrupt=True) + b"$OK 16*00\r" + b"$OK^ZZ\r" + frame("$OK 6"))
    assert [type(i) for i in items] == [BadFrame, BadFrame, BadFrame, Frame]
    assert reader.bad_frames == 3
    assert isinstance(items[0], BadFrame) and items[0].looks_like_reply


def test_partial_frames_across_reads_and_resync_after_garbage() -> None:
    reader = FrameReader()
    wire = b"\x00\xffnoise$OK 1" + frame("$AT 03 03 16 0000") + b"\n" + frame("$OK 16")
    out: list[Frame | BadFrame] = []
    for index in range(len(wire)):  # one byte per read
        out += reader.feed(wire[index : index + 1])
    assert out == [
        Frame("AT", ("03", "03", "16", "0000"), checksum="xor"),
        Frame("OK", ("16",), checksum="xor"),
    ]
    assert reader.bad_frames == 0
    assert reader.garbage_bytes == len(b"\x00\xffnoise$OK 1")  # the LF after a frame is not garbage


def test_an_overlong_frame_is_dropped() -> None:
    reader = FrameReader()
    assert reader.feed(b"$OK " + b"9" * 200 + b"\r" + frame("$OK 1")) == [Frame("OK", ("1",), checksum="xor")]
    assert reader.garbage_bytes > 200


@given(st.binary(max_size=300))
def test_frame_reader_never_raises(data: bytes) -> None:
    reader = FrameReader()
    items = reader.feed(data)
    assert sum(isinstance(i, BadFrame) for i in items) == reader.bad_frames


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=2),
    st.lists(st.text(alphabet="0123456789abcdefV.-", min_size=1, max_size=6), max_size=5),
)
def test_encode_decode_round_trip(command: str, params: list[str]) -> None:
    wire = encode_command(command, *params)
    assert parse_frames(wire) == [Frame(command, tuple(params), checksum="xor")]


# -- state mapping (open_evse.h codes, HARDWARE.md §4) ---------------------------------------------------

@pytest.mark.parametrize(
    ("evse_state", "pilot_state", "expected"),
    [
        (0x01, 0x01, PilotStatus(PilotState.A)),
        (0x02, 0x02, PilotStatus(PilotState.B)),
        (0x03, 0x03, PilotStatus(PilotState.C)),
        (0x04, 0x04, PilotStatus(PilotState.D)),
        (0x05, 0x02, PilotStatus(PilotState.F, FaultCode.EV_COMMUNICATION_ERROR)),
        (0x06, 0x02, PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)),
        (0x07, 0x01, PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)),
        (0x08, 0x01, PilotStatus(PilotState.F, FaultCode.POWER_SWITCH_FAILURE)),
        (0x09, 0x01, PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)),
        (0x0A, 0x03, PilotStatus(PilotState.F, FaultCode.HIGH_TEMPERATURE)),
        (0x0B, 0x03, PilotStatus(PilotState.F, FaultCode.OVER_CURRENT_FAILURE)),
        (0x0C, 0x03, PilotStatus(PilotState.F, FaultCode.OTHER_ERROR)),
        (0x0D, 0x03, PilotStatus(PilotState.F, FaultCode.OTHER_ERROR)),
        (0x0E, 0x02, PilotStatus(PilotState.F, FaultCode.POWER_SWITCH_FAILURE)),
        (0xFF, 0x02, PilotStatus(PilotState.F)),  # disabled: not available, no fault
        (0xFE, 0x02, PilotStatus(PilotState.B)),  # sleeping: the EV is still plugged
        (0xFE, 0x01, PilotStatus(PilotState.A)),
        (0x00, 0x00, None),  # unknown while booting
        (0x42, 0x01, PilotStatus(PilotState.F, FaultCode.OTHER_ERROR)),
    ],
)
def test_state_mapping(evse_state: int, pilot_state: int, expected: PilotStatus | None) -> None:
    assert status_from_codes(evse_state, pilot_state) == expected


def test_every_fault_state_is_mapped() -> None:
    assert sorted(FAULTS) == list(range(0x05, 0x0F))


# -- the driver against the simulated controller ---------------------------------------------------------

@dataclass
class Rig:
    pair: SocatPair
    peer: OpenEvsePeer
    pilot: OpenEvsePilot


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    pair = SocatPair(tmp_path)
    await pair.start()
    peer = OpenEvsePeer(pair.peer_path)
    await peer.start()
    pilot = create_openevse({"driver": "openevse", "port": pair.driver_path, "timeout_s": 0.3})
    try:
        yield Rig(pair, peer, pilot)
    finally:
        await pilot.close()
        await peer.stop()
        await pair.close()


async def close(updates: AsyncIterator[PilotStatus]) -> None:
    aclose = getattr(updates, "aclose", None)
    if aclose is not None:
        await aclose()


async def next_status(updates: AsyncIterator[PilotStatus]) -> PilotStatus:
    async with asyncio.timeout(BOUND_S):
        return await anext(updates)


async def test_pilot_contract(rig: Rig) -> None:
    assert isinstance(rig.pilot, Pilot)
    await check_pilot_contract(rig.pilot, rig.peer)


async def test_states_are_reported_once_each_in_order(rig: Rig) -> None:
    updates = aiter(rig.pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)  # from $GS, without a change
        for state in (PilotState.B, PilotState.C, PilotState.A):
            await rig.peer.show(state)
        await rig.pilot.set_current_limit(16)  # its $AT repeats the state with a new capacity: not a change
        await rig.peer.show(PilotState.B)
        seen = [await next_status(updates) for _ in range(4)]
        assert [s.state for s in seen] == [PilotState.B, PilotState.C, PilotState.A, PilotState.B]
        assert all(s.fault is None for s in seen)
    finally:
        await close(updates)


async def test_current_limit_reaches_the_controller(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    await pilot.set_current_limit(16.0)
    assert (peer.capacity, await peer.offered_a()) == (16, 16.0)
    await pilot.set_current_limit(6.0)
    assert await peer.offered_a() == 6.0
    await pilot.set_current_limit(10.7)  # whole amps, rounded down: never offer more than asked
    assert await peer.offered_a() == 10.0
    await pilot.set_current_limit(5.5)  # IEC 61851-1: below 6 A no PWM -> $FS
    assert peer.sleeping and await peer.offered_a() == 0.0 and await peer.enabled()
    await pilot.set_current_limit(0)
    assert peer.sleeping
    await pilot.set_current_limit(16.0)  # wakes up ($FE) after setting the capacity
    assert not peer.sleeping and await peer.offered_a() == 16.0
    assert peer.commands[-2:] == ["SC 16 V", "FE"]
    await pilot.set_current_limit(40.0)  # above the controller's maximum: "$NK 32", less than asked is safe
    assert await peer.offered_a() == 32.0


async def test_current_limit_rejects_nonsense(rig: Rig) -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="current limit"):
            await rig.pilot.set_current_limit(bad)


async def test_enable_and_disable(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    await peer.show(PilotState.B)
    updates = aiter(pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.B)
        await pilot.set_enabled(False)
        assert peer.commands[-1] == "FD" and not await peer.enabled()
        assert await next_status(updates) == PilotStatus(PilotState.F)  # no fault: just not available
        await pilot.set_enabled(True)
        assert await peer.enabled() and not peer.sleeping
        assert await next_status(updates) == PilotStatus(PilotState.B)
        # Disabled with a limit below 6 A: enabling goes straight to sleep, never a PWM above the limit.
        await pilot.set_enabled(False)
        await pilot.set_current_limit(0)
        assert not await peer.enabled()
        await pilot.set_enabled(True)
        assert peer.commands[-1] == "FS" and peer.sleeping and await peer.offered_a() == 0.0
        statuses = [await next_status(updates), await next_status(updates)]
        assert statuses == [PilotStatus(PilotState.F), PilotStatus(PilotState.B)]  # sleeping shows the EV
    finally:
        await close(updates)


async def test_a_fault_and_its_clearing(rig: Rig) -> None:
    await rig.peer.show(PilotState.C)
    updates = aiter(rig.pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.C)
        await rig.peer.raise_fault(0x06)  # GFCI trip
        assert await next_status(updates) == PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)
        await rig.peer.raise_fault(0x08)  # stuck relay
        assert await next_status(updates) == PilotStatus(PilotState.F, FaultCode.POWER_SWITCH_FAILURE)
        await rig.peer.clear_fault()
        assert await next_status(updates) == PilotStatus(PilotState.C)
    finally:
        await close(updates)


async def test_a_corrupted_reply_is_counted_and_the_command_retried(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    peer.corrupt_next = 1
    await pilot.set_current_limit(16.0)
    assert peer.capacity == 16
    assert (pilot.counters.bad_frames, pilot.counters.retries) == (1, 1)
    assert peer.commands.count("SC 16 V") == 2
    peer.corrupt_next = 2  # corrupted again on the retry: a protocol error, and the line still works
    with pytest.raises(DeviceProtocolError):
        await pilot.set_current_limit(10.0)
    await pilot.set_current_limit(12.0)
    assert peer.capacity == 12 and pilot.counters.bad_frames == 3


async def test_nk_is_a_protocol_error(rig: Rig) -> None:
    rig.peer.nak_next = 1
    with pytest.raises(DeviceProtocolError, match=r"\$FD refused"):
        await rig.pilot.set_enabled(False)


async def test_garbage_and_partial_frames(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    peer.garbage_next = b"\x00\xff\x13noise$OK 9"  # line noise, then a truncated frame
    await pilot.set_current_limit(16.0)
    peer.split_next = 1  # the reply arrives in 3-byte pieces
    await pilot.set_current_limit(8.0)
    assert peer.capacity == 8
    assert pilot.counters.garbage_bytes == len(b"\x00\xff\x13noise$OK 9")
    assert pilot.counters.bad_frames == 0 and pilot.counters.retries == 0


async def test_a_notification_before_the_reply_is_routed_to_the_updates(rig: Rig) -> None:
    updates = aiter(rig.pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        rig.peer.show_before_reply = [PilotState.B]  # $AT arrives between $SC and its $OK
        await rig.pilot.set_current_limit(16.0)
        assert rig.peer.capacity == 16
        assert await next_status(updates) == PilotStatus(PilotState.B)
    finally:
        await close(updates)


async def test_notifications_older_than_the_first_state_are_not_replayed(rig: Rig) -> None:
    rig.peer.show_before_reply = [PilotState.B, PilotState.A]  # plugged and unplugged while $GS is answered
    updates = aiter(rig.pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        await rig.peer.show(PilotState.C)
        assert await next_status(updates) == PilotStatus(PilotState.C)  # not the stale B
    finally:
        await close(updates)


async def test_legacy_st_notification_triggers_a_state_query(rig: Rig) -> None:
    updates = aiter(rig.pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        rig.peer.ev = PilotState.C  # changed without an $AT; old firmware says only "$ST 3"
        await rig.peer.send_raw(b"$ST 03\r")
        assert await next_status(updates) == PilotStatus(PilotState.C)
    finally:
        await close(updates)


async def test_timeout_then_the_next_command_works(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    peer.drop_next = 1
    with pytest.raises(DeviceTimeout) as caught:
        await pilot.set_current_limit(16.0)
    assert isinstance(caught.value, TimeoutError) and pilot.counters.timeouts == 1
    await pilot.set_current_limit(10.0)
    assert peer.capacity == 10


async def test_unplug_then_replug_reapplies_the_last_limit(rig: Rig) -> None:
    pilot, peer, pair = rig.pilot, rig.peer, rig.pair
    await pilot.set_enabled(True)
    await pilot.set_current_limit(16.0)
    updates = aiter(pilot.status_updates())
    assert await next_status(updates) == PilotStatus(PilotState.A)
    await pair.unplug()
    with pytest.raises(DeviceUnavailable):
        await next_status(updates)
    with pytest.raises(DeviceUnavailable):  # the port is not there while unplugged
        await pilot.set_current_limit(16.0)
    await peer.reboot(announce=False)  # power lost meanwhile: its $AB went nowhere
    peer.ev = PilotState.B
    assert peer.capacity == 32
    await pair.replug()
    await peer.start()
    updates = aiter(pilot.status_updates())  # what the station's supervisor does after a delay
    try:
        assert await next_status(updates) == PilotStatus(PilotState.B)
        assert peer.capacity == 16 and await peer.offered_a() == 16.0
        assert pilot.counters.reopens == 1
        await peer.show(PilotState.C)
        assert await next_status(updates) == PilotStatus(PilotState.C)
    finally:
        await close(updates)


async def test_controller_reboot_reapplies_limit_and_enable(rig: Rig) -> None:
    pilot, peer = rig.pilot, rig.peer
    updates = aiter(pilot.status_updates())
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        await pilot.set_current_limit(16.0)
        await peer.reboot()  # $AB 00 <fw>: capacity back to 32 in EEPROM
        await peer.wait_until(lambda: peer.commands[-1] == "GS")
        assert peer.capacity == 16 and pilot.counters.boots == 1
        await pilot.set_enabled(False)
        await peer.reboot()  # comes back enabled; the driver disables it again
        await peer.wait_until(lambda: peer.commands[-1] == "GS")
        assert not await peer.enabled() and peer.capacity == 16
        statuses = [await next_status(updates) for _ in range(3)]
        assert statuses[-1] == PilotStatus(PilotState.F)
    finally:
        await close(updates)


async def test_no_port_is_device_unavailable(tmp_path: Path) -> None:
    pilot = create_openevse({"port": str(tmp_path / "nothing")})
    try:
        with pytest.raises(DeviceUnavailable):
            await anext(aiter(pilot.status_updates()))
    finally:
        await pilot.close()


# -- options ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "port"),
        ({"port": ""}, "port"),
        ({"port": "/dev/ttyS1", "baud": 9600}, "baud"),
        ({"port": "/dev/ttyS1", "baudrate": "fast"}, "baudrate"),
        ({"port": "/dev/ttyS1", "timeout_s": 0}, "timeout_s"),
        ({"port": "/dev/ttyS1", "name": 3}, "name"),
    ],
)
def test_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=rf"^{key}: "):
        create_openevse(options)


def test_options_and_defaults() -> None:
    pilot = create_openevse({"driver": "openevse", "port": "socket://127.0.0.1:1", "name": "evse1"})
    assert (pilot.name, pilot.timeout_s, pilot.supports_phase_switching) == ("evse1", 0.5, False)

"""The Modbus meter driver against real pymodbus servers (pty pair, Modbus TCP, RTU over TCP)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import math
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus import bus as modbus_bus
from drivers.modbus.bus import LineSettings
from drivers.modbus.meter import ModbusMeter, create_meter
from drivers.modbus.model import (
    ModelError,
    ReadBlock,
    Register,
    RegisterType,
    WordOrder,
    builtin_model_names,
    decode_words,
    load_builtin_model,
    load_model,
    parse_model,
)
from drivers.options import OptionError
from hal.errors import DeviceProtocolError, DeviceTimeout, DeviceUnavailable
from hal.meter import Meter
from hal.types import MeterSample
from tests.drivers.modbus_peer import SAMPLE_VALUES, ModbusPeer, Request, SimMeter, encode_value

MODELS = builtin_model_names()
BOUND_S = 10  # every wait in these tests is bounded
FAST_S = 0.1


@pytest.fixture(autouse=True)
def no_leaked_bus() -> Iterator[None]:
    yield
    assert modbus_bus.open_buses() == [], "a test left a bus share open"


@pytest.fixture
async def sdm630() -> AsyncIterator[tuple[ModbusPeer, SimMeter, ModbusMeter]]:
    sim = SimMeter(load_builtin_model("eastron_sdm630"), unit=1)
    async with ModbusPeer([sim]) as peer:
        # A short timeout keeps the fault tests fast; the dead-meter test uses the defaults.
        meter = create_meter(
            {"model": "eastron_sdm630", "port": peer.port, "timeout_s": FAST_S}, phases=3
        )
        try:
            yield peer, sim, meter
        finally:
            await meter.close()


async def read(meter: ModbusMeter) -> MeterSample:
    async with asyncio.timeout(BOUND_S):
        return await meter.read()


def expected(key: str) -> float:
    return SAMPLE_VALUES[key]


def approx(value: float | tuple[float, ...]) -> object:
    return pytest.approx(value, rel=1e-6, abs=1e-9)


# --- decoding, independent of any server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "kind", "order", "value"),
    [
        ((0x4366, 0x0000), RegisterType.FLOAT32, WordOrder.BIG, 230.0),
        ((0x0000, 0x4366), RegisterType.FLOAT32, WordOrder.LITTLE, 230.0),
        ((0x2345, 0x0001), RegisterType.INT32, WordOrder.LITTLE, 0x00012345),
        ((0x0001, 0x2345), RegisterType.UINT32, WordOrder.BIG, 0x00012345),
        ((0xFFFF,), RegisterType.INT16, WordOrder.BIG, -1),
        ((0xFFFF,), RegisterType.UINT16, WordOrder.BIG, 65535),
        ((0x0000, 0x0000, 0x0012, 0xD687), RegisterType.UINT64, WordOrder.BIG, 1234567),
        ((0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF), RegisterType.INT64, WordOrder.LITTLE, -2),
    ],
)
def test_decode_words_matches_hand_computed_registers(
    words: tuple[int, ...], kind: RegisterType, order: WordOrder, value: float
) -> None:
    assert decode_words(words, kind, order) == value


def _register(kind: RegisterType, *, sentinel: bool, order: WordOrder = WordOrder.BIG) -> Register:
    model = parse_model(
        {
            "name": "t",
            "phases": 1,
            "registers": {
                "Energy.Active.Import.Register": {
                    "function": 3,
                    "address": 0,
                    "type": kind.value,
                    "word_order": order.value,
                    "unit": "Wh",
                    "unsupported_sentinel": sentinel,
                }
            },
        },
        "test.toml",
    )
    return model.registers[0]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (RegisterType.UINT32, (0xFFFF, 0xFFFF)),
        (RegisterType.INT32, (0x7FFF, 0xFFFF)),
        (RegisterType.INT16, (0x7FFF,)),
        (RegisterType.UINT64, (0xFFFF,) * 4),
    ],
)
def test_abb_unsupported_sentinel_reads_as_none(kind: RegisterType, words: tuple[int, ...]) -> None:
    # HARDWARE.md §1.2: an unsupported ABB register reads all-ones, or 0x7FFF... when signed.
    assert _register(kind, sentinel=True).decode(words) is None
    assert _register(kind, sentinel=False).decode(words) is not None


def test_float_nan_is_none() -> None:
    nan_words = struct.unpack(">HH", struct.pack(">f", math.nan))
    assert _register(RegisterType.FLOAT32, sentinel=False).decode(nan_words) is None


@given(
    kind=st.sampled_from(list(RegisterType)),
    order=st.sampled_from(list(WordOrder)),
    data=st.data(),
)
def test_peer_encoding_round_trips_through_the_decoder(
    kind: RegisterType, order: WordOrder, data: st.DataObject
) -> None:
    reg = _register(kind, sentinel=False, order=order)
    bits = 16 * kind.words
    exact = 1 << 53  # values come out as float: integers are exact up to 2**53
    if kind.is_float:
        width: Literal[32, 64] = 32 if kind is RegisterType.FLOAT32 else 64
        value = data.draw(st.floats(allow_nan=False, allow_infinity=False, width=width))
    elif kind.is_signed:
        value = data.draw(
            st.integers(max(-(1 << (bits - 1)), -exact), min((1 << (bits - 1)) - 1, exact))
        )
    else:
        value = data.draw(st.integers(0, min((1 << bits) - 1, exact)))
    decoded = reg.decode(encode_value(reg, float(value) if kind.is_float else value))
    assert decoded == value


@given(
    words=st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
    kind=st.sampled_from(list(RegisterType)),
)
def test_decoder_accepts_any_register_words(words: list[int], kind: RegisterType) -> None:
    for order in WordOrder:
        value = _register(kind, sentinel=True, order=order).decode(words[: kind.words])
        assert value is None or math.isfinite(value)


# --- model files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_every_shipped_model_loads_and_reads_within_its_limit(name: str) -> None:
    model = load_builtin_model(name)
    assert model.register("Energy.Active.Import.Register") is not None
    assert all(block.count <= model.max_registers_per_read for block in model.plan)


def test_shipped_models_are_the_ones_asked_for() -> None:
    assert set(MODELS) == {
        "eastron_sdm630",
        "eastron_sdm72d",
        "eastron_sdm120",
        "eastron_sdm230",
        "abb_b23",
        "abb_b24",
        "carlo_gavazzi_em340",
    }


def test_sdm630_main_block_is_planned_as_one_80_register_read() -> None:
    # HARDWARE.md §1.1: 80 registers per request; 0x0000..0x004F is the main block.
    assert load_builtin_model("eastron_sdm630").plan == (
        ReadBlock(function=4, address=0, count=80),
    )


def _tiny_model(**top: object) -> dict[str, object]:
    return {
        "name": "Tiny",
        "phases": 1,
        "defaults": {"function": 4, "type": "float32"},
        "registers": {
            "Voltage.L1": {"address": 0, "unit": "V"},
            "Current.Import.L1": {"address": 10, "unit": "A"},
            "Energy.Active.Import.Register": {"address": 40, "unit": "kWh"},
        },
        **top,
    }


def test_plan_respects_gap_and_size_limits() -> None:
    assert parse_model(_tiny_model(max_read_gap=40), "t").plan == (ReadBlock(4, 0, 42),)
    assert parse_model(_tiny_model(max_read_gap=8), "t").plan == (
        ReadBlock(4, 0, 12),
        ReadBlock(4, 40, 2),
    )
    assert parse_model(_tiny_model(max_read_gap=0), "t").plan == (
        ReadBlock(4, 0, 2),
        ReadBlock(4, 10, 2),
        ReadBlock(4, 40, 2),
    )
    assert parse_model(_tiny_model(max_read_gap=40, max_registers_per_read=20), "t").plan == (
        ReadBlock(4, 0, 12),
        ReadBlock(4, 40, 2),
    )


V1 = 'registers."Voltage.L1"'
ENERGY = '"Energy.Active.Import.Register"'


@pytest.mark.parametrize(
    ("top", "registers", "key"),
    [
        ({}, {"Voltage.L1": {"address": 0, "unit": "V", "type": "flaot32"}}, f"{V1}.type"),
        ({}, {"Volts": {"address": 0}}, "registers.Volts"),
        ({"phases": 2}, {}, "phases"),
        ({"colour": "red"}, {}, "colour"),
        ({"max_registers_per_read": 200}, {}, "max_registers_per_read"),
        ({"defaults": {"function": 5}}, {}, "defaults.function"),
        ({}, {"Energy.Active.Import.Register": {"address": 40}}, f"registers.{ENERGY}.unit"),
        ({}, {"Voltage.L3": {"address": 20, "unit": "V"}}, 'registers."Voltage.L3"'),
        ({}, {"Frequency": {"address": 20, "unit": "kHz"}}, "registers.Frequency.unit"),
        ({}, {"Voltage.L1": {"address": 0x10000, "unit": "V"}}, f"{V1}.address"),
        ({}, {"Voltage.L1": {"address": 0, "unit": "V", "word_order": "BADC"}}, f"{V1}.word_order"),
        ({}, {"Voltage.L1": {"address": 0, "unit": "V", "scale": 0}}, f"{V1}.scale"),
        ({}, {"Voltage.L1": {"address": 0, "unit": "V", "colour": 1}}, f"{V1}.colour"),
        ({"serial": {"baudrate": 9601}}, {}, "serial.baudrate"),
    ],
)
def test_model_errors_name_the_file_and_the_key(
    top: dict[str, object], registers: dict[str, object], key: str
) -> None:
    data = _tiny_model(**top)
    data["registers"] = {**_tiny_model()["registers"], **registers}  # type: ignore[dict-item]
    with pytest.raises(ModelError) as caught:
        parse_model(data, "/etc/meters/tiny.toml")
    assert str(caught.value).startswith(f"/etc/meters/tiny.toml: {key}:"), str(caught.value)


def test_missing_energy_register_is_rejected() -> None:
    data = _tiny_model()
    data["registers"] = {"Voltage.L1": {"address": 0, "unit": "V"}}
    with pytest.raises(ModelError, match=r"^t\.toml: registers: missing \"Energy"):
        parse_model(data, "t.toml")


def test_overlapping_registers_are_rejected() -> None:
    data = _tiny_model()
    data["registers"] = {**data["registers"], "Frequency": {"address": 1, "unit": "Hz"}}  # type: ignore[dict-item]
    with pytest.raises(ModelError, match=r"registers\.Frequency\.address: overlaps 'Voltage.L1'"):
        parse_model(data, "t.toml")


def test_model_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nphases = [\n')
    with pytest.raises(ModelError, match=r"broken\.toml: \(syntax\)"):
        load_model(broken)
    with pytest.raises(ModelError, match=r"missing\.toml: \(file\): cannot read"):
        load_model(tmp_path / "missing.toml")


# --- options -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "phases", "key"),
    [
        ({"model": "eastron_sdm630", "port": "/dev/ttyUSB0", "baud": 9600}, 3, "baud"),
        ({"model": "eastron_sdm999", "port": "/dev/ttyUSB0"}, 3, "model"),
        ({"model": "generic", "port": "/dev/ttyUSB0"}, 3, "register_map"),
        (
            {"model": "eastron_sdm630", "register_map": "/x.toml", "port": "/dev/ttyUSB0"},
            3,
            "register_map",
        ),
        ({"model": "eastron_sdm630", "port": "loop://"}, 3, "port"),
        ({"model": "eastron_sdm630"}, 3, "port"),
        ({"model": "eastron_sdm630", "port": "tcp://10.0.0.7", "baudrate": 9600}, 3, "baudrate"),
        ({"model": "eastron_sdm630", "port": "/dev/ttyUSB0", "parity": "X"}, 3, "parity"),
        ({"model": "eastron_sdm630", "port": "/dev/ttyUSB0", "unit": 0}, 3, "unit"),
        ({"model": "eastron_sdm630", "port": "/dev/ttyUSB0", "timeout_s": "fast"}, 3, "timeout_s"),
        ({"model": "eastron_sdm120", "port": "/dev/ttyUSB0"}, 3, "phases"),
    ],
)
def test_option_errors_name_the_key(options: dict[str, object], phases: int, key: str) -> None:
    with pytest.raises(OptionError, match=rf"^{key}: "):
        create_meter(options, phases=phases)


def test_line_timing_follows_the_serial_line_spec() -> None:
    # Modbus over serial line V1.02 §2.5.1.1; HARDWARE.md §2 table.
    line = LineSettings(port="/dev/x", baudrate=9600)
    assert line.t35_s == pytest.approx(3.646e-3, rel=1e-3)
    assert line.default_inter_frame_delay_s == pytest.approx(3.646e-3 + 0.005, rel=1e-3)
    assert LineSettings(port="/dev/x", baudrate=9600, parity="E").t35_s == pytest.approx(
        4.010e-3, rel=1e-3
    )
    assert LineSettings(port="/dev/x", baudrate=38400).t35_s == pytest.approx(1.75e-3)
    assert LineSettings(port="tcp://h:502", tcp=True).default_inter_frame_delay_s == 0


async def test_pymodbus_defaults_are_overridden() -> None:
    meter = create_meter({"model": "eastron_sdm630", "port": "/dev/ttyUSB0"}, phases=3)
    await meter.close()
    settings = meter.device.settings
    assert (settings.timeout_s, settings.retries) == (0.4, 1)  # pymodbus: 3 s x 3 retries
    assert settings.inter_frame_delay_s == pytest.approx(max(3.5 * 10 / 9600, 0.00175) + 0.005)


# --- against real pymodbus servers -------------------------------------------------------------------


def _check_sample(meter: ModbusMeter, sample: MeterSample) -> None:
    model, phases = meter.model, meter.phases
    assert sample.energy_wh == approx(expected("Energy.Active.Import.Register"))
    assert sample.energy_export_wh == approx(expected("Energy.Active.Export.Register"))
    assert sample.power_w == approx(expected("Power.Active.Import"))
    assert sample.frequency_hz == approx(expected("Frequency"))
    assert sample.power_factor == approx(expected("Power.Factor"))
    assert sample.soc_percent is None
    for field, measurand in (("current_a", "Current.Import"), ("voltage_v", "Voltage")):
        want = tuple(expected(f"{measurand}.L{i}") for i in range(1, phases + 1))
        assert getattr(sample, field) == pytest.approx(want, rel=1e-6), (model.name, field)


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
@pytest.mark.parametrize("name", MODELS)
async def test_each_model_decodes_over_rtu_and_modbus_tcp(name: str, transport: str) -> None:
    model = load_builtin_model(name)
    sim = SimMeter(model, unit=7)
    async with ModbusPeer([sim], transport=transport) as peer:  # type: ignore[arg-type]
        meter = create_meter({"model": name, "port": peer.port, "unit": 7}, phases=model.phases)
        try:
            assert isinstance(meter, Meter)
            _check_sample(meter, await read(meter))
        finally:
            await meter.close()
    # Exactly the planned requests reached the meter: one per block, none above the device's limit.
    assert peer.requests == [
        Request(7, block.function, block.address, block.count) for block in model.plan
    ]


async def test_sdm630_reads_its_main_block_in_one_80_register_request(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    peer, _, meter = sdm630
    await read(meter)
    assert peer.requests == [Request(unit=1, function=4, address=0x0000, count=80)]


async def test_values_that_change_are_read_fresh(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    _, sim, meter = sdm630
    first = await read(meter)
    sim.set("Energy.Active.Import.Register", 12_400_000.0)
    sim.set("Current.Import.L2", 6.5)
    second = await read(meter)
    assert second.energy_wh == approx(12_400_000.0) and second.energy_wh > first.energy_wh
    assert second.current_a is not None and second.current_a[1] == approx(6.5)


async def test_not_available_registers_read_as_none_over_the_wire() -> None:
    model = load_builtin_model("abb_b23")
    sim = SimMeter(model, values={**SAMPLE_VALUES, "Power.Factor": None, "Current.Import.L2": None})
    async with ModbusPeer([sim]) as peer:
        meter = create_meter({"model": "abb_b23", "port": peer.port}, phases=3)
        try:
            sample = await read(meter)
        finally:
            await meter.close()
    assert sample.power_factor is None
    assert sample.current_a is None  # one phase missing: no partial tuple
    assert meter.last_values["Current.Import.L1"] == approx(16.01)


async def test_three_phase_meter_on_a_single_phase_evse_reports_l1() -> None:
    sim = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([sim]) as peer:
        meter = create_meter({"model": "eastron_sdm630", "port": peer.port}, phases=1)
        try:
            sample = await read(meter)
        finally:
            await meter.close()
    assert sample.current_a == approx((16.01,)) and sample.voltage_v == approx((230.1,))


async def test_dead_meter_raises_device_timeout() -> None:
    # With the default settings (0.4 s + wire time, one retry): about a second, not pymodbus' 12 s.
    sim = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([sim]) as peer:
        meter = create_meter({"model": "eastron_sdm630", "port": peer.port}, phases=3)
        try:
            await read(meter)
            sim.dead = True
            with pytest.raises(DeviceTimeout):
                await read(meter)
            assert meter.counters.timeouts == 2  # the attempt and its one retry
            assert meter.counters.failures == 1
            sim.dead = False
            await read(meter)  # and it is read again once it answers
        finally:
            await meter.close()


async def test_exception_reply_raises_protocol_error_without_retry(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    peer, sim, meter = sdm630
    sim.exception_code = 4  # server device failure
    with pytest.raises(DeviceProtocolError, match="exception reply 4"):
        await read(meter)
    assert meter.counters.exception_replies == 1
    assert len(peer.requests) == 1  # a deliberate answer is not retried
    sim.exception_code = None
    await read(meter)


async def test_crc_error_is_counted_then_retried(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    peer, sim, meter = sdm630
    sim.corrupt_next = 1
    _check_sample(meter, await read(meter))
    assert meter.counters.protocol_errors == 1
    assert meter.counters.failures == 0
    assert len(peer.requests) == 2  # the garbled answer's request was sent again


async def test_garbage_on_the_line_is_counted_then_a_good_read_succeeds(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    _, sim, meter = sdm630
    sim.garbage_next = b"\x00\xff\x13\x37\x01"
    _check_sample(meter, await read(meter))
    assert meter.counters.protocol_errors >= 1
    errors = meter.counters.protocol_errors
    _check_sample(meter, await read(meter))
    assert meter.counters.protocol_errors == errors  # a clean line adds nothing


async def test_garbled_every_time_is_a_protocol_error_not_a_timeout(
    sdm630: tuple[ModbusPeer, SimMeter, ModbusMeter],
) -> None:
    _, sim, meter = sdm630
    sim.corrupt_next = 2
    with pytest.raises(DeviceProtocolError, match="garbled"):
        await read(meter)
    assert meter.counters.protocol_errors == 2 and meter.counters.timeouts == 0


@pytest.mark.parametrize(
    ("transport", "while_stopped"),
    [
        ("rtu", (DeviceTimeout,)),  # the cable stays: a silent meter
        (
            "tcp",
            (DeviceUnavailable, DeviceTimeout),
        ),  # the endpoint is gone (or goes during the read)
        ("rtu_over_tcp", (DeviceUnavailable, DeviceTimeout)),
    ],
)
async def test_meter_that_comes_back_is_read_again(
    transport: str, while_stopped: tuple[type[Exception], ...]
) -> None:
    sim = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([sim], transport=transport) as peer:  # type: ignore[arg-type]
        meter = create_meter(
            {"model": "eastron_sdm630", "port": peer.port, "timeout_s": FAST_S}, phases=3
        )
        try:
            await read(meter)
            await peer.stop()
            with pytest.raises(while_stopped):
                await read(meter)
            await peer.start()
            _check_sample(meter, await read(meter))
        finally:
            await meter.close()


async def test_missing_port_is_device_unavailable(tmp_path: Path) -> None:
    meter = create_meter({"model": "eastron_sdm630", "port": str(tmp_path / "ttyUSB9")}, phases=3)
    try:
        with pytest.raises(DeviceUnavailable, match="no such port"):
            await read(meter)
    finally:
        await meter.close()


async def test_two_meters_on_one_line_share_one_bus() -> None:
    sdm = SimMeter(load_builtin_model("eastron_sdm630"), unit=1)
    em = SimMeter(load_builtin_model("carlo_gavazzi_em340"), unit=2)
    em.set("Energy.Active.Import.Register", 777_700.0)
    async with ModbusPeer([sdm, em]) as peer:
        first = create_meter({"model": "eastron_sdm630", "port": peer.port, "unit": 1}, phases=3)
        second = create_meter(
            {"model": "carlo_gavazzi_em340", "port": peer.port, "unit": 2}, phases=3
        )
        try:
            assert first.bus is second.bus
            assert modbus_bus.open_buses() == [first.bus]
            async with asyncio.timeout(BOUND_S):
                a, b = await asyncio.gather(first.read(), second.read())  # serialised by the bus
            assert a.energy_wh == approx(12_345_600.0)
            assert b.energy_wh == approx(777_700.0)
            assert {req.unit for req in peer.requests} == {1, 2}
            with pytest.raises(OptionError, match="same settings"):
                create_meter(
                    {"model": "eastron_sdm120", "port": peer.port, "unit": 3}, phases=1
                )  # 2400
        finally:
            await first.close()
            assert first.bus.shares == 1  # the second meter still holds the line
            await second.close()


async def test_one_line_named_by_two_paths_is_one_bus(tmp_path: Path) -> None:
    # /dev/serial/by-id/... is a symlink to /dev/ttyUSBn: two owners would fight over one port.
    sdm = SimMeter(load_builtin_model("eastron_sdm630"), unit=1)
    em = SimMeter(load_builtin_model("carlo_gavazzi_em340"), unit=2)
    async with ModbusPeer([sdm, em]) as peer:
        alias = tmp_path / "usb-FTDI_RS485-if00"
        alias.symlink_to(peer.port)
        first = create_meter({"model": "eastron_sdm630", "port": peer.port, "unit": 1}, phases=3)
        second = create_meter(
            {"model": "carlo_gavazzi_em340", "port": str(alias), "unit": 2}, phases=3
        )
        try:
            assert first.bus is second.bus
            await read(first)
            await read(second)
        finally:
            await first.close()
            await second.close()


async def test_inter_frame_delay_separates_requests() -> None:
    # pymodbus inserts no silence between frames (issue #2827); the bus must. ABB needs two requests.
    sim = SimMeter(load_builtin_model("abb_b23"))
    async with ModbusPeer([sim]) as peer:
        meter = create_meter(
            {"model": "abb_b23", "port": peer.port, "inter_frame_delay_s": 0.05}, phases=3
        )
        try:
            await read(meter)
        finally:
            await meter.close()
    assert len(peer.requests) == 2 and len(peer.replied_at) == 2
    assert peer.requests[1].received_at - peer.replied_at[0] >= 0.05 * 0.95


async def test_generic_meter_reads_the_installers_register_map(tmp_path: Path) -> None:
    # A Phoenix EEM-350-like map (HARDWARE.md §1.4): FC04, INT32 low word first, fixed point.
    path = tmp_path / "my_meter.toml"
    path.write_text(
        'name = "Installer meter"\nphases = 1\nmax_registers_per_read = 11\nmax_read_gap = 60\n'
        '[defaults]\nfunction = 4\ntype = "int32"\nword_order = "CDAB"\n'
        "[registers]\n"
        '"Voltage" = { address = 0x00, scale = 0.1, unit = "V" }\n'
        '"Current.Import.L1" = { address = 0x0C, scale = 0.001, unit = "A" }\n'
        '"Power.Active.Import" = { address = 0x28, scale = 0.1, unit = "W" }\n'
        '"Energy.Active.Import.Register" = { address = 0x3E, scale = 0.1, unit = "kWh" }\n'
    )
    sim = SimMeter(load_model(path), unit=5, values={**SAMPLE_VALUES, "Voltage": 230.0})
    async with ModbusPeer([sim], transport="tcp") as peer:
        options = {"model": "generic", "register_map": str(path), "port": peer.port, "unit": 5}
        meter = create_meter(options, phases=1)
        try:
            sample = await read(meter)
        finally:
            await meter.close()
    assert sample.energy_wh == approx(12_345_600.0) and sample.current_a == approx((16.01,))
    assert sample.voltage_v == approx((230.0,))  # "Voltage" without a phase is L1 on one phase
    assert all(req.count <= 11 for req in peer.requests)  # the file's per-request limit


def test_generic_meter_with_a_bad_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "x"\nphases = 1\n[registers]\n"Energy.Active.Import.Register" = {address = 1}\n'
    )
    where = r"bad\.toml: registers\.\"Energy\.Active\.Import\.Register\"\.function"
    with pytest.raises(ModelError, match=where):
        create_meter(
            {"model": "generic", "register_map": str(path), "port": "/dev/ttyUSB0"}, phases=1
        )


def test_registry_lists_every_model_and_the_relay() -> None:
    import drivers.registry  # noqa: F401  (registers on import)
    from hal import registry

    assert set(registry.names("meter")) >= {*MODELS, "generic"}
    assert "modbus_relay" in registry.names("contactor")
    assert registry.load("meter", "eastron_sdm630") is create_meter


async def test_shared_hal_meter_contract() -> None:
    if importlib.util.find_spec("tests.hal.contract") is None:
        pytest.skip("tests/hal/contract.py is not written yet")
    contract = importlib.import_module("tests.hal.contract")
    check = getattr(contract, "check_meter_contract", None)
    if check is None:
        pytest.skip("tests/hal/contract.py has no check_meter_contract")
    sim = SimMeter(load_builtin_model("eastron_sdm630"))
    async with ModbusPeer([sim]) as peer:
        meter = create_meter({"model": "eastron_sdm630", "port": peer.port}, phases=3)
        try:
            result = check(meter)
            if inspect.isawaitable(result):
                async with asyncio.timeout(BOUND_S * 3):
                    await result
        finally:
            await meter.close()

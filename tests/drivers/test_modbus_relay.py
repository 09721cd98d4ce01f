"""The Modbus relay-module contactor against a real pymodbus server (coils FC05/FC01, mirror contact FC02)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
from collections.abc import Iterator

import pytest

from drivers.modbus import bus as modbus_bus
from drivers.modbus.meter import create_meter
from drivers.modbus.model import load_builtin_model
from drivers.modbus.relay import ModbusRelay, create_relay
from drivers.options import OptionError
from hal.contactor import Contactor
from hal.errors import DeviceFault, DeviceProtocolError, DeviceTimeout
from tests.drivers.modbus_peer import ModbusPeer, SimMeter, SimRelay

BOUND_S = 10


@pytest.fixture(autouse=True)
def no_leaked_bus() -> Iterator[None]:
    yield
    assert modbus_bus.open_buses() == [], "a test left a bus share open"


def relay_options(port: str, **extra: object) -> dict[str, object]:
    return {"driver": "modbus_relay", "port": port, "unit": 3, "timeout_s": 0.1, **extra}


async def test_coil_write_and_read_back_without_feedback() -> None:
    sim = SimRelay(unit=3, coil=2)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port, coil=2))
        try:
            assert isinstance(relay, Contactor) and relay.has_feedback is False
            async with asyncio.timeout(BOUND_S):
                await relay.set_closed(True)
                assert sim.coils[2] is True
                assert await relay.is_closed() is True
                await relay.set_closed(False)
                assert sim.coils[2] is False
                assert await relay.is_closed() is False
        finally:
            await relay.close()
    assert [(r.function, r.address) for r in peer.requests] == [
        (5, 2),
        (1, 2),
        (5, 2),
        (1, 2),
        (5, 2),
    ]


async def test_is_closed_reads_the_module_not_a_remembered_command() -> None:
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port))
        try:
            async with asyncio.timeout(BOUND_S):
                await relay.set_closed(True)
                sim.coils[0] = False  # the module was power-cycled and dropped its outputs
                assert await relay.is_closed() is False
        finally:
            await relay.close()


@pytest.mark.parametrize(
    ("options", "sim_kwargs"),
    [
        ({"feedback": "discrete_input", "feedback_address": 4}, {"feedback_input": 4}),
        ({"feedback": "coil", "feedback_address": 9}, {"feedback_coil": 9}),
    ],
)
async def test_feedback_that_follows_is_accepted(
    options: dict[str, object], sim_kwargs: dict[str, int]
) -> None:
    sim = SimRelay(unit=3, **sim_kwargs)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port, **options))
        try:
            assert relay.has_feedback
            async with asyncio.timeout(BOUND_S):
                await relay.set_closed(True)
                assert await relay.is_closed() is True
                await relay.set_closed(False)
                assert await relay.is_closed() is False
        finally:
            await relay.close()
    feedback_fc = 2 if options["feedback"] == "discrete_input" else 1
    assert any(
        r.function == feedback_fc and r.address == options["feedback_address"]
        for r in peer.requests
    )


@pytest.mark.parametrize(
    ("stuck", "command"), [(True, False), (False, True)], ids=["welded", "stuck-open"]
)
async def test_feedback_mismatch_raises_device_fault(stuck: bool, command: bool) -> None:
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port, feedback="discrete_input", settle_s=0.05))
        try:
            async with asyncio.timeout(BOUND_S):
                await relay.set_closed(not command)
                sim.stuck = stuck
                with pytest.raises(DeviceFault, match="did not follow"):
                    await relay.set_closed(command)
                assert await relay.is_closed() is stuck  # the mirror contact tells the truth
        finally:
            sim.stuck = None
            await relay.close()


async def test_inverted_mirror_contact() -> None:
    # A normally-closed auxiliary contact reads 1 while the main contacts are open.
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(
            relay_options(
                peer.port, feedback="discrete_input", feedback_inverted=True, settle_s=0.05
            )
        )
        try:
            async with asyncio.timeout(BOUND_S):
                with pytest.raises(DeviceFault):  # the simulated contact is normally open
                    await relay.set_closed(True)
        finally:
            await relay.close()


async def test_relay_and_meter_share_the_rs485_line() -> None:
    meter_sim = SimMeter(load_builtin_model("eastron_sdm630"), unit=1)
    relay_sim = SimRelay(unit=3)
    async with ModbusPeer([meter_sim, relay_sim]) as peer:
        meter = create_meter({"model": "eastron_sdm630", "port": peer.port}, phases=3)
        relay = create_relay(relay_options(peer.port))
        try:
            assert relay.bus is meter.bus
            async with asyncio.timeout(BOUND_S):
                _, sample = await asyncio.gather(relay.set_closed(True), meter.read())
            assert relay_sim.coils[0] is True and sample.energy_wh > 0
        finally:
            await relay.close()
            await meter.close()
    assert {(r.unit, r.function) for r in peer.requests} >= {(3, 5), (1, 4)}


async def test_close_opens_the_contactor_and_releases_the_bus() -> None:
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port))
        async with asyncio.timeout(BOUND_S):
            await relay.set_closed(True)
            await relay.close()
        assert sim.coils[0] is False
        assert modbus_bus.open_buses() == []


async def test_relay_errors_are_hal_errors() -> None:
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay = create_relay(relay_options(peer.port))
        try:
            async with asyncio.timeout(BOUND_S):
                sim.exception_code = 1
                with pytest.raises(DeviceProtocolError, match="exception reply 1"):
                    await relay.set_closed(True)
                sim.exception_code = None
                sim.dead = True
                with pytest.raises(DeviceTimeout):
                    await relay.set_closed(True)
                sim.dead = False
                await relay.set_closed(True)
                assert relay.counters.exception_replies == 1 and relay.counters.timeouts == 2
        finally:
            await relay.close()


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"feedback": "aux"}, "feedback"),
        ({"feedback_address": 3}, "feedback"),
        ({"coil": -1}, "coil"),
        ({"settle_s": "slow"}, "settle_s"),
        ({"relay": 1}, "relay"),
    ],
)
def test_relay_option_errors_name_the_key(extra: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=rf"^{key}: "):
        create_relay(relay_options("/dev/ttyUSB0", **extra))


async def test_shared_hal_contactor_contract() -> None:
    if importlib.util.find_spec("tests.hal.contract") is None:
        pytest.skip("tests/hal/contract.py is not written yet")
    contract = importlib.import_module("tests.hal.contract")
    check = getattr(contract, "check_contactor_contract", None)
    if check is None:
        pytest.skip("tests/hal/contract.py has no check_contactor_contract")
    sim = SimRelay(unit=3)
    async with ModbusPeer([sim]) as peer:
        relay: ModbusRelay = create_relay(relay_options(peer.port, feedback="discrete_input"))
        try:
            result = check(relay)
            if inspect.isawaitable(result):
                async with asyncio.timeout(BOUND_S * 3):
                    await result
        finally:
            await relay.close()

"""The simulated HAL passes the same contract checks as the real drivers (``tests/hal/contract.py``)."""

from __future__ import annotations

from hal.sim import build_sim_station
from hal.sim.devices import SimEvse
from hal.types import PilotState
from tests.hal.contract import (
    check_contactor_contract,
    check_lock_contract,
    check_meter_contract,
    check_pilot_contract,
    check_token_reader_contract,
)


class SimEvPeer:
    """The simulated EV, driven to a pilot state the way a tester would (plug, ev charge/pause)."""

    def __init__(self, evse: SimEvse) -> None:
        self.evse = evse

    async def show(self, state: PilotState) -> None:
        evse = self.evse

        def apply() -> None:
            evse.plugged = state is not PilotState.A
            evse.ev_wants = state is PilotState.C

        evse.change(apply)

    async def offered_a(self) -> float:
        return self.evse.limit_a

    async def enabled(self) -> bool:
        return self.evse.enabled


class SimCardPeer:
    def __init__(self, tap: object) -> None:
        self.tap = tap

    async def present(self, uid: bytes) -> None:
        self.tap(uid.hex().upper())  # type: ignore[operator]

    def uid(self, n: int) -> bytes:
        return bytes([0xDE, 0xAD, 0xBE, n])


async def test_sim_meter_contract() -> None:
    station = build_sim_station([(1, 32.0, 3)])
    await check_meter_contract(station.hardware.evses[0].meter)


async def test_sim_contactor_contract() -> None:
    station = build_sim_station([(1, 32.0, 1)])
    await check_contactor_contract(station.hardware.evses[0].contactor)


async def test_sim_pilot_contract() -> None:
    station = build_sim_station([(1, 32.0, 3)])
    await check_pilot_contract(station.hardware.evses[0].pilot, SimEvPeer(station.evse(1)))


async def test_sim_reader_contract() -> None:
    station = build_sim_station([(1, 32.0, 3)])
    await check_token_reader_contract(station.reader, SimCardPeer(station.reader.tap))


async def test_sim_lock_contract() -> None:
    station = build_sim_station([(1, 32.0, 3)])
    lock = station.hardware.evses[0].lock
    assert lock is not None
    await check_lock_contract(lock)
    assert station.evse(1).locked is False

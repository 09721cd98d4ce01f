"""The HAL contracts as executable checks, run over the simulated devices and over every real driver.

Each ``check_*`` function drives one device through what the core relies on and asserts what it sees. A
driver's test calls it with the driver pointed at its protocol peer (a pymodbus server, a RAPI or PN532
peer on a pseudo-terminal); ``tests/hal/test_contract_sim.py`` calls it with the simulated device. So both
behave the same to the core.

Devices whose behaviour is driven from the outside (the pilot, the token reader) take a *peer*: the thing
on the other end of the wire that the test controls (the simulated EV, a card held to the reader).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Protocol

from hal.contactor import Contactor
from hal.lock import ConnectorLock
from hal.meter import Meter
from hal.pilot import Pilot, PilotStatus
from hal.token_reader import TokenReader
from hal.types import MeterSample, PilotState

BOUND_S = 5.0
"""How long a contract step may wait for the device before the check fails."""


# -- meter ---------------------------------------------------------------------------------------------

def _check_sample(sample: MeterSample, phases: int) -> None:
    assert isinstance(sample, MeterSample)
    assert math.isfinite(sample.energy_wh) and sample.energy_wh >= 0, sample
    for name in ("current_a", "voltage_v"):
        values = getattr(sample, name)
        if values is not None:
            assert len(values) == phases, f"{name} has {len(values)} phases, the meter says {phases}"
            assert all(isinstance(v, float) and math.isfinite(v) for v in values), f"{name}={values}"
    for name in ("power_w", "frequency_hz", "power_factor", "soc_percent", "energy_export_wh"):
        value = getattr(sample, name)
        assert value is None or (isinstance(value, float) and math.isfinite(value)), f"{name}={value}"


async def check_meter_contract(meter: Meter) -> None:
    """A meter reports its phases, reads a complete sample, and its energy register never goes back."""
    assert isinstance(meter, Meter)
    assert meter.phases in (1, 3)
    async with asyncio.timeout(BOUND_S):
        first = await meter.read()
        second = await meter.read()
    _check_sample(first, meter.phases)
    _check_sample(second, meter.phases)
    assert second.energy_wh >= first.energy_wh, "the energy register went backwards"


# -- contactor -----------------------------------------------------------------------------------------

async def check_contactor_contract(contactor: Contactor) -> None:
    """Commands are followed and read back; repeating a command is harmless; ``close`` opens it."""
    assert isinstance(contactor, Contactor)
    assert isinstance(contactor.has_feedback, bool)
    async with asyncio.timeout(BOUND_S):
        for closed in (True, True, False, False, True):
            await contactor.set_closed(closed)
            assert await contactor.is_closed() is closed, f"commanded closed={closed}"
        await contactor.set_closed(False)
        assert await contactor.is_closed() is False


# -- connector lock ------------------------------------------------------------------------------------

async def check_lock_contract(lock: ConnectorLock) -> None:
    """Locking and unlocking return once the actuator is there; repeating a command is harmless."""
    assert isinstance(lock, ConnectorLock)
    async with asyncio.timeout(BOUND_S):
        for locked in (True, True, False, False):
            await lock.set_locked(locked)


# -- pilot ---------------------------------------------------------------------------------------------

class PilotPeer(Protocol):
    """The far side of the control pilot, as a test drives it."""

    async def show(self, state: PilotState) -> None:
        """Make the EV (and so the controller) go to ``state``: A unplugged, B plugged, C asking power."""
        ...

    async def offered_a(self) -> float:
        """The current the controller offers on the PWM now (0 when it offers none)."""
        ...

    async def enabled(self) -> bool:
        """Whether the controller is enabled (a disabled one shows the EV state F)."""
        ...


async def _next_status(updates: AsyncIterator[PilotStatus], want: PilotState) -> PilotStatus:
    """Skip updates until the pilot reports ``want`` (a driver may pass through states on the way)."""
    async with asyncio.timeout(BOUND_S):
        while True:
            status = await anext(updates)
            assert isinstance(status, PilotStatus)
            if status.state is want:
                return status


async def check_pilot_contract(pilot: Pilot, peer: PilotPeer) -> None:
    """Updates start with the current state and follow the EV; limit and enable reach the controller."""
    assert isinstance(pilot, Pilot)
    assert isinstance(pilot.supports_phase_switching, bool)
    await peer.show(PilotState.A)
    updates = aiter(pilot.status_updates())
    try:
        async with asyncio.timeout(BOUND_S):
            current = await anext(updates)  # the current state comes first, without waiting for a change
        assert current.state is PilotState.A, current
        await pilot.set_current_limit(16.0)
        assert await peer.offered_a() == 16.0
        await peer.show(PilotState.B)
        assert (await _next_status(updates, PilotState.B)).fault is None
        await peer.show(PilotState.C)
        await _next_status(updates, PilotState.C)
        await pilot.set_current_limit(10.0)
        assert await peer.offered_a() == 10.0
        await pilot.set_enabled(False)
        assert await peer.enabled() is False
        await _next_status(updates, PilotState.F)
        await pilot.set_enabled(True)
        assert await peer.enabled() is True
        await peer.show(PilotState.A)
        await _next_status(updates, PilotState.A)
    finally:
        close = getattr(updates, "aclose", None)
        if close is not None:
            await close()


# -- token reader --------------------------------------------------------------------------------------

class ReaderPeer(Protocol):
    """A card held to the reader, as a test drives it."""

    async def present(self, uid: bytes) -> None:
        """Hold a card with ``uid`` to the reader (once; the peer repeats it as a real reader would)."""
        ...

    def uid(self, n: int) -> bytes:
        """The ``n``-th test UID, as long as this technology has them (4 bytes ISO 14443A, 5 EM4100)."""
        ...


async def check_token_reader_contract(reader: TokenReader, peer: ReaderPeer) -> None:
    """A card is one upper-case hex token; the same card again within a second is not a second token."""
    assert isinstance(reader, TokenReader)
    assert isinstance(reader.name, str) and reader.name
    tokens = aiter(reader.tokens())
    first, second = peer.uid(1), peer.uid(2)
    try:
        await peer.present(first)
        async with asyncio.timeout(BOUND_S):
            assert await anext(tokens) == first.hex().upper()
        await peer.present(first)  # tapped again at once: debounced
        await peer.present(second)
        async with asyncio.timeout(BOUND_S):
            assert await anext(tokens) == second.hex().upper()
    finally:
        close = getattr(tokens, "aclose", None)
        if close is not None:
            await close()

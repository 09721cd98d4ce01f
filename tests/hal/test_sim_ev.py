"""The simulated HAL follows IEC 61851: the EV draws only with PWM offered, the contactor closed and state C;
the meter integrates energy over the injected clock; faults show where a real device would show them."""

from __future__ import annotations

import pytest

from hal.errors import DeviceFault, DeviceTimeout
from hal.sim import build_sim_station
from hal.types import FaultCode, PilotState


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_energy_is_integrated_only_while_the_ev_may_draw() -> None:
    clock = FakeClock()
    sim = build_sim_station([(1, 32.0, 3)], clock=clock)
    hw = sim.hardware.evses[0]
    await sim.command(["plug", "1"])
    assert sim.evse(1).pilot_status().state is PilotState.B  # no PWM yet
    await hw.pilot.set_current_limit(16)
    assert sim.evse(1).pilot_status().state is PilotState.C
    await hw.contactor.set_closed(True)
    clock.t += 3600
    sample = await hw.meter.read()
    assert sample.energy_wh == pytest.approx(11000)  # 11 kW EV, 16 A x 230 V x 3 = 11.04 kW available
    await hw.pilot.set_current_limit(8)
    clock.t += 3600
    assert (await hw.meter.read()).energy_wh == pytest.approx(11000 + 8 * 230 * 3)
    await sim.command(["ev", "1", "pause"])
    clock.t += 3600
    assert (await hw.meter.read()).energy_wh == pytest.approx(11000 + 8 * 230 * 3)


async def test_pilot_updates_start_with_the_current_state_then_follow() -> None:
    sim = build_sim_station([(1, 32.0, 1)])
    updates = sim.hardware.evses[0].pilot.status_updates()
    assert (await anext(updates)).state is PilotState.A
    await sim.command(["plug", "1"])
    assert (await anext(updates)).state is PilotState.B
    await sim.hardware.evses[0].pilot.set_enabled(False)
    assert (await anext(updates)).state is PilotState.F


async def test_faults_show_on_the_device_that_fails() -> None:
    sim = build_sim_station([(1, 32.0, 3)])
    hw = sim.hardware.evses[0]
    assert (await sim.command(["fault", "1", "PowerMeterFailure"]))["ok"] is True
    with pytest.raises(DeviceTimeout):
        await hw.meter.read()
    await sim.command(["fault", "1", "relay"])
    with pytest.raises(DeviceFault):
        await hw.contactor.set_closed(True)
    await sim.command(["fault", "1", "GroundFailure"])
    status = sim.evse(1).pilot_status()
    assert status.state is PilotState.F and status.fault is FaultCode.GROUND_FAILURE
    await sim.command(["clear", "1"])
    assert sim.evse(1).pilot_status().state is PilotState.A
    await hw.meter.read()


async def test_taps_are_debounced_and_bad_commands_are_errors() -> None:
    clock = FakeClock()
    sim = build_sim_station([(1, 32.0, 3)], clock=clock)
    assert (await sim.command(["tap", "aa11"]))["accepted"] is True
    assert (await sim.command(["tap", "AA11"]))["accepted"] is False
    clock.t += 1.5
    assert (await sim.command(["tap", "AA11"]))["accepted"] is True
    tokens = sim.reader.tokens()
    assert [await anext(tokens), await anext(tokens)] == ["AA11", "AA11"]
    for argv in (["plug", "9"], ["ev", "1", "fly"], ["power", "1", "-5"], ["fault", "1", "Nope"], ["x"]):
        reply = await sim.command(argv)
        assert reply["ok"] is False and reply["error"]

"""The GPIO contactor and pilot drivers against fake lines and a temporary PWM sysfs tree; gpiod's errors."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.gpio.contactor import GpioContactor, contactor_settings, create_gpio_contactor
from drivers.gpio.lines import gpio_error, open_lines
from drivers.gpio.lock import create_gpio_lock
from drivers.gpio.pilot import GpioPilot, classify, create_gpio_pilot, pilot_settings
from drivers.options import OptionError
from hal import registry
from hal.contactor import Contactor
from hal.errors import DeviceFault, DeviceUnavailable
from hal.lock import ConnectorLock
from hal.pilot import Pilot, PilotStatus
from hal.types import FaultCode, PilotState
from tests.drivers.fake_gpio import (
    FakeChip,
    FakeContactorHardware,
    FakePilotBoard,
    create_pwm_chip,
    serve_exports,
)
from tests.hal.contract import check_contactor_contract, check_lock_contract, check_pilot_contract

BOUND_S = 5.0
CHIP = "/dev/gpiochip0"
COIL, FEEDBACK = 17, 27


# -- the gpiod seam ------------------------------------------------------------------------------------

def test_a_missing_chip_is_unavailable_and_named() -> None:
    with pytest.raises(DeviceUnavailable) as caught:
        open_lines("/dev/gpiochip-missing", {COIL: False}, [FEEDBACK])
    message = str(caught.value)
    assert "/dev/gpiochip-missing" in message and "17, 27" in message
    assert "no such GPIO chip" in message
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_file_that_is_no_gpio_chip_is_unavailable() -> None:
    with pytest.raises(DeviceUnavailable, match="/dev/null line 4: not a GPIO character device"):
        open_lines("/dev/null", {}, [4])


def test_a_line_requested_twice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        open_lines(CHIP, {4: False}, [4])


@pytest.mark.parametrize(
    ("err", "says"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "add the service user to the gpio group"),
        (OSError(errno.EBUSY, "Device or resource busy"), "line busy"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
        (ValueError("line offset of out range"), "line offset of out range"),
    ],
)
def test_gpio_errors_tell_the_installer_what_to_do(err: Exception, says: str) -> None:
    error = gpio_error(CHIP, [COIL], err)
    assert isinstance(error, DeviceUnavailable)
    assert str(error).startswith(f"GPIO {CHIP} line {COIL}: ")
    assert says in str(error)


# -- contactor -----------------------------------------------------------------------------------------

def make_contactor(chip: FakeChip, **options: object) -> GpioContactor:
    table: dict[str, object] = {"driver": "gpio", "chip": CHIP, "line": COIL, **options}
    return GpioContactor(contactor_settings(table), open_lines=chip.open_lines)


async def test_contactor_closes_opens_and_reads_the_mirror_contact() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    contactor = make_contactor(chip, feedback_line=FEEDBACK)
    assert isinstance(contactor, Contactor) and contactor.has_feedback
    try:
        async with asyncio.timeout(BOUND_S):
            assert await contactor.is_closed() is False
            await contactor.set_closed(True)
            assert chip.levels[COIL] is True and hardware.closed  # set_closed waited for the contacts
            assert await contactor.is_closed() is True
            await contactor.set_closed(False)
            assert chip.levels[COIL] is False and not hardware.closed
            assert await contactor.is_closed() is False
    finally:
        await contactor.close()
    # The coil line was requested off (no glitch on) and the mirror contact debounced by the kernel.
    (call,) = chip.calls
    assert call.outputs == {COIL: False} and call.inputs == [FEEDBACK] and call.debounce_s > 0


async def test_is_closed_reads_the_mirror_contact_not_the_command() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    contactor = make_contactor(chip, feedback_line=FEEDBACK)
    try:
        async with asyncio.timeout(BOUND_S):
            await contactor.set_closed(True)
            chip.set_input(FEEDBACK, False)  # the contacts dropped out on their own
            assert await contactor.is_closed() is False
    finally:
        await contactor.close()
    assert not hardware.energised


async def test_a_welded_contactor_is_a_device_fault() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    contactor = make_contactor(chip, feedback_line=FEEDBACK, settle_s=0.1)
    try:
        async with asyncio.timeout(BOUND_S):
            await contactor.set_closed(True)
            hardware.welded = True
            with pytest.raises(DeviceFault, match="welded") as caught:
                await contactor.set_closed(False)
            assert "commanded open" in str(caught.value)
            assert await contactor.is_closed() is True
    finally:
        await contactor.close()


async def test_a_contactor_stuck_open_is_a_device_fault() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    hardware.stuck = True
    contactor = make_contactor(chip, feedback_line=FEEDBACK, settle_s=0.1)
    try:
        async with asyncio.timeout(BOUND_S):
            with pytest.raises(DeviceFault, match="stuck open"):
                await contactor.set_closed(True)
            assert await contactor.is_closed() is False
    finally:
        await contactor.close()


async def test_a_normally_closed_mirror_contact_needs_feedback_inverted() -> None:
    chip = FakeChip()
    FakeContactorHardware(chip, COIL, FEEDBACK, feedback_nc=True)
    contactor = make_contactor(chip, feedback_line=FEEDBACK, feedback_inverted=True)
    try:
        async with asyncio.timeout(BOUND_S):
            assert await contactor.is_closed() is False
            await contactor.set_closed(True)
            assert chip.levels[FEEDBACK] is False  # the NC contact opened as the contactor closed
            assert await contactor.is_closed() is True
            await contactor.set_closed(False)
            assert await contactor.is_closed() is False
    finally:
        await contactor.close()
    # Read without inversion, the same contact looks as if the contactor never moved.
    wrong = make_contactor(chip, feedback_line=FEEDBACK, settle_s=0.05)
    try:
        async with asyncio.timeout(BOUND_S):
            assert await wrong.is_closed() is True
            with pytest.raises(DeviceFault):
                await wrong.set_closed(False)
    finally:
        await wrong.close()


async def test_without_feedback_is_closed_is_the_last_command() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL)
    hardware.stuck = True  # nobody can tell without a mirror contact
    contactor = make_contactor(chip)
    assert contactor.has_feedback is False
    try:
        async with asyncio.timeout(BOUND_S):
            assert await contactor.is_closed() is False
            await contactor.set_closed(True)
            assert await contactor.is_closed() is True
            assert chip.levels[COIL] is True
            await contactor.set_closed(False)
            assert await contactor.is_closed() is False
    finally:
        await contactor.close()
    assert chip.calls[0].inputs == []


async def test_an_active_low_coil_is_energised_by_a_low_level() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK, coil_active_low=True)
    contactor = make_contactor(chip, feedback_line=FEEDBACK, active_low=True)
    try:
        async with asyncio.timeout(BOUND_S):
            assert chip.levels[COIL] is True and not hardware.energised
            await contactor.set_closed(True)
            assert chip.levels[COIL] is False and hardware.energised
            assert await contactor.is_closed() is True
            await contactor.set_closed(False)
            assert chip.levels[COIL] is True
    finally:
        await contactor.close()
    assert chip.calls[0].active_low == {COIL}


async def test_close_opens_the_contactor_and_releases_the_lines() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    contactor = make_contactor(chip, feedback_line=FEEDBACK)
    async with asyncio.timeout(BOUND_S):
        await contactor.set_closed(True)
        await contactor.close()
        assert chip.requests == [] and not hardware.energised
        await contactor.close()  # twice is harmless
        await contactor.set_closed(True)  # and the lines can be requested again
        await contactor.close()
    assert len(chip.calls) == 2


async def test_a_failed_request_is_dropped_and_requested_again() -> None:
    chip = FakeChip()
    FakeContactorHardware(chip, COIL, FEEDBACK)
    contactor = make_contactor(chip, feedback_line=FEEDBACK)
    try:
        async with asyncio.timeout(BOUND_S):
            await contactor.set_closed(True)
            chip.requests[0].break_("the expander went away")
            with pytest.raises(DeviceUnavailable, match="went away"):
                await contactor.is_closed()
            assert chip.requests == []
            chip.levels[COIL] = False  # it came back powered down
            chip.set_input(FEEDBACK, False)
            assert await contactor.is_closed() is False
            await contactor.set_closed(True)
            assert await contactor.is_closed() is True
    finally:
        await contactor.close()
    assert len(chip.calls) == 2


@pytest.mark.parametrize("feedback", [True, False])
async def test_contactor_contract(feedback: bool) -> None:
    chip = FakeChip()
    FakeContactorHardware(chip, COIL, FEEDBACK if feedback else None)
    contactor = make_contactor(chip, **({"feedback_line": FEEDBACK} if feedback else {}))
    try:
        await check_contactor_contract(contactor)
    finally:
        await contactor.close()


async def test_an_unavailable_chip_surfaces_from_the_first_command() -> None:
    contactor = make_contactor(FakeChip("/dev/gpiochip1"))
    with pytest.raises(DeviceUnavailable, match="no such GPIO chip"):
        await contactor.set_closed(True)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"line": COIL}, "chip: missing"),
        ({"chip": CHIP}, "line: missing"),
        ({"chip": CHIP, "line": -1}, "line: -1 is out of range"),
        ({"chip": CHIP, "line": COIL, "feedback_line": "27"}, "feedback_line: expected an integer"),
        ({"chip": CHIP, "line": COIL, "feedback_line": COIL}, "feedback_line: 17 is the coil's line"),
        ({"chip": CHIP, "line": COIL, "feedback_inverted": True}, "feedback_line: missing"),
        ({"chip": CHIP, "line": COIL, "active_low": 1}, "active_low: expected true or false"),
        ({"chip": CHIP, "line": COIL, "settle_s": 11}, "settle_s: 11 is out of range"),
        ({"chip": CHIP, "line": COIL, "coil": 3}, "coil: unknown option"),
    ],
)
def test_contactor_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError, match=f"^{key}"):
        create_gpio_contactor(options)


def test_contactor_factory_defaults() -> None:
    contactor = create_gpio_contactor({"driver": "gpio", "chip": CHIP, "line": 5})
    assert contactor.settings.settle_s == 0.3 and contactor.settings.feedback_line is None
    assert contactor.has_feedback is False


# -- pilot ---------------------------------------------------------------------------------------------

LINES = {PilotState.A: 5, PilotState.B: 6, PilotState.C: 13}
FAULT = 21


def make_pilot(
    tmp_path: Path, *, active_low: bool = False, **options: object
) -> tuple[GpioPilot, FakePilotBoard, FakeChip]:
    chip = FakeChip()
    pwm_chip = tmp_path / "pwmchip0"
    if not pwm_chip.exists():
        create_pwm_chip(pwm_chip)
    board = FakePilotBoard(chip, LINES, pwm_chip, fault_line=FAULT, active_low=active_low)
    table: dict[str, object] = {
        "driver": "gpio",
        "chip": CHIP,
        "state_lines": {state.value: offset for state, offset in LINES.items()},
        "fault_line": FAULT,
        "active_low": active_low,
        "debounce_ms": 1,
        "pwm_chip": str(pwm_chip),
        **options,
    }
    return GpioPilot(pilot_settings(table), open_lines=chip.open_lines), board, chip


async def next_status(updates: AsyncIterator[PilotStatus]) -> PilotStatus:
    async with asyncio.timeout(BOUND_S):
        return await anext(updates)


@pytest.mark.parametrize(
    ("current_a", "duty_ns"),
    [
        (6.0, 100_000),  # IEC 61851-1 Table A.8: 6 A = 10 %
        (16.0, 266_667),  # 26.7 %
        (32.0, 533_333),  # 53.3 %
        (51.0, 850_000),  # 85 %, the top of the lower band
        (52.0, 850_000),  # the upper band starts at 52.5 A: never offer more than asked
        (63.0, 892_000),  # 63 / 2.5 + 64 = 89.2 %
        (80.0, 960_000),  # 96 %
        (125.0, 960_000),  # the most the pilot can offer
        (5.9, 1_000_000),  # below 6 A: constant +12 V, no PWM
        (0.0, 1_000_000),
    ],
)
async def test_the_current_limit_sets_the_duty_cycle(tmp_path: Path, current_a: float, duty_ns: int) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    try:
        async with asyncio.timeout(BOUND_S):
            await pilot.set_current_limit(current_a)
        assert board.file("duty_cycle") == str(duty_ns)
        assert board.file("period") == "1000000"  # 1 kHz
        assert board.file("enable") == "1"
    finally:
        await pilot.close()


async def test_the_pwm_files_hold_what_the_kernel_expects(tmp_path: Path) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    async with asyncio.timeout(BOUND_S):
        for current_a, duty_ns in ((16.0, "266667"), (63.0, "892000"), (0.0, "1000000"), (6.0, "100000")):
            await pilot.set_current_limit(current_a)
            assert board.file("duty_cycle") == duty_ns
            assert board.file("period") == "1000000"
            assert board.file("enable") == "1"
            assert board.file("polarity") == "normal"
        await pilot.close()
    assert board.file("duty_cycle") == "0"  # closing leaves the pilot at -12 V (F): not available
    assert board.file("enable") == "1"


async def test_disabled_drives_minus_12_v_and_reports_f(tmp_path: Path) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    await board.show(PilotState.B)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.B)
        await pilot.set_current_limit(16.0)
        await pilot.set_enabled(False)
        assert board.file("duty_cycle") == "0" and board.file("enable") == "1"
        assert await board.enabled() is False
        assert await next_status(updates) == PilotStatus(PilotState.F)
        await pilot.set_current_limit(20.0)  # remembered, not applied while disabled
        assert board.file("duty_cycle") == "0"
        await pilot.set_enabled(True)
        assert board.file("duty_cycle") == "333333"
        assert await next_status(updates) == PilotStatus(PilotState.B)
    finally:
        await updates.aclose()
        await pilot.close()


async def test_state_changes_are_reported_in_order(tmp_path: Path) -> None:
    pilot, board, chip = make_pilot(tmp_path)
    await board.show(PilotState.A)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        assert board.file("duty_cycle") == "1000000"  # subscribing starts the pilot at +12 V
        for state in (PilotState.B, PilotState.C, PilotState.B, PilotState.A):
            await board.show(state)
            assert await next_status(updates) == PilotStatus(state)
    finally:
        await updates.aclose()
        await pilot.close()
    assert chip.calls[0].inputs == [5, 6, 13, FAULT] and chip.calls[0].debounce_s == 0.001


async def test_the_fault_line_is_a_ground_failure_until_cleared(tmp_path: Path) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    await board.show(PilotState.C)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.C)
        board.set_fault(True)
        assert await next_status(updates) == PilotStatus(PilotState.F, FaultCode.GROUND_FAILURE)
        board.set_fault(False)
        assert await next_status(updates) == PilotStatus(PilotState.C)
    finally:
        await updates.aclose()
        await pilot.close()


async def test_no_line_active_is_e_and_several_are_a_board_fault(tmp_path: Path) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    await board.show(PilotState.A)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        board.set_active(set())
        assert await next_status(updates) == PilotStatus(PilotState.E)
        board.set_active({PilotState.A, PilotState.C})
        assert await next_status(updates) == PilotStatus(PilotState.F, FaultCode.INTERNAL_ERROR)
    finally:
        await updates.aclose()
        await pilot.close()
    assert classify([PilotState.D]) == PilotStatus(PilotState.D)


async def test_states_passed_on_the_way_are_not_reported(tmp_path: Path) -> None:
    pilot, board, chip = make_pilot(tmp_path, debounce_ms=200)
    await board.show(PilotState.C)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.C)
        # The pilot rising from 6 V to 9 V: for a moment both comparators see their window.
        board.set_active({PilotState.B, PilotState.C})
        async with asyncio.timeout(BOUND_S):
            while chip.requests[0].pending_edges:  # the driver has read these edges
                await asyncio.sleep(0)
        board.set_active({PilotState.B})
        assert await next_status(updates) == PilotStatus(PilotState.B)
    finally:
        await updates.aclose()
        await pilot.close()


async def test_active_low_comparator_lines(tmp_path: Path) -> None:
    pilot, board, chip = make_pilot(tmp_path, active_low=True)
    await board.show(PilotState.B)
    assert chip.levels[LINES[PilotState.B]] is False and chip.levels[LINES[PilotState.A]] is True
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.B)
        await board.show(PilotState.C)
        assert await next_status(updates) == PilotStatus(PilotState.C)
    finally:
        await updates.aclose()
        await pilot.close()
    assert chip.calls[0].active_low == {5, 6, 13}


async def test_a_failing_line_request_ends_the_updates_and_is_requested_again(tmp_path: Path) -> None:
    pilot, board, chip = make_pilot(tmp_path)
    await board.show(PilotState.A)
    updates = pilot.status_updates()
    try:
        assert await next_status(updates) == PilotStatus(PilotState.A)
        chip.requests[0].break_("the chip went away")
        with pytest.raises(DeviceUnavailable, match="went away"):
            await next_status(updates)
        assert chip.requests == []  # the broken request was released
    finally:
        await updates.aclose()
    again = pilot.status_updates()
    try:
        assert await next_status(again) == PilotStatus(PilotState.A)
    finally:
        await again.aclose()
        await pilot.close()
    assert len(chip.calls) == 2


async def test_close_ends_the_updates(tmp_path: Path) -> None:
    pilot, board, chip = make_pilot(tmp_path)
    await board.show(PilotState.A)
    updates = pilot.status_updates()
    assert await next_status(updates) == PilotStatus(PilotState.A)
    waiting = asyncio.ensure_future(next_status(updates))
    await asyncio.sleep(0)
    await pilot.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    assert chip.requests == []


async def test_pilot_contract(tmp_path: Path) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    assert isinstance(pilot, Pilot) and pilot.supports_phase_switching is False
    try:
        await check_pilot_contract(pilot, board)
    finally:
        await pilot.close()


async def test_an_unexported_channel_is_exported_and_set_up(tmp_path: Path) -> None:
    create_pwm_chip(tmp_path / "pwmchip0", npwm=2, exported=())
    pilot, board, _ = make_pilot(tmp_path, pwm_channel=1)
    board.pwm = tmp_path / "pwmchip0" / "pwm1"
    kernel = asyncio.create_task(serve_exports(tmp_path / "pwmchip0"))
    try:
        async with asyncio.timeout(BOUND_S):
            await pilot.set_current_limit(32.0)
    finally:
        kernel.cancel()
        await pilot.close()
    assert board.file("period") == "1000000" and board.file("enable") == "1"
    assert not (tmp_path / "pwmchip0" / "pwm0").exists()


async def test_a_channel_left_in_another_setup_is_reset(tmp_path: Path) -> None:
    pwm = create_pwm_chip(tmp_path / "pwmchip0") / "pwm0"
    for name, value in (("period", "20000000"), ("duty_cycle", "1500000"), ("enable", "1"),
                        ("polarity", "inversed")):
        (pwm / name).write_text(value)
    pilot, board, _ = make_pilot(tmp_path)
    async with asyncio.timeout(BOUND_S):
        await pilot.set_current_limit(16.0)
    assert [board.file(name) for name in ("period", "duty_cycle", "enable", "polarity")] == [
        "1000000", "266667", "1", "normal"
    ]
    await pilot.close()


async def test_pwm_errors_are_unavailable_and_name_the_path(tmp_path: Path) -> None:
    chip = FakeChip()
    missing = create_gpio_pilot(
        {"chip": CHIP, "state_lines": {"A": 1, "B": 2, "C": 3}, "pwm_chip": str(tmp_path / "pwmchip7")}
    )
    with pytest.raises(DeviceUnavailable, match=r"pwmchip7/npwm: no such file"):
        await missing.set_current_limit(16.0)
    pilot, _, _ = make_pilot(tmp_path, pwm_channel=1)
    with pytest.raises(DeviceUnavailable, match="no channel 1 \\(npwm = 1\\)"):
        await pilot.set_current_limit(16.0)
    await pilot.close()
    assert chip.calls == []


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
async def test_a_bad_current_limit_is_refused(tmp_path: Path, bad: float) -> None:
    pilot, board, _ = make_pilot(tmp_path)
    await pilot.set_current_limit(10.0)
    with pytest.raises(ValueError, match="current limit"):
        await pilot.set_current_limit(bad)
    assert board.file("duty_cycle") == "166667"
    await pilot.close()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "state_lines: missing"),
        ({"state_lines": [5, 6, 13]}, "state_lines: expected a table"),
        ({"state_lines": {"A": 5, "B": 6}}, "state_lines: missing C"),
        ({"state_lines": {"A": 5, "B": 6, "C": 13, "G": 4}}, "state_lines.G: not a pilot state"),
        ({"state_lines": {"A": 5, "B": "6", "C": 13}}, "state_lines.B: expected an integer"),
        ({"state_lines": {"A": 5, "B": 5, "C": 13}}, "state_lines: two states share a line"),
        ({"fault_line": 13}, "fault_line: 13 is a state line"),
        ({"fault_active_low": True}, "fault_line: missing"),
        ({"pwm_channel": 300}, "pwm_channel: 300 is out of range"),
        ({"debounce_ms": -1}, "debounce_ms: -1 is out of range"),
        ({"pwm": 0}, "pwm: unknown option"),
    ],
)
def test_pilot_option_errors_name_the_key(options: dict[str, object], key: str) -> None:
    table: dict[str, object] = {"driver": "gpio", "chip": CHIP, "state_lines": {"A": 5, "B": 6, "C": 13}}
    table.update(options)
    if options == {}:
        del table["state_lines"]
    with pytest.raises(OptionError, match=f"^{key}"):
        create_gpio_pilot(table)


def test_pilot_factory_defaults() -> None:
    pilot = create_gpio_pilot(
        {"chip": CHIP, "state_lines": {"A": 5, "B": 6, "C": 13, "D": 19, "E": 20, "F": 26}}
    )
    assert pilot.settings.pwm_chip == "/sys/class/pwm/pwmchip0" and pilot.settings.pwm_channel == 0
    assert pilot.settings.debounce_s == 0.01 and pilot.settings.fault_line is None
    assert pilot.settings.state_lines[PilotState.F] == 26


async def test_gpio_lock_locks_and_reports_a_latch_that_does_not_move() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    lock = create_gpio_lock({"driver": "gpio", "chip": CHIP, "line": COIL, "feedback_line": FEEDBACK,
                             "settle_s": 0.1}, lines=chip.open_lines)
    assert isinstance(lock, ConnectorLock)
    try:
        async with asyncio.timeout(BOUND_S):
            await lock.set_locked(True)
            assert hardware.closed and await lock.is_locked()
            await lock.set_locked(False)
            assert not hardware.closed
            hardware.stuck = True  # the latch is jammed open
            with pytest.raises(DeviceFault):
                await lock.set_locked(True)
    finally:
        await lock.close()
    registry.discover()
    assert registry.load("lock", "gpio") is create_gpio_lock


async def test_gpio_lock_contract() -> None:
    chip = FakeChip()
    hardware = FakeContactorHardware(chip, COIL, FEEDBACK)
    lock = create_gpio_lock({"driver": "gpio", "chip": CHIP, "line": COIL, "feedback_line": FEEDBACK},
                            lines=chip.open_lines)
    try:
        await check_lock_contract(lock)
        assert not hardware.closed
    finally:
        await lock.close()

"""A contactor on a GPIO output line, checked against an optional mirror contact on a GPIO input line.

Config (the contactor's TOML inline table)::

    contactor = { driver = "gpio", chip = "/dev/gpiochip0", line = 17, feedback_line = 27,
                  active_low = false, feedback_inverted = false, settle_s = 0.3 }

Options: ``chip`` (the GPIO character device, required); ``line`` (the coil's output offset, required);
``active_low`` (true when the relay board energises the coil on a low level); ``feedback_line`` (the
mirror contact's input offset; absent = no feedback); ``feedback_inverted`` (true for a normally-closed
mirror contact, which reads active while the main contacts are open); ``settle_s`` (how long the contactor
may take to follow before it counts as welded or stuck open, default 0.3 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from drivers.gpio.lines import MAX_LINE, LineRequest, OpenLines, open_lines, watch_edges
from drivers.options import OptionError, check_known, flag, integer, number, text
from hal.errors import DeviceFault, DeviceUnavailable, HalError

log = logging.getLogger(__name__)

CONTACTOR_OPTIONS = frozenset(
    {"driver", "chip", "line", "feedback_line", "active_low", "feedback_inverted", "settle_s"}
)
DEFAULT_SETTLE_S = 0.3
FEEDBACK_DEBOUNCE_S = 0.005
"""Mirror contacts bounce for a few ms: the kernel debounces the input (libgpiod debounce_period)."""
_POLL_S = 0.02
"""Re-read the feedback at least this often while settling, in case an edge is lost."""


@dataclass(frozen=True, slots=True)
class GpioContactorSettings:
    chip: str
    line: int
    feedback_line: int | None = None
    active_low: bool = False
    feedback_inverted: bool = False
    settle_s: float = DEFAULT_SETTLE_S


def _state(closed: bool) -> str:
    return "closed" if closed else "open"


class GpioContactor:
    """The EVSE's contactor coil on a GPIO line (``hal.contactor.Contactor``).

    The lines are requested on first use with the coil off, so opening the port never closes the contactor.
    """

    def __init__(self, settings: GpioContactorSettings, *, open_lines: OpenLines = open_lines) -> None:
        self.settings = settings
        self.has_feedback = settings.feedback_line is not None
        self._open_lines = open_lines
        self._lines: LineRequest | None = None
        self._commanded = False

    def __repr__(self) -> str:
        return f"<GpioContactor {self.settings.chip} line {self.settings.line}>"

    def _request(self) -> LineRequest:
        if self._lines is None:
            s = self.settings
            inputs = [] if s.feedback_line is None else [s.feedback_line]
            active_low = {s.line} if s.active_low else set()
            if s.feedback_line is not None and s.feedback_inverted:
                # An NC mirror contact is active while the contactor is open: let the kernel invert it.
                active_low.add(s.feedback_line)
            self._lines = self._open_lines(
                s.chip, {s.line: False}, inputs, active_low=active_low, debounce_s=FEEDBACK_DEBOUNCE_S
            )
            self._commanded = False
        return self._lines

    def _drop(self) -> None:
        """Forget a failed request (e.g. a USB GPIO expander went away); the next command asks again."""
        lines, self._lines = self._lines, None
        if lines is not None:
            lines.release()

    async def set_closed(self, closed: bool) -> None:
        """Drive the coil; with feedback, return once the mirror contact agrees or raise DeviceFault."""
        try:
            lines = self._request()
            lines.set_value(self.settings.line, closed)
            self._commanded = closed
            if self.settings.feedback_line is not None:
                await self._await_feedback(lines, self.settings.feedback_line, closed)
        except DeviceUnavailable:
            self._drop()
            raise

    async def _await_feedback(self, lines: LineRequest, feedback: int, closed: bool) -> None:
        if lines.get_value(feedback) == closed:
            return
        edge = asyncio.Event()
        failure: list[HalError] = []

        def on_error(err: HalError) -> None:
            failure.append(err)
            edge.set()

        unwatch = watch_edges(lines, lambda _offsets: edge.set(), on_error)
        try:
            async with asyncio.timeout(self.settings.settle_s):
                while lines.get_value(feedback) != closed:
                    if failure:
                        raise failure[0]
                    # Woken by the mirror contact's edge; the poll bounds a lost edge.
                    # The inner timeout raises TimeoutError only on its own expiry; the outer deadline
                    # arrives as a cancellation and passes through.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_POLL_S):
                            await edge.wait()
                    edge.clear()
        except TimeoutError:
            state = lines.get_value(feedback)
            if state == closed:  # it followed right at the deadline
                return
            # OCPP PowerSwitchFailure: the contactor is welded (will not open) or stuck open (will not close).
            why = "welded" if state else "stuck open"
            raise DeviceFault(
                f"contactor did not follow: commanded {_state(closed)}, mirror contact reads "
                f"{_state(state)} after {self.settings.settle_s} s ({why})"
            ) from None
        finally:
            unwatch()

    async def is_closed(self) -> bool:
        """The mirror contact if there is one, else the last command."""
        try:
            lines = self._request()
            if self.settings.feedback_line is not None:
                return lines.get_value(self.settings.feedback_line)
        except DeviceUnavailable:
            self._drop()
            raise
        return self._commanded

    async def close(self) -> None:
        """Open the contactor (best effort, without waiting for the feedback), then release the lines."""
        lines, self._lines = self._lines, None
        if lines is None:
            return
        try:
            lines.set_value(self.settings.line, False)
        except HalError as err:
            log.warning("%r: could not open the contactor on close: %s", self, err)
        finally:
            lines.release()
        self._commanded = False


def contactor_settings(options: Mapping[str, object]) -> GpioContactorSettings:
    """Parse and check the contactor's options; errors name the key."""
    check_known(options, CONTACTOR_OPTIONS)
    line = integer(options, "line", None, 0, MAX_LINE)
    feedback_line: int | None = None
    if "feedback_line" in options:
        feedback_line = integer(options, "feedback_line", None, 0, MAX_LINE)
        if feedback_line == line:
            raise OptionError(f"feedback_line: {feedback_line} is the coil's line too")
    elif "feedback_inverted" in options:
        raise OptionError("feedback_line: missing (feedback_inverted needs it)")
    return GpioContactorSettings(
        chip=text(options, "chip"),
        line=line,
        feedback_line=feedback_line,
        active_low=flag(options, "active_low", False),
        feedback_inverted=flag(options, "feedback_inverted", False),
        settle_s=number(options, "settle_s", DEFAULT_SETTLE_S, 0.0, 10.0),
    )


def create_gpio_contactor(options: Mapping[str, object]) -> GpioContactor:
    """The registry factory: a GPIO contactor from its config table. Opens nothing yet."""
    return GpioContactor(contactor_settings(options))

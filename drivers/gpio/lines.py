"""The GPIO seam: a small line-request protocol, its libgpiod v2 implementation, and async edge watching.

Everything gpiod-specific lives in ``open_lines`` and ``_GpiodLines`` and is kept small, because CI has no
``/dev/gpiochip*`` to exercise it; the drivers see only ``LineRequest`` and tests inject a fake.
Values are *logical*: with ``active_low`` the kernel inverts them (libgpiod ``LineSettings.active_low``).
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from hal.errors import DeviceUnavailable, HalError

if TYPE_CHECKING:
    import gpiod

CONSUMER = "chargepoint"
"""The consumer label ``gpioinfo`` shows for our lines."""
MAX_LINE = 1023
"""The highest line offset an option may name (gpiod checks it against the chip's own count)."""


class LineRequest(Protocol):
    """A set of requested lines of one chip. Every method raises ``DeviceUnavailable`` on failure."""

    @property
    def fd(self) -> int:
        """A file descriptor that polls readable while edge events wait to be read."""
        ...

    def get_value(self, offset: int) -> bool:
        """The logical value of a line (an output reads back what it drives)."""
        ...

    def set_value(self, offset: int, value: bool) -> None:
        """Drive an output line to a logical value."""
        ...

    def read_edge_events(self) -> list[int]:
        """The offsets of the inputs that saw an edge, oldest first (call only when ``fd`` is readable)."""
        ...

    def release(self) -> None:
        """Give the lines back to the kernel (idempotent)."""
        ...


class OpenLines(Protocol):
    """The signature of ``open_lines``, so drivers can take a fake."""

    def __call__(
        self,
        chip: str,
        outputs: Mapping[int, bool],
        inputs: Sequence[int],
        *,
        active_low: Collection[int] = (),
        debounce_s: float = 0.0,
        consumer: str = CONSUMER,
    ) -> LineRequest: ...


def gpio_error(chip: str, offsets: Collection[int], err: Exception) -> DeviceUnavailable:
    """A ``DeviceUnavailable`` naming the chip, the lines and what the installer can do about ``err``."""
    where = f"GPIO {chip} line{'s' if len(offsets) != 1 else ''} {', '.join(map(str, offsets))}"
    code = err.errno if isinstance(err, OSError) else None
    if isinstance(err, FileNotFoundError):
        why = "no such GPIO chip (gpiodetect lists the chips)"
    elif isinstance(err, PermissionError):
        why = "permission denied: add the service user to the gpio group (or a udev rule for /dev/gpiochip*)"
    elif code == errno.EBUSY:
        why = "line busy: another consumer holds it (gpioinfo shows which)"
    elif code in (errno.ENODEV, errno.ENOTTY):
        why = "not a GPIO character device"
    elif isinstance(err, OSError):
        why = err.strerror or str(err)
    else:
        why = str(err) or type(err).__name__
    return DeviceUnavailable(f"{where}: {why}")


def open_lines(
    chip: str,
    outputs: Mapping[int, bool],
    inputs: Sequence[int],
    *,
    active_low: Collection[int] = (),
    debounce_s: float = 0.0,
    consumer: str = CONSUMER,
) -> LineRequest:
    """Request ``outputs`` (offset -> initial logical value) and ``inputs`` (edges on both flanks).

    The outputs take their initial value in the same request, so a contactor line never glitches on
    (libgpiod ``LineSettings.output_value``). ``debounce_s`` applies to the inputs; the kernel debounces in
    software where the chip cannot (gpiolib-cdev, Linux 5.10+).
    """
    offsets = [*outputs, *inputs]
    if len(set(offsets)) != len(offsets):
        raise ValueError(f"GPIO {chip}: a line is requested twice: {offsets}")
    try:
        import gpiod
        from gpiod.line import Direction, Edge, Value
    except ImportError as err:
        raise DeviceUnavailable("the gpiod package (libgpiod v2 bindings) is not installed") from err
    config: dict[Iterable[int | str] | int | str, gpiod.LineSettings | None] = {}
    for offset, value in outputs.items():
        config[offset] = gpiod.LineSettings(
            direction=Direction.OUTPUT,
            active_low=offset in active_low,
            output_value=Value.ACTIVE if value else Value.INACTIVE,
        )
    for offset in inputs:
        config[offset] = gpiod.LineSettings(
            direction=Direction.INPUT,
            active_low=offset in active_low,
            edge_detection=Edge.BOTH,
            debounce_period=timedelta(seconds=debounce_s),
        )
    try:
        request = gpiod.request_lines(chip, config=config, consumer=consumer)
    except (OSError, ValueError) as err:  # ValueError: offset beyond the chip's lines
        raise gpio_error(chip, offsets, err) from err
    return _GpiodLines(request, chip, offsets)


class _GpiodLines:
    """``LineRequest`` over a ``gpiod.LineRequest``, wrapping its errors once."""

    def __init__(self, request: gpiod.LineRequest, chip: str, offsets: list[int]) -> None:
        import gpiod

        self._request = request
        self._chip = chip
        self._offsets = offsets
        self._active = gpiod.line.Value.ACTIVE
        self._inactive = gpiod.line.Value.INACTIVE
        # RequestReleasedError: a call after release(); OSError: the chip went away (a USB expander).
        self._errors: tuple[type[Exception], ...] = (OSError, ValueError, gpiod.RequestReleasedError)

    def __repr__(self) -> str:
        return f"<gpiod lines {self._chip} {self._offsets}>"

    def _error(self, err: Exception, offsets: Collection[int] | None = None) -> DeviceUnavailable:
        return gpio_error(self._chip, self._offsets if offsets is None else offsets, err)

    @property
    def fd(self) -> int:
        try:
            return self._request.fd
        except self._errors as err:
            raise self._error(err) from err

    def get_value(self, offset: int) -> bool:
        try:
            return self._request.get_value(offset) is self._active
        except self._errors as err:
            raise self._error(err, [offset]) from err

    def set_value(self, offset: int, value: bool) -> None:
        try:
            self._request.set_value(offset, self._active if value else self._inactive)
        except self._errors as err:
            raise self._error(err, [offset]) from err

    def read_edge_events(self) -> list[int]:
        try:
            return [event.line_offset for event in self._request.read_edge_events()]
        except self._errors as err:
            raise self._error(err) from err

    def release(self) -> None:
        self._request.release()  # idempotent in gpiod; closes the request fd


def watch_edges(
    lines: LineRequest, on_edges: Callable[[list[int]], None], on_error: Callable[[HalError], None]
) -> Callable[[], None]:
    """Call ``on_edges`` from the running loop whenever edge events arrive; return the unwatch function.

    The libgpiod request fd polls readable while events are queued (libgpiod's async_watch_line_value
    example), so the loop's reader wakes us without a thread. A read error unwatches and goes to
    ``on_error`` (the reader would otherwise fire forever).
    """
    loop = asyncio.get_running_loop()
    fd = lines.fd
    watching = True

    def unwatch() -> None:
        nonlocal watching
        if watching:
            watching = False
            loop.remove_reader(fd)

    def readable() -> None:
        try:
            offsets = lines.read_edge_events()
        except HalError as err:
            unwatch()
            on_error(err)
            return
        on_edges(offsets)

    loop.add_reader(fd, readable)
    return unwatch

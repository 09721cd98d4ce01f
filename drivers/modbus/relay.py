"""A Modbus relay module as the contactor: FC05 switches a coil, FC01/FC02 read it or a mirror contact.

Config (the contactor's TOML inline table)::

    contactor = { driver = "modbus_relay", port = "/dev/ttyUSB0", unit = 3, coil = 0,
                  feedback = "discrete_input", feedback_address = 0, feedback_inverted = false }

Options: ``coil`` (the output coil, default 0); ``feedback`` (``"coil"`` for FC01 or ``"discrete_input"``
for FC02; absent = no mirror contact); ``feedback_address`` (default 0); ``feedback_inverted`` (true for
a normally-closed mirror contact, which reads 1 while the main contacts are open); ``settle_s`` (how long
the contactor may take to follow before it counts as welded or stuck, default 0.3 s); and the bus options
of ``drivers.modbus.bus`` (``port``, ``baudrate``, ``parity``, ``stopbits``, ``unit``, ``timeout_s``,
``retries``, ``inter_frame_delay_s``). A relay module may share its RS-485 line with the meters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from drivers.modbus.bus import (
    BUS_OPTIONS,
    BusDevice,
    DeviceCounters,
    ModbusBus,
    open_device,
    parse_device_options,
)
from drivers.options import OptionError, check_known
from hal.errors import DeviceFault, HalError

log = logging.getLogger(__name__)

RELAY_OPTIONS = BUS_OPTIONS | {
    "driver",
    "coil",
    "feedback",
    "feedback_address",
    "feedback_inverted",
    "settle_s",
}
DEFAULT_SETTLE_S = 0.3
_FEEDBACK_POLL_S = 0.02


class Feedback(StrEnum):
    """Where the mirror (auxiliary) contact of the contactor is read."""

    COIL = "coil"  # FC01
    DISCRETE_INPUT = "discrete_input"  # FC02


@dataclass(frozen=True, slots=True)
class RelaySettings:
    coil: int = 0
    feedback: Feedback | None = None
    feedback_address: int = 0
    feedback_inverted: bool = False
    settle_s: float = DEFAULT_SETTLE_S


def _state(closed: bool) -> str:
    return "closed" if closed else "open"


class ModbusRelay:
    """One coil of a Modbus relay module driving the EVSE's contactor (``hal.contactor.Contactor``)."""

    def __init__(self, device: BusDevice, settings: RelaySettings) -> None:
        self.device = device
        self.settings = settings
        self.has_feedback = settings.feedback is not None

    def __repr__(self) -> str:
        return f"<ModbusRelay coil {self.settings.coil} {self.device!r}>"

    @property
    def bus(self) -> ModbusBus:
        return self.device.bus

    @property
    def counters(self) -> DeviceCounters:
        return self.device.counters

    async def set_closed(self, closed: bool) -> None:
        """Switch the coil; with feedback, return once the mirror contact agrees or raise DeviceFault."""
        await self.device.write_coil(self.settings.coil, closed)
        if self.has_feedback:
            await self._await_feedback(closed)

    async def _await_feedback(self, closed: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.settle_s
        while True:
            state = await self._read_feedback()
            if state == closed:
                return
            if loop.time() >= deadline:
                # IEC 61851-1 / OCPP PowerSwitchFailure: the contactor is welded or stuck open.
                why = "welded" if state else "stuck open"
                raise DeviceFault(
                    f"contactor did not follow: commanded {_state(closed)}, mirror contact reads "
                    f"{_state(state)} after {self.settings.settle_s} s ({why})"
                )
            await asyncio.sleep(min(_FEEDBACK_POLL_S, self.settings.settle_s))

    async def _read_feedback(self) -> bool:
        settings = self.settings
        function = 1 if settings.feedback is Feedback.COIL else 2
        (bit,) = await self.device.read_bits(function, settings.feedback_address, 1)
        return bit != settings.feedback_inverted

    async def is_closed(self) -> bool:
        """The mirror contact if there is one, else the coil as the module holds it (FC01).

        Reading the coil back rather than remembering the last command also shows a module that was
        power-cycled and dropped its outputs.
        """
        if self.has_feedback:
            return await self._read_feedback()
        (bit,) = await self.device.read_bits(1, self.settings.coil, 1)
        return bit

    async def close(self) -> None:
        """Open the contactor (best effort), then release the bus share."""
        try:
            await self.device.write_coil(self.settings.coil, False)
        except HalError as err:
            log.warning("%r: could not open the contactor on close: %s", self, err)
        finally:
            await self.device.close()


def _relay_settings(options: Mapping[str, object]) -> RelaySettings:
    def integer(key: str, default: int) -> int:
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise OptionError(f"{key}: expected an address 0..65535, got {value!r}")
        return value

    feedback_name = options.get("feedback")
    feedback: Feedback | None = None
    if feedback_name is not None:
        names = [kind.value for kind in Feedback]
        if feedback_name not in names:
            raise OptionError(
                f"feedback: expected one of {', '.join(names)}, got {feedback_name!r}"
            )
        feedback = Feedback(str(feedback_name))
    elif "feedback_address" in options or "feedback_inverted" in options:
        raise OptionError("feedback: missing (feedback_address / feedback_inverted need it)")
    inverted = options.get("feedback_inverted", False)
    if not isinstance(inverted, bool):
        raise OptionError(f"feedback_inverted: expected true or false, got {inverted!r}")
    settle = options.get("settle_s", DEFAULT_SETTLE_S)
    if isinstance(settle, bool) or not isinstance(settle, int | float) or not 0 <= settle <= 10:
        raise OptionError(f"settle_s: expected seconds 0..10, got {settle!r}")
    return RelaySettings(
        coil=integer("coil", 0),
        feedback=feedback,
        feedback_address=integer("feedback_address", 0),
        feedback_inverted=inverted,
        settle_s=float(settle),
    )


def create_relay(options: Mapping[str, object]) -> ModbusRelay:
    """The registry factory: a relay-module contactor from its config table. Opens nothing yet."""
    check_known(options, RELAY_OPTIONS)
    settings = _relay_settings(options)
    config = parse_device_options(options)
    return ModbusRelay(open_device(config), settings)

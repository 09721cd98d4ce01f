"""The Modbus energy meter: a ``hal.meter.Meter`` that reads a data-file register map over a shared bus.

Config (the meter's TOML inline table)::

    meter = { model = "eastron_sdm630", port = "/dev/ttyUSB0", unit = 1 }
    meter = { model = "generic", register_map = "/etc/chargepoint/my_meter.toml", port = "tcp://10.0.0.7" }

Options: ``model`` (a file stem of ``drivers/modbus/models/`` or ``"generic"``), ``register_map`` (the
generic meter's model file, same format), and the bus options of ``drivers.modbus.bus``: ``port``,
``baudrate``, ``parity``, ``stopbits``, ``unit`` (defaults from the model's ``[serial]`` table),
``timeout_s`` (0.4), ``retries`` (1), ``inter_frame_delay_s`` (t3.5 + 5 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from drivers.modbus.bus import (
    BUS_OPTIONS,
    BusDevice,
    DeviceCounters,
    ModbusBus,
    open_device,
    parse_device_options,
)
from drivers.modbus.model import (
    Measurand,
    MeterModel,
    builtin_model_names,
    load_builtin_model,
    load_model,
)
from drivers.options import OptionError, check_known
from hal.errors import DeviceProtocolError
from hal.types import MeterSample

GENERIC = "generic"
# "driver" is accepted so a config may name the driver in the same table.
METER_OPTIONS = BUS_OPTIONS | {"model", "register_map", "driver"}


class ModbusMeter:
    """A meter described by a ``MeterModel``; one ``read()`` is the model's coalesced reads."""

    def __init__(self, model: MeterModel, device: BusDevice, *, phases: int) -> None:
        _check_phases(model, phases)
        self.phases = phases
        self.model = model
        self.device = device
        self.last_values: Mapping[str, float | None] = MappingProxyType({})

    def __repr__(self) -> str:
        return f"<ModbusMeter {self.model.name} {self.device!r}>"

    @property
    def bus(self) -> ModbusBus:
        return self.device.bus

    @property
    def counters(self) -> DeviceCounters:
        return self.device.counters

    async def read(self) -> MeterSample:
        """Read every block of the model's plan, then decode (nothing is returned from a partial read)."""
        words = [
            await self.device.read_registers(block.function, block.address, block.count)
            for block in self.model.plan
        ]
        values = self.model.decode(words)
        self.last_values = MappingProxyType(values)
        return self._sample(values)

    def _sample(self, values: Mapping[str, float | None]) -> MeterSample:
        energy = values.get(Measurand.ENERGY_ACTIVE_IMPORT_REGISTER)
        if energy is None:
            raise DeviceProtocolError(
                f"{self.model.name}: the import energy register reads 'not available'"
            )
        power = values.get(Measurand.POWER_ACTIVE_IMPORT)
        if power is None:
            per_phase = self._phased(values, Measurand.POWER_ACTIVE_IMPORT)
            power = sum(per_phase) if per_phase is not None else None
        return MeterSample(
            energy_wh=energy,
            power_w=power,
            current_a=self._phased(values, Measurand.CURRENT_IMPORT),
            voltage_v=self._phased(values, Measurand.VOLTAGE),
            frequency_hz=values.get(Measurand.FREQUENCY),
            power_factor=values.get(Measurand.POWER_FACTOR),
            soc_percent=values.get(Measurand.SOC),
            energy_export_wh=values.get(Measurand.ENERGY_ACTIVE_EXPORT_REGISTER),
        )

    def _phased(
        self, values: Mapping[str, float | None], measurand: Measurand
    ) -> tuple[float, ...] | None:
        """L1..Ln of ``measurand``; None unless every phase the EVSE uses has a value.

        A single-phase map may name the value without a phase ("Voltage"): that is L1.
        """
        keys = [f"{measurand}.L{index}" for index in range(1, self.phases + 1)]
        if self.phases == 1 and keys[0] not in values:
            keys = [str(measurand)]
        found = [values.get(key) for key in keys]
        if any(value is None for value in found):
            return None
        return tuple(value for value in found if value is not None)

    async def close(self) -> None:
        """Release this meter's share of the bus."""
        await self.device.close()


def _check_phases(model: MeterModel, phases: int) -> None:
    if phases not in (1, 3):
        raise OptionError(f"phases: expected 1 or 3, got {phases!r}")
    if phases > model.phases:
        raise OptionError(
            f"phases: the EVSE has {phases} phases but {model.name} measures {model.phases}"
        )


def resolve_model(options: Mapping[str, object]) -> MeterModel:
    """The model named by ``model`` / ``register_map`` (errors name the option, or the file and key)."""
    model = options.get("model")
    register_map = options.get("register_map")
    if register_map is not None:
        if model not in (None, GENERIC):
            raise OptionError(f'register_map: only with model = "{GENERIC}" (model is {model!r})')
        if not isinstance(register_map, str) or not register_map:
            raise OptionError(
                f"register_map: expected the path of a model file, got {register_map!r}"
            )
        return load_model(register_map)
    known = [*builtin_model_names(), GENERIC]
    if model == GENERIC:
        raise OptionError(f'register_map: required with model = "{GENERIC}"')
    if not isinstance(model, str) or model not in known:
        raise OptionError(f"model: expected one of {', '.join(known)}, got {model!r}")
    return load_builtin_model(model)


def create_meter(options: Mapping[str, object], *, phases: int) -> ModbusMeter:
    """The registry factory: a meter from its config table. Opens nothing until the first read."""
    check_known(options, METER_OPTIONS)
    model = resolve_model(options)
    config = parse_device_options(options, model.serial)
    _check_phases(model, phases)  # before joining the bus, so a bad config leaks no share
    return ModbusMeter(model, open_device(config), phases=phases)

"""Build the real devices a config names, through the HAL registry (the service never imports ``drivers``).

Each device table of the config (``evse[1].meter``, ``evse[1].pilot``, ``rfid[1]``...) names a driver; the
registry turns the name into the driver's factory, which checks the table's options and opens nothing.
A bad option comes back as a ``Problem`` naming the table and the key, so ``check-config`` and ``run`` say
the same thing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from chargepoint.service.config import Config, DeviceConfig, EvseConfig, Problem
from hal import registry
from hal.station import EvseHardware, StationHardware

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0


class DeviceConfigError(ValueError):
    """One or more device tables cannot be turned into drivers."""

    def __init__(self, source: object, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"{source}: {p.key}: {p.message}" for p in problems)
        super().__init__(lines)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one device goes: the registry kind and the config table."""

    kind: str
    device: DeviceConfig
    evse: EvseConfig | None = None


def slots(config: Config) -> Iterator[Slot]:
    """Every device table of the config, with the HAL kind its driver must be registered under."""
    for evse in config.evses:
        for kind, device in (("meter", evse.meter), ("pilot", evse.pilot), ("contactor", evse.contactor),
                             ("lock", evse.lock)):
            if device is not None:
                yield Slot(kind, device, evse)
    for reader in config.rfid:
        yield Slot("token_reader", reader)


def _problem(slot: Slot, err: Exception) -> Problem:
    """Turn a factory's error (``"key: message"``, or a plain message) into a problem under the table."""
    text = str(err)
    key, sep, message = text.partition(": ")
    if sep and key and " " not in key:
        return Problem(f"{slot.device.key}.{key}", message)
    return Problem(slot.device.key, text)


def _create(slot: Slot) -> object:
    factory = registry.load(slot.kind, slot.device.driver)
    if slot.kind == "meter":
        assert slot.evse is not None
        return factory(slot.device.options, phases=slot.evse.phases)
    return factory(slot.device.options)


def _name_key(slot: Slot) -> str:
    return f"{slot.device.key}.{'model' if slot.kind == 'meter' else 'driver'}"


def build_devices(config: Config) -> StationHardware:
    """Create every configured device (nothing is opened yet); ``DeviceConfigError`` lists all problems."""
    registry.discover()
    built: dict[tuple[str, int], object] = {}
    readers: list[object] = []
    problems: list[Problem] = []
    for slot in slots(config):
        try:
            device = _create(slot)
        except registry.UnknownDriver as err:
            problems.append(Problem(_name_key(slot), str(err)))
            continue
        except (ValueError, TypeError, OSError) as err:
            problems.append(_problem(slot, err))
            continue
        if slot.evse is None:
            readers.append(device)
        else:
            built[(slot.kind, slot.evse.id)] = device
    if problems:
        raise DeviceConfigError(config.source, problems)
    evses = [
        EvseHardware(
            evse_id=e.id,
            meter=built[("meter", e.id)],  # type: ignore[arg-type]
            contactor=built[("contactor", e.id)],  # type: ignore[arg-type]
            pilot=built[("pilot", e.id)],  # type: ignore[arg-type]
            lock=built.get(("lock", e.id)),  # type: ignore[arg-type]
        )
        for e in config.evses
    ]
    return StationHardware(evses=evses, readers=readers)  # type: ignore[arg-type]


def check_devices(config: Config) -> list[Problem]:
    """The ``check-config`` hook: every driver name is known and every table's options are valid."""
    if config.hal.driver != "hardware":
        return []
    try:
        hardware = build_devices(config)
    except DeviceConfigError as err:
        return err.problems
    asyncio.run(close_devices(hardware))
    return []


async def close_devices(hardware: StationHardware) -> None:
    """Release every device (a contactor opens first), each bounded so a dead port cannot hang shutdown."""
    devices: list[object] = [*hardware.readers]
    for evse in hardware.evses:
        devices += [evse.contactor, evse.pilot, evse.meter]
        if evse.lock is not None:
            devices.append(evse.lock)
    for device in devices:
        close = getattr(device, "close", None)
        if close is None:
            continue
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await close()
        except Exception as err:  # shutdown goes on whatever one device does
            log.warning("closing %r failed: %s", device, err)

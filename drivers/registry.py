"""Registers the real drivers in ``hal.registry`` by name, lazily: importing this imports no pymodbus.

Meters: one name per built-in model file (``drivers/modbus/models/*.toml`` stems) plus ``"generic"``
(the installer's own ``register_map``), all served by ``drivers.modbus.meter:create_meter`` which reads
``model`` from the options. Contactors: ``"modbus_relay"``, ``"gpio"``. Pilots (EVSE controllers):
``"openevse"`` (RAPI over serial), ``"gpio"`` (a comparator board and a sysfs PWM). Locks: ``"gpio"``.
Card readers: ``"pn532"``, ``"rdm6300"``, ``"wedge"``.
"""

from __future__ import annotations

from drivers.modbus.model import builtin_model_names
from hal import registry

METER_FACTORY = "drivers.modbus.meter:create_meter"
RELAY_FACTORY = "drivers.modbus.relay:create_relay"


def register_drivers() -> None:
    """Register every driver of this package (idempotent)."""
    for name in [*builtin_model_names(), "generic"]:
        registry.register("meter", name, METER_FACTORY)
    registry.register("contactor", "modbus_relay", RELAY_FACTORY)
    registry.register("pilot", "openevse", "drivers.evse.openevse:create_openevse")
    registry.register("contactor", "gpio", "drivers.gpio.contactor:create_gpio_contactor")
    registry.register("pilot", "gpio", "drivers.gpio.pilot:create_gpio_pilot")
    registry.register("lock", "gpio", "drivers.gpio.lock:create_gpio_lock")
    registry.register("token_reader", "pn532", "drivers.rfid.pn532:create_pn532")
    registry.register("token_reader", "rdm6300", "drivers.rfid.rdm6300:create_rdm6300")
    registry.register("token_reader", "wedge", "drivers.rfid.wedge:create_wedge")


register_drivers()

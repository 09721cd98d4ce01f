"""Building real devices from the config through the HAL registry: names and options checked per table."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.service.config import Problem, load_config
from chargepoint.service.hardware import DeviceConfigError, build_devices, check_devices
from drivers.modbus.meter import ModbusMeter
from drivers.modbus.relay import ModbusRelay
from hal import registry

CONFIG = """
[station]
id = "CP-1"
vendor = "Acme"
model = "AC22"

[csms]
url = "ws://127.0.0.1:9/ocpp"
security_profile = 0

[storage]
dir = "state"

[hal]
driver = "hardware"

[[evse]]
id = 1
max_current_a = 32
phases = 3
meter = { model = "eastron_sdm630", port = "socket://127.0.0.1:1", unit = 1 }
pilot = { driver = "PILOT", port = "socket://127.0.0.1:2" }
contactor = { driver = "modbus_relay", port = "socket://127.0.0.1:1", unit = 3 }
"""


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chargepoint.toml"
    path.write_text(text)
    return path


def test_the_drivers_package_registers_through_its_entry_point() -> None:
    assert "builtin" in registry.discover()
    assert "eastron_sdm630" in registry.names("meter") and "modbus_relay" in registry.names("contactor")


def test_an_unknown_driver_is_named_with_the_table_and_the_known_ones(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, CONFIG.replace("PILOT", "acme_pilot")))
    with pytest.raises(DeviceConfigError) as caught:
        build_devices(config)
    (problem,) = caught.value.problems
    assert problem.key == "evse[1].pilot.driver"
    assert "acme_pilot" in problem.message
    assert str(config.source) in str(caught.value)
    assert check_devices(config) == caught.value.problems


def test_a_bad_driver_option_is_named_under_its_table(tmp_path: Path) -> None:
    text = CONFIG.replace("PILOT", "acme_pilot").replace("unit = 1 }", "unit = 1, timeout_s = 99 }")
    problems = check_devices(load_config(config_file(tmp_path, text)))
    keys = {p.key for p in problems}
    assert "evse[1].meter.timeout_s" in keys and "evse[1].pilot.driver" in keys
    assert all(isinstance(p, Problem) for p in problems)


async def test_the_devices_are_the_configured_drivers(tmp_path: Path) -> None:
    registry.discover()
    registry.register("pilot", "test_pilot", "tests.service.test_hardware:make_pilot")
    config = load_config(config_file(tmp_path, CONFIG.replace("PILOT", "test_pilot")))
    hardware = build_devices(config)
    (evse,) = hardware.evses
    assert isinstance(evse.meter, ModbusMeter) and evse.meter.phases == 3
    assert isinstance(evse.contactor, ModbusRelay)
    assert evse.meter.bus is evse.contactor.bus  # one owner of the shared line
    assert evse.pilot == ("pilot", "socket://127.0.0.1:2")
    await evse.meter.close()
    await evse.contactor.device.close()


def make_pilot(options: dict[str, object]) -> tuple[str, object]:
    return ("pilot", options["port"])


def test_the_installers_example_names_only_known_drivers_with_valid_options() -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "chargepoint.hardware.example.toml"
    config = load_config(example)
    assert check_devices(config) == []



def test_the_examples_commented_alternatives_are_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "chargepoint.hardware.example.toml"
    lines = example.read_text().splitlines()
    chosen: list[str] = []
    seen: set[str] = set()
    skip_active = {"pilot = {", "contactor = {"}
    for index, line in enumerate(lines):
        if any(line.startswith(active) for active in skip_active):
            continue  # replaced by the alternatives below
        kind = line[2:].split(" =", 1)[0]
        if line.startswith(("# pilot = {", "# contactor = {", "# lock = {")) and kind not in seen:
            seen.add(kind)  # the first alternative of each (the rest belong to the second EVSE's example)
            table = line[2:]
            follow = index + 1
            while table.count("{") > table.count("}"):
                table += " " + lines[follow][2:].strip()
                follow += 1
            chosen.append(table)
            continue
        chosen.append(line)
    text = "\n".join(chosen).replace('[[rfid]]\ndriver = "pn532"', '[[rfid]]\ndriver = "rdm6300"')
    config = load_config(config_file(tmp_path, text))
    (evse,) = config.evses
    assert evse.pilot is not None and evse.pilot.driver == "gpio"
    assert evse.contactor is not None and evse.contactor.driver == "modbus_relay"
    assert evse.lock is not None and evse.lock.driver == "gpio"
    assert check_devices(config) == []

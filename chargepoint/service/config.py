"""The station's static wiring: one TOML file read once into frozen dataclasses; errors name key and file.

``load_config(path)`` parses and validates the file and raises one ``ConfigError`` listing *every* problem,
each as ``<file>: <key>: <message>``. ``check_config(path)`` also checks what needs the machine (certificate
files, device ports, the storage directory), so a config can be loaded on a laptop without the hardware.

Key paths are dotted (``csms.security_profile``). Array tables are indexed from 1 in file order:
``evse[1]`` is the first ``[[evse]]`` table of the file, ``rfid[2].port`` the port of the second ``[[rfid]]``.
Relative paths are resolved against the directory of the config file, not the working directory.

OCPP-managed settings (HeartbeatInterval, the local list...) are not here: the core owns and persists them.

The parts, each a module of its own: ``config_model`` (the dataclasses, ``Problem``, ``ConfigError``),
``config_parse`` (the typed TOML table reader), ``config_sections`` (each section's rules) and
``config_check`` (the checks that need this machine). Import every name from here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path

from chargepoint.service.config_check import DEVICE_NODE_OPTIONS, Access, check_machine
from chargepoint.service.config_model import (
    HAL_DRIVERS,
    KEY_TYPES,
    OCPP_VERSIONS,
    PHASES,
    Config,
    ConfigError,
    CsmsConfig,
    DeviceConfig,
    EvseConfig,
    FirmwareConfig,
    HalConfig,
    HalDriver,
    KeyType,
    LoggingConfig,
    OcppVersion,
    Phases,
    Problem,
    SecurityConfig,
    StationConfig,
    StorageConfig,
)
from chargepoint.service.config_parse import _syntax_message, _Table
from chargepoint.service.config_sections import (
    BOOT_FIELD_LIMITS,
    DEVICE_SLOTS,
    LOG_LEVELS,
    MAX_CURRENT_A,
    MAX_SITE_CURRENT_A,
    MAX_STATION_ID,
    MIN_CURRENT_A,
    PATH_OPTIONS,
    PORT_URL_SCHEMES,
    REQUIRED_HARDWARE,
    _parse,
)

__all__ = [
    "BOOT_FIELD_LIMITS",
    "DEVICE_NODE_OPTIONS",
    "DEVICE_SLOTS",
    "HAL_DRIVERS",
    "KEY_TYPES",
    "LOG_LEVELS",
    "MAX_CURRENT_A",
    "MAX_SITE_CURRENT_A",
    "MAX_STATION_ID",
    "MIN_CURRENT_A",
    "OCPP_VERSIONS",
    "PATH_OPTIONS",
    "PHASES",
    "PORT_URL_SCHEMES",
    "REQUIRED_HARDWARE",
    "Access",
    "Config",
    "ConfigError",
    "CsmsConfig",
    "DeviceConfig",
    "EvseConfig",
    "FirmwareConfig",
    "HalConfig",
    "HalDriver",
    "KeyType",
    "LoggingConfig",
    "OcppVersion",
    "Phases",
    "Problem",
    "SecurityConfig",
    "StationConfig",
    "StorageConfig",
    "check_config",
    "load_config",
]


def load_config(path: Path) -> Config:
    """Read and validate ``path``. Raises ``ConfigError`` with every problem found."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        message = f"cannot read the config file: {err.strerror or err}"
        raise ConfigError(path, [Problem("", message)]) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(path, [Problem("", f"not UTF-8 text (byte {err.start})")]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, [Problem("", _syntax_message(str(err)))]) from None
    problems: list[Problem] = []
    source = Path(os.path.abspath(path))
    config = _parse(_Table(doc, "", problems, source.parent), source)
    if problems or config is None:
        raise ConfigError(path, problems or [Problem("", "invalid config")])
    return config


def check_config(
    path: Path,
    *,
    check_devices: Callable[[Config], list[Problem]] | None = None,
    user: str | None = None,
) -> list[Problem]:
    """``load_config`` (raises ``ConfigError``), then what needs this machine; ``[]`` when all is well.

    Checks certificate files, the hooks (present and executable), each device node a device names
    (``port``, GPIO ``chip``, input ``path``: exists, readable and writable by ``user``, default the
    current user) and the storage directory (writable, or creatable in a writable parent).
    ``check_devices`` is the hook for driver-specific checks, such as names known to the HAL registry and
    each driver's options.
    """
    config = load_config(path)
    problems = check_machine(config, user)
    if check_devices is not None:
        problems.extend(check_devices(config))
    return problems

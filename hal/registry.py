"""Drivers registered by name and imported lazily, so the simulator needs neither pyserial nor pymodbus.

The config names a driver (``meter = { model = "eastron_sdm630", ... }``); the shell asks this registry for
the factory. Entries are ``"module:attribute"`` strings: nothing is imported until a driver is used.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any

Factory = Callable[..., Any]

_ENTRIES: dict[tuple[str, str], str] = {}

ENTRY_POINT_GROUP = "chargepoint.drivers"
"""Installed packages list their ``register`` function under this entry-point group (see pyproject.toml)."""

KINDS = ("meter", "contactor", "pilot", "lock", "token_reader")


class UnknownDriver(LookupError):
    """No driver of that kind is registered under that name."""


def register(kind: str, name: str, target: str) -> None:
    """Register ``target`` (``"package.module:factory"``) as driver ``name`` of ``kind``."""
    _ENTRIES[(kind, name)] = target


def names(kind: str) -> list[str]:
    """The registered driver names of ``kind``, sorted."""
    return sorted(name for (k, name) in _ENTRIES if k == kind)


def load(kind: str, name: str) -> Factory:
    """Import and return the factory of driver ``name`` of ``kind``."""
    try:
        target = _ENTRIES[(kind, name)]
    except KeyError:
        known = ", ".join(names(kind)) or "none"
        raise UnknownDriver(f"no {kind} driver named {name!r} (known: {known})") from None
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    factory: Factory = getattr(module, attribute)
    return factory


def discover() -> list[str]:
    """Run every installed driver package's registration (entry-point group ``chargepoint.drivers``).

    Returns the names of the entry points loaded. Registration only records ``"module:attr"`` strings, so
    this imports no pyserial, pymodbus or gpiod.
    """
    loaded = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        register_all = entry.load()
        register_all()
        loaded.append(entry.name)
    return loaded

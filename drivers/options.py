"""Reading a driver's options (its TOML inline table) with errors that name the key.

The service hands each driver factory the table as written; the config loader prefixes the table's
place in the file (``evse[1].pilot``) to the ``OptionError`` message, so an installer sees the file, the
table and the key.
"""

from __future__ import annotations

from collections.abc import Mapping


class OptionError(ValueError):
    """A driver option is invalid; the message names the key."""


def check_known(options: Mapping[str, object], allowed: frozenset[str]) -> None:
    """Reject option keys nobody reads (a typo such as ``baud`` would otherwise pass silently)."""
    for key in options:
        if key not in allowed:
            raise OptionError(f"{key}: unknown option (known: {', '.join(sorted(allowed))})")


def text(options: Mapping[str, object], key: str, default: str | None = None) -> str:
    """A required (or defaulted) non-empty string."""
    value = options.get(key, default)
    if value is None:
        raise OptionError(f"{key}: missing")
    if not isinstance(value, str) or not value:
        raise OptionError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def integer(options: Mapping[str, object], key: str, default: int | None, lo: int, hi: int) -> int:
    """An integer within ``lo..hi`` (booleans are not integers here)."""
    value = options.get(key, default)
    if value is None:
        raise OptionError(f"{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{key}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise OptionError(f"{key}: {value} is out of range {lo}..{hi}")
    return value


def number(options: Mapping[str, object], key: str, default: float | None, lo: float, hi: float) -> float:
    """A number within ``lo..hi``."""
    value = options.get(key, default)
    if value is None:
        raise OptionError(f"{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"{key}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise OptionError(f"{key}: {value} is out of range {lo}..{hi}")
    return float(value)


def flag(options: Mapping[str, object], key: str, default: bool) -> bool:
    """A boolean."""
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise OptionError(f"{key}: expected true or false, got {value!r}")
    return value

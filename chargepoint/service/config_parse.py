"""Reading TOML tables: typed getters that record each problem under its dotted key instead of raising."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from chargepoint.service.config_model import Problem

_TOML_TYPES = {str: "a string", int: "an integer", float: "a float", bool: "a boolean", dict: "a table",
               list: "an array"}  # the rest are TOML dates and times


def _type_name(value: object) -> str:
    return _TOML_TYPES.get(type(value), f"a {type(value).__name__}")


class _Table:
    """One TOML table being read: typed getters that record a ``Problem`` under the dotted key and
    return ``None`` for a missing or invalid value. Values are never echoed in type errors (secrets)."""

    def __init__(self, data: Mapping[str, object], prefix: str, problems: list[Problem], base: Path) -> None:
        self.data = data
        self.prefix = prefix
        self.problems = problems
        self.base = base
        self._start = len(problems)

    @property
    def ok(self) -> bool:
        """No problem recorded since this table was opened (including in its sub-tables)."""
        return len(self.problems) == self._start

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.key(name), message))

    def check_keys(self, known: Iterable[str]) -> None:
        known = list(known)
        for name in self.data:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                self.problem(name, f"unknown key{hint}")

    def _get(self, name: str, types: tuple[type, ...], expected: str, required: bool) -> object | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing (required{' table' if expected == 'a table' else ''})")
            return None
        # bool is a subclass of int in Python, but `phases = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, types):
            self.problem(name, f"expected {expected}, got {_type_name(value)}")
            return None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, (str,), "a string", required)
        return value if isinstance(value, str) else None

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._get(name, (int,), "an integer", required)
        return value if isinstance(value, int) else None

    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._get(name, (float, int), "a number", required)
        if not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            self.problem(name, "must be a finite number")
            return None
        return float(value)

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(name, f"expected true or false, got {_type_name(value)}")
            return None
        return value

    def path(self, name: str, *, required: bool = False) -> Path | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not value:
            self.problem(name, "must not be empty")
            return None
        return self.resolve(value)

    def resolve(self, value: str) -> Path:
        return Path(os.path.normpath(self.base / value))

    def table(self, name: str, *, required: bool = False) -> _Table | None:
        value = self._get(name, (dict,), "a table", required)
        if not isinstance(value, dict):
            return None
        return _Table(value, self.key(name), self.problems, self.base)

    def array(self, name: str) -> list[_Table] | None:
        """An array of tables (``[[name]]``); items are keyed ``name[1]``, ``name[2]``... in file order."""
        value = self._get(name, (list,), f"an array of tables ([[{name}]])", False)
        if not isinstance(value, list):
            return None
        items = []
        for index, item in enumerate(value, start=1):
            if isinstance(item, dict):
                items.append(_Table(item, self.key(f"{name}[{index}]"), self.problems, self.base))
            else:
                self.problem(f"{name}[{index}]", f"expected a table, got {_type_name(item)}")
        return items


def _raw(doc: _Table, table: str, name: str) -> object:
    """A value as written, for rules that span two tables (each table reports its own type problems)."""
    section = doc.data.get(table)
    return section.get(name) if isinstance(section, dict) else None


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _syntax_message(message: str) -> str:
    match = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", message)
    if match is None:
        return f"invalid TOML: {message}"
    return f"invalid TOML at {match.group(2)}: {match.group(1)}"


def _choice(table: _Table, name: str, value: str | None, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value is not None and value not in choices:
        close = difflib.get_close_matches(value.lower(), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        table.problem(name, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}{hint}")


"""Meter register maps as data: load and check a model file, plan coalesced reads, decode register words.

A model file (TOML) describes one meter type; the installer of an unlisted meter writes one in the same
format and points ``register_map`` at it. Layout::

    name = "Eastron SDM630-Modbus v2"
    phases = 3                      # 1 or 3: the per-phase values the meter has
    max_registers_per_read = 80     # the device's per-request limit (Modbus allows 125 for FC03/FC04)
    max_read_gap = 80               # unused registers a read may span to join two blocks (0 = never)

    [serial]                        # factory defaults; the meter's config options override them
    baudrate = 9600
    parity = "N"                    # N, E or O
    stopbits = 1
    unit = 1

    [defaults]                      # applied to every register that does not set the key itself
    function = 4                    # 3 = holding registers (FC03), 4 = input registers (FC04)
    type = "float32"                # int16 uint16 int32 uint32 int64 uint64 float32 float64
    word_order = "ABCD"             # ABCD / big = high word first; CDAB / little = low word first
    scale = 1.0                     # multiply the raw value by this ...
    unsupported_sentinel = false    # all-ones (unsigned) or 0x7FFF... (signed) means "not available"

    [registers]                     # key = OCPP measurand, optionally "." + phase (L1, L2, L3, N)
    "Voltage.L1" = { address = 0x0000, unit = "V" }
    "Energy.Active.Import.Register" = { address = 0x0048, unit = "kWh" }   # ... to get this unit

Decoded values come out in the OCPP base unit of the measurand (Wh, varh, W, A, V, Hz, Percent), so
``unit = "kWh"`` multiplies by 1000. Bytes within a register are always big-endian (Modbus application
protocol V1.1b3 §4.2); only the order of the 16-bit words differs between meters.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import NoReturn

# The Modbus application protocol limits FC03/FC04 to 125 registers per request (V1.1b3 §6.3, §6.4).
MODBUS_MAX_READ_REGISTERS = 125


class ModelError(ValueError):
    """A model data file is invalid; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class Measurand(StrEnum):
    """The OCPP measurands a meter model may map (OCPP 1.6 §7.31 / 2.0.1 MeasurandEnumType)."""

    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    CURRENT_IMPORT = "Current.Import"
    VOLTAGE = "Voltage"
    FREQUENCY = "Frequency"
    POWER_FACTOR = "Power.Factor"
    SOC = "SoC"


# Units a model may declare per measurand, with the factor to the OCPP base unit (UnitOfMeasure).
_UNITS: dict[Measurand, dict[str, float]] = {
    Measurand.ENERGY_ACTIVE_IMPORT_REGISTER: {"Wh": 1.0, "kWh": 1000.0},
    Measurand.ENERGY_ACTIVE_EXPORT_REGISTER: {"Wh": 1.0, "kWh": 1000.0},
    Measurand.ENERGY_REACTIVE_IMPORT_REGISTER: {"varh": 1.0, "kvarh": 1000.0},
    Measurand.ENERGY_REACTIVE_EXPORT_REGISTER: {"varh": 1.0, "kvarh": 1000.0},
    Measurand.POWER_ACTIVE_IMPORT: {"W": 1.0, "kW": 1000.0},
    Measurand.CURRENT_IMPORT: {"A": 1.0},
    Measurand.VOLTAGE: {"V": 1.0},
    Measurand.FREQUENCY: {"Hz": 1.0},
    Measurand.POWER_FACTOR: {"": 1.0},
    Measurand.SOC: {"Percent": 1.0},
}
_UNPHASED = frozenset({Measurand.FREQUENCY, Measurand.SOC})
PHASES = ("L1", "L2", "L3", "N")


class RegisterType(StrEnum):
    """How the words of one value are read."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def words(self) -> int:
        return _STRUCT[self][1]

    @property
    def is_float(self) -> bool:
        return self in (RegisterType.FLOAT32, RegisterType.FLOAT64)

    @property
    def is_signed(self) -> bool:
        return self.value.startswith("int")


_STRUCT: dict[RegisterType, tuple[str, int]] = {
    RegisterType.INT16: ("h", 1),
    RegisterType.UINT16: ("H", 1),
    RegisterType.INT32: ("i", 2),
    RegisterType.UINT32: ("I", 2),
    RegisterType.INT64: ("q", 4),
    RegisterType.UINT64: ("Q", 4),
    RegisterType.FLOAT32: ("f", 2),
    RegisterType.FLOAT64: ("d", 4),
}


class WordOrder(StrEnum):
    """The order of the 16-bit words of a multi-register value."""

    BIG = "ABCD"  # high word first (Eastron, ABB)
    LITTLE = "CDAB"  # low word first (Carlo Gavazzi EM340, Phoenix EEM-350)


_WORD_ORDER_NAMES = {
    "ABCD": WordOrder.BIG,
    "BIG": WordOrder.BIG,
    "CDAB": WordOrder.LITTLE,
    "LITTLE": WordOrder.LITTLE,
}


def decode_words(words: Sequence[int], kind: RegisterType, order: WordOrder) -> int | float:
    """The raw value of ``kind`` held in ``words`` (register values 0..65535), before scaling."""
    fmt, size = _STRUCT[kind]
    if len(words) != size:
        raise ValueError(f"{kind} needs {size} registers, got {len(words)}")
    ordered = words if order is WordOrder.BIG else tuple(reversed(words))
    raw = b"".join(word.to_bytes(2, "big") for word in ordered)
    value: int | float = struct.unpack(">" + fmt, raw)[0]
    return value


def sentinel_of(kind: RegisterType) -> int | None:
    """The "not available" raw value of an integer type (ABB B-series), or None for floats."""
    if kind.is_float:
        return None
    bits = 16 * kind.words
    return (1 << (bits - 1)) - 1 if kind.is_signed else (1 << bits) - 1


@dataclass(frozen=True, slots=True)
class Register:
    """Where and how one measurand sits in the meter."""

    key: str  # "Voltage.L1" or "Frequency", as in the data file
    measurand: Measurand
    phase: str | None
    function: int  # 3 or 4
    address: int
    kind: RegisterType
    word_order: WordOrder
    scale: float
    unit: str
    unsupported_sentinel: bool

    @property
    def words(self) -> int:
        return self.kind.words

    @property
    def end(self) -> int:
        """The first address after this register."""
        return self.address + self.kind.words

    def decode(self, words: Sequence[int]) -> float | None:
        """The value in the measurand's base unit, or None when the meter says "not available"."""
        raw = decode_words(words, self.kind, self.word_order)
        if isinstance(raw, float):
            if not math.isfinite(raw):
                return None
        elif self.unsupported_sentinel and raw == sentinel_of(self.kind):
            return None
        return raw * self.scale * _UNITS[self.measurand][self.unit]


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One request: ``count`` registers from ``address`` with function code ``function``."""

    function: int
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class SerialDefaults:
    """The meter's factory line settings."""

    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    unit: int = 1


@dataclass(frozen=True, slots=True)
class MeterModel:
    """One meter type: its registers and the reads that fetch them."""

    name: str
    source: str
    phases: int
    max_registers_per_read: int
    max_read_gap: int
    serial: SerialDefaults
    registers: tuple[Register, ...]
    plan: tuple[ReadBlock, ...]
    # (register, index of its block in ``plan``, offset of its first word in that block)
    locations: tuple[tuple[Register, int, int], ...]

    def register(self, key: str) -> Register | None:
        return next((reg for reg in self.registers if reg.key == key), None)

    def decode(self, block_words: Sequence[Sequence[int]]) -> dict[str, float | None]:
        """Every register's value, from the words read for each block of ``plan`` (same order)."""
        if len(block_words) != len(self.plan):
            raise ValueError(f"expected {len(self.plan)} blocks, got {len(block_words)}")
        values: dict[str, float | None] = {}
        for reg, index, offset in self.locations:
            words = block_words[index]
            if len(words) < offset + reg.words:
                raise ValueError(f"block {index} is short: {len(words)} registers")
            values[reg.key] = reg.decode(words[offset : offset + reg.words])
        return values


def plan_reads(
    registers: Sequence[Register], max_count: int, max_gap: int
) -> tuple[ReadBlock, ...]:
    """The fewest requests that cover ``registers``: per function code, join neighbours while the
    request stays within ``max_count`` registers and the unused span between them within ``max_gap``.

    Greedy from the lowest address is optimal for covering sorted intervals with bounded blocks.
    One request costs 8 + 5 bytes of framing plus two t3.5 gaps (about 20 characters), so reading a
    few unused registers is cheaper than a second request; ``max_gap`` caps it for devices that
    reject reads of unmapped addresses.
    """
    blocks: list[ReadBlock] = []
    for function in sorted({reg.function for reg in registers}):
        start = end = -1
        for reg in sorted(
            (r for r in registers if r.function == function), key=lambda r: r.address
        ):
            joined_end = max(end, reg.end)
            if start >= 0 and reg.address - end <= max_gap and joined_end - start <= max_count:
                end = joined_end
                continue
            if start >= 0:
                blocks.append(ReadBlock(function, start, end - start))
            start, end = reg.address, reg.end
        if start >= 0:
            blocks.append(ReadBlock(function, start, end - start))
    return tuple(blocks)


def _locate(
    registers: Sequence[Register], plan: Sequence[ReadBlock]
) -> tuple[tuple[Register, int, int], ...]:
    located: list[tuple[Register, int, int]] = []
    for reg in registers:
        for index, block in enumerate(plan):
            if (
                block.function == reg.function
                and block.address <= reg.address
                and reg.end <= block.address + block.count
            ):
                located.append((reg, index, reg.address - block.address))
                break
        else:  # pragma: no cover - plan_reads covers every register by construction
            raise AssertionError(f"register {reg.key} not covered by the read plan")
    return tuple(located)


# --- parsing and checking ---------------------------------------------------------------------------

_TOP_KEYS = frozenset(
    {"name", "phases", "max_registers_per_read", "max_read_gap", "serial", "defaults", "registers"}
)
_SERIAL_KEYS = frozenset({"baudrate", "parity", "stopbits", "unit"})
_REGISTER_KEYS = frozenset(
    {"function", "address", "type", "word_order", "scale", "unit", "unsupported_sentinel"}
)
_DEFAULT_KEYS = _REGISTER_KEYS - {"address", "unit"}
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")


class _Checker:
    """Typed reads from a parsed TOML table; every failure names the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ModelError(self.source, key, problem)

    def no_unknown(self, table: Mapping[str, object], allowed: frozenset[str], path: str) -> None:
        for key in table:
            if key not in allowed:
                where = f"{path}.{_quote(key)}" if path else _quote(key)
                self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def table(self, value: object, path: str) -> Mapping[str, object]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a table, got {type(value).__name__}")
        return value

    def integer(self, value: object, path: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {value!r}")
        if not lo <= value <= hi:
            self.fail(path, f"{value} is out of range {lo}..{hi}")
        return value

    def int_choice(self, value: object, path: str, choices: Sequence[int]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
            self.fail(path, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def str_choice(self, value: object, path: str, choices: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {value!r}")
        return value

    def number(self, value: object, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {value!r}")
        if not math.isfinite(value) or value == 0:
            self.fail(path, f"expected a finite non-zero number, got {value!r}")
        return float(value)

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}")
        return value


def _quote(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def _check_register_field(check: _Checker, name: str, value: object, path: str) -> object:
    """One register field, checked and converted (``unit`` is checked later, per measurand)."""
    if name == "function":
        return check.int_choice(value, path, (3, 4))
    if name == "address":
        return check.integer(value, path, 0, 0xFFFF)
    if name == "type":
        names = [kind.value for kind in RegisterType]
        return RegisterType(check.str_choice(value, path, names))
    if name == "word_order":
        text = value.upper() if isinstance(value, str) else value
        if text not in _WORD_ORDER_NAMES:
            check.fail(path, f"expected ABCD (big) or CDAB (little), got {value!r}")
        return _WORD_ORDER_NAMES[str(text)]
    if name == "scale":
        return check.number(value, path)
    if name == "unsupported_sentinel":
        return check.boolean(value, path)
    if not isinstance(value, str):  # unit
        check.fail(path, f"expected a string, got {value!r}")
    return value


def _split_key(check: _Checker, key: str, phases: int) -> tuple[Measurand, str | None]:
    path = f"registers.{_quote(key)}"
    name, phase = key, None
    head, dot, tail = key.rpartition(".")
    if dot and tail in PHASES:
        name, phase = head, tail
    try:
        measurand = Measurand(name)
    except ValueError:
        known = ", ".join(m.value for m in Measurand)
        check.fail(
            path, f"unknown measurand {name!r} (known: {known}; add .L1/.L2/.L3/.N for a phase)"
        )
    if phase is not None and measurand in _UNPHASED:
        check.fail(path, f"{measurand} has no phases")
    if phase in ("L2", "L3") and phases == 1:
        check.fail(path, f"phase {phase} in a single-phase model (phases = 1)")
    return measurand, phase


def _parse_register(
    check: _Checker, key: str, entry: object, defaults: Mapping[str, object], phases: int
) -> Register:
    path = f"registers.{_quote(key)}"
    measurand, phase = _split_key(check, key, phases)
    table = check.table(entry, path)
    check.no_unknown(table, _REGISTER_KEYS, path)
    fields = dict(defaults)
    for name, value in table.items():
        fields[name] = _check_register_field(check, name, value, f"{path}.{name}")
    for name in ("function", "address", "type"):
        if name not in fields:
            check.fail(f"{path}.{name}", "missing (set it here or in [defaults])")
    units = _UNITS[measurand]
    unit = fields.get("unit")
    if unit is None:
        if len(units) > 1:
            check.fail(f"{path}.unit", f"missing: say which unit, one of {', '.join(units)}")
        unit = next(iter(units))
    if unit not in units:
        check.fail(
            f"{path}.unit", f"{unit!r} is not a unit of {measurand} ({', '.join(map(repr, units))})"
        )
    kind = fields["type"]
    address = fields["address"]
    assert isinstance(kind, RegisterType) and isinstance(address, int)
    if address + kind.words - 1 > 0xFFFF:
        check.fail(f"{path}.address", f"{kind} at {address} runs past register 65535")
    function = fields["function"]
    word_order = fields.get("word_order", WordOrder.BIG)
    scale = fields.get("scale", 1.0)
    sentinel = fields.get("unsupported_sentinel", False)
    assert isinstance(function, int) and isinstance(word_order, WordOrder)
    assert isinstance(scale, float) and isinstance(sentinel, bool)
    return Register(
        key=key,
        measurand=measurand,
        phase=phase,
        function=function,
        address=address,
        kind=kind,
        word_order=word_order,
        scale=scale,
        unit=str(unit),
        unsupported_sentinel=sentinel,
    )


def _parse_serial(check: _Checker, value: object) -> SerialDefaults:
    if value is None:
        return SerialDefaults()
    table = check.table(value, "serial")
    check.no_unknown(table, _SERIAL_KEYS, "serial")
    base = SerialDefaults()
    baudrate = table.get("baudrate", base.baudrate)
    parity = table.get("parity", base.parity)
    stopbits = table.get("stopbits", base.stopbits)
    unit = table.get("unit", base.unit)
    return SerialDefaults(
        baudrate=check.int_choice(baudrate, "serial.baudrate", BAUDRATES),
        parity=check.str_choice(parity, "serial.parity", PARITIES),
        stopbits=check.int_choice(stopbits, "serial.stopbits", (1, 2)),
        unit=check.integer(unit, "serial.unit", 1, 247),
    )


def parse_model(data: Mapping[str, object], source: str) -> MeterModel:
    """Check a parsed model file and build the model; ``source`` names the file in errors."""
    check = _Checker(source)
    check.no_unknown(data, _TOP_KEYS, "")
    for required in ("name", "phases", "registers"):
        if required not in data:
            check.fail(required, "missing")
    name = check.string(data["name"], "name")
    phases = check.int_choice(data["phases"], "phases", (1, 3))
    max_read = check.integer(
        data.get("max_registers_per_read", MODBUS_MAX_READ_REGISTERS),
        "max_registers_per_read",
        1,
        MODBUS_MAX_READ_REGISTERS,
    )
    max_gap = check.integer(
        data.get("max_read_gap", 0), "max_read_gap", 0, MODBUS_MAX_READ_REGISTERS
    )
    serial = _parse_serial(check, data.get("serial"))

    defaults_table = check.table(data.get("defaults", {}), "defaults")
    check.no_unknown(defaults_table, _DEFAULT_KEYS, "defaults")
    defaults = {
        name: _check_register_field(check, name, value, f"defaults.{name}")
        for name, value in defaults_table.items()
    }

    registers_table = check.table(data["registers"], "registers")
    registers = tuple(
        _parse_register(check, key, entry, defaults, phases)
        for key, entry in registers_table.items()
    )
    if Measurand.ENERGY_ACTIVE_IMPORT_REGISTER.value not in registers_table:
        check.fail(
            "registers",
            f'missing "{Measurand.ENERGY_ACTIVE_IMPORT_REGISTER}" (every meter needs it)',
        )
    for reg in registers:
        if reg.words > max_read:
            check.fail(
                f"registers.{_quote(reg.key)}.type",
                f"{reg.kind} needs {reg.words} registers but max_registers_per_read = {max_read}",
            )
    _check_overlaps(check, registers)
    plan = plan_reads(registers, max_read, max_gap)
    return MeterModel(
        name=name,
        source=source,
        phases=phases,
        max_registers_per_read=max_read,
        max_read_gap=max_gap,
        serial=serial,
        registers=registers,
        plan=plan,
        locations=_locate(registers, plan),
    )


def _check_overlaps(check: _Checker, registers: Sequence[Register]) -> None:
    ordered = sorted(registers, key=lambda reg: (reg.function, reg.address))
    for before, after in itertools.pairwise(ordered):
        if before.function == after.function and after.address < before.end:
            check.fail(
                f"registers.{_quote(after.key)}.address",
                f"overlaps {before.key!r} (FC{before.function:02d} {before.address}..{before.end - 1})",
            )


def load_model(path: str | os.PathLike[str]) -> MeterModel:
    """Read and check a model file (the generic meter's ``register_map``)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            data = tomllib.load(file)
    except OSError as err:
        raise ModelError(source, "(file)", f"cannot read: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ModelError(source, "(syntax)", str(err)) from err
    return parse_model(data, source)


def builtin_model_names() -> list[str]:
    """The models shipped in ``drivers/modbus/models/`` (file stems), sorted."""
    folder = resources.files(__package__ or "drivers.modbus").joinpath("models")
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


@cache
def load_builtin_model(name: str) -> MeterModel:
    """A shipped model by file stem (``"eastron_sdm630"``)."""
    if name not in builtin_model_names():
        known = ", ".join(builtin_model_names())
        raise ModelError(
            f"{name}.toml", "(file)", f"no built-in meter model {name!r} (known: {known})"
        )
    entry = resources.files(__package__ or "drivers.modbus").joinpath("models", f"{name}.toml")
    source = f"drivers/modbus/models/{name}.toml"
    try:
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ModelError(source, "(syntax)", str(err)) from err
    return parse_model(data, source)

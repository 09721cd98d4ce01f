"""Payload validation against the official OCPP JSON schemas, compiled once per action, mapped to error codes.

The schemas are those shipped in the ``ocpp`` package: ``ocpp/v16/schemas/<Action>.json`` and
``<Action>Response.json``; ``ocpp/v201/schemas/<Action>Request.json`` and ``<Action>Response.json`` (some
2.0.1 files start with a UTF-8 BOM). Each is compiled by fastjsonschema on first use and kept per
(direction, action), so a message pays only for running the generated code. ``ocpp.messages`` is not used:
it validates with jsonschema (several times slower), gives failures codes the spec does not (a missing field
is a ProtocolError there, an unknown action NotSupported) and echoes the whole payload in its errors.

Failure -> code (OCPP-J 1.6 §4.2.3 Table 7; OCPP 2.0.1 part 4 §4.3):
- ``type`` -> TypeConstraintViolation ("violates data type constraints (e.g. "somestring": 12)").
- ``required``, ``minItems``, ``maxItems`` -> OccurenceConstraintViolation (1.6, sic) /
  OccurrenceConstraintViolation (2.0.1): "violates occurrence constraints", i.e. cardinality.
- ``enum``, ``maxLength``, ``minimum``/``maximum``, ``pattern``, ``multipleOf``, ``format`` (a bad
  date-time or URI) -> PropertyConstraintViolation: "Payload is syntactically correct but at least one field
  contains an invalid value" - the type is right, the value is not.
- ``additionalProperties`` and anything else -> FormationViolation (1.6: "not conform the PDU structure for
  Action") / FormatViolation (2.0.1).

Schema preparation at compile time, and why:
- ``multipleOf: 0.1`` (OCPP 1.6 SetChargingProfile and RemoteStartTransaction limits, the GetCompositeSchedule
  result: rates "with one decimal") is taken out and checked here. 21.4 is 21.39999999999999857... in binary,
  so a plain float division fails it (the jsonschema issue the ``ocpp`` library works around by re-parsing the
  payload with Decimal). fastjsonschema 2.22 divides Decimals, but that depends on its version, and it raises
  OverflowError for an integer beyond 1e308 - and a CSMS payload must never make the station raise. The check
  here accepts a value within 1e-9 (relative) of a whole number of tenths, and never raises.
- ``format: date-time`` is checked as RFC 3339 §5.6 date-time (T/Z in either case, optional fraction, Z or a
  numeric offset, real calendar dates); ``format: uri`` as an RFC 3986 scheme, a colon and no blanks. Both are
  set here rather than left to the library's defaults.
- ``default`` is never applied (``use_default=False``): validating must not add fields to our messages.
- ``additionalProperties`` on a non-object schema (1.6 puts it on enum strings) is a no-op in JSON Schema and
  is dropped; a string ``enum`` becomes a custom format backed by a frozenset (one hash lookup instead of a
  chain of comparisons). Neither changes what is accepted; together they cut the cost by about a third.

Descriptions are short and name the field, never its value (it may be an id token).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Final, Literal

import fastjsonschema

from chargepoint.core.rpc.framing import NOT_IMPLEMENTED, PROPERTY_CONSTRAINT, TYPE_CONSTRAINT, Dialect

JsonObject = dict[str, object]
Version = Literal["1.6", "2.0.1"]

_FOLDERS: Final = {"1.6": ("v16", ""), "2.0.1": ("v201", "Request")}
_RESPONSE = "Response"
_ENUM_FORMAT = "ocpp-enum-"
_REL_TOLERANCE = 1e-9

_OCCURRENCE_RULES: Final = frozenset({"required", "minItems", "maxItems", "minProperties", "maxProperties"})
_PROPERTY_RULES: Final = frozenset(
    {
        "enum", "const", "maxLength", "minLength", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "pattern", "multipleOf", "format",
    }
)

# RFC 3339 §5.6 date-time; §5.6 NOTE allows lower-case "t" and "z"; second 60 is a leap second (§5.7).
_DATE_TIME: Final = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
    re.ASCII,
)
# RFC 3986 §3.1 scheme ":" then anything without blanks.
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", re.ASCII)
_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_.-]{1,40}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a payload does not fit its schema: the CALLERROR code and a short description."""

    code: str
    description: str


def is_date_time(value: str) -> bool:
    """True for an RFC 3339 date-time, e.g. ``2024-05-01T12:00:00Z`` or ``2024-05-01T12:00:00.123+02:00``."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    day = int(match[3])
    if day > 28:  # the regex allows 29-31 in every month; let the calendar decide
        try:
            date(int(match[1]), int(match[2]), day)
        except ValueError:
            return False
    return True


def _is_uri(value: str) -> bool:
    return _URI.fullmatch(value) is not None


def _no_remote_refs(uri: str) -> object:
    # The OCPP schemas only use local "#/definitions/..." references; never fetch anything.
    raise ValueError(f"remote schema reference refused: {uri}")


_HANDLERS: Final = {scheme: _no_remote_refs for scheme in ("http", "https", "file", "ftp", "urn")}

Path = tuple[str, ...]  # property names, "*" for every array item


@dataclass(frozen=True, slots=True)
class _Decimals:
    """A ``multipleOf`` taken out of the schema (see the module docstring): where, and the step."""

    path: Path
    step: float


class _Compiled:
    """One schema, compiled: returns None or the first violation. Never raises for JSON-like input."""

    __slots__ = ("_decimals", "_dialect", "_validate")

    def __init__(self, schema: JsonObject, dialect: Dialect) -> None:
        formats: dict[str, Callable[[str], bool]] = {"date-time": is_date_time, "uri": _is_uri}
        decimals: list[_Decimals] = []
        prepared = _prepare(schema, (), formats, decimals)
        assert isinstance(prepared, dict)
        self._validate: Callable[[object], object] = fastjsonschema.compile(
            prepared, handlers=_HANDLERS, formats=formats, use_default=False
        )
        self._decimals = tuple(decimals)
        self._dialect = dialect

    def __call__(self, payload: JsonObject) -> Violation | None:
        try:
            self._validate(payload)
        except fastjsonschema.JsonSchemaValueException as err:
            return _violation(err, self._dialect)
        for rule in self._decimals:
            for where, value in _values_at(payload, rule.path, ()):
                if not _is_multiple(value, rule.step):
                    return Violation(PROPERTY_CONSTRAINT, f"{_dotted(where)}: not a multiple of {rule.step}")
        return None


def _prepare(
    node: object, path: Path | None, formats: dict[str, Callable[[str], bool]], decimals: list[_Decimals]
) -> object:
    """A copy of ``node`` ready for fastjsonschema (see the module docstring). ``path`` is None once we
    leave the plain properties/items nesting (under $ref targets, combinators)."""
    if isinstance(node, list):
        return [_prepare(item, None, formats, decimals) for item in node]
    if not isinstance(node, dict):
        return node
    out: JsonObject = {}
    for key, value in node.items():
        if key in ("properties", "definitions") and isinstance(value, dict):
            base = path if key == "properties" else None
            out[key] = {
                name: _prepare(sub, None if base is None else (*base, name), formats, decimals)
                for name, sub in value.items()
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = _prepare(value, (*path, "*") if path is not None else None, formats, decimals)
        else:
            out[key] = _prepare(value, None, formats, decimals)
    step = out.get("multipleOf")
    if isinstance(step, float) and path is not None:
        decimals.append(_Decimals(path, step))
        del out["multipleOf"]
    kind = out.get("type")
    if "additionalProperties" in out and isinstance(kind, str) and kind != "object":
        del out["additionalProperties"]
    enum = out.get("enum")
    plain = isinstance(enum, list) and all(isinstance(v, str) for v in enum)
    if kind == "string" and plain and isinstance(enum, list) and "format" not in out:
        name = f"{_ENUM_FORMAT}{len(formats)}"
        formats[name] = frozenset(enum).__contains__
        del out["enum"]
        out["format"] = name
    return out


def _values_at(node: object, path: Path, where: Path) -> Iterator[tuple[Path, object]]:
    if not path:
        yield where, node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from _values_at(item, rest, (*where, f"[{index}]"))
    elif isinstance(node, dict) and head in node:
        yield from _values_at(node[head], rest, (*where, head))


def _is_multiple(value: object, step: float) -> bool:
    """``value`` is a whole number of ``step`` (OCPP uses only 0.1), within a relative tolerance."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True  # not a number: the type check already judged it
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if abs(value) >= 2**53:
        return True  # an integer (every float this large is one), so a whole number of tenths
    quotient = float(value) / step
    return abs(quotient - round(quotient)) <= _REL_TOLERANCE * max(1.0, abs(quotient))


def _dotted(where: Path) -> str:
    text = ".".join(where).replace(".[", "[")
    return text[:80] if text else "payload"


def _field(name: object) -> str:
    """fastjsonschema's ``data.a[0].b`` -> ``a[0].b``."""
    text = str(name)
    text = text[4:] if text.startswith("data") else text
    text = text.lstrip(".")
    return text[:80] if text else "payload"


def _violation(err: fastjsonschema.JsonSchemaValueException, dialect: Dialect) -> Violation:
    rule = str(err.rule)
    where = _field(err.name)
    definition: object = err.definition
    value: object = err.value
    rule_value = definition.get(rule) if isinstance(definition, dict) else None
    if rule == "type":
        return Violation(TYPE_CONSTRAINT, f"{where}: must be {_type_name(rule_value)}")
    if rule in _OCCURRENCE_RULES:
        if rule == "required" and isinstance(rule_value, list) and isinstance(value, dict):
            missing = next((str(k) for k in rule_value if k not in value), "?")
            return Violation(dialect.occurrence_violation, f"{where}: missing {missing}")
        return Violation(dialect.occurrence_violation, f"{where}: violates {rule} {rule_value}")
    if rule in _PROPERTY_RULES:
        if rule == "format" and isinstance(rule_value, str):
            if rule_value.startswith(_ENUM_FORMAT):
                return Violation(PROPERTY_CONSTRAINT, f"{where}: not an allowed value")
            return Violation(PROPERTY_CONSTRAINT, f"{where}: not a valid {rule_value}")
        return Violation(PROPERTY_CONSTRAINT, f"{where}: violates {rule} {rule_value}")
    if rule == "additionalProperties" and isinstance(value, dict) and isinstance(definition, dict):
        known = definition.get("properties")
        extra = next((k for k in value if not isinstance(known, dict) or k not in known), None)
        if isinstance(extra, str) and _PLAIN_KEY.fullmatch(extra):
            return Violation(dialect.format_violation, f"{where}: unexpected property {extra}")
        return Violation(dialect.format_violation, f"{where}: unexpected property")
    return Violation(dialect.format_violation, f"{where}: violates {rule}")


def _type_name(kind: object) -> str:
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind)


class SchemaSet:
    """The request and response schemas of one OCPP version, compiled lazily and cached per action."""

    def __init__(self, version: Version, *, enabled: bool = True) -> None:
        if version not in _FOLDERS:
            raise ValueError(f"unknown OCPP version {version!r}")
        folder, request_suffix = _FOLDERS[version]
        self.version = version
        self.enabled = enabled
        self._dialect = Dialect.V16 if version == "1.6" else Dialect.V201
        self._folder = resources.files("ocpp").joinpath(folder, "schemas")
        self._request_suffix = request_suffix
        actions: set[str] = set()
        for entry in self._folder.iterdir():
            name = entry.name
            if not name.endswith(".json") or name.endswith(f"{_RESPONSE}.json"):
                continue
            stem = name[: -len(".json")]
            if stem.endswith(request_suffix):
                actions.add(stem[: len(stem) - len(request_suffix)])
        self._actions = frozenset(actions)
        self._requests: dict[str, _Compiled] = {}
        self._responses: dict[str, _Compiled] = {}

    @property
    def actions(self) -> frozenset[str]:
        """Every action with a request schema."""
        return self._actions

    def knows(self, action: str) -> bool:
        """True when a request schema exists for ``action``."""
        return action in self._actions

    def check_call(self, action: str, payload: JsonObject) -> Violation | None:
        """None if ``payload`` is a valid ``action`` request. An unknown action is NotImplemented (OCPP-J
        1.6 §4.2.3: "Requested Action is not known by receiver"; the ``ocpp`` library says NotSupported)."""
        if not self.enabled:
            return None
        check = self._requests.get(action)
        if check is None:
            if action not in self._actions:
                return Violation(NOT_IMPLEMENTED, "unknown action")
            check = self._requests[action] = self._compile(action + self._request_suffix)
        return check(payload)

    def check_result(self, action: str, payload: JsonObject) -> Violation | None:
        """None if ``payload`` is a valid answer to an ``action`` request."""
        if not self.enabled:
            return None
        check = self._responses.get(action)
        if check is None:
            if action not in self._actions:
                return Violation(NOT_IMPLEMENTED, "unknown action")
            check = self._responses[action] = self._compile(action + _RESPONSE)
        return check(payload)

    def _compile(self, stem: str) -> _Compiled:
        # Read as bytes: some 2.0.1 files start with a UTF-8 BOM, which "utf-8-sig" drops.
        text = self._folder.joinpath(f"{stem}.json").read_bytes().decode("utf-8-sig")
        schema = json.loads(text)
        if not isinstance(schema, dict):
            raise ValueError(f"schema {stem} is not an object")
        return _Compiled(schema, self._dialect)

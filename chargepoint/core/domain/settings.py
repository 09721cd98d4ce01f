"""OCPP-managed settings of the station: typed values by canonical name, validated, persisted.

The canonical names are the OCPP 1.6 configuration keys (§9); the 2.0.1 adapter maps device-model variables
onto them through a table, so a value changed under one version is still in force under the other.
Changes are persisted through ``Persist("settings", name, value)`` actions and restored from records.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from chargepoint.core.actions import Persist

KIND = "settings"

Value = int | bool | str


class SettingType(StrEnum):
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    CSL = "csl"  # comma separated list


class SetResult(StrEnum):
    """OCPP 1.6 §7.9 ConfigurationStatus."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting: its type, default, mutability and bounds."""

    name: str
    type: SettingType
    default: Value
    readonly: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    allowed: frozenset[str] | None = None
    max_items_key: str | None = None  # for CSL: the setting that bounds the item count
    reboot_required: bool = False
    secret: bool = False  # write-only: never reported (e.g. AuthorizationKey)


class InvalidValue(ValueError):
    """A wire value that does not fit the setting."""


class Settings:
    """The current values of every setting the station knows."""

    def __init__(self, specs: Iterable[SettingSpec], overrides: Mapping[str, Value] | None = None) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._values: dict[str, Value] = {name: spec.default for name, spec in self._specs.items()}
        for name, value in (overrides or {}).items():
            if name in self._specs:
                self._values[name] = value

    # -- persistence ----------------------------------------------------------------------------------

    def restore(self, records: Iterable[tuple[str, object]]) -> None:
        """Load persisted values; unknown names and values that no longer validate keep the default."""
        for name, value in records:
            spec = self._specs.get(name)
            if spec is None or spec.readonly:
                continue
            try:
                self._values[name] = self._check(spec, value)
            except InvalidValue:
                continue

    # -- typed reads ----------------------------------------------------------------------------------

    def spec(self, name: str) -> SettingSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> Value:
        return self._values[name]

    def to_wire(self, name: str) -> str:
        value = self._values[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    # -- changes --------------------------------------------------------------------------------------

    def parse(self, name: str, text: str) -> Value:
        """Parse a wire value for ``name``; raises ``InvalidValue`` (or ``KeyError`` if unknown)."""
        spec = self._specs[name]
        if spec.type is SettingType.BOOL:
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise InvalidValue(f"{name}: expected true or false")
            return self._check(spec, lowered == "true")
        if spec.type is SettingType.INT:
            stripped = text.strip()
            digits = stripped[1:] if stripped[:1] in "+-" else stripped
            if not digits.isdigit():
                raise InvalidValue(f"{name}: expected an integer")
            return self._check(spec, int(stripped))
        if spec.type is SettingType.CSL:
            items = [item.strip() for item in text.split(",") if item.strip()]
            return self._check(spec, ",".join(items))
        return self._check(spec, text)

    def _check(self, spec: SettingSpec, value: object) -> Value:
        if spec.type is SettingType.BOOL:
            if not isinstance(value, bool):
                raise InvalidValue(f"{spec.name}: not a boolean")
            return value
        if spec.type is SettingType.INT:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidValue(f"{spec.name}: not an integer")
            if spec.minimum is not None and value < spec.minimum:
                raise InvalidValue(f"{spec.name}: below {spec.minimum}")
            if spec.maximum is not None and value > spec.maximum:
                raise InvalidValue(f"{spec.name}: above {spec.maximum}")
            return value
        if not isinstance(value, str):
            raise InvalidValue(f"{spec.name}: not a string")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise InvalidValue(f"{spec.name}: longer than {spec.max_length}")
        if spec.minimum is not None and spec.type is SettingType.STRING and len(value) < spec.minimum:
            raise InvalidValue(f"{spec.name}: shorter than {spec.minimum}")
        if spec.type is SettingType.CSL:
            items = [item for item in value.split(",") if item]
            if spec.allowed is not None and any(item not in spec.allowed for item in items):
                raise InvalidValue(f"{spec.name}: unknown item")
            if spec.max_items_key is not None and spec.max_items_key in self._values:
                limit = self._values[spec.max_items_key]
                if isinstance(limit, int) and len(items) > limit:
                    raise InvalidValue(f"{spec.name}: more than {limit} items")
        elif spec.allowed is not None and value not in spec.allowed:
            raise InvalidValue(f"{spec.name}: not one of the allowed values")
        return value

    def set_from_wire(self, name: str, text: str) -> tuple[SetResult, list[Persist]]:
        """ChangeConfiguration semantics (OCPP 1.6 §5.3): unknown NotSupported, read-only or invalid
        Rejected, otherwise Accepted (or RebootRequired) and persisted."""
        spec = self._specs.get(name)
        if spec is None:
            return SetResult.NOT_SUPPORTED, []
        if spec.readonly:
            return SetResult.REJECTED, []
        try:
            value = self.parse(name, text)
        except InvalidValue:
            return SetResult.REJECTED, []
        self._values[name] = value
        result = SetResult.REBOOT_REQUIRED if spec.reboot_required else SetResult.ACCEPTED
        return result, [Persist(KIND, name, value)]

    def set(self, name: str, value: Value) -> list[Persist]:
        """A change made by the station itself (e.g. HeartbeatInterval from BootNotification)."""
        spec = self._specs[name]
        self._values[name] = self._check(spec, value)
        return [Persist(KIND, name, value)]

    # -- typed reads (named after the types; annotations use builtins) -----------------------------

    def int(self, name: str) -> builtins.int:
        value = self._values[name]
        assert isinstance(value, int) and not isinstance(value, bool), name
        return value

    def bool(self, name: str) -> builtins.bool:
        value = self._values[name]
        assert isinstance(value, bool), name
        return value

    def str(self, name: builtins.str) -> builtins.str:
        return builtins.str(self._values[name])

    def csl(self, name: builtins.str) -> tuple[builtins.str, ...]:
        return tuple(item for item in builtins.str(self._values[name]).split(",") if item)

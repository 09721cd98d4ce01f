"""The OCPP 2.0.1 device model: Get/SetVariables and base/custom reports over the catalog and the Settings.

Pure: JSON-ready dicts in the 2.0.1 schema shapes in and out; the adapter validates requests against the
schemas, wraps results into messages (requestId, seqNo, tbc, generatedAt) and reacts to the returned
``Persist`` actions (e.g. a new WebSocketPingInterval or BasicAuthPassword means ``ConfigureConnection``).
Component and variable names compare case-insensitively (ComponentType.name / VariableType.name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from chargepoint.core.actions import Persist
from chargepoint.core.domain.settings import SetResult, Settings, SettingType
from chargepoint.core.ocpp201.variables import (
    CSV_TYPES,
    Attribute,
    DataType,
    Mutability,
    VariableDef,
    VariableRef,
    catalog,
)

Json = dict[str, object]
Live = Callable[[VariableRef], str | None]
# (name, instance, evse, connector), names lowered, "" instances as None.
ComponentKey = tuple[str, str | None, int | None, int | None]
VariableKey = tuple[ComponentKey, str, str | None]

_INTEGER = re.compile(r"[+-]?\d+")
_REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
# B07.FR.09: SummaryInventory reports the availability and condition of the station, its EVSEs and connectors.
_SUMMARY_VARIABLES = frozenset({"availabilitystate", "problem"})
_CRITERIA = frozenset({"active", "available", "enabled", "problem"})
_ATTRIBUTES = frozenset(attribute.value for attribute in Attribute)


def _norm(text: str | None) -> str | None:
    return text.lower() if text else None


def _def_key(vdef: VariableDef) -> VariableKey:
    component = (vdef.component.lower(), _norm(vdef.component_instance), vdef.evse, vdef.connector)
    return component, vdef.variable.lower(), _norm(vdef.variable_instance)


def _text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _mapping(data: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    value = data.get(key)
    return value if isinstance(value, Mapping) else None


def _int(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _component_key(component: Mapping[str, object]) -> ComponentKey | None:
    name = _text(component, "name")
    if not name:
        return None
    evse = _mapping(component, "evse")
    evse_id = _int(evse, "id") if evse is not None else None
    connector = _int(evse, "connectorId") if evse is not None else None
    return name.lower(), _norm(_text(component, "instance")), evse_id, connector


def _status(status: str, reason: str | None = None) -> Json:
    out: Json = {"attributeStatus": status}
    if reason is not None:
        out["attributeStatusInfo"] = {"reasonCode": reason}
    return out


class DeviceModel:
    """The station's component-variables, read from and written to the shared ``Settings``."""

    def __init__(
        self,
        settings: Settings,
        evses: Mapping[int, int],
        live: Live,
        defs: Iterable[VariableDef] | None = None,
    ) -> None:
        self._settings = settings
        self._live = live
        self._defs = tuple(defs) if defs is not None else catalog(evses)
        self._by_key: dict[VariableKey, VariableDef] = {}
        for vdef in self._defs:
            key = _def_key(vdef)
            if key in self._by_key:
                raise ValueError(f"duplicate variable {vdef.setting}")
            self._by_key[key] = vdef
        self._components = {key[0] for key in self._by_key}
        missing = [name for vdef in self._defs for attribute in vdef.attributes
                   if (name := vdef.setting_for(attribute)) is not None and settings.spec(name) is None]
        if missing:
            raise ValueError(f"Settings lack the specs for {', '.join(missing)} (add variables.extra_specs)")

    @property
    def definitions(self) -> tuple[VariableDef, ...]:
        return self._defs

    # -- B06 GetVariables ----------------------------------------------------------------------------

    def get_variables(self, items: Sequence[Mapping[str, object]]) -> list[Json]:
        """One GetVariableResult per GetVariableData, in order (B06.FR.01)."""
        return [self._get_one(item) for item in items]

    def _get_one(self, item: Mapping[str, object]) -> Json:
        result, found = self._resolve(item)
        if found is None:
            return result
        vdef, attribute = found
        if vdef.mutability is Mutability.WRITE_ONLY:
            result.update(_status("Rejected", "WriteOnly"))  # B06.FR.09
            return result
        result.update(_status("Accepted"))  # B06.FR.10
        result["attributeValue"] = self._reported(vdef, attribute)  # B06.FR.13: unset reads as ""
        return result

    # -- B05 SetVariables ----------------------------------------------------------------------------

    def set_variables(self, items: Sequence[Mapping[str, object]]) -> tuple[list[Json], list[Persist]]:
        """One SetVariableResult per SetVariableData, in order (B05.FR.01); each item stands alone, and every
        change is stored through Settings (so it persists as ``Persist("settings", name, value)``)."""
        results: list[Json] = []
        persists: list[Persist] = []
        for item in items:
            result, actions = self._set_one(item)
            results.append(result)
            persists += actions
        return results, persists

    def _set_one(self, item: Mapping[str, object]) -> tuple[Json, list[Persist]]:
        result, found = self._resolve(item)
        if found is None:
            return result, []
        vdef, attribute = found
        name = vdef.setting_for(attribute)
        if vdef.mutability is Mutability.READ_ONLY or name is None:
            result.update(_status("Rejected", "ReadOnly"))  # B05.FR.08
            return result, []
        text = _text(item, "attributeValue")
        if text is None:
            result.update(_status("Rejected", "InvalidValue"))
            return result, []
        if len(text) > self._setting_int("DeviceDataCtrlr.ConfigurationValueSize", 1000):
            result.update(_status("Rejected", "ValueTooLarge"))  # DeviceDataCtrlr.ConfigurationValueSize
            return result, []
        reason = self._invalid(vdef, text)
        if reason is not None:
            result.update(_status("Rejected", reason))  # B05.FR.07
            return result, []
        wire = text if vdef.data_type is DataType.STRING else text.strip()
        outcome, persists = self._settings.set_from_wire(name, wire)
        if outcome is SetResult.REBOOT_REQUIRED or (outcome is SetResult.ACCEPTED and vdef.reboot_required):
            result.update(_status("RebootRequired"))  # B05.FR.09
        elif outcome is SetResult.ACCEPTED:
            result.update(_status("Accepted"))  # B05.FR.10
        else:
            # The 1.6 side bounds it further (e.g. MeterValuesSampledDataMaxLength items).
            result.update(_status("Rejected", "InvalidValue"))
        return result, persists

    # -- shared lookup -------------------------------------------------------------------------------

    def _resolve(self, item: Mapping[str, object]) -> tuple[Json, tuple[VariableDef, Attribute] | None]:
        """The result skeleton (component, variable and attributeType echoed: B05.FR.02/03/12,
        B06.FR.02/03/11) and the variable, or the Unknown*/NotSupported status."""
        component = _mapping(item, "component") or {}
        variable = _mapping(item, "variable") or {}
        raw_type = _text(item, "attributeType") or Attribute.ACTUAL.value
        result: Json = {"component": dict(component), "variable": dict(variable)}
        attribute = Attribute(raw_type) if raw_type in _ATTRIBUTES else None
        if attribute is not None:
            result["attributeType"] = attribute.value
        ckey = _component_key(component)
        if ckey is None or ckey not in self._components:
            result.update(_status("UnknownComponent"))  # B05.FR.04, B06.FR.06
            return result, None
        vname = _text(variable, "name")
        # B06.FR.14/15: the instance must match; a variable that exists only with an instance is unknown
        # without one.
        vdef = self._by_key.get((ckey, vname.lower(), _norm(_text(variable, "instance")))) if vname else None
        if vdef is None:
            result.update(_status("UnknownVariable"))  # B05.FR.05, B06.FR.07
            return result, None
        if attribute is None or attribute not in vdef.attributes:
            result.update(_status("NotSupportedAttributeType"))  # B05.FR.06, B06.FR.08
            return result, None
        return result, (vdef, attribute)

    # -- values ----------------------------------------------------------------------------------------

    def _read(self, vdef: VariableDef, attribute: Attribute) -> str:
        name = vdef.setting_for(attribute)
        if name is None:
            return self._live(vdef.ref) or ""  # not known right now: unset (B06.FR.13)
        return self._settings.to_wire(name)

    def _reported(self, vdef: VariableDef, attribute: Attribute) -> str:
        """The value cut to DeviceDataCtrlr.ReportingValueSize; lists are cut at a member boundary so what is
        reported still parses as members of the valuesList."""
        text = self._read(vdef, attribute)
        size = self._setting_int("DeviceDataCtrlr.ReportingValueSize", 2500)
        if len(text) <= size:
            return text
        if vdef.data_type in CSV_TYPES:
            return text[: size + 1].rsplit(",", 1)[0] if "," in text[: size + 1] else ""
        return text[:size]

    def _setting_int(self, name: str, default: int) -> int:
        return self._settings.int(name) if self._settings.spec(name) is not None else default

    def _values(self, vdef: VariableDef) -> tuple[str, ...] | None:
        """The valuesList, narrowed to what the shared 1.6 key also accepts (1.6 has no Energy.Active.Net)."""
        spec = self._settings.spec(vdef.setting)
        if vdef.values_list is None or spec is None or spec.allowed is None:
            return vdef.values_list
        return tuple(value for value in vdef.values_list if value in spec.allowed)

    def _limits(self, vdef: VariableDef) -> tuple[int | float | None, int | float | None]:
        """minLimit / maxLimit: the catalog's, else the shared setting's bounds."""
        spec = self._settings.spec(vdef.setting)
        low, high = vdef.min_limit, vdef.max_limit
        if high is None and vdef.max_limit_setting is not None:
            high = self._setting_int(vdef.max_limit_setting, 0)
        if spec is not None:
            numeric = spec.type is SettingType.INT
            if low is None and (numeric or spec.type is SettingType.STRING):
                low = spec.minimum
            if high is None:
                high = spec.maximum if numeric else spec.max_length
        return low, high

    def _invalid(self, vdef: VariableDef, text: str) -> str | None:
        """Why ``text`` is not a value of ``vdef`` (a StatusInfo reasonCode), or None when it is one."""
        low, high = self._limits(vdef)
        kind = vdef.data_type
        if kind is DataType.INTEGER or kind is DataType.DECIMAL:
            number: int | Decimal
            if kind is DataType.INTEGER:
                if not _INTEGER.fullmatch(text.strip()):
                    return "InvalidValue"
                number = int(text)
            else:
                try:
                    number = Decimal(text.strip())
                except InvalidOperation:
                    return "InvalidValue"
                if not number.is_finite():
                    return "InvalidValue"
            if low is not None and number < Decimal(str(low)):
                return "ValueOutOfRange"
            if high is not None and number > Decimal(str(high)):
                return "ValueOutOfRange"
            return None
        if kind is DataType.BOOLEAN:
            return None if text.strip().lower() in ("true", "false") else "InvalidValue"
        if kind is DataType.DATE_TIME:
            try:
                datetime.fromisoformat(text.strip())
            except ValueError:
                return "InvalidValue"
            return None
        if (low is not None and len(text) < low) or (high is not None and len(text) > high):
            return "ValueOutOfRange" if kind is DataType.STRING else "InvalidValue"
        values = self._values(vdef)
        if kind is DataType.OPTION_LIST:
            return None if values is not None and text.strip() in values else "InvalidValue"
        if kind in CSV_TYPES:
            members = [member.strip() for member in text.split(",")] if text.strip() else []
            # MemberList: a (sub)set of the valuesList; SequenceList: an ordered one. No member twice and
            # none outside the list.
            if len(set(members)) != len(members) or any(values is None or m not in values for m in members):
                return "InvalidValue"
        return None

    # -- B07 / B08 reports -------------------------------------------------------------------------------

    def base_report(self, report_base: str) -> list[Json] | None:
        """GetBaseReport data; None for a base the station does not support (answered NotSupported)."""
        if report_base not in _REPORT_BASES:
            return None
        if report_base == "ConfigurationInventory":
            # B07.FR.07: the variables the operator can set.
            chosen = [d for d in self._defs if d.mutability is not Mutability.READ_ONLY]
        elif report_base == "SummaryInventory":
            chosen = [d for d in self._defs if d.variable.lower() in _SUMMARY_VARIABLES]
        else:
            chosen = list(self._defs)  # B07.FR.08: everything, with VariableCharacteristics
        return [self._report_data(vdef) for vdef in chosen]

    def report(
        self, criteria: Sequence[str], component_variables: Sequence[Mapping[str, object]]
    ) -> list[Json]:
        """GetReport data: components meeting any of ``criteria`` (B08.FR.07-10) and, when given, matching
        any of ``component_variables``; both filters must hold. Empty: the adapter answers EmptyResultSet."""
        chosen: list[Json] = []
        for vdef in self._defs:
            key = _def_key(vdef)[0]
            if criteria and not any(self._meets(key, criterion) for criterion in criteria):
                continue
            if component_variables and not any(self._selects(cv, vdef) for cv in component_variables):
                continue
            chosen.append(self._report_data(vdef))
        return chosen

    def _meets(self, component: ComponentKey, criterion: str) -> bool:
        """B08.FR.07-09: Active/Available/Enabled hold when the component's variable of that name is true
        or the component has none; B08.FR.10: Problem only when its Problem variable is true."""
        name = criterion.lower()
        if name not in _CRITERIA:
            return False
        vdef = self._by_key.get((component, name, None))
        if vdef is None:
            return name != "problem"
        return self._read(vdef, Attribute.ACTUAL).lower() == "true"

    @staticmethod
    def _selects(selector: Mapping[str, object], vdef: VariableDef) -> bool:
        """ComponentVariableType wildcards (cf. OCTT TC_B_54/55/56): what a selector leaves out (component
        instance, evse, connectorId, variable, variable instance) matches every value."""
        component = _mapping(selector, "component") or {}
        name = _text(component, "name")
        if name is None or name.lower() != vdef.component.lower():
            return False
        instance = _text(component, "instance")
        if instance and instance.lower() != _norm(vdef.component_instance):
            return False
        evse = _mapping(component, "evse")
        if evse is not None:
            if _int(evse, "id") != vdef.evse:
                return False
            connector = _int(evse, "connectorId")
            if connector is not None and connector != vdef.connector:
                return False
        variable = _mapping(selector, "variable")
        if variable is None:
            return True
        vname = _text(variable, "name")
        if vname is None or vname.lower() != vdef.variable.lower():
            return False
        vinstance = _text(variable, "instance")
        return not vinstance or vinstance.lower() == _norm(vdef.variable_instance)

    def _report_data(self, vdef: VariableDef) -> Json:
        """One ReportDataType; WriteOnly values are never reported (B07.FR.03, B08.FR.03)."""
        component: Json = {"name": vdef.component}
        if vdef.component_instance:
            component["instance"] = vdef.component_instance
        if vdef.evse is not None:
            evse: Json = {"id": vdef.evse}
            if vdef.connector is not None:
                evse["connectorId"] = vdef.connector
            component["evse"] = evse
        variable: Json = {"name": vdef.variable}
        if vdef.variable_instance:
            variable["instance"] = vdef.variable_instance
        attributes: list[Json] = []
        for attribute in vdef.attributes:
            entry: Json = {"type": attribute.value, "mutability": vdef.mutability.value,
                           "persistent": vdef.setting_for(attribute) is not None}
            if vdef.mutability is not Mutability.WRITE_ONLY:
                entry["value"] = self._reported(vdef, attribute)
            attributes.append(entry)
        characteristics: Json = {"dataType": vdef.data_type.value, "supportsMonitoring": False}
        if vdef.unit:
            characteristics["unit"] = vdef.unit
        low, high = self._limits(vdef)
        if low is not None:
            characteristics["minLimit"] = low
        if high is not None:
            characteristics["maxLimit"] = high
        values = self._values(vdef)
        if values is not None:
            characteristics["valuesList"] = ",".join(values)
        return {"component": component, "variable": variable, "variableAttribute": attributes,
                "variableCharacteristics": characteristics}

    @staticmethod
    def paginate(report_data: Sequence[Json], items_per_message: int) -> list[list[Json]]:
        """See the module-level ``paginate``."""
        return paginate(report_data, items_per_message)


def paginate(report_data: Sequence[Json], items_per_message: int) -> list[list[Json]]:
    """Split report data into NotifyReport parts of at most ``items_per_message`` items (B07.FR.03 "one or
    more NotifyReportRequest messages"); the adapter adds requestId, seqNo, tbc and generatedAt."""
    if items_per_message < 1:
        raise ValueError("items_per_message must be at least 1")
    step = items_per_message
    return [list(report_data[i : i + step]) for i in range(0, len(report_data), step)]

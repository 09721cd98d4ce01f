"""OCPP 2.0.1 device model: Get/SetVariables (B05/B06), base/custom reports (B07/B08), the 1.6 key mapping."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from importlib import resources

import fastjsonschema
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chargepoint.core.actions import Persist
from chargepoint.core.domain.setting_specs import SPECS
from chargepoint.core.domain.setting_specs import station_overrides as overrides16
from chargepoint.core.domain.settings import Settings, SettingType
from chargepoint.core.ocpp201.device_model import DeviceModel, Json, paginate
from chargepoint.core.ocpp201.variables import (
    ComponentRef,
    DataType,
    Mutability,
    VariableDef,
    VariableRef,
    catalog,
    evse_layout,
    extra_specs,
    station_overrides,
)

LAYOUT = evse_layout(2)
Validator = Callable[[object], object]


def schema(name: str) -> Validator:
    text = resources.files("ocpp").joinpath("v201", "schemas", f"{name}.json").read_text()
    check: Validator = fastjsonschema.compile(json.loads(text))
    return check


NOTIFY_REPORT = schema("NotifyReportRequest")
GET_RESPONSE = schema("GetVariablesResponse")
SET_RESPONSE = schema("SetVariablesResponse")


def valid(check: Validator, payload: Json) -> None:
    check(copy.deepcopy(payload))  # fastjsonschema fills in defaults: keep ours untouched


def make_settings(extra: Mapping[str, int | bool | str] | None = None) -> Settings:
    overrides = {**overrides16(2), **station_overrides(LAYOUT, identity="CS-001", max_power_w=11000)}
    return Settings(SPECS + extra_specs(LAYOUT), {**overrides, **(extra or {})})


class Station:
    """The values only the station knows, answered through the ``live`` callback."""

    def __init__(self) -> None:
        self.values: dict[VariableRef, str] = {}

    def __call__(self, ref: VariableRef) -> str | None:
        return self.values.get(ref)


def model(settings: Settings | None = None, station: Station | None = None) -> DeviceModel:
    return DeviceModel(settings or make_settings(), LAYOUT, station or Station())


def cv(component: str, variable: str | None = None, *, instance: str | None = None, evse: int | None = None,
       connector: int | None = None) -> Json:
    comp: Json = {"name": component}
    if evse is not None:
        comp["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    out: Json = {"component": comp}
    if variable is not None:
        out["variable"] = {"name": variable} if instance is None else {"name": variable, "instance": instance}
    return out


def get(dm: DeviceModel, component: str, variable: str, attribute: str | None = None, **kw: object) -> Json:
    item = cv(component, variable, **kw)  # type: ignore[arg-type]
    if attribute is not None:
        item["attributeType"] = attribute
    results = dm.get_variables([item])
    valid(GET_RESPONSE, {"getVariableResult": results})
    assert len(results) == 1
    return results[0]


def set_(dm: DeviceModel, component: str, variable: str, value: str, attribute: str | None = None,
         **kw: object) -> tuple[Json, list[Persist]]:
    item = cv(component, variable, **kw)  # type: ignore[arg-type]
    item["attributeValue"] = value
    if attribute is not None:
        item["attributeType"] = attribute
    results, persists = dm.set_variables([item])
    valid(SET_RESPONSE, {"setVariableResult": results})
    assert len(results) == 1
    return results[0], persists


def reason(result: Json) -> object:
    info = result.get("attributeStatusInfo")
    return info.get("reasonCode") if isinstance(info, dict) else None


def names(report: list[Json]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for item in report:
        comp, var = item["component"], item["variable"]
        assert isinstance(comp, dict) and isinstance(var, dict)
        evse = comp.get("evse")
        where = (evse.get("id"), evse.get("connectorId")) if isinstance(evse, dict) else (None, None)
        out.append((comp["name"], *where, var["name"], var.get("instance")))
    return out


def attributes(item: Json) -> list[Json]:
    attrs = item["variableAttribute"]
    assert isinstance(attrs, list)
    return attrs


# -- B06 GetVariables ----------------------------------------------------------------------------------


def test_get_accepted_returns_the_value_and_echoes_the_request() -> None:
    """B06.FR.01-03/10/11: one result per item, component and variable echoed, Actual when absent."""
    dm = model()
    result = get(dm, "OCPPCommCtrlr", "HeartbeatInterval")
    assert result == {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                      "attributeType": "Actual", "attributeStatus": "Accepted", "attributeValue": "300"}
    # Names are case-insensitive (ComponentType.name); the request's spelling is echoed.
    lower = get(dm, "ocppcommctrlr", "heartbeatinterval")
    assert lower["attributeStatus"] == "Accepted" and lower["component"] == {"name": "ocppcommctrlr"}


@pytest.mark.parametrize(("component", "variable", "attribute", "kw", "status"), [
    ("NoSuchCtrlr", "Enabled", None, {}, "UnknownComponent"),  # B06.FR.06
    ("EVSE", "AvailabilityState", None, {"evse": 3}, "UnknownComponent"),
    ("EVSE", "AvailabilityState", None, {}, "UnknownComponent"),  # EVSE components need their evse id
    ("OCPPCommCtrlr", "NoSuchVariable", None, {}, "UnknownVariable"),  # B06.FR.07
    ("DeviceDataCtrlr", "ItemsPerMessage", None, {}, "UnknownVariable"),  # B06.FR.15: instance missing
    ("DeviceDataCtrlr", "ItemsPerMessage", None, {"instance": "Nope"}, "UnknownVariable"),
    ("OCPPCommCtrlr", "HeartbeatInterval", "Target", {}, "NotSupportedAttributeType"),  # B06.FR.08
    ("SecurityCtrlr", "BasicAuthPassword", None, {}, "Rejected"),  # B06.FR.09 WriteOnly
])
def test_get_statuses(component: str, variable: str, attribute: str | None, kw: dict[str, object],
                      status: str) -> None:
    result = get(model(), component, variable, attribute, **kw)
    assert result["attributeStatus"] == status
    assert "attributeValue" not in result


def test_get_write_only_says_why_and_never_leaks_the_value() -> None:
    dm = model()
    set_(dm, "SecurityCtrlr", "BasicAuthPassword", "s3cret-password-0123")
    result = get(dm, "SecurityCtrlr", "BasicAuthPassword")
    assert result["attributeStatus"] == "Rejected" and reason(result) == "WriteOnly"
    assert "s3cret" not in json.dumps(result)


def test_get_instance_variable_and_attribute_of_a_per_evse_component() -> None:
    station = Station()
    dm = model(station=station)
    assert get(dm, "DeviceDataCtrlr", "ItemsPerMessage", instance="GetVariables")["attributeValue"] == "50"
    assert get(dm, "EVSE", "Power", "MaxSet", evse=2)["attributeValue"] == "11000"
    # A live value the station does not know right now reads as unset (B06.FR.13).
    assert get(dm, "EVSE", "Power", evse=2)["attributeValue"] == ""
    station.values[VariableRef(ComponentRef("EVSE", evse=2), "Power")] = "7360.5"
    assert get(dm, "EVSE", "Power", evse=2)["attributeValue"] == "7360.5"


def test_live_values_come_from_the_station_per_evse_and_connector() -> None:
    station = Station()
    station.values[VariableRef(ComponentRef("EVSE", evse=1), "AvailabilityState")] = "Occupied"
    station.values[VariableRef(ComponentRef("EVSE", evse=2), "AvailabilityState")] = "Available"
    connector = ComponentRef("Connector", evse=2, connector=1)
    station.values[VariableRef(connector, "AvailabilityState")] = "Faulted"
    station.values[VariableRef(ComponentRef("ClockCtrlr"), "DateTime")] = "2024-05-01T12:00:00.000Z"
    dm = model(station=station)
    assert get(dm, "EVSE", "AvailabilityState", evse=1)["attributeValue"] == "Occupied"
    assert get(dm, "EVSE", "AvailabilityState", evse=2)["attributeValue"] == "Available"
    assert get(dm, "Connector", "AvailabilityState", evse=2, connector=1)["attributeValue"] == "Faulted"
    assert get(dm, "ClockCtrlr", "DateTime")["attributeValue"] == "2024-05-01T12:00:00.000Z"
    assert get(dm, "Connector", "ConnectorType", evse=1, connector=1)["attributeValue"] == "cType2"
    assert get(dm, "Connector", "ConnectorType", evse=1, connector=2)["attributeStatus"] == "UnknownComponent"


def test_reporting_value_size_truncates_lists_at_a_member_boundary() -> None:
    station = Station()
    station.values[VariableRef(ComponentRef("ClockCtrlr"), "DateTime")] = "x" * 40
    dm = model(make_settings({"DeviceDataCtrlr.ReportingValueSize": 30}), station)
    value = get(dm, "SampledDataCtrlr", "TxUpdatedMeasurands")["attributeValue"]
    assert value == "Energy.Active.Import.Register"  # the next member would pass 30 characters
    assert get(dm, "ClockCtrlr", "DateTime")["attributeValue"] == "x" * 30
    report = dm.report([], [cv("SampledDataCtrlr", "TxUpdatedMeasurands")])
    assert attributes(report[0])[0]["value"] == "Energy.Active.Import.Register"


# -- B05 SetVariables ----------------------------------------------------------------------------------


def test_set_accepted_stores_through_settings_and_persists() -> None:
    """B05.FR.10: stored, and persisted under the shared "settings" kind."""
    dm = model()
    result, persists = set_(dm, "TxCtrlr", "TxStartPoint", "EVConnected,Authorized")
    assert result == {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
                      "attributeType": "Actual", "attributeStatus": "Accepted"}
    assert persists == [Persist("settings", "TxCtrlr.TxStartPoint", "EVConnected,Authorized")]
    assert persists[0].value == "EVConnected,Authorized"
    assert get(dm, "TxCtrlr", "TxStartPoint")["attributeValue"] == "EVConnected,Authorized"


def test_set_reboot_required() -> None:
    """B05.FR.09: the value is stored, and takes effect after a reboot/reconnect."""
    dm = model()
    result, persists = set_(dm, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
    assert result["attributeStatus"] == "RebootRequired"
    assert persists == [Persist("settings", "OCPPCommCtrlr.NetworkConfigurationPriority", "2,1")]


@pytest.mark.parametrize(("component", "variable", "value", "attribute", "kw", "status", "why"), [
    ("NoSuchCtrlr", "Enabled", "true", None, {}, "UnknownComponent", None),  # B05.FR.04
    ("EVSE", "Power", "1", "MaxSet", {"evse": 9}, "UnknownComponent", None),
    ("TxCtrlr", "NoSuchVariable", "1", None, {}, "UnknownVariable", None),  # B05.FR.05
    # B05.FR.06
    ("OCPPCommCtrlr", "HeartbeatInterval", "60", "MaxSet", {}, "NotSupportedAttributeType", None),
    ("DeviceDataCtrlr", "ItemsPerMessage", "5", None, {"instance": "GetReport"}, "Rejected", "ReadOnly"),
    ("EVSE", "Power", "5000", "MaxSet", {"evse": 1}, "Rejected", "ReadOnly"),  # B05.FR.08
    ("SecurityCtrlr", "SecurityProfile", "1", None, {}, "Rejected", "ReadOnly"),  # SetNetworkProfile's job
    ("ClockCtrlr", "DateTime", "2024-01-01T00:00:00Z", None, {}, "Rejected", "ReadOnly"),
])
def test_set_statuses(component: str, variable: str, value: str, attribute: str | None, kw: dict[str, object],
                      status: str, why: str | None) -> None:
    dm = model()
    result, persists = set_(dm, component, variable, value, attribute, **kw)
    assert result["attributeStatus"] == status and reason(result) == why
    assert persists == []


@pytest.mark.parametrize(("component", "variable", "value", "ok"), [
    # integer
    ("OCPPCommCtrlr", "HeartbeatInterval", "120", True),
    ("OCPPCommCtrlr", "HeartbeatInterval", "abc", False),
    ("OCPPCommCtrlr", "HeartbeatInterval", "1.5", False),
    ("OCPPCommCtrlr", "HeartbeatInterval", "-1", False),  # below the 1.6 key's minimum 0
    ("AlignedDataCtrlr", "Interval", "86401", False),  # above ClockAlignedDataInterval's maximum
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "0", False),  # extra: minLimit 1
    # boolean
    ("AuthCtrlr", "LocalPreAuthorize", "true", True),
    ("AuthCtrlr", "LocalPreAuthorize", "False", True),
    ("AuthCtrlr", "LocalPreAuthorize", "yes", False),
    ("AuthCtrlr", "LocalPreAuthorize", "1", False),
    # decimal
    ("SmartChargingCtrlr", "LimitChangeSignificance", "12.5", True),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "abc", False),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "NaN", False),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "100.01", False),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "-0.5", False),
    # OptionList
    ("AuthCacheCtrlr", "Policy", "FIFO", True),
    ("AuthCacheCtrlr", "Policy", "LRU", False),
    # MemberList
    ("TxCtrlr", "TxStopPoint", "EVConnected", True),
    ("TxCtrlr", "TxStopPoint", "EVConnected,Authorized,PowerPathClosed", True),
    ("TxCtrlr", "TxStopPoint", "EVConnected,Plugged", False),  # not in valuesList
    ("TxCtrlr", "TxStopPoint", "EVConnected,EVConnected", False),  # a member twice
    ("TxCtrlr", "TxStopPoint", "", False),  # minLimit 1
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Net", False),  # the shared 1.6 key lacks it
    ("SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Net", True),  # 2.0.1-only variable
    ("AlignedDataCtrlr", "TxEndedMeasurands", "", True),
    # SequenceList
    ("ClockCtrlr", "TimeSource", "NTP,Heartbeat", True),
    ("ClockCtrlr", "TimeSource", "Sundial", False),
    # string
    ("SecurityCtrlr", "OrganizationName", "Example CPO", True),
    ("SecurityCtrlr", "OrganizationName", "x" * 256, False),
    ("SecurityCtrlr", "BasicAuthPassword", "short", False),  # minLimit 16
    ("SecurityCtrlr", "BasicAuthPassword", "0123456789abcdef0123", True),
])
def test_set_validates_by_data_type(component: str, variable: str, value: str, ok: bool) -> None:
    """B05.FR.07: a value that does not fit the data type, range or list is Rejected and nothing changes."""
    dm = model()
    before = dm.base_report("FullInventory")
    result, persists = set_(dm, component, variable, value)
    assert result["attributeStatus"] == ("Accepted" if ok else "Rejected")
    assert bool(persists) is ok
    if not ok:
        assert reason(result) in ("InvalidValue", "ValueOutOfRange")
        assert dm.base_report("FullInventory") == before


def test_set_respects_the_1_6_list_length_keys() -> None:
    measurands = ["Current.Export", "Current.Import", "Current.Offered", "Energy.Active.Export.Register",
                  "Energy.Active.Import.Register", "Frequency", "Power.Active.Export", "Power.Active.Import",
                  "Power.Factor", "Power.Offered", "SoC"]
    dm = model()
    too_many, _ = set_(dm, "SampledDataCtrlr", "TxUpdatedMeasurands", ",".join(measurands))
    assert too_many["attributeStatus"] == "Rejected"  # MeterValuesSampledDataMaxLength = 10
    ten, _ = set_(dm, "SampledDataCtrlr", "TxUpdatedMeasurands", ",".join(measurands[:10]))
    assert ten["attributeStatus"] == "Accepted"


def test_set_longer_than_configuration_value_size_is_rejected() -> None:
    dm = model(make_settings({"DeviceDataCtrlr.ConfigurationValueSize": 20}))
    result, _ = set_(dm, "SecurityCtrlr", "OrganizationName", "x" * 21)
    assert result["attributeStatus"] == "Rejected" and reason(result) == "ValueTooLarge"


def test_set_items_are_independent() -> None:
    dm = model()
    items = [cv("OCPPCommCtrlr", "HeartbeatInterval") | {"attributeValue": "abc"},
             cv("OCPPCommCtrlr", "OfflineThreshold") | {"attributeValue": "90"},
             cv("Nope", "X") | {"attributeValue": "1"},
             cv("OCPPCommCtrlr", "HeartbeatInterval") | {"attributeValue": "45", "attributeType": "Actual"}]
    results, persists = dm.set_variables(items)
    valid(SET_RESPONSE, {"setVariableResult": results})
    assert [r["attributeStatus"] for r in results] == ["Rejected", "Accepted", "UnknownComponent", "Accepted"]
    assert [p.key for p in persists] == ["OCPPCommCtrlr.OfflineThreshold", "HeartbeatInterval"]


# -- the 1.6 mapping -------------------------------------------------------------------------------------

MAPPED = [
    ("OCPPCommCtrlr", "HeartbeatInterval", None, "HeartbeatInterval", "77"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", "TransactionMessageAttempts", "7"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent", "TransactionMessageRetryInterval", "33"),
    ("OCPPCommCtrlr", "WebSocketPingInterval", None, "WebSocketPingInterval", "12"),
    ("OCPPCommCtrlr", "ResetRetries", None, "ResetRetries", "5"),
    ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None, "UnlockConnectorOnEVSideDisconnect", "false"),
    ("AuthCacheCtrlr", "Enabled", None, "AuthorizationCacheEnabled", "false"),
    ("AuthCtrlr", "LocalPreAuthorize", None, "LocalPreAuthorize", "true"),
    ("AuthCtrlr", "LocalAuthorizeOffline", None, "LocalAuthorizeOffline", "false"),
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", None, "AllowOfflineTxForUnknownId", "true"),
    ("AuthCtrlr", "AuthorizeRemoteStart", None, "AuthorizeRemoteTxRequests", "true"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", None, "StopTransactionOnEVSideDisconnect", "false"),
    ("TxCtrlr", "StopTxOnInvalidId", None, "StopTransactionOnInvalidId", "false"),
    ("TxCtrlr", "MaxEnergyOnInvalidId", None, "MaxEnergyOnInvalidId", "500"),
    ("TxCtrlr", "EVConnectionTimeOut", None, "ConnectionTimeOut", "90"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None, "MeterValuesSampledData", "Voltage,SoC"),
    ("SampledDataCtrlr", "TxUpdatedInterval", None, "MeterValueSampleInterval", "15"),
    ("SampledDataCtrlr", "TxEndedMeasurands", None, "StopTxnSampledData", "Energy.Active.Export.Register"),
    ("AlignedDataCtrlr", "Interval", None, "ClockAlignedDataInterval", "900"),
    ("AlignedDataCtrlr", "Measurands", None, "MeterValuesAlignedData", "Power.Active.Import"),
    ("AlignedDataCtrlr", "TxEndedMeasurands", None, "StopTxnAlignedData", "Frequency"),
    ("LocalAuthListCtrlr", "Enabled", None, "LocalAuthListEnabled", "false"),
    ("SecurityCtrlr", "OrganizationName", None, "CpoName", "Example CPO"),
]


@pytest.mark.parametrize(("component", "variable", "instance", "key", "value"), MAPPED,
                         ids=[row[3] for row in MAPPED])
def test_a_value_set_under_one_version_is_in_force_under_the_other(
    component: str, variable: str, instance: str | None, key: str, value: str
) -> None:
    settings = make_settings()
    dm = model(settings)
    result, persists = set_(dm, component, variable, value, instance=instance)
    assert result["attributeStatus"] == "Accepted"
    assert [p.key for p in persists] == [key]
    assert settings.to_wire(key) == value  # what the 1.6 adapter reads
    # A record written under 2.0.1 restores into a 1.6-only Settings (same kind, same name).
    only16 = Settings(SPECS, overrides16(2))
    only16.restore([(p.key, p.value) for p in persists])
    assert only16.to_wire(key) == value
    # And the other way: ChangeConfiguration under 1.6 shows through GetVariables.
    back = settings.spec(key)
    assert back is not None
    original = Settings(SPECS, overrides16(2)).to_wire(key)
    settings.set_from_wire(key, original)
    assert get(dm, component, variable, instance=instance)["attributeValue"] == original


def test_write_only_password_maps_to_the_authorization_key() -> None:
    settings = make_settings()
    _, persists = set_(model(settings), "SecurityCtrlr", "BasicAuthPassword", "0123456789abcdef0123")
    assert [p.key for p in persists] == ["AuthorizationKey"]
    assert settings.str("AuthorizationKey") == "0123456789abcdef0123"


def test_read_only_mapped_variables_show_the_1_6_values() -> None:
    dm = model()
    # SendLocalListMaxLength
    assert get(dm, "LocalAuthListCtrlr", "ItemsPerMessage")["attributeValue"] == "1000"
    assert get(dm, "ReservationCtrlr", "NonEvseSpecific")["attributeValue"] == "true"
    assert get(dm, "SmartChargingCtrlr", "ProfileStackLevel")["attributeValue"] == "10"
    assert get(dm, "SecurityCtrlr", "SecurityProfile")["attributeValue"] == "0"


def test_every_mapped_setting_is_a_1_6_key_of_a_compatible_type() -> None:
    specs16 = {spec.name: spec for spec in SPECS}
    compatible = {DataType.INTEGER: SettingType.INT, DataType.BOOLEAN: SettingType.BOOL,
                  DataType.STRING: SettingType.STRING, DataType.MEMBER_LIST: SettingType.CSL,
                  DataType.SEQUENCE_LIST: SettingType.CSL}
    mapped = [d for d in catalog(LAYOUT) if not d.is_extra]
    assert {d.setting for d in mapped} >= {row[3] for row in MAPPED} | {"AuthorizationKey", "SecurityProfile"}
    for vdef in mapped:
        spec = specs16[vdef.setting]
        assert compatible[vdef.data_type] is spec.type, vdef.setting
        if spec.readonly:
            assert vdef.mutability is Mutability.READ_ONLY, vdef.setting
        assert spec.secret is (vdef.mutability is Mutability.WRITE_ONLY), vdef.setting
    extra_names = {spec.name for spec in extra_specs(LAYOUT)}
    assert not extra_names & set(specs16)


def test_settings_without_the_extras_are_refused() -> None:
    with pytest.raises(ValueError, match="extra_specs"):
        DeviceModel(Settings(SPECS), LAYOUT, Station())


# -- per-EVSE components -------------------------------------------------------------------------------


def test_evse_and_connector_components_are_generated_per_evse() -> None:
    defs = catalog(LAYOUT)
    evse_vars = {(d.evse, d.variable) for d in defs if d.component == "EVSE"}
    assert evse_vars == {(e, v) for e in (1, 2)
                         for v in ("AvailabilityState", "Available", "Power", "Problem", "SupplyPhases")}
    connectors = {(d.evse, d.connector) for d in defs if d.component == "Connector"}
    assert connectors == {(1, 1), (2, 1)}
    assert {d.setting for d in defs if d.component == "Connector" and d.variable == "ConnectorType"} == {
        "Connector[1,1].ConnectorType", "Connector[2,1].ConnectorType"}
    assert "EVSE[2].Power.MaxSet" in {spec.name for spec in extra_specs(2)}
    two_connectors = catalog({1: 2})
    assert {(d.evse, d.connector) for d in two_connectors if d.component == "Connector"} == {(1, 1), (1, 2)}


# -- B07 GetBaseReport --------------------------------------------------------------------------------


def notify(report: list[Json]) -> Json:
    return {"requestId": 1, "generatedAt": "2024-05-01T12:00:00.000Z", "seqNo": 0, "tbc": False,
            "reportData": report}


def test_full_inventory_reports_every_catalog_entry_and_validates() -> None:
    """B07.FR.08: every component-variable with its VariableCharacteristics, schema-valid."""
    dm = model()
    report = dm.base_report("FullInventory")
    assert report is not None
    defs = catalog(LAYOUT)
    assert len(report) == len(defs)
    assert names(report) == [(d.component, d.evse, d.connector, d.variable, d.variable_instance)
                             for d in defs]
    valid(NOTIFY_REPORT, notify(report))
    for item, vdef in zip(report, defs, strict=True):
        chars = item["variableCharacteristics"]
        assert isinstance(chars, dict)
        assert chars["dataType"] == vdef.data_type.value and chars["supportsMonitoring"] is False
        assert [a["type"] for a in attributes(item)] == [a.value for a in vdef.attributes]
        values = chars.get("valuesList")
        assert (values is not None) is (vdef.values_list is not None)
        assert values is None or len(str(values)) <= 1000


def test_write_only_values_are_never_reported() -> None:
    """B07.FR.03 / B08.FR.03 (errata): excluding the value of WriteOnly variables."""
    dm = model()
    set_(dm, "SecurityCtrlr", "BasicAuthPassword", "0123456789abcdef0123")
    for report in (dm.base_report("FullInventory"), dm.base_report("ConfigurationInventory"),
                   dm.report([], [cv("SecurityCtrlr")])):
        assert report is not None
        assert "0123456789abcdef0123" not in json.dumps(report)
        entry = next(i for i in report if names([i])[0][3] == "BasicAuthPassword")
        assert attributes(entry) == [{"type": "Actual", "mutability": "WriteOnly", "persistent": True}]


def test_configuration_inventory_is_what_the_operator_can_set() -> None:
    """B07.FR.07."""
    dm = model()
    report = dm.base_report("ConfigurationInventory")
    assert report is not None
    valid(NOTIFY_REPORT, notify(report))
    expected = [d for d in catalog(LAYOUT) if d.mutability is not Mutability.READ_ONLY]
    assert len(report) == len(expected)
    assert all(attributes(i)[0]["mutability"] != "ReadOnly" for i in report)
    assert ("OCPPCommCtrlr", None, None, "HeartbeatInterval", None) in names(report)


def test_summary_inventory_is_availability_and_problems() -> None:
    """B07.FR.09."""
    report = model().base_report("SummaryInventory")
    assert report is not None
    valid(NOTIFY_REPORT, notify(report))
    got = {(n[0], n[1], n[2], n[3]) for n in names(report)}
    places = [("ChargingStation", None, None), ("EVSE", 1, None), ("EVSE", 2, None), ("Connector", 1, 1),
              ("Connector", 2, 1)]
    assert got == {(*p, v) for p in places for v in ("AvailabilityState", "Problem")}


def test_unsupported_report_base() -> None:
    assert model().base_report("EverythingPlease") is None


# -- B08 GetReport ------------------------------------------------------------------------------------


def test_component_variable_wildcards() -> None:
    dm = model()
    # No evse: every EVSE (TC_B_56).
    assert [n[1] for n in names(dm.report([], [cv("EVSE", "AvailabilityState")]))] == [1, 2]
    assert names(dm.report([], [cv("EVSE", "AvailabilityState", evse=2)])) == [
        ("EVSE", 2, None, "AvailabilityState", None)]
    # No variable instance: every instance (TC_B_54); with one: just that (TC_B_55).
    assert [n[4] for n in names(dm.report([], [cv("DeviceDataCtrlr", "ItemsPerMessage")]))] == [
        "GetReport", "GetVariables", "SetVariables"]
    assert len(dm.report([], [cv("DeviceDataCtrlr", "ItemsPerMessage", instance="getreport")])) == 1
    # No variable: every variable of the component; evse without connectorId: its connectors.
    assert {n[3] for n in names(dm.report([], [cv("TxCtrlr")]))} == {
        "EVConnectionTimeOut", "MaxEnergyOnInvalidId", "StopTxOnEVSideDisconnect", "StopTxOnInvalidId",
        "TxStartPoint", "TxStopPoint"}
    assert {(n[1], n[2]) for n in names(dm.report([], [cv("Connector", evse=2)]))} == {(2, 1)}
    assert dm.report([], [cv("Connector", evse=2, connector=2)]) == []
    assert dm.report([], [cv("NoSuchCtrlr")]) == []
    # Several selectors: the union, in catalog order.
    both = dm.report([], [cv("ClockCtrlr", "TimeSource"), cv("OCPPCommCtrlr", "HeartbeatInterval")])
    assert [n[3] for n in names(both)] == ["HeartbeatInterval", "TimeSource"]
    valid(NOTIFY_REPORT, notify(both))


def test_no_filters_reports_everything() -> None:
    dm = model()
    assert dm.report([], []) == dm.base_report("FullInventory")


def test_criteria() -> None:
    """B08.FR.07-10."""
    station = Station()
    station.values[VariableRef(ComponentRef("EVSE", evse=2), "Problem")] = "true"
    dm = model(station=station)
    components = {(n[0], n[1], n[2]) for n in names(dm.report(["Problem"], []))}
    assert components == {("EVSE", 2, None)}  # B08.FR.10: only where Problem is true
    enabled = {n[0] for n in names(dm.report(["Enabled"], []))}
    # B08.FR.09: Enabled true (AuthCacheCtrlr) or no Enabled at all (OCPPCommCtrlr); one switched off is not.
    assert {"AuthCacheCtrlr", "OCPPCommCtrlr", "SmartChargingCtrlr"} <= enabled
    set_(dm, "SmartChargingCtrlr", "Enabled", "false")
    assert "SmartChargingCtrlr" not in {n[0] for n in names(dm.report(["Enabled"], []))}
    set_(dm, "AuthCacheCtrlr", "Enabled", "false")
    assert "AuthCacheCtrlr" not in {n[0] for n in names(dm.report(["Enabled"], []))}
    # Criteria are ORed among themselves.
    either = {n[0] for n in names(dm.report(["Enabled", "Problem"], []))}
    assert "EVSE" in either and "OCPPCommCtrlr" in either
    assert len(dm.report(["Available"], [])) == len(catalog(LAYOUT))  # everything exists
    # Criteria AND selectors: EVSE 1 has no problem, so the result is empty (EmptyResultSet).
    assert dm.report(["Problem"], [cv("EVSE", "AvailabilityState", evse=1)]) == []
    assert names(dm.report(["Problem"], [cv("EVSE", "AvailabilityState")])) == [
        ("EVSE", 2, None, "AvailabilityState", None)]
    assert dm.report(["Bogus"], []) == []


# -- pagination ------------------------------------------------------------------------------------------


def test_paginate() -> None:
    report = model().base_report("FullInventory")
    assert report is not None
    parts = paginate(report, 20)
    assert [len(p) for p in parts[:-1]] == [20] * (len(parts) - 1) and 0 < len(parts[-1]) <= 20
    assert [item for part in parts for item in part] == report
    assert DeviceModel.paginate(report, len(report)) == [report]
    assert paginate([], 5) == []
    for seq_no, part in enumerate(parts):
        valid(NOTIFY_REPORT, notify(part) | {"seqNo": seq_no, "tbc": seq_no < len(parts) - 1})
    with pytest.raises(ValueError):
        paginate(report, 0)


# -- property: set then get round-trips ---------------------------------------------------------------

WRITABLE = [d for d in catalog(LAYOUT) if d.mutability is Mutability.READ_WRITE]
FULL = model().base_report("FullInventory") or []
CHARACTERISTICS = {(n[0], n[3], n[4]): item["variableCharacteristics"]
                   for item, n in zip(FULL, names(FULL), strict=True)}


def value_for(vdef: VariableDef) -> st.SearchStrategy[str]:
    chars = CHARACTERISTICS[(vdef.component, vdef.variable, vdef.variable_instance)]
    assert isinstance(chars, dict)
    low, high = chars.get("minLimit"), chars.get("maxLimit")
    values = str(chars.get("valuesList", "")).split(",")
    kind = vdef.data_type
    if kind is DataType.INTEGER:
        lo = int(low) if isinstance(low, int | float) else -(10**6)
        hi = int(high) if isinstance(high, int | float) else 10**6
        return st.integers(lo, hi).map(str)
    if kind is DataType.DECIMAL:
        return st.decimals(low if isinstance(low, int) else None, high if isinstance(high, int) else None,
                           allow_nan=False, allow_infinity=False, places=2).map(str)
    if kind is DataType.BOOLEAN:
        return st.sampled_from(["true", "false"])
    if kind is DataType.OPTION_LIST:
        return st.sampled_from(values)
    if kind in (DataType.MEMBER_LIST, DataType.SEQUENCE_LIST):
        # At most 10: the 1.6 *MaxLength keys bound the shared measurand lists.
        return st.lists(st.sampled_from(values), unique=True, min_size=int(low or 0),
                        max_size=min(10, len(values))).map(",".join)
    low_len = int(low) if isinstance(low, int) else 0
    high_len = int(high) if isinstance(high, int) else 100
    return st.text(st.characters(codec="utf-8"), min_size=low_len, max_size=high_len)


@st.composite
def writable_values(draw: st.DrawFn) -> tuple[VariableDef, str]:
    vdef = draw(st.sampled_from(WRITABLE))
    return vdef, draw(value_for(vdef))


@hsettings(max_examples=300, deadline=None)
@given(writable_values())
def test_set_then_get_round_trips(case: tuple[VariableDef, str]) -> None:
    vdef, value = case
    dm = model()
    result, persists = set_(dm, vdef.component, vdef.variable, value, instance=vdef.variable_instance)
    assert result["attributeStatus"] in ("Accepted", "RebootRequired"), (vdef.setting, value, result)
    assert [p.key for p in persists] == [vdef.setting]
    if vdef.mutability is not Mutability.WRITE_ONLY:
        got = get(dm, vdef.component, vdef.variable, instance=vdef.variable_instance)
        assert got["attributeValue"] == value

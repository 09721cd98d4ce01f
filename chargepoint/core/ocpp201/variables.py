"""The OCPP 2.0.1 device-model catalog, as data: each component-variable, its characteristics and its storage.

Scope: the variables OCPP 2.0.1 Part 2 (appendix "Referenced Components and Variables") marks required for
the Core and Advanced profiles of functional blocks B, C, D, E, F, G, H, J and P, plus a few optional ones
the 1.6 configuration keys already carry (so both versions share them).

The mapping rule: a variable with an OCPP 1.6 configuration-key equivalent is stored under that key's name
(``setting="HeartbeatInterval"``), so a value changed under one version is in force under the other. A
variable without one is stored under its canonical name ``Component[evse,connector].Variable[.instance]``
and ``extra_specs`` supplies its ``SettingSpec``: the 2.0.1 ``Settings`` = the 1.6 ``SPECS`` +
``extra_specs``, all persisted under the same ``"settings"`` kind. Non-Actual attributes are stored as
``<setting>.<Attribute>``. Values only the station knows at read time (``live=True``: availability, the
clock, measured power, counters) are not stored; the device model asks a callback for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources

from chargepoint.core.domain.settings import SettingSpec, SettingType, Value


class DataType(StrEnum):
    """OCPP 2.0.1 DataEnumType."""

    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


LIST_TYPES = frozenset({DataType.OPTION_LIST, DataType.SEQUENCE_LIST, DataType.MEMBER_LIST})
CSV_TYPES = frozenset({DataType.SEQUENCE_LIST, DataType.MEMBER_LIST})


class Mutability(StrEnum):
    """OCPP 2.0.1 MutabilityEnumType."""

    READ_ONLY = "ReadOnly"
    READ_WRITE = "ReadWrite"
    WRITE_ONLY = "WriteOnly"


class Attribute(StrEnum):
    """OCPP 2.0.1 AttributeEnumType."""

    ACTUAL = "Actual"
    TARGET = "Target"
    MIN_SET = "MinSet"
    MAX_SET = "MaxSet"


@dataclass(frozen=True, slots=True)
class ComponentRef:
    """A component as the CSMS names it (ComponentType): name, instance, and the EVSE / connector it is on."""

    name: str
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None


@dataclass(frozen=True, slots=True)
class VariableRef:
    """One component-variable (the key the ``live`` callback is asked about)."""

    component: ComponentRef
    name: str
    instance: str | None = None


def canonical_name(ref: VariableRef) -> str:
    """``Component[/instance][evse(,connector)].Variable[.instance]``: the Settings name of a variable
    that has no OCPP 1.6 configuration-key equivalent."""
    comp = ref.component
    text = comp.name + (f"/{comp.instance}" if comp.instance else "")
    if comp.evse is not None:
        text += f"[{comp.evse}]" if comp.connector is None else f"[{comp.evse},{comp.connector}]"
    text += f".{ref.name}"
    return text + (f".{ref.instance}" if ref.instance else "")


@dataclass(frozen=True, slots=True)
class VariableDef:
    """One component-variable: identity, characteristics, and the Settings name it lives under.

    ``min_limit`` / ``max_limit`` bound the value of integer and decimal variables and the length of string
    and list variables (VariableCharacteristicsType.maxLimit). ``max_limit_setting`` takes maxLimit from
    another setting (LocalAuthListCtrlr.Entries is bounded by LocalAuthListMaxLength). ``default`` only
    matters for variables stored under their canonical name (the 1.6 keys have theirs in ``SPECS``).
    ``setting`` left empty means the canonical name.
    """

    component: str
    variable: str
    data_type: DataType
    mutability: Mutability = Mutability.READ_WRITE
    setting: str = ""
    component_instance: str | None = None
    variable_instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    unit: str | None = None
    attributes: tuple[Attribute, ...] = (Attribute.ACTUAL,)
    values_list: tuple[str, ...] | None = None
    min_limit: int | float | None = None
    max_limit: int | float | None = None
    max_limit_setting: str | None = None
    reboot_required: bool = False
    live: bool = False
    default: Value | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.setting:
            object.__setattr__(self, "setting", canonical_name(self.ref))
        if Attribute.ACTUAL not in self.attributes:
            raise ValueError(f"{self.setting}: every variable has an Actual attribute")
        if self.data_type in LIST_TYPES and not self.values_list:
            # VariableCharacteristicsType.valuesList is mandatory for Option/Member/SequenceList.
            raise ValueError(f"{self.setting}: a list type needs a values_list")

    @property
    def ref(self) -> VariableRef:
        return VariableRef(ComponentRef(self.component, self.component_instance, self.evse, self.connector),
                           self.variable, self.variable_instance)

    @property
    def is_extra(self) -> bool:
        """True when no 1.6 configuration key carries this variable (stored under its canonical name)."""
        return self.setting == canonical_name(self.ref)

    def setting_for(self, attribute: Attribute) -> str | None:
        """The Settings name holding ``attribute``; None for a live Actual value (asked from the station)."""
        if attribute is Attribute.ACTUAL:
            return None if self.live else self.setting
        return f"{self.setting}.{attribute}"


def _measurands() -> tuple[str, ...]:
    """MeasurandEnumType of OCPP 2.0.1, read from the official schema shipped with the ``ocpp`` package."""
    text = resources.files("ocpp").joinpath("v201", "schemas", "MeterValuesRequest.json").read_text()
    return tuple(json.loads(text)["definitions"]["MeasurandEnumType"]["enum"])


MEASURANDS = _measurands()
# TxCtrlr.TxStartPoint / TxStopPoint members (OCPP 2.0.1 Part 2 E01 / E06 "TxStartPoint values").
TX_POINTS = (
    "ParkingBayOccupancy", "EVConnected", "Authorized", "DataSigned", "PowerPathClosed", "EnergyTransfer",
)
AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
TIME_SOURCES = ("Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork", "RadioTimeTransmitter")
NETWORK_SLOTS = ("1", "2", "3")

RO, RW, WO = Mutability.READ_ONLY, Mutability.READ_WRITE, Mutability.WRITE_ONLY
INT, DEC, BOOL, STR = DataType.INTEGER, DataType.DECIMAL, DataType.BOOLEAN, DataType.STRING
OPTION, SEQUENCE, MEMBER = DataType.OPTION_LIST, DataType.SEQUENCE_LIST, DataType.MEMBER_LIST
V = VariableDef

# Controller components: one each per station. Order = report order.
CONTROLLERS: tuple[VariableDef, ...] = (
    # B: DeviceDataCtrlr — limits the CSMS must respect (B05.FR.11, B06.FR.05, B08.FR.17/18).
    *(V("DeviceDataCtrlr", "ItemsPerMessage", INT, RO, variable_instance=inst, min_limit=1, default=n)
      for inst, n in (("GetReport", 20), ("GetVariables", 50), ("SetVariables", 50))),
    *(V("DeviceDataCtrlr", "BytesPerMessage", INT, RO, variable_instance=inst, min_limit=1, default=65000)
      for inst in ("GetReport", "GetVariables", "SetVariables")),
    V("DeviceDataCtrlr", "ConfigurationValueSize", INT, RO, min_limit=1, max_limit=1000, default=1000),
    V("DeviceDataCtrlr", "ReportingValueSize", INT, RO, min_limit=1, max_limit=2500, default=2500),
    # B: OCPPCommCtrlr
    V("OCPPCommCtrlr", "FileTransferProtocols", MEMBER, RO,
      values_list=("FTP", "FTPS", "HTTP", "HTTPS", "SFTP"), default="HTTPS,HTTP"),
    V("OCPPCommCtrlr", "HeartbeatInterval", INT, setting="HeartbeatInterval", unit="s"),
    V("OCPPCommCtrlr", "MessageTimeout", INT, variable_instance="Default", unit="s", min_limit=1, default=30),
    V("OCPPCommCtrlr", "MessageAttemptInterval", INT, variable_instance="TransactionEvent",
      setting="TransactionMessageRetryInterval", unit="s"),
    V("OCPPCommCtrlr", "MessageAttempts", INT, variable_instance="TransactionEvent",
      setting="TransactionMessageAttempts"),
    # A new priority only takes effect on the next (re)connection: B05.FR.09 RebootRequired.
    V("OCPPCommCtrlr", "NetworkConfigurationPriority", SEQUENCE, values_list=NETWORK_SLOTS, min_limit=1,
      reboot_required=True, default="1"),
    V("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", INT, min_limit=1, default=3),
    V("OCPPCommCtrlr", "OfflineThreshold", INT, unit="s", min_limit=0, default=60),
    V("OCPPCommCtrlr", "QueueAllMessages", BOOL, default=False),
    V("OCPPCommCtrlr", "ResetRetries", INT, setting="ResetRetries"),
    V("OCPPCommCtrlr", "RetryBackOffRandomRange", INT, unit="s", min_limit=0, default=10),
    V("OCPPCommCtrlr", "RetryBackOffRepeatTimes", INT, min_limit=0, default=5),
    V("OCPPCommCtrlr", "RetryBackOffWaitMinimum", INT, unit="s", min_limit=0, default=3),
    V("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", BOOL, setting="UnlockConnectorOnEVSideDisconnect"),
    V("OCPPCommCtrlr", "WebSocketPingInterval", INT, setting="WebSocketPingInterval", unit="s"),
    # B: ClockCtrlr — DateTime is the station's clock at read time.
    V("ClockCtrlr", "DateTime", DataType.DATE_TIME, RO, live=True),
    V("ClockCtrlr", "TimeSource", SEQUENCE, values_list=TIME_SOURCES, min_limit=1, default="Heartbeat"),
    # C: AuthCtrlr
    V("AuthCtrlr", "Enabled", BOOL, default=True),
    V("AuthCtrlr", "AdditionalInfoItemsPerMessage", INT, RO, min_limit=0, default=0),
    V("AuthCtrlr", "AuthorizeRemoteStart", BOOL, setting="AuthorizeRemoteTxRequests"),
    V("AuthCtrlr", "LocalAuthorizeOffline", BOOL, setting="LocalAuthorizeOffline"),
    V("AuthCtrlr", "LocalPreAuthorize", BOOL, setting="LocalPreAuthorize"),
    V("AuthCtrlr", "OfflineTxForUnknownIdEnabled", BOOL, setting="AllowOfflineTxForUnknownId"),
    # C: AuthCacheCtrlr — the cache evicts the oldest entry first (domain/auth.py): FIFO is the only policy.
    V("AuthCacheCtrlr", "Available", BOOL, RO, default=True),
    V("AuthCacheCtrlr", "Enabled", BOOL, setting="AuthorizationCacheEnabled"),
    V("AuthCacheCtrlr", "LifeTime", INT, unit="s", min_limit=0, default=86400),
    V("AuthCacheCtrlr", "Policy", OPTION, values_list=("FIFO",), default="FIFO"),
    V("AuthCacheCtrlr", "Storage", INT, RO, unit="B", live=True),
    # D: LocalAuthListCtrlr
    V("LocalAuthListCtrlr", "Available", BOOL, RO, default=True),
    V("LocalAuthListCtrlr", "BytesPerMessage", INT, RO, min_limit=1, default=65000),
    V("LocalAuthListCtrlr", "Enabled", BOOL, setting="LocalAuthListEnabled"),
    V("LocalAuthListCtrlr", "Entries", INT, RO, live=True, max_limit_setting="LocalAuthListMaxLength"),
    V("LocalAuthListCtrlr", "ItemsPerMessage", INT, RO, setting="SendLocalListMaxLength"),
    # E: TxCtrlr
    V("TxCtrlr", "EVConnectionTimeOut", INT, setting="ConnectionTimeOut", unit="s"),
    V("TxCtrlr", "MaxEnergyOnInvalidId", INT, setting="MaxEnergyOnInvalidId", unit="Wh"),
    V("TxCtrlr", "StopTxOnEVSideDisconnect", BOOL, setting="StopTransactionOnEVSideDisconnect"),
    V("TxCtrlr", "StopTxOnInvalidId", BOOL, setting="StopTransactionOnInvalidId"),
    V("TxCtrlr", "TxStartPoint", MEMBER, values_list=TX_POINTS, min_limit=1, default="PowerPathClosed"),
    V("TxCtrlr", "TxStopPoint", MEMBER, values_list=TX_POINTS, min_limit=1, default="EVConnected,Authorized"),
    # J: SampledDataCtrlr
    V("SampledDataCtrlr", "Enabled", BOOL, default=True),
    V("SampledDataCtrlr", "RegisterValuesWithoutPhases", BOOL, default=False),
    V("SampledDataCtrlr", "TxEndedInterval", INT, unit="s", min_limit=0, default=0),
    V("SampledDataCtrlr", "TxEndedMeasurands", MEMBER, setting="StopTxnSampledData", values_list=MEASURANDS),
    V("SampledDataCtrlr", "TxStartedMeasurands", MEMBER, values_list=MEASURANDS,
      default="Energy.Active.Import.Register"),
    V("SampledDataCtrlr", "TxUpdatedInterval", INT, setting="MeterValueSampleInterval", unit="s"),
    V("SampledDataCtrlr", "TxUpdatedMeasurands", MEMBER, setting="MeterValuesSampledData",
      values_list=MEASURANDS),
    # J: AlignedDataCtrlr
    V("AlignedDataCtrlr", "Enabled", BOOL, default=True),
    V("AlignedDataCtrlr", "Interval", INT, setting="ClockAlignedDataInterval", unit="s"),
    V("AlignedDataCtrlr", "Measurands", MEMBER, setting="MeterValuesAlignedData", values_list=MEASURANDS),
    V("AlignedDataCtrlr", "SendDuringIdle", BOOL, default=False),
    V("AlignedDataCtrlr", "TxEndedInterval", INT, unit="s", min_limit=0, default=0),
    V("AlignedDataCtrlr", "TxEndedMeasurands", MEMBER, setting="StopTxnAlignedData", values_list=MEASURANDS),
    # H: ReservationCtrlr
    V("ReservationCtrlr", "Available", BOOL, RO, default=True),
    V("ReservationCtrlr", "Enabled", BOOL, default=True),
    V("ReservationCtrlr", "NonEvseSpecific", BOOL, RO, setting="ReserveConnectorZeroSupported"),
    # A/B: SecurityCtrlr — BasicAuthPassword is write-only (never read back, never reported: B06.FR.09,
    # B07.FR.03); SecurityProfile changes only through SetNetworkProfile in 2.0.1, so it is ReadOnly here.
    V("SecurityCtrlr", "AdditionalRootCertificateCheck", BOOL, RO, setting="AdditionalRootCertificateCheck"),
    V("SecurityCtrlr", "BasicAuthPassword", STR, WO, setting="AuthorizationKey", min_limit=16, max_limit=40),
    V("SecurityCtrlr", "CertificateEntries", INT, RO, live=True,
      max_limit_setting="CertificateStoreMaxLength"),
    V("SecurityCtrlr", "Identity", STR, RO, max_limit=48, default=""),
    V("SecurityCtrlr", "MaxCertificateChainSize", INT, RO, setting="CertificateSignedMaxChainSize"),
    V("SecurityCtrlr", "OrganizationName", STR, setting="CpoName"),
    V("SecurityCtrlr", "SecurityProfile", INT, RO, setting="SecurityProfile"),
    # K (used by E/P): SmartChargingCtrlr
    V("SmartChargingCtrlr", "Available", BOOL, RO, default=True),
    V("SmartChargingCtrlr", "Enabled", BOOL, default=True),
    V("SmartChargingCtrlr", "Entries", INT, RO, variable_instance="ChargingProfiles", live=True,
      max_limit_setting="MaxChargingProfilesInstalled"),
    V("SmartChargingCtrlr", "LimitChangeSignificance", DEC, min_limit=0, max_limit=100, default="10"),
    V("SmartChargingCtrlr", "PeriodsPerSchedule", INT, RO, setting="ChargingScheduleMaxPeriods"),
    V("SmartChargingCtrlr", "Phases3to1", BOOL, RO, setting="ConnectorSwitch3to1PhaseSupported"),
    V("SmartChargingCtrlr", "ProfileStackLevel", INT, RO, setting="ChargeProfileMaxStackLevel"),
    # 1.6 says "Current,Power" where 2.0.1 says "A,W": different vocabularies, so not shared.
    V("SmartChargingCtrlr", "RateUnit", MEMBER, RO, values_list=("A", "W"), default="A,W"),
)


def _physical(component: str, evse: int | None = None, connector: int | None = None) -> list[VariableDef]:
    """The variables every physical component (ChargingStation, EVSE, Connector) has (G01, G03, B07.FR.09)."""
    return [
        V(component, "AvailabilityState", OPTION, RO, values_list=AVAILABILITY_STATES, live=True, evse=evse,
          connector=connector),
        V(component, "Available", BOOL, RO, default=True, evse=evse, connector=connector),
        V(component, "Problem", BOOL, RO, live=True, evse=evse, connector=connector),
        V(component, "SupplyPhases", INT, RO, min_limit=0, max_limit=3, default=3, evse=evse,
          connector=connector),
    ]


def evse_layout(evse_count: int, connectors_per_evse: int = 1) -> dict[int, int]:
    """EVSE id → number of connectors, for a station of identical EVSEs numbered from 1."""
    return {evse: connectors_per_evse for evse in range(1, evse_count + 1)}


def _layout(evses: int | Mapping[int, int]) -> Mapping[int, int]:
    return evse_layout(evses) if isinstance(evses, int) else evses


def catalog(evses: int | Mapping[int, int]) -> tuple[VariableDef, ...]:
    """Every variable of a station with the given EVSEs (a count, or EVSE id → connector count)."""
    defs = [*CONTROLLERS, *_physical("ChargingStation")]
    for evse, connectors in sorted(_layout(evses).items()):
        defs += _physical("EVSE", evse)
        # EVSE.Power: Actual is the measured power (live), MaxSet the EVSE's rating.
        defs.append(V("EVSE", "Power", DEC, RO, evse=evse, unit="W", min_limit=0, live=True, default="22000",
                      attributes=(Attribute.ACTUAL, Attribute.MAX_SET)))
        for connector in range(1, connectors + 1):
            defs += _physical("Connector", evse, connector)
            defs.append(V("Connector", "ConnectorType", STR, RO, evse=evse, connector=connector, max_limit=20,
                          default="cType2"))
    return tuple(defs)


_SETTING_TYPES = {
    DataType.INTEGER: SettingType.INT,
    DataType.BOOLEAN: SettingType.BOOL,
    DataType.SEQUENCE_LIST: SettingType.CSL,
    DataType.MEMBER_LIST: SettingType.CSL,
}


def _spec(vdef: VariableDef, name: str, default: Value) -> SettingSpec:
    stype = _SETTING_TYPES.get(vdef.data_type, SettingType.STRING)
    numeric = stype is SettingType.INT
    # Settings bounds a string's length through ``minimum`` / ``max_length``; the model checks decimals.
    textual = vdef.data_type in (DataType.STRING, *LIST_TYPES)
    return SettingSpec(
        name, stype, default,
        readonly=vdef.mutability is Mutability.READ_ONLY,
        minimum=int(vdef.min_limit) if vdef.min_limit is not None and (numeric or textual) else None,
        maximum=int(vdef.max_limit) if vdef.max_limit is not None and numeric else None,
        max_length=int(vdef.max_limit) if vdef.max_limit is not None and textual else None,
        allowed=frozenset(vdef.values_list) if vdef.values_list else None,
        reboot_required=vdef.reboot_required,
        secret=vdef.mutability is Mutability.WRITE_ONLY,
    )


def extra_specs(evses: int | Mapping[int, int]) -> tuple[SettingSpec, ...]:
    """The SettingSpecs of every stored variable without a 1.6 key: 2.0.1 Settings = 1.6 SPECS + these."""
    specs: list[SettingSpec] = []
    for vdef in catalog(evses):
        for attribute in vdef.attributes:
            name = vdef.setting_for(attribute)
            if name is None or (attribute is Attribute.ACTUAL and not vdef.is_extra):
                continue
            if vdef.default is None:
                raise ValueError(f"{name}: a variable without a 1.6 key needs a default")
            specs.append(_spec(vdef, name, vdef.default))
    return tuple(specs)


def station_overrides(
    evses: int | Mapping[int, int],
    *,
    identity: str = "",
    supply_phases: int = 3,
    max_power_w: float = 22000,
    connector_type: str = "cType2",
) -> dict[str, Value]:
    """Defaults of the extras that depend on the station's build (pass to ``Settings(..., overrides)``)."""
    out: dict[str, Value] = {"SecurityCtrlr.Identity": identity,
                             "ChargingStation.SupplyPhases": supply_phases}
    for evse, connectors in _layout(evses).items():
        out[f"EVSE[{evse}].SupplyPhases"] = supply_phases
        out[f"EVSE[{evse}].Power.MaxSet"] = f"{max_power_w:g}"
        for connector in range(1, connectors + 1):
            out[f"Connector[{evse},{connector}].SupplyPhases"] = supply_phases
            out[f"Connector[{evse},{connector}].ConnectorType"] = connector_type
    return out

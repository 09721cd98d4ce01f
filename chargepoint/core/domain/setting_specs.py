"""The station's OCPP-managed settings as a table: every OCPP 1.6 configuration key (§9.1 Core, §9.2
LocalAuthListManagement, §9.3 Reservation, §9.4 SmartCharging, the security whitepaper's keys) with type,
default and mutability. These are the canonical names; the 2.0.1 device model maps its variables onto them
(and adds its own for what 1.6 lacks), so a value set under one version holds under the other.
"""

from __future__ import annotations

import json
from importlib import resources

from chargepoint.core.domain.settings import SettingSpec, SettingType, Value

INT, BOOL, STRING, CSL = SettingType.INT, SettingType.BOOL, SettingType.STRING, SettingType.CSL


def _measurands() -> frozenset[str]:
    """The Measurand values of OCPP 1.6 §7.31, read from the official MeterValues schema that ships with the
    ``ocpp`` package (importing ``ocpp.v16`` would load its whole client with jsonschema: ~5 MiB resident)."""
    schema = json.loads(resources.files("ocpp").joinpath("v16", "schemas", "MeterValues.json").read_text())
    item = schema["properties"]["meterValue"]["items"]["properties"]["sampledValue"]["items"]
    return frozenset(item["properties"]["measurand"]["enum"])


MEASURANDS = _measurands()
PROFILES = frozenset({"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation",
                      "SmartCharging", "RemoteTrigger"})

SPECS: tuple[SettingSpec, ...] = (
    # §9.1 Core profile
    SettingSpec("AllowOfflineTxForUnknownId", BOOL, False),
    SettingSpec("AuthorizationCacheEnabled", BOOL, True),
    SettingSpec("AuthorizeRemoteTxRequests", BOOL, False),
    SettingSpec("BlinkRepeat", INT, 3, minimum=0),
    SettingSpec("ClockAlignedDataInterval", INT, 0, minimum=0, maximum=86400),
    SettingSpec("ConnectionTimeOut", INT, 60, minimum=1),
    SettingSpec("ConnectorPhaseRotation", CSL, "0.RST,1.RST",
                max_items_key="ConnectorPhaseRotationMaxLength"),
    SettingSpec("ConnectorPhaseRotationMaxLength", INT, 2, readonly=True),
    SettingSpec("GetConfigurationMaxKeys", INT, 64, readonly=True),
    SettingSpec("HeartbeatInterval", INT, 300, minimum=0),
    SettingSpec("LightIntensity", INT, 100, minimum=0, maximum=100),
    SettingSpec("LocalAuthorizeOffline", BOOL, True),
    SettingSpec("LocalPreAuthorize", BOOL, False),
    SettingSpec("MaxEnergyOnInvalidId", INT, 0, minimum=0),
    SettingSpec("MeterValuesAlignedData", CSL, "Energy.Active.Import.Register", allowed=MEASURANDS,
                max_items_key="MeterValuesAlignedDataMaxLength"),
    SettingSpec("MeterValuesAlignedDataMaxLength", INT, 10, readonly=True),
    SettingSpec("MeterValuesSampledData", CSL,
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage",
                allowed=MEASURANDS, max_items_key="MeterValuesSampledDataMaxLength"),
    SettingSpec("MeterValuesSampledDataMaxLength", INT, 10, readonly=True),
    SettingSpec("MeterValueSampleInterval", INT, 60, minimum=0),
    SettingSpec("MinimumStatusDuration", INT, 0, minimum=0),
    SettingSpec("NumberOfConnectors", INT, 1, readonly=True),
    SettingSpec("ResetRetries", INT, 3, minimum=0),
    SettingSpec("StopTransactionOnEVSideDisconnect", BOOL, True),
    SettingSpec("StopTransactionOnInvalidId", BOOL, True),
    SettingSpec("StopTxnAlignedData", CSL, "", allowed=MEASURANDS,
                max_items_key="StopTxnAlignedDataMaxLength"),
    SettingSpec("StopTxnAlignedDataMaxLength", INT, 10, readonly=True),
    SettingSpec("StopTxnSampledData", CSL, "Energy.Active.Import.Register", allowed=MEASURANDS,
                max_items_key="StopTxnSampledDataMaxLength"),
    SettingSpec("StopTxnSampledDataMaxLength", INT, 10, readonly=True),
    SettingSpec("SupportedFeatureProfiles", CSL,
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
                readonly=True, allowed=PROFILES),
    SettingSpec("SupportedFeatureProfilesMaxLength", INT, 6, readonly=True),
    SettingSpec("TransactionMessageAttempts", INT, 3, minimum=1),
    SettingSpec("TransactionMessageRetryInterval", INT, 20, minimum=0),
    SettingSpec("UnlockConnectorOnEVSideDisconnect", BOOL, True),
    SettingSpec("WebSocketPingInterval", INT, 30, minimum=0),
    # §9.2 LocalAuthListManagement
    SettingSpec("LocalAuthListEnabled", BOOL, True),
    SettingSpec("LocalAuthListMaxLength", INT, 10000, readonly=True),
    SettingSpec("SendLocalListMaxLength", INT, 1000, readonly=True),
    # §9.3 Reservation
    SettingSpec("ReserveConnectorZeroSupported", BOOL, True, readonly=True),
    # §9.4 SmartCharging (chargepoint.core.domain.smart)
    SettingSpec("ChargeProfileMaxStackLevel", INT, 10, readonly=True),
    SettingSpec("ChargingScheduleAllowedChargingRateUnit", CSL, "Current,Power", readonly=True),
    SettingSpec("ChargingScheduleMaxPeriods", INT, 24, readonly=True),
    SettingSpec("ConnectorSwitch3to1PhaseSupported", BOOL, False, readonly=True),
    SettingSpec("MaxChargingProfilesInstalled", INT, 10, readonly=True),
    # Security whitepaper (Improved security for OCPP 1.6-J, §2.3, §3.1): AuthorizationKey is write-only.
    SettingSpec("AuthorizationKey", STRING, "", secret=True, minimum=16, max_length=40),
    SettingSpec("SecurityProfile", INT, 0, minimum=0, maximum=3),
    SettingSpec("CpoName", STRING, "", max_length=255),
    SettingSpec("CertificateSignedMaxChainSize", INT, 10000, readonly=True),
    SettingSpec("CertificateStoreMaxLength", INT, 20, readonly=True),
    SettingSpec("AdditionalRootCertificateCheck", BOOL, False, readonly=True),
)


def station_overrides(number_of_connectors: int) -> dict[str, Value]:
    """Defaults that depend on the station's build."""
    rotation = ",".join(f"{i}.RST" for i in range(number_of_connectors + 1))
    return {
        "NumberOfConnectors": number_of_connectors,
        "ConnectorPhaseRotation": rotation,
        "ConnectorPhaseRotationMaxLength": number_of_connectors + 1,
    }

"""OCPP 1.6 configuration keys (§9) and ChangeConfiguration / GetConfiguration semantics (§5.3, §5.8)."""

from __future__ import annotations

import pytest

from chargepoint.core.actions import Persist
from chargepoint.core.domain.settings import SetResult, Settings
from chargepoint.core.ocpp16.config_keys import SPECS, get_configuration, station_overrides

CORE_KEYS = [
    "AllowOfflineTxForUnknownId", "AuthorizationCacheEnabled", "AuthorizeRemoteTxRequests",
    "BlinkRepeat", "ClockAlignedDataInterval", "ConnectionTimeOut", "ConnectorPhaseRotation",
    "ConnectorPhaseRotationMaxLength", "GetConfigurationMaxKeys", "HeartbeatInterval", "LightIntensity",
    "LocalAuthorizeOffline", "LocalPreAuthorize", "MaxEnergyOnInvalidId", "MeterValuesAlignedData",
    "MeterValuesAlignedDataMaxLength", "MeterValuesSampledData", "MeterValuesSampledDataMaxLength",
    "MeterValueSampleInterval", "MinimumStatusDuration", "NumberOfConnectors", "ResetRetries",
    "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
    "StopTxnAlignedDataMaxLength", "StopTxnSampledData", "StopTxnSampledDataMaxLength",
    "SupportedFeatureProfiles", "SupportedFeatureProfilesMaxLength", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect", "WebSocketPingInterval",
    "LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
    "ReserveConnectorZeroSupported",
]


def fresh() -> Settings:
    return Settings(SPECS, station_overrides(2))


def test_every_key_of_the_spec_is_there() -> None:
    assert set(CORE_KEYS) <= {s.name for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_key_round_trips_or_is_refused_as_the_table_says(spec: object) -> None:
    settings = fresh()
    name = spec.name  # type: ignore[attr-defined]
    wire = settings.to_wire(name)
    result, persist = settings.set_from_wire(name, wire)
    if spec.readonly:  # type: ignore[attr-defined]
        assert (result, persist) == (SetResult.REJECTED, [])
    elif spec.secret:  # type: ignore[attr-defined]
        assert result is SetResult.REJECTED  # the empty default is not a valid key
    else:
        assert result is SetResult.ACCEPTED and persist == [Persist("settings", name, settings.get(name))]


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("HeartbeatInterval", "60", SetResult.ACCEPTED),
        ("HeartbeatInterval", " 60 ", SetResult.ACCEPTED),
        ("HeartbeatInterval", "6.5", SetResult.REJECTED),
        ("HeartbeatInterval", "-1", SetResult.REJECTED),
        ("HeartbeatInterval", "sixty", SetResult.REJECTED),
        ("LocalPreAuthorize", "TRUE", SetResult.ACCEPTED),
        ("LocalPreAuthorize", "yes", SetResult.REJECTED),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage", SetResult.ACCEPTED),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", SetResult.REJECTED),
        ("MeterValuesSampledData", ",".join(["Voltage"] * 11), SetResult.REJECTED),
        ("NumberOfConnectors", "3", SetResult.REJECTED),
        ("NoSuchKey", "1", SetResult.NOT_SUPPORTED),
        ("AuthorizationKey", "0123456789abcdef0123", SetResult.ACCEPTED),
        ("AuthorizationKey", "short", SetResult.REJECTED),
    ],
)
def test_change_configuration_semantics(key: str, text: str, expected: SetResult) -> None:
    assert fresh().set_from_wire(key, text)[0] is expected


def test_persisted_values_come_back_and_stale_ones_are_ignored() -> None:
    settings = fresh()
    settings.set_from_wire("HeartbeatInterval", "42")
    again = fresh()
    again.restore([("HeartbeatInterval", 42), ("MeterValueSampleInterval", "not an int"), ("Gone", 1),
                   ("NumberOfConnectors", 9)])
    assert again.int("HeartbeatInterval") == 42
    assert again.int("MeterValueSampleInterval") == 60
    assert again.int("NumberOfConnectors") == 2  # read-only: the build decides, not the disk


def test_get_configuration_hides_secrets_and_lists_unknown_keys() -> None:
    settings = fresh()
    settings.set_from_wire("AuthorizationKey", "0123456789abcdef0123")
    known, unknown = get_configuration(settings, None)
    assert "AuthorizationKey" not in {k["key"] for k in known}
    assert "0123456789abcdef0123" not in repr(known)
    known, unknown = get_configuration(settings, ["HeartbeatInterval", "Nope"])
    assert known == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
    assert unknown == ["Nope"]

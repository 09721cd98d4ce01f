"""Schema validation: real example payloads of both versions, each failure kind mapped to its spec code."""

from __future__ import annotations

import copy

import fastjsonschema
import pytest

from chargepoint.core.rpc import validation
from chargepoint.core.rpc.framing import Dialect
from chargepoint.core.rpc.validation import SchemaSet, Violation, is_date_time

JsonObject = dict[str, object]

S16 = SchemaSet("1.6")
S201 = SchemaSet("2.0.1")
TS = "2024-05-01T12:00:00.000Z"
SECRET = "04E91A2BC3D4F5"  # an id token: never in a description


def profile16(limit: object = 21.4) -> JsonObject:
    return {
        "chargingProfileId": 7,
        "transactionId": 42,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "duration": 3600,
            "startSchedule": TS,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": 3},
                                       {"startPeriod": 600, "limit": 16}],
            "minChargingRate": 6.1,
        },
    }


# OCPP 1.6 requests, valid as written (OCPP 1.6 §6 message definitions).
CALLS_16: dict[str, JsonObject] = {
    "BootNotification": {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 22",
                         "firmwareVersion": "1.2.3", "meterType": "SDM630"},
    "Authorize": {"idTag": SECRET},
    "StartTransaction": {"connectorId": 1, "idTag": SECRET, "meterStart": 0, "timestamp": TS,
                         "reservationId": 3},
    "StopTransaction": {"transactionId": 42, "meterStop": 12345, "timestamp": "2024-05-01T13:00:00Z",
                        "reason": "Local", "idTag": SECRET,
                        "transactionData": [{"timestamp": TS, "sampledValue": [{"value": "12345"}]}]},
    "MeterValues": {"connectorId": 1, "transactionId": 42, "meterValue": [{"timestamp": TS, "sampledValue": [
        {"value": "123.4", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
         "location": "Outlet", "unit": "Wh"},
        {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"}]}]},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": TS},
    "Heartbeat": {},
    "DataTransfer": {"vendorId": "com.acme", "messageId": "x", "data": "free text"},
    "Reset": {"type": "Soft"},
    "RemoteStartTransaction": {"connectorId": 1, "idTag": SECRET, "chargingProfile": profile16()},
    "RemoteStopTransaction": {"transactionId": 42},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "300"},
    "GetConfiguration": {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
    "ChangeAvailability": {"connectorId": 0, "type": "Inoperative"},
    "UnlockConnector": {"connectorId": 1},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": profile16()},
    "ReserveNow": {"connectorId": 1, "expiryDate": "2024-05-01T14:00:00+02:00", "idTag": SECRET,
                   "reservationId": 3},
    "GetDiagnostics": {"location": "ftp://diag.example.com/upload"},
    "SendLocalList": {"listVersion": 3, "updateType": "Full",
                      "localAuthorizationList": [{"idTag": SECRET, "idTagInfo": {"status": "Accepted"}}]},
}

# OCPP 1.6 answers (.conf), valid as written.
RESULTS_16: dict[str, JsonObject] = {
    "BootNotification": {"status": "Accepted", "currentTime": TS, "interval": 300},
    "Authorize": {"idTagInfo": {"status": "Accepted", "expiryDate": "2024-06-01T00:00:00Z"}},
    "StartTransaction": {"transactionId": 42, "idTagInfo": {"status": "Accepted"}},
    "MeterValues": {},
    "Heartbeat": {"currentTime": TS},
    "GetCompositeSchedule": {
        "status": "Accepted", "connectorId": 1, "scheduleStart": TS,
        "chargingSchedule": {"chargingRateUnit": "W", "minChargingRate": 0.3,
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}},
    "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                               "value": "300"}], "unknownKey": ["Foo"]},
}

# OCPP 2.0.1 requests, valid as written (OCPP 2.0.1 part 2 messages).
ID_TOKEN = {"idToken": SECRET, "type": "ISO14443"}
CALLS_201: dict[str, JsonObject] = {
    "BootNotification": {"reason": "PowerUp", "chargingStation": {"model": "Wallbox 22", "vendorName": "Acme",
                                                                  "firmwareVersion": "1.2"}},
    "Authorize": {"idToken": ID_TOKEN},
    "Heartbeat": {},
    "StatusNotification": {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": [
        {"value": 1234.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": 21.4, "measurand": "Current.Import", "phase": "L1"}]}]},
    "TransactionEvent": {"eventType": "Started", "timestamp": TS, "triggerReason": "Authorized", "seqNo": 0,
                         "transactionInfo": {"transactionId": "tx-0001", "chargingState": "Charging"},
                         "idToken": ID_TOKEN, "evse": {"id": 1, "connectorId": 1}},
    "RequestStartTransaction": {"idToken": ID_TOKEN, "remoteStartId": 5, "evseId": 1},
    "RequestStopTransaction": {"transactionId": "tx-0001"},
    "Reset": {"type": "OnIdle"},
    "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 1}},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
    "GetVariables": {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}}]},
    "SetVariables": {"setVariableData": [{"attributeValue": "300", "component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}}]},
    "SetChargingProfile": {"evseId": 1, "chargingProfile": {
        "id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": TS,
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}]}},
    "DataTransfer": {"vendorId": "com.acme", "data": {"any": ["json", 1]}},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {
        "requestedEnergyTransfer": "DC", "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 500,
                                                                   "stateOfCharge": 40}}},
}

RESULTS_201: dict[str, JsonObject] = {
    "BootNotification": {"currentTime": TS, "interval": 300, "status": "Accepted"},
    "Authorize": {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": {},
    "Heartbeat": {"currentTime": TS},
    "GetVariables": {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "300",
                                            "component": {"name": "OCPPCommCtrlr"},
                                            "variable": {"name": "HeartbeatInterval"}}]},
}


@pytest.mark.parametrize(("action", "payload"), CALLS_16.items(), ids=list(CALLS_16))
def test_valid_16_requests_pass(action: str, payload: JsonObject) -> None:
    assert S16.knows(action)
    assert S16.check_call(action, payload) is None


@pytest.mark.parametrize(("action", "payload"), RESULTS_16.items(), ids=list(RESULTS_16))
def test_valid_16_results_pass(action: str, payload: JsonObject) -> None:
    assert S16.check_result(action, payload) is None


@pytest.mark.parametrize(("action", "payload"), CALLS_201.items(), ids=list(CALLS_201))
def test_valid_201_requests_pass(action: str, payload: JsonObject) -> None:
    assert S201.knows(action)
    assert S201.check_call(action, payload) is None


@pytest.mark.parametrize(("action", "payload"), RESULTS_201.items(), ids=list(RESULTS_201))
def test_valid_201_results_pass(action: str, payload: JsonObject) -> None:
    assert S201.check_result(action, payload) is None


def changed(payload: JsonObject, path: str, value: object) -> JsonObject:
    """A deep copy of ``payload`` with the field at dotted ``path`` set to ``value`` (DELETE removes it)."""
    out = copy.deepcopy(payload)
    node: object = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    assert isinstance(node, dict)
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


DELETE = object()
TYPE, PROP = "TypeConstraintViolation", "PropertyConstraintViolation"

# (action, field path, new value, 1.6 code, field named in the description)
VIOLATIONS_16: list[tuple[str, str, object, str, str]] = [
    # OCPP-J 1.6 §4.2.3: TypeConstraintViolation, e.g. "somestring": 12.
    ("Reset", "type", 1, TYPE, "type"),
    ("StartTransaction", "connectorId", "1", TYPE, "connectorId"),
    ("StartTransaction", "meterStart", 1.5, TYPE, "meterStart"),
    ("MeterValues", "meterValue.0.sampledValue.0.value", 123.4, TYPE, "meterValue[0].sampledValue[0].value"),
    ("GetConfiguration", "key", "HeartbeatInterval", TYPE, "key"),
    # OccurenceConstraintViolation (sic): a required field is missing, an array is empty.
    ("Reset", "type", DELETE, "OccurenceConstraintViolation", "type"),
    ("BootNotification", "chargePointModel", DELETE, "OccurenceConstraintViolation", "chargePointModel"),
    ("MeterValues", "meterValue", [], "OccurenceConstraintViolation", "meterValue"),
    ("StopTransaction", "transactionData.0.sampledValue.0.value", DELETE, "OccurenceConstraintViolation",
     "transactionData[0].sampledValue[0]"),
    # FormationViolation: a field the PDU does not have.
    ("Heartbeat", "extra", 1, "FormationViolation", "extra"),
    ("StatusNotification", "evseId", 1, "FormationViolation", "evseId"),
    ("MeterValues", "meterValue.0.sampledValue.0.signature", "x", "FormationViolation", "signature"),
    # PropertyConstraintViolation: right type, invalid value.
    ("Reset", "type", "Sideways", PROP, "type"),
    ("StatusNotification", "errorCode", "Melted", PROP, "errorCode"),
    ("Authorize", "idTag", SECRET + "-TOO-LONG-FOR-20", PROP, "idTag"),
    ("BootNotification", "chargePointVendor", "V" * 21, PROP, "chargePointVendor"),
    ("StartTransaction", "timestamp", "yesterday", PROP, "timestamp"),
    ("StopTransaction", "timestamp", "2023-02-29T00:00:00Z", PROP, "timestamp"),
    ("ReserveNow", "expiryDate", "2024-05-01 14:00:00", PROP, "expiryDate"),
    ("GetDiagnostics", "location", "not a uri", PROP, "location"),
    ("SetChargingProfile", "csChargingProfiles.chargingSchedule.chargingSchedulePeriod.0.limit", 21.45, PROP,
     "chargingSchedulePeriod[0].limit"),
    ("RemoteStartTransaction", "chargingProfile.chargingSchedule.minChargingRate", 6.15, PROP,
     "minChargingRate"),
]


@pytest.mark.parametrize(
    ("action", "path", "value", "code", "field"), VIOLATIONS_16,
    ids=[f"{a}.{p}={'<del>' if v is DELETE else v!r}"[:60] for a, p, v, _, _ in VIOLATIONS_16],
)
def test_16_violations_get_their_code(action: str, path: str, value: object, code: str, field: str) -> None:
    violation = S16.check_call(action, changed(CALLS_16[action], path, value))
    assert violation is not None
    assert violation.code == code
    assert field in violation.description
    assert SECRET not in violation.description
    assert len(violation.description) <= 160


VIOLATIONS_201: list[tuple[str, str, object, str, str]] = [
    ("Reset", "type", True, TYPE, "type"),
    ("StatusNotification", "evseId", "1", TYPE, "evseId"),
    ("TransactionEvent", "seqNo", 1.5, TYPE, "seqNo"),
    ("MeterValues", "meterValue.0.sampledValue.0.value", "1234.5", TYPE, "value"),
    ("Reset", "type", DELETE, "OccurrenceConstraintViolation", "type"),
    ("Authorize", "idToken.type", DELETE, "OccurrenceConstraintViolation", "idToken"),
    ("GetVariables", "getVariableData", [], "OccurrenceConstraintViolation", "getVariableData"),
    ("TransactionEvent", "transactionInfo.transactionId", DELETE, "OccurrenceConstraintViolation",
     "transactionInfo"),
    ("Heartbeat", "extra", 1, "FormatViolation", "extra"),
    ("BootNotification", "chargingStation.colour", "red", "FormatViolation", "colour"),
    ("Reset", "type", "Sideways", PROP, "type"),
    ("TransactionEvent", "triggerReason", "Whim", PROP, "triggerReason"),
    ("Authorize", "idToken.idToken", SECRET * 3, PROP, "idToken.idToken"),
    ("StatusNotification", "timestamp", "2024-05-01T25:00:00Z", PROP, "timestamp"),
    ("NotifyEVChargingNeeds", "chargingNeeds.dcChargingParameters.stateOfCharge", 101, PROP, "stateOfCharge"),
    ("NotifyEVChargingNeeds", "chargingNeeds.dcChargingParameters.stateOfCharge", -1, PROP, "stateOfCharge"),
]


@pytest.mark.parametrize(
    ("action", "path", "value", "code", "field"), VIOLATIONS_201,
    ids=[f"{a}.{p}={'<del>' if v is DELETE else v!r}"[:60] for a, p, v, _, _ in VIOLATIONS_201],
)
def test_201_violations_get_their_code(action: str, path: str, value: object, code: str, field: str) -> None:
    violation = S201.check_call(action, changed(CALLS_201[action], path, value))
    assert violation is not None
    assert violation.code == code
    assert field in violation.description
    assert SECRET not in violation.description
    assert len(violation.description) <= 160


def test_violation_codes_belong_to_the_version() -> None:
    for schemas, dialect, cases, examples in ((S16, Dialect.V16, VIOLATIONS_16, CALLS_16),
                                              (S201, Dialect.V201, VIOLATIONS_201, CALLS_201)):
        for action, path, value, _, _ in cases:
            violation = schemas.check_call(action, changed(examples[action], path, value))
            assert violation is not None and violation.code in dialect.codes


def test_invalid_answers_are_reported() -> None:
    boot: JsonObject = {"status": "Maybe", "currentTime": TS, "interval": 1}
    assert S16.check_result("BootNotification", boot) == Violation(PROP, "status: not an allowed value")
    path = "chargingSchedule.chargingSchedulePeriod.0.limit"
    bad_schedule = changed(RESULTS_16["GetCompositeSchedule"], path, 21.45)
    violation = S16.check_result("GetCompositeSchedule", bad_schedule)
    assert violation is not None and violation.code == PROP
    missing = Violation("OccurrenceConstraintViolation", "payload: missing currentTime")
    assert S201.check_result("Heartbeat", {}) == missing


@pytest.mark.parametrize("limit", [21.4, 0.1, 0.3, 6.0, 16, 999999.9, 1e15 + 0.1, 10**400, 1e308])
def test_one_decimal_rates_pass_despite_binary_floats(limit: object) -> None:
    # OCPP 1.6 schemas say multipleOf 0.1; 21.4 / 0.1 == 213.99999999999997 in binary floating point.
    set_profile: JsonObject = {"connectorId": 1, "csChargingProfiles": profile16(limit)}
    assert S16.check_call("SetChargingProfile", set_profile) is None
    remote_start: JsonObject = {"idTag": "x", "chargingProfile": profile16(limit)}
    assert S16.check_call("RemoteStartTransaction", remote_start) is None


@pytest.mark.parametrize("limit", [21.45, 0.01, 16.001, 1e-7])
def test_more_than_one_decimal_is_a_property_violation(limit: float) -> None:
    set_profile: JsonObject = {"connectorId": 1, "csChargingProfiles": profile16(limit)}
    violation = S16.check_call("SetChargingProfile", set_profile)
    assert violation is not None and violation.code == PROP


def test_unknown_action_is_not_implemented() -> None:
    # OCPP-J 1.6 §4.2.3 NotImplemented: "Requested Action is not known by receiver" (not NotSupported).
    for schemas in (S16, S201):
        assert schemas.check_call("FlyToMoon", {}) == Violation("NotImplemented", "unknown action")
        assert not schemas.knows("FlyToMoon")
        assert not schemas.knows("BootNotificationResponse")
        assert not schemas.knows("BootNotificationRequest")
        assert not schemas.knows("../v16/schemas/Reset")
        assert not schemas.knows("")
    assert S16.knows("BootNotification") and S201.knows("BootNotification")
    assert S201.knows("TransactionEvent") and not S16.knows("TransactionEvent")
    assert S16.knows("StartTransaction") and not S201.knows("StartTransaction")


def test_disabled_set_accepts_everything() -> None:
    off = SchemaSet("1.6", enabled=False)
    assert off.check_call("FlyToMoon", {}) is None
    assert off.check_call("Reset", {"type": "Sideways"}) is None
    assert off.check_result("BootNotification", {}) is None


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError):
        SchemaSet("1.5")  # type: ignore[arg-type]


def test_each_schema_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = fastjsonschema.compile

    def counting(definition: object, **kwargs: object) -> object:
        calls.append(definition)
        return real(definition, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fastjsonschema, "compile", counting)
    assert validation.fastjsonschema is fastjsonschema  # type: ignore[attr-defined]
    schemas = SchemaSet("1.6")
    for _ in range(5):
        assert schemas.check_call("Reset", {"type": "Hard"}) is None
        assert schemas.check_call("Reset", {"type": "Sideways"}) is not None
        assert schemas.check_result("Reset", {"status": "Accepted"}) is None
    assert len(calls) == 2  # one request schema, one response schema


def test_validation_does_not_add_defaults_to_the_payload() -> None:
    # The 2.0.1 schemas give defaults (location "Outlet", measurand "Energy.Active.Import.Register").
    payload = copy.deepcopy(CALLS_201["MeterValues"])
    before = copy.deepcopy(payload)
    assert S201.check_call("MeterValues", payload) is None
    assert payload == before


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.123Z",
        "2024-05-01T12:00:00.123456789Z",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01T12:00:00.5-05:30",
        "2024-02-29T00:00:00z",
        "2024-05-01t12:00:00Z",
        "2016-12-31T23:59:60Z",
        "2024-01-31T23:59:59Z",
    ],
)
def test_rfc3339_date_times_pass(text: str) -> None:
    assert is_date_time(text)
    start = changed(CALLS_16["StartTransaction"], "timestamp", text)
    assert S16.check_call("StartTransaction", start) is None
    assert S201.check_result("Heartbeat", {"currentTime": text}) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01 12:00:00Z",
        "2024-05-01T12:00Z",
        "2024-05-01T12:00:00.Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+0200",
        "\u0662\u0660\u0662\u0664-05-01T12:00:00Z",
        "2024-05-01T12:00:00Z\n",
    ],
)
def test_invalid_date_times_are_property_violations(text: str) -> None:
    assert not is_date_time(text)
    violation = S201.check_result("Heartbeat", {"currentTime": text})
    assert violation == Violation(PROP, "currentTime: not a valid date-time")

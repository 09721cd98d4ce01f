"""OCPP-J framing: every decode branch in both dialects, encoding rules, round trips."""

from __future__ import annotations

import json

import pytest

from chargepoint.core.rpc.framing import (
    MAX_DESCRIPTION,
    BadFrame,
    Call,
    CallError,
    CallResult,
    Dialect,
    Frame,
    decode,
    encode_call,
    encode_error,
    encode_result,
)

V16, V201 = Dialect.V16, Dialect.V201
ID36 = "0123456789abcdef0123456789abcdef0123"
ID37 = ID36 + "4"

FV, PE, RPC, FMT = "FormationViolation", "ProtocolError", "RpcFrameworkError", "FormatViolation"

# (name, text, (id, code) in 1.6, (id, code) in 2.0.1)
BAD_FRAMES: list[tuple[str, str, tuple[str | None, str], tuple[str | None, str]]] = [
    # Not usable as JSON at all: no id to answer (OCPP-J 1.6 §4.2.3 FormationViolation; 2.0.1 §4.3
    # RpcFrameworkError "MessageId could not be read").
    ("not json", "not json", (None, FV), (None, RPC)),
    ("truncated", '[2,"c1","Reset",{"type":', (None, FV), (None, RPC)),
    ("empty text", "", (None, FV), (None, RPC)),
    ("object", '{"a":1}', (None, FV), (None, RPC)),
    ("string", '"x"', (None, FV), (None, RPC)),
    ("empty array", "[]", (None, PE), (None, RPC)),
    # NaN / Infinity are not JSON (RFC 8259 §6), nor is a number that overflows to infinity.
    ("NaN", '[2,"c1","Reset",{"v":NaN}]', (None, FV), (None, RPC)),
    ("Infinity", '[2,"c1","Reset",{"v":-Infinity}]', (None, FV), (None, RPC)),
    ("1e999", '[2,"c1","Reset",{"v":1e999}]', (None, FV), (None, RPC)),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, (None, FV), (None, RPC)),
    ("huge integer", '[2,"c1","Reset",{"v":' + "9" * 5000 + "}]", (None, FV), (None, RPC)),
    # MessageTypeId unreadable: answered when element 1 is a string.
    ("type is a string", '["2","c1","Reset",{}]', ("c1", FV), ("c1", RPC)),
    ("type is a bool", '[true,"c1","Reset",{}]', ("c1", FV), ("c1", RPC)),
    ("type is a float", '[2.0,"c1","Reset",{}]', ("c1", FV), ("c1", RPC)),
    ("type is null, no id", "[null,5]", (None, FV), (None, RPC)),
    # Unknown MessageTypeId: OCPP-J 1.6 §4.1.3 ignores it, OCPP 2.0.1 §4.3 answers MessageTypeNotSupported.
    ("unknown type", '[5,"c1",{}]', (None, FV), ("c1", "MessageTypeNotSupported")),
    ("unknown type, no id", "[9]", (None, FV), (None, "MessageTypeNotSupported")),
    # CALL with the wrong number of elements: 1.6 ProtocolError "Payload for Action is incomplete".
    ("CALL alone", "[2]", (None, PE), (None, RPC)),
    ("CALL without action", '[2,"c1"]', ("c1", PE), ("c1", RPC)),
    ("CALL without payload", '[2,"c1","Reset"]', ("c1", PE), ("c1", RPC)),
    ("CALL with 5 elements", '[2,"c1","Reset",{},{}]', ("c1", FV), ("c1", RPC)),
    # CALL with wrong element types; an over-long id is still echoed so the CSMS can match the error.
    ("CALL id is a number", '[2,17,"Reset",{}]', (None, FV), (None, RPC)),
    ("CALL id too long", f'[2,"{ID37}","Reset",{{}}]', (ID37, FV), (ID37, RPC)),
    ("CALL action is a number", '[2,"c1",7,{}]', ("c1", FV), ("c1", RPC)),
    ("CALL payload is an array", '[2,"c1","Reset",[]]', ("c1", FV), ("c1", FMT)),
    ("CALL payload is null", '[2,"c1","Reset",null]', ("c1", FV), ("c1", FMT)),
    # Malformed answers are never answered (a CALLERROR answers a CALL only).
    ("CALLRESULT short", '[3,"c1"]', (None, FV), (None, RPC)),
    ("CALLRESULT long", '[3,"c1",{},{}]', (None, FV), (None, RPC)),
    ("CALLRESULT id number", "[3,1,{}]", (None, FV), (None, RPC)),
    ("CALLRESULT id too long", f'[3,"{ID37}",{{}}]', (None, FV), (None, RPC)),
    ("CALLRESULT payload list", '[3,"c1",[]]', (None, FV), (None, RPC)),
    ("CALLERROR short", '[4,"c1","GenericError","x"]', (None, FV), (None, RPC)),
    ("CALLERROR code number", '[4,"c1",5,"x",{}]', (None, FV), (None, RPC)),
    ("CALLERROR description null", '[4,"c1","GenericError",null,{}]', (None, FV), (None, RPC)),
    ("CALLERROR details null", '[4,"c1","GenericError","x",null]', (None, FV), (None, RPC)),
]


@pytest.mark.parametrize(
    ("text", "dialect", "expected"),
    [pytest.param(text, V16, e16, id=f"1.6 {name}") for name, text, e16, _ in BAD_FRAMES]
    + [pytest.param(text, V201, e201, id=f"2.0.1 {name}") for name, text, _, e201 in BAD_FRAMES],
)
def test_bad_frames_become_bad_frame_with_the_dialects_code(
    text: str, dialect: Dialect, expected: tuple[str | None, str]
) -> None:
    frame = decode(text, dialect)
    assert isinstance(frame, BadFrame)
    assert (frame.unique_id, frame.code) == expected
    assert frame.code in dialect.codes
    assert frame.description and len(frame.description) < 80


GOOD_FRAMES: list[tuple[str, Frame]] = [
    ('[2,"c1","Reset",{"type":"Hard"}]', Call("c1", "Reset", {"type": "Hard"})),
    ('[2,"","Heartbeat",{}]', Call("", "Heartbeat", {})),
    (f'[2,"{ID36}","Heartbeat",{{}}]', Call(ID36, "Heartbeat", {})),
    (' [ 3 , "c1" , { "currentTime" : "2024-05-01T12:00:00Z" } ] ',
     CallResult("c1", {"currentTime": "2024-05-01T12:00:00Z"})),
    ('[3,"c1",{"limit":21.4,"n":[1,2.5,null,true]}]',
     CallResult("c1", {"limit": 21.4, "n": [1, 2.5, None, True]})),
    ('[4,"c1","NotImplemented","unknown",{}]', CallError("c1", "NotImplemented", "unknown", {})),
    ('[4,"c1","X","",{"why":"vendor code"}]', CallError("c1", "X", "", {"why": "vendor code"})),
    ('[2,"c\\u00e9","A",{"s":"\\ud800"}]', Call("c\u00e9", "A", {"s": "\ud800"})),
]


@pytest.mark.parametrize("dialect", [V16, V201], ids=["1.6", "2.0.1"])
@pytest.mark.parametrize(("text", "expected"), GOOD_FRAMES)
def test_well_formed_frames_decode(text: str, expected: Frame, dialect: Dialect) -> None:
    assert decode(text, dialect) == expected


def test_dialect_codes_are_the_spec_tables() -> None:
    # OCPP-J 1.6 §4.2.3 Table 7 and OCPP 2.0.1 part 4 §4.3, spelling included.
    assert V16.codes == {
        "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
        "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
        "TypeConstraintViolation", "GenericError",
    }
    assert V201.codes == {
        "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented",
        "NotSupported", "OccurrenceConstraintViolation", "PropertyConstraintViolation", "ProtocolError",
        "RpcFrameworkError", "SecurityError", "TypeConstraintViolation",
    }
    for dialect in (V16, V201):
        used = {dialect.format_violation, dialect.occurrence_violation, dialect.bad_frame,
                dialect.incomplete_frame, dialect.bad_payload}
        assert used <= dialect.codes
    assert V201.unknown_message_type in V201.codes
    assert V16.unknown_message_type is None


def test_encoding_is_compact_json_with_floats_as_written() -> None:
    assert encode_call("c1", "SetChargingProfile", {"limit": 21.4, "rate": 0.1, "n": 16}) == (
        '[2,"c1","SetChargingProfile",{"limit":21.4,"rate":0.1,"n":16}]'
    )
    assert encode_result("c1", {}) == '[3,"c1",{}]'
    assert encode_error("c1", "NotImplemented") == '[4,"c1","NotImplemented","",{}]'
    assert encode_error("c1", "GenericError", "oops", {"k": 1}) == '[4,"c1","GenericError","oops",{"k":1}]'


def test_non_ascii_text_is_sent_as_is() -> None:
    assert encode_result("c1", {"text": "Grüße ⚡"}) == '[3,"c1",{"text":"Grüße ⚡"}]'


def test_a_lone_surrogate_is_escaped_so_the_text_is_valid_utf8() -> None:
    text = encode_error("\udc80", "GenericError", "", {"s": "é\ud800"})
    text.encode("utf-8")  # raises if not sendable as a WebSocket text frame
    assert decode(text, V16) == CallError("\udc80", "GenericError", "", {"s": "é\ud800"})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_on_output(bad: float) -> None:
    with pytest.raises(ValueError):
        encode_call("c1", "MeterValues", {"v": bad})
    with pytest.raises(ValueError):
        encode_result("c1", {"v": [bad]})


def test_error_description_is_cut_to_255_characters() -> None:
    frame = decode(encode_error("c1", "GenericError", "x" * 1000), V201)
    assert isinstance(frame, CallError)
    assert len(frame.description) == MAX_DESCRIPTION == 255


@pytest.mark.parametrize("dialect", [V16, V201], ids=["1.6", "2.0.1"])
def test_round_trips(dialect: Dialect) -> None:
    payload: dict[str, object] = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2024-05-01T12:00:00.123Z", "sampledValue": [{"value": "21.4"}]}],
        "limit": 21.4,
        "big": 2**70,
        "neg": -0.5,
        "none": None,
        "flag": False,
        "unicode": "Ωμέγα",
    }
    assert decode(encode_call(ID36, "MeterValues", payload), dialect) == Call(ID36, "MeterValues", payload)
    assert decode(encode_result("c", payload), dialect) == CallResult("c", payload)
    assert decode(encode_error("c", "GenericError", "why", payload), dialect) == CallError(
        "c", "GenericError", "why", payload
    )
    # A BadFrame's answer is itself a well-formed CALLERROR carrying the id as sent.
    bad = decode('[2,"c9","Reset",[]]', dialect)
    assert isinstance(bad, BadFrame) and bad.unique_id is not None
    assert decode(encode_error(bad.unique_id, bad.code, bad.description), dialect) == CallError(
        "c9", bad.code, bad.description, {}
    )


def test_decoded_floats_keep_their_written_value() -> None:
    frame = decode('[3,"c1",{"limit":21.4}]', V16)
    assert isinstance(frame, CallResult)
    assert frame.payload["limit"] == 21.4
    assert json.dumps(frame.payload["limit"]) == "21.4"

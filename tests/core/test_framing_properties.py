"""Property tests (hypothesis): any text from the CSMS decodes without raising; validation never raises."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.core.rpc.framing import (
    BadFrame,
    Call,
    CallError,
    CallResult,
    Dialect,
    decode,
    encode_call,
    encode_error,
    encode_result,
)
from chargepoint.core.rpc.validation import SchemaSet, Violation
from tests.core.test_validation import CALLS_16, CALLS_201, RESULTS_16, RESULTS_201

JsonObject = dict[str, object]

# Deterministic (no example database, fixed seed) and free of timing (no deadline).
SETTINGS = settings(derandomize=True, deadline=None, max_examples=200, database=None)
ROUND_TRIP = settings(SETTINGS, max_examples=100)

SCHEMAS = {"1.6": SchemaSet("1.6"), "2.0.1": SchemaSet("2.0.1")}
DIALECTS = {"1.6": Dialect.V16, "2.0.1": Dialect.V201}
EXAMPLES = {"1.6": (CALLS_16, RESULTS_16), "2.0.1": (CALLS_201, RESULTS_201)}

versions = st.sampled_from(["1.6", "2.0.1"])
dialects = st.sampled_from([Dialect.V16, Dialect.V201])
# Strings as a CSMS may send them, lone surrogates (from "\ud800" escapes) included.
texts = st.text(max_size=40) | st.sampled_from(["\ud800", "a\udfff", "", "x" * 37, "2024-05-01T12:00:00Z"])
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | finite | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def as_object(value: Mapping[str, object]) -> JsonObject:
    return dict(value)


json_objects = st.dictionaries(texts, json_values, max_size=5).map(as_object)
unique_ids = st.text(max_size=36) | st.sampled_from(["\ud800", ""])


def all_actions(version: str) -> list[str]:
    return sorted(SCHEMAS[version].actions)


@st.composite
def frames_text(draw: st.DrawFn) -> str:
    """JSON arrays shaped roughly like OCPP-J frames, with random element types."""
    version = draw(versions)
    type_id = draw(st.sampled_from([2, 3, 4, 5, 0, -1, 2.0]) | json_values)
    unique_id = draw(unique_ids | st.text(min_size=37, max_size=40) | json_values)
    action = draw(st.sampled_from(all_actions(version)) | texts | json_values)
    rest = draw(st.lists(json_objects | json_values, max_size=3))
    length = draw(st.integers(0, 6))
    frame = [type_id, unique_id, action, *rest][:length]
    allow_nan = draw(st.booleans())
    floats = st.floats() if allow_nan else finite
    if draw(st.booleans()):
        frame.append(draw(floats))
    return json.dumps(frame, allow_nan=True)


Slot = tuple[dict[str, object] | list[object], object]


def slots_of(node: object, into: list[Slot]) -> list[Slot]:
    """Every (container, key or index) in ``node``, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            into.append((node, key))
            slots_of(value, into)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            into.append((node, index))
            slots_of(value, into)
    return into


@st.composite
def mutated(draw: st.DrawFn, base: JsonObject) -> JsonObject:
    """A copy of a valid example with one to three random edits anywhere in it."""
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        slots = slots_of(payload, [])
        if not slots:
            payload[draw(texts)] = draw(json_values)
            continue
        container, key = draw(st.sampled_from(slots))
        edit = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(container, dict):
            assert isinstance(key, str)
            if edit == "replace":
                container[key] = draw(json_values)
            elif edit == "delete":
                del container[key]
            else:
                container[draw(texts)] = draw(json_values)
        else:
            assert isinstance(key, int)
            if edit == "replace":
                container[key] = draw(json_values)
            elif edit == "delete":
                del container[key]
            else:
                container.append(draw(json_values))
    return payload


def assert_fine(result: Violation | None, dialect: Dialect) -> None:
    if result is not None:
        assert isinstance(result, Violation)
        assert result.code in dialect.codes
        assert 0 < len(result.description) <= 160


def assert_frame(frame: object, dialect: Dialect) -> None:
    assert isinstance(frame, Call | CallResult | CallError | BadFrame)
    if isinstance(frame, BadFrame):
        assert frame.code in dialect.codes
        if frame.unique_id is not None:  # the answer we would send is a CALLERROR with the id as sent
            answer = encode_error(frame.unique_id, frame.code, frame.description)
            answer.encode("utf-8")
            assert json.loads(answer) == [4, frame.unique_id, frame.code, frame.description, {}]
            if len(frame.unique_id) <= 36:  # (we would refuse an over-long id in an answer to us)
                expected = CallError(frame.unique_id, frame.code, frame.description, {})
                assert decode(answer, dialect) == expected


@SETTINGS
@given(st.text(), dialects)
def test_any_text_decodes_without_raising(text: str, dialect: Dialect) -> None:
    assert_frame(decode(text, dialect), dialect)


@SETTINGS
@given(frames_text(), dialects)
def test_any_json_array_decodes_without_raising(text: str, dialect: Dialect) -> None:
    assert_frame(decode(text, dialect), dialect)


@SETTINGS
@given(st.data())
def test_check_call_never_raises_on_random_payloads(data: st.DataObject) -> None:
    version = data.draw(versions)
    action = data.draw(st.sampled_from(all_actions(version)) | texts)
    payload = data.draw(json_objects)
    before = copy.deepcopy(payload)
    assert_fine(SCHEMAS[version].check_call(action, payload), DIALECTS[version])
    if SCHEMAS[version].knows(action):
        assert_fine(SCHEMAS[version].check_result(action, payload), DIALECTS[version])
    assert payload == before  # validation never edits the payload


@SETTINGS
@given(st.data())
def test_check_call_never_raises_on_edited_real_payloads(data: st.DataObject) -> None:
    version = data.draw(versions)
    calls, results = EXAMPLES[version]
    action = data.draw(st.sampled_from(sorted(calls)))
    assert_fine(SCHEMAS[version].check_call(action, data.draw(mutated(calls[action]))), DIALECTS[version])
    answered = data.draw(st.sampled_from(sorted(results)))
    result = data.draw(mutated(results[answered]))
    assert_fine(SCHEMAS[version].check_result(answered, result), DIALECTS[version])


@ROUND_TRIP
@given(unique_ids, texts, json_objects, dialects)
def test_call_round_trip(unique_id: str, action: str, payload: JsonObject, dialect: Dialect) -> None:
    text = encode_call(unique_id, action, payload)
    text.encode("utf-8")  # always sendable as a WebSocket text frame
    assert decode(text, dialect) == Call(unique_id, action, payload)


@ROUND_TRIP
@given(unique_ids, json_objects, dialects)
def test_result_round_trip(unique_id: str, payload: JsonObject, dialect: Dialect) -> None:
    text = encode_result(unique_id, payload)
    text.encode("utf-8")
    assert decode(text, dialect) == CallResult(unique_id, payload)


@ROUND_TRIP
@given(unique_ids, texts, st.text(max_size=300), json_objects, dialects)
def test_error_round_trip(
    unique_id: str, code: str, description: str, details: JsonObject, dialect: Dialect
) -> None:
    text = encode_error(unique_id, code, description, details)
    text.encode("utf-8")
    assert decode(text, dialect) == CallError(unique_id, code, description[:255], details)

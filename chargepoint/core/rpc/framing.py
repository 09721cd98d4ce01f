"""OCPP-J RPC framing: one WebSocket text frame <-> Call / CallResult / CallError, never raising on bad input.

Wire format (OCPP-J 1.6 §4.1-4.2, OCPP 2.0.1 part 4 §4.1-4.2):
    CALL        [2, "<UniqueId>", "<Action>", {<Payload>}]
    CALLRESULT  [3, "<UniqueId>", {<Payload>}]
    CALLERROR   [4, "<UniqueId>", "<errorCode>", "<errorDescription>", {<errorDetails>}]

Rules implemented here:
- ``decode`` never raises: anything that is not a well-formed frame becomes a ``BadFrame`` naming the
  CALLERROR to answer with. It carries the unique id whenever element 1 is a string and the frame may be a
  CALL, so the CSMS gets an answer; a malformed CALLRESULT / CALLERROR carries no id, because a CALLERROR only
  ever answers a CALL (OCPP-J 1.6 §4.2.3): it is logged and dropped, and our call runs into its timeout.
- The error codes differ per version (OCPP-J 1.6 §4.2.3 Table 7 vs OCPP 2.0.1 part 4 §4.3): ``Dialect`` holds
  each version's spelling of the frame-level codes.
- An unknown MessageTypeId: OCPP 2.0.1 part 4 §4.3 answers ``MessageTypeNotSupported``; OCPP-J 1.6 §4.1.3
  says the receiver "SHALL ignore the message payload" and has no code for it, so 1.6 ignores the frame.
- Unique ids are strings of at most 36 characters (OCPP-J 1.6 §4.1.4; 2.0.1 part 4 §4.2.1 string[36]).
- NaN and Infinity are not JSON (RFC 8259 §6): rejected on input (also ``1e999``, which would overflow to
  infinity) and on output (``ValueError``: a bug of ours).
- Output is compact JSON in UTF-8 text, floats in their shortest round-trip form (21.4 stays ``21.4``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar, Final

JsonObject = dict[str, object]

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4

MAX_UNIQUE_ID: Final = 36  # OCPP-J 1.6 §4.1.4; OCPP 2.0.1 part 4 §4.2.1
MAX_DESCRIPTION: Final = 255  # OCPP 2.0.1 part 4 §4.2.3: errorDescription is string[255]

# Codes spelt the same in both versions (OCPP-J 1.6 §4.2.3, OCPP 2.0.1 part 4 §4.3).
NOT_IMPLEMENTED: Final = "NotImplemented"  # "Requested Action is not known by receiver"
NOT_SUPPORTED: Final = "NotSupported"  # "Requested Action is recognized but not supported by the receiver"
INTERNAL_ERROR: Final = "InternalError"
PROTOCOL_ERROR: Final = "ProtocolError"
SECURITY_ERROR: Final = "SecurityError"
PROPERTY_CONSTRAINT: Final = "PropertyConstraintViolation"  # "at least one field contains an invalid value"
TYPE_CONSTRAINT: Final = "TypeConstraintViolation"  # "violates data type constraints (e.g. "somestring": 12)"
GENERIC_ERROR: Final = "GenericError"


@dataclass(frozen=True, slots=True)
class Dialect:
    """The CALLERROR vocabulary of one OCPP-J version: which code names which failure."""

    version: str
    codes: frozenset[str]
    # The payload does not fit the PDU structure (unknown property): 1.6 FormationViolation, 2.0.1
    # FormatViolation.
    format_violation: str
    # A field occurs too often or too rarely: 1.6 "OccurenceConstraintViolation" (sic), 2.0.1 fixed it.
    occurrence_violation: str
    # The frame is not a valid RPC message (wrong types, too many elements, unreadable id).
    bad_frame: str
    # The frame lacks elements: 1.6 ProtocolError "Payload for Action is incomplete".
    incomplete_frame: str
    # Element "payload" of a CALL is not a JSON object.
    bad_payload: str
    # Answer to an unknown MessageTypeId; None: ignore the frame (OCPP-J 1.6 §4.1.3).
    unknown_message_type: str | None

    V16: ClassVar[Dialect]
    V201: ClassVar[Dialect]


# OCPP-J 1.6 §4.2.3 Table 7. FormationViolation: "Payload for Action is syntactically incorrect or not conform
# the PDU structure for Action"; ProtocolError: "Payload for Action is incomplete".
Dialect.V16 = Dialect(
    version="1.6",
    codes=frozenset(
        {
            NOT_IMPLEMENTED, NOT_SUPPORTED, INTERNAL_ERROR, PROTOCOL_ERROR, SECURITY_ERROR,
            "FormationViolation", PROPERTY_CONSTRAINT, "OccurenceConstraintViolation", TYPE_CONSTRAINT,
            GENERIC_ERROR,
        }
    ),
    format_violation="FormationViolation",
    occurrence_violation="OccurenceConstraintViolation",
    bad_frame="FormationViolation",
    incomplete_frame=PROTOCOL_ERROR,
    bad_payload="FormationViolation",
    unknown_message_type=None,
)

# OCPP 2.0.1 part 4 §4.3. RpcFrameworkError: "Content of the call is not a valid RPC Request, for example:
# MessageId could not be read"; FormatViolation: "Payload for Action is syntactically incorrect";
# MessageTypeNotSupported: "A message with an Message Type Number received that is not supported".
Dialect.V201 = Dialect(
    version="2.0.1",
    codes=frozenset(
        {
            "FormatViolation", GENERIC_ERROR, INTERNAL_ERROR, "MessageTypeNotSupported", NOT_IMPLEMENTED,
            NOT_SUPPORTED, "OccurrenceConstraintViolation", PROPERTY_CONSTRAINT, PROTOCOL_ERROR,
            "RpcFrameworkError", SECURITY_ERROR, TYPE_CONSTRAINT,
        }
    ),
    format_violation="FormatViolation",
    occurrence_violation="OccurrenceConstraintViolation",
    bad_frame="RpcFrameworkError",
    incomplete_frame="RpcFrameworkError",
    bad_payload="FormatViolation",
    unknown_message_type="MessageTypeNotSupported",
)


@dataclass(frozen=True, slots=True)
class Call:
    """A request: [2, unique_id, action, payload]."""

    unique_id: str
    action: str
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: [3, unique_id, payload]."""

    unique_id: str
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class CallError:
    """An error answer: [4, unique_id, code, description, details]."""

    unique_id: str
    code: str
    description: str
    details: JsonObject


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame we cannot use: answer CALLERROR ``code`` when ``unique_id`` is known, else log and drop it."""

    unique_id: str | None
    code: str
    description: str


Frame = Call | CallResult | CallError | BadFrame


class _NotJson(ValueError):
    """NaN, Infinity or a number that overflows to infinity: not JSON (RFC 8259 §6)."""


def _reject_constant(name: str) -> object:
    raise _NotJson(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(text)
    return value


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ASCII_ENCODER: Final = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _is_id(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_UNIQUE_ID


def decode(text: str, dialect: Dialect) -> Frame:
    """Parse one text frame. Never raises: bad input becomes a ``BadFrame``."""
    try:
        msg = _DECODER.decode(text)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN/Infinity, over-long integers; deep nesting
        return BadFrame(None, dialect.bad_frame, "frame is not valid JSON")
    if not isinstance(msg, list):
        return BadFrame(None, dialect.bad_frame, "frame is not a JSON array")
    if not msg:
        return BadFrame(None, dialect.incomplete_frame, "frame is an empty array")
    element = msg[1] if len(msg) > 1 else None
    unique_id = element if isinstance(element, str) else None
    type_id = msg[0]
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        return BadFrame(unique_id, dialect.bad_frame, "MessageTypeId is not an integer")
    if type_id == CALL:
        return _decode_call(msg, unique_id, dialect)
    if type_id == CALLRESULT:
        if len(msg) == 3 and _is_id(msg[1]) and isinstance(msg[2], dict):
            return CallResult(msg[1], msg[2])
        return BadFrame(None, dialect.bad_frame, "malformed CALLRESULT")
    if type_id == CALLERROR:
        if (
            len(msg) == 5
            and _is_id(msg[1])
            and isinstance(msg[2], str)
            and isinstance(msg[3], str)
            and isinstance(msg[4], dict)
        ):
            return CallError(msg[1], msg[2], msg[3], msg[4])
        return BadFrame(None, dialect.bad_frame, "malformed CALLERROR")
    if dialect.unknown_message_type is None:
        # OCPP-J 1.6 §4.1.3: a message with an unknown Message Type Number is ignored.
        return BadFrame(None, dialect.bad_frame, "unknown MessageTypeId, ignored")
    return BadFrame(unique_id, dialect.unknown_message_type, "unknown MessageTypeId")


def _decode_call(msg: list[object], unique_id: str | None, dialect: Dialect) -> Frame:
    if len(msg) < 4:
        return BadFrame(unique_id, dialect.incomplete_frame, "CALL has fewer than 4 elements")
    if len(msg) > 4:
        return BadFrame(unique_id, dialect.bad_frame, "CALL has more than 4 elements")
    if unique_id is None:
        return BadFrame(None, dialect.bad_frame, "UniqueId is not a string")
    if len(unique_id) > MAX_UNIQUE_ID:
        # Answered all the same (with the id as sent) so the CSMS can match the error to its request.
        return BadFrame(unique_id, dialect.bad_frame, f"UniqueId is longer than {MAX_UNIQUE_ID} characters")
    action, payload = msg[2], msg[3]
    if not isinstance(action, str):
        return BadFrame(unique_id, dialect.bad_frame, "Action is not a string")
    if not isinstance(payload, dict):
        return BadFrame(unique_id, dialect.bad_payload, "payload is not a JSON object")
    return Call(unique_id, action, payload)


def _encode(frame: list[object]) -> str:
    """Compact JSON; raises ValueError for NaN/Infinity (not JSON) - a bug of the caller."""
    text = _ENCODER.encode(frame)
    if text.isascii():  # O(1) in CPython: the common case costs nothing more
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from a "\ud800" escape the CSMS sent us, echoed back) cannot be sent as UTF-8
        # text (RFC 6455 §5.6); the escaped form is the same JSON value and always can.
        return _ASCII_ENCODER.encode(frame)
    return text


def encode_call(unique_id: str, action: str, payload: JsonObject) -> str:
    """The text of a CALL. Raises ValueError if the payload holds NaN or Infinity."""
    return _encode([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: JsonObject) -> str:
    """The text of a CALLRESULT. Raises ValueError if the payload holds NaN or Infinity."""
    return _encode([CALLRESULT, unique_id, payload])


def encode_error(
    unique_id: str, code: str, description: str = "", details: JsonObject | None = None
) -> str:
    """The text of a CALLERROR; the description is cut to 255 characters (OCPP 2.0.1 part 4 §4.2.3)."""
    return _encode([CALLERROR, unique_id, code, description[:MAX_DESCRIPTION], details or {}])

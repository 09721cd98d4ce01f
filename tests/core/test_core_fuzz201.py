"""Properties of the pure OCPP 2.0.1 core: at most one valid reply to any CSMS text; charging invariants.

1. Any text frame from the CSMS (random text, random JSON arrays, CALLs of every 2.0.1 action with payloads
   built from the official request schema and then mutated, CALLRESULTs / CALLERRORs with unknown ids) gets at
   most one reply, only to a CALL: a CALLRESULT valid against the official ``<Action>Response.json`` or a
   CALLERROR with a code of OCPP 2.0.1 part 4 §4.3 - and never an exception out of the core.
2. Over random sequences of hardware, connection, CSMS and timer events (with restarts from the store, as
   after kill -9): the contactor is commanded closed only while a transaction runs for an authorised id, the
   EVSE is fault-free and the EV asks for power (IEC 61851-1; E05.FR.03 for an id the CSMS declares invalid);
   the TransactionEvents of one transactionId are generated with seqNo 0, 1, 2... and delivered in that order
   without a repeat (E13, TransactionEventRequest.seqNo); nothing generated is lost.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargepoint.core.actions import Action, Forget, Persist, PkiCommand, Reboot, SetContactor, SetLock
from chargepoint.core.clock import format_timestamp
from chargepoint.core.events import (
    ContactorChanged,
    Event,
    FaultCleared,
    FaultRaised,
    LockResult,
    MeterReadFailed,
    PkiResult,
    TextReceived,
)
from hal.types import FaultCode
from tests.core.harness import Driver201

SCHEMAS = resources.files("ocpp").joinpath("v201", "schemas")
# Every 2.0.1 action: the official schemas come as <Action>Request.json / <Action>Response.json.
ACTIONS = sorted(
    entry.name[: -len("Request.json")] for entry in SCHEMAS.iterdir() if entry.name.endswith("Request.json")
)
# OCPP 2.0.1 part 4 §4.3, Table "Valid Error Codes" (FormationViolation and OccurenceConstraintViolation are
# the 1.6 spellings and are not among them).
ERROR_CODES = frozenset({
    "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented",
    "NotSupported", "OccurrenceConstraintViolation", "PropertyConstraintViolation", "ProtocolError",
    "RpcFrameworkError", "SecurityError", "TypeConstraintViolation",
})

Validator = Callable[[object], object]


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """An official 2.0.1 schema file; read as bytes because some start with a UTF-8 BOM (as validation.py)."""
    loaded = json.loads(SCHEMAS.joinpath(f"{name}.json").read_bytes().decode("utf-8-sig"))
    assert isinstance(loaded, dict)
    return loaded


@functools.cache
def validator(name: str) -> Validator:
    compiled: Validator = fastjsonschema.compile(schema(name), use_default=False)
    return compiled


def valid(name: str, payload: object) -> bool:
    try:
        validator(name)(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


# -- strategies: payloads from the official request schemas, then mutated ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Strings a CSMS would really send, so random payloads also reach the handlers' interesting branches.
WORDS = ["1", "0", "true", "false", "Actual", "EVSE", "ChargingStation", "TxCtrlr", "TxStartPoint",
         "TxStopPoint", "SampledDataCtrlr", "TxUpdatedInterval", "AuthCtrlr", "OCPPCommCtrlr",
         "HeartbeatInterval", "AuthCacheCtrlr", "Enabled", "CARD1", "ws://127.0.0.1:1/ocpp", "Central",
         "ISO14443", "CP-1-1-1"]
strings = st.sampled_from(WORDS) | st.text(max_size=12)
DATE_TIMES = st.sampled_from(["2026-11-24T12:00:00.000Z", "2026-11-24T13:30:00Z", "2030-01-01T00:00:00Z",
                              "2020-02-29T23:59:59.999Z"])


def from_schema(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for the values ``node`` (a JSON schema of the OCPP files) accepts."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return from_schema(defs[ref.rsplit("/", 1)[-1]], defs)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        props: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, defs) for k, v in props.items() if k in required},
            optional={k: from_schema(v, defs) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        low = int(node.get("minItems", 0))
        high = min(int(node.get("maxItems", low + 2)), low + 2)
        return st.lists(from_schema(node["items"], defs), min_size=low, max_size=high)
    if kind == "string":
        if node.get("format") == "date-time":
            return DATE_TIMES
        limit = int(node.get("maxLength", 20))
        return strings.filter(lambda s: len(s) <= limit)
    if kind == "integer":
        low_i = int(node.get("minimum", -(2**31)))
        high_i = int(node.get("maximum", 2**31 - 1))
        usual = [v for v in (0, 1, 2, 60) if low_i <= v <= high_i]
        return st.sampled_from(usual) | st.integers(low_i, high_i)
    if kind == "number":
        low_f = float(node.get("minimum", -1e9))
        high_f = float(node.get("maximum", 1e9))
        return st.floats(low_f, high_f, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return json_values  # untyped (DataTransfer data)


@functools.cache
def request_payloads(action: str) -> st.SearchStrategy[Any]:
    request = schema(f"{action}Request")
    return from_schema(request, request.get("definitions", {}))


def paths(value: object, here: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place inside a payload (dict keys and list indexes), the payload itself first."""
    out = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*here, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, action: str) -> dict[str, Any]:
    """A schema-valid request, then maybe one mutation: a field dropped, retyped, or an unknown one added."""
    payload: dict[str, Any] = draw(request_payloads(action))
    how = draw(st.sampled_from(["keep", "keep", "drop", "retype", "extra"]))
    if how == "keep":
        return payload
    where = draw(st.sampled_from(paths(payload)))
    if how == "drop" and where:
        parent: Any = payload
        for step in where[:-1]:
            parent = parent[step]
        parent.pop(where[-1])
    elif how == "retype" and where:
        parent = payload
        for step in where[:-1]:
            parent = parent[step]
        parent[where[-1]] = draw(json_values)
    else:
        target: Any = payload
        for step in where:
            target = target[step]
        if isinstance(target, dict):
            target[draw(st.sampled_from(["x", "evseId", "idToken", "customData"]))] = draw(json_values)
    return payload


# OCPP 2.0.1 part 2: the messages a CSMS sends to a charging station (the others go the other way).
FROM_CSMS = sorted({
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
    "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
    "DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule",
    "GetDisplayMessages", "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog",
    "GetMonitoringReport", "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
    "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow", "Reset",
    "SendLocalList", "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel",
    "SetNetworkProfile", "SetVariableMonitoring", "SetVariables", "TriggerMessage", "UnlockConnector",
    "UnpublishFirmware", "UpdateFirmware",
})
call_actions = st.sampled_from(FROM_CSMS) | st.sampled_from(FROM_CSMS) | st.sampled_from([*ACTIONS, "Nope"])
unique_ids = (st.sampled_from(["1", "c1", "x" * 36]) | st.text(min_size=1, max_size=10)
              | st.text(min_size=37, max_size=40))


@st.composite
def call_frames(draw: st.DrawFn) -> str:
    action = draw(call_actions)
    if action in ACTIONS:
        payload: object = draw(mutated(action))
    else:
        payload = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=4))
    return json.dumps([2, draw(unique_ids), action, payload])


# The station's own unique ids are "<hex boot>-<n>": a "csms-" prefix never matches one of them.
stray_answers = (
    st.builds(lambda uid, p: json.dumps([3, "csms-" + uid, p]), st.text(max_size=8),
              st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    | st.builds(lambda uid, code, p: json.dumps([4, "csms-" + uid, code, "", p]), st.text(max_size=8),
                st.sampled_from(sorted(ERROR_CODES)) | st.text(max_size=8),
                st.dictionaries(st.text(max_size=8), json_values, max_size=2))
)
texts = st.one_of(
    st.text(max_size=60),
    st.builds(json.dumps, st.lists(json_values, max_size=5)),
    st.builds(lambda t, rest: json.dumps([t, *rest]), st.integers(-1, 6), st.lists(json_values, max_size=4)),
    call_frames(),
    stray_answers,
)


def replies_to(d: Driver201, uid: object, since: int) -> list[list[Any]]:
    return [m for m in d.sent[since:] if m[0] in (3, 4) and m[1] == uid]


def answer_the_shell(d: Driver201, actions: list[Action]) -> None:
    """What the shell reports back for the commands that a deferred answer waits for."""
    for action in actions:
        if isinstance(action, SetLock):
            d.feed(LockResult(action.evse, action.locked, True))
        elif isinstance(action, PkiCommand):
            d.feed(PkiResult(action.ref, action.op, False, {"reason": "no such certificate"}))


def check_reply(action: object, reply: list[Any]) -> None:
    if reply[0] == 3:
        assert isinstance(action, str) and action in ACTIONS, reply
        assert valid(f"{action}Response", reply[2]), (action, reply)
    else:
        assert len(reply) == 5 and reply[2] in ERROR_CODES, reply
        assert isinstance(reply[3], str) and len(reply[3]) <= 255 and isinstance(reply[4], dict), reply


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_any_text_from_the_csms_gets_at_most_one_valid_reply(
    frames: list[str], in_transaction: bool, shell_answers: bool
) -> None:
    d = Driver201()
    d.connect()
    if in_transaction:  # the calls about transactions then meet one
        d.meter()
        d.pilot("C")
        d.tap("CARD1")
        d.serve()
        d.feed(ContactorChanged(1, True))
        d.serve()
    for text in frames:
        before = len(d.sent)
        actions = d.feed(TextReceived(text))
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        replies = [m for m in d.sent[before:] if m[0] in (3, 4)]
        is_call = isinstance(msg, list) and len(msg) >= 2 and msg[0] == 2 and isinstance(msg[1], str)
        if not is_call:
            # Part 4 §4.2.3: a CALLERROR only ever answers a CALL; a stray CALLRESULT / CALLERROR is dropped.
            if isinstance(msg, list) and len(msg) >= 1 and msg[0] in (3, 4):
                assert not replies, (text, replies)
            for reply in replies:
                check_reply(None, reply)
            continue
        uid, action = msg[1], msg[2] if len(msg) > 2 else None
        assert all(r[1] == uid for r in replies), replies  # nothing but the answer to this CALL
        well_formed = (len(msg) == 4 and len(uid) <= 36 and isinstance(action, str)
                       and isinstance(msg[3], dict))
        deferred = well_formed and not replies
        if deferred:
            # A deferred answer: it follows the shell's report (F05 the lock; A02 / M03-M05 the certificate
            # store), or a timeout when the shell stays silent.
            if shell_answers:
                answer_the_shell(d, actions)
            if not replies_to(d, uid, before):
                d.advance(60)
            replies = replies_to(d, uid, before)
        assert len(replies) <= 1, replies
        if well_formed:
            assert len(replies) == 1, (text, d.sent[before:])
        if replies:
            check_reply(action, replies[0])
            if replies[0][0] == 3:
                # Only a schema-valid request may be accepted (part 4 §4.2.2: the payload is validated).
                assert valid(f"{action}Request", msg[3]), (text, replies[0])
            elif well_formed and action in ACTIONS and valid(f"{action}Request", msg[3]):
                # A valid request is never refused as malformed; an InternalError (our answer breaking its
                # schema, say) only when the shell failed to report in time.
                refused = ("FormatViolation", "TypeConstraintViolation", "RpcFrameworkError",
                           *(() if deferred and not shell_answers else ("InternalError",)))
                assert replies[0][2] not in refused, (text, replies[0])
        d.serve()
        d.advance(6)  # a Reset may schedule a reboot: fine, the core says so with an action
        d.serve()


# -- state-machine invariants ------------------------------------------------------------------------------

GOOD = ("GOOD1", "GOOD2")
BAD = "BAD"  # the CSMS refuses it everywhere
LATE = "LATE"  # Authorize accepts it; the TransactionEvent answer says Invalid (E05)
TX_POINTS = ["PowerPathClosed", "EVConnected", "Authorized", "EnergyTransfer", "EVConnected,Authorized",
             "ParkingBayOccupancy", "DataSigned"]
STOP_POINTS = ["EVConnected,Authorized", "EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer"]
FAULTS = [FaultCode.GROUND_FAILURE, FaultCode.OVER_CURRENT_FAILURE, FaultCode.HIGH_TEMPERATURE]


def ident(event: dict[str, Any]) -> tuple[str, int]:
    """A TransactionEvent's identity: its transaction and seqNo (the timestamp may be corrected later)."""
    return (str(event["transactionInfo"]["transactionId"]), int(event["seqNo"]))


def token_status(token: str) -> str:
    return "Invalid" if token == BAD else "Accepted"


class Run:
    """One station across restarts, a scripted CSMS, and the facts the invariants are judged by."""

    def __init__(self) -> None:
        self.d = Driver201()
        self.pilot = "A"
        self.faults: set[FaultCode] = set()
        self.closed = False  # the contactor as last commanded
        self.generated: list[dict[str, Any]] = []  # every TransactionEvent, in the order it was generated
        self.outbox: dict[str, dict[str, Any]] = {}  # outbox key -> TransactionEvent payload
        self.delivered: list[dict[str, Any]] = []  # answered by the CSMS and taken as answered
        self.dropped: list[dict[str, Any]] = []
        self.deauthorized: set[str] = set()  # transaction ids whose id the CSMS declared invalid
        self.start_points = {"PowerPathClosed"}  # TxCtrlr.TxStartPoint (the station's default)
        self.reported_closed = False  # the contactor said "closed" since it was last told to close
        self.energy = 1000.0
        self.seen = 0
        self.collect()

    # -- bookkeeping --------------------------------------------------------------------------------

    def collect(self, answered: tuple[str, int] | None = None) -> None:
        """Read the actions since the last look: contactor commands, generated, delivered, dropped events.
        ``answered``: the event the CSMS just answered; its outbox row going means the answer was taken."""
        new: list[Action] = self.d.actions[self.seen:]
        self.seen = len(self.d.actions)
        for action in new:
            if isinstance(action, SetContactor):
                self.closed = action.closed
                self.reported_closed = False
            elif isinstance(action, Persist) and action.kind == "outbox":
                record: Any = action.value
                if record["action"] == "TransactionEvent" and action.key not in self.outbox:
                    self.outbox[action.key] = record["payload"]
                    self.generated.append(record["payload"])
            elif isinstance(action, Forget) and action.kind == "outbox" and action.key in self.outbox:
                payload = self.outbox.pop(action.key)
                (self.delivered if ident(payload) == answered else self.dropped).append(payload)
        if any(isinstance(a, Reboot) for a in new):
            self.restart()

    def feed(self, event: Event) -> None:
        self.d.feed(event)
        self.collect()

    def restart(self) -> None:
        """kill -9 (or a reset): a new core from the store; the hardware reports what it sees again."""
        self.d = Driver201(self.d.store, start=self.d.now.later(1.0))
        self.seen = 0
        self.closed = False  # the process is gone: the contactor drops out
        self.collect()
        # The hardware reports in either order: the cable before the first meter reading is the hard case
        # (a transaction cut by the restart must end before a new one begins).
        if self.pilot != "A":
            self.feed_pilot(self.pilot)
        self.d.meter(energy_wh=self.energy)
        self.collect()
        for code in sorted(self.faults):
            self.feed(FaultRaised(1, code, "still there"))

    def feed_pilot(self, state: str) -> None:
        self.pilot = state
        self.d.pilot(state)
        self.collect()

    # -- the CSMS -------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Answer the station's calls as a CSMS that knows the tokens (BAD refused, LATE refused late)."""
        for _ in range(100):
            call = self.d.pending()
            if call is None or not self.d.station.endpoint.connected:
                return
            action, payload = call[2], call[3]
            answer: dict[str, Any] = {}
            if action == "BootNotification":
                answer = {"status": "Accepted", "currentTime": format_timestamp(self.d.now.utc),
                          "interval": 300}
            elif action == "Heartbeat":
                answer = {"currentTime": format_timestamp(self.d.now.utc)}
            elif action == "Authorize":
                answer = {"idTokenInfo": {"status": token_status(payload["idToken"]["idToken"])}}
            elif action == "TransactionEvent" and "idToken" in payload:
                token = payload["idToken"]["idToken"]
                status = "Invalid" if token in (BAD, LATE) else "Accepted"
                answer = {"idTokenInfo": {"status": status}}
            self.d.answer(answer, call)
            was_delivered = len(self.delivered)
            self.collect(answered=ident(payload) if action == "TransactionEvent" else None)
            if action == "TransactionEvent" and len(self.delivered) > was_delivered and "idToken" in payload \
                    and answer["idTokenInfo"]["status"] != "Accepted":
                self.deauthorized.add(payload["transactionInfo"]["transactionId"])
        raise AssertionError("the station kept calling")

    def csms_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.d.station.endpoint.connected:
            return {}
        reply = self.d.csms_call(action, payload, uid=f"csms-{len(self.d.sent)}")
        assert reply[0] == 3, (action, payload, reply)
        self.collect()
        answer: dict[str, Any] = reply[2]
        return answer

    # -- the invariants -------------------------------------------------------------------------------

    def open_transactions(self) -> list[str]:
        ended = {e["transactionInfo"]["transactionId"] for e in self.generated if e["eventType"] == "Ended"}
        return list(dict.fromkeys(e["transactionInfo"]["transactionId"] for e in self.generated
                                  if e["transactionInfo"]["transactionId"] not in ended))

    def idle(self) -> bool:
        """No transaction, no session, no authorisation waiting for a cable."""
        station = self.d.station
        waiting = station.evses[1].session is not None or station.pending_auth is not None
        return not self.open_transactions() and not waiting

    def open_transaction(self) -> str | None:
        running = self.open_transactions()
        return running[-1] if running else None

    def token_of(self, tx_id: str) -> str | None:
        for e in self.generated:
            if e["transactionInfo"]["transactionId"] == tx_id and "idToken" in e:
                return str(e["idToken"]["idToken"])
        return None

    def check(self) -> None:
        # OCPP 2.0.1 part 2 §E: at most one transaction is active on an EVSE at any time.
        assert len(self.open_transactions()) <= 1, self.open_transactions()
        if self.closed:
            # IEC 61851-1 / E01-E06: power only in a transaction, for an authorised id, with the EV asking
            # (state C or D) and no fault; E05.FR.03: not once the CSMS said the id is invalid.
            tx_id = self.open_transaction()
            if tx_id is None:
                # E01 TxStartPoint EnergyTransfer: the transaction begins once energy flows, i.e. once the
                # contactor reports closed - so it may be commanded closed just before (for an authorised id).
                assert "EnergyTransfer" in self.start_points and not self.reported_closed, \
                    "contactor closed outside a transaction"
                session = self.d.station.evses[1].transaction
                assert session is not None and session.id_tag != BAD, "contactor closed without a session"
                tx_id, token = "", session.id_tag
            else:
                token = self.token_of(tx_id)
            assert token is not None and token != BAD, f"contactor closed for id {token}"
            assert tx_id not in self.deauthorized, "contactor closed after the CSMS declared the id invalid"
            assert self.pilot in ("C", "D"), f"contactor closed with pilot {self.pilot}"
            assert not self.faults, f"contactor closed with faults {self.faults}"
        per_tx: dict[str, list[int]] = {}
        for e in self.generated:
            per_tx.setdefault(e["transactionInfo"]["transactionId"], []).append(e["seqNo"])
        for tx_id, seq in per_tx.items():
            assert seq == list(range(len(seq))), (tx_id, seq)  # generated 0, 1, 2... without gap or repeat
        sent: dict[str, list[int]] = {}
        for e in self.delivered:
            sent.setdefault(e["transactionInfo"]["transactionId"], []).append(e["seqNo"])
        lost = {e["transactionInfo"]["transactionId"] for e in self.dropped}
        for tx_id, seq in sent.items():
            if tx_id in lost:  # E13: dropped after its last attempt: the order still holds
                assert seq == sorted(set(seq)), (tx_id, seq)
            else:
                assert seq == list(range(len(seq))), (tx_id, seq)  # delivered in order, once each


SETTINGS = [("SampledDataCtrlr", "TxUpdatedInterval", "10"), ("SampledDataCtrlr", "TxUpdatedInterval", "0"),
            ("TxCtrlr", "StopTxOnInvalidId", "false"), ("TxCtrlr", "StopTxOnInvalidId", "true"),
            ("TxCtrlr", "StopTxOnEVSideDisconnect", "false")]
# Weighted by repetition: the charging steps often, the rarer disturbances now and then.
STEPS: list[tuple[str, Any]] = [
    *[("pilot", p) for p in "ABCDEF"], *[("pilot", p) for p in "ABCC"],
    *[("tap", t) for t in (*GOOD, BAD, LATE)], *[("tap", t) for t in GOOD],
    ("meter", 0), ("meter", 0), ("meter_fail", 0), ("follow", 0), ("follow", 0),
    *[("fault", f) for f in FAULTS], *[("clear", f) for f in FAULTS],
    ("disconnect", 0), ("reconnect", 0), ("restart", 0), ("restart", 0),
    *[("advance", s) for s in (1, 5, 31, 61, 300)],
    *[("start_point", p) for p in TX_POINTS], *[("stop_point", p) for p in STOP_POINTS],
    *[("setting", v) for v in SETTINGS],
    *[("remote_start", t) for t in GOOD], ("remote_stop", 0),
    ("availability", "Inoperative"), ("availability", "Operative"),
    ("reset", "Immediate"), ("reset", "OnIdle"),
]


def step(run: Run, name: str, arg: Any) -> None:
    d = run.d
    if name == "pilot":
        run.feed_pilot(arg)
    elif name == "tap":
        d.tap(arg)
        run.collect()
    elif name == "meter":
        run.energy += 250.0
        d.meter(energy_wh=run.energy)
        run.collect()
    elif name == "meter_fail":
        run.feed(MeterReadFailed(1, "timeout"))
    elif name == "fault":
        run.faults.add(arg)
        run.feed(FaultRaised(1, arg, "sim"))
    elif name == "clear":
        run.faults.discard(arg)
        run.feed(FaultCleared(1, arg))
    elif name == "follow":
        run.reported_closed = run.closed
        run.feed(ContactorChanged(1, run.closed))  # the contactor does what it was told
    elif name == "disconnect":
        if d.station.endpoint.connected:
            d.disconnect()
            run.collect()
    elif name == "reconnect":
        if not d.station.endpoint.connected:
            d.connect(accept=False)
            run.collect()
            run.serve()
    elif name == "serve":
        run.serve()
    elif name == "advance":
        d.advance(arg)
        run.collect()
    elif name == "restart":
        run.restart()
    elif name in ("start_point", "stop_point") and not run.idle():
        return  # a CSMS sets TxStartPoint / TxStopPoint between sessions (part 6 sets them as preparation)
    elif name in ("start_point", "stop_point", "setting"):
        component, variable, value = (
            ("TxCtrlr", "TxStartPoint" if name == "start_point" else "TxStopPoint", arg)
            if name != "setting" else arg
        )
        answer = run.csms_call("SetVariables", {"setVariableData": [{
            "attributeValue": value, "component": {"name": component}, "variable": {"name": variable}}]})
        accepted = answer and answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        if accepted and variable == "TxStartPoint":
            run.start_points = set(value.split(","))
    elif name == "remote_start":
        run.csms_call("RequestStartTransaction", {"idToken": {"idToken": arg, "type": "Central"},
                                                  "remoteStartId": len(d.sent) + 1, "evseId": 1})
    elif name == "remote_stop":
        tx_id = run.open_transaction()
        if tx_id is not None:
            run.csms_call("RequestStopTransaction", {"transactionId": tx_id})
    elif name == "availability":
        run.csms_call("ChangeAvailability", {"operationalStatus": arg, "evse": {"id": 1}})
    elif name == "reset":
        run.csms_call("Reset", {"type": arg})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(STEPS), st.booleans()), min_size=5, max_size=40), st.booleans())
def test_charging_invariants_hold_over_random_event_sequences(
    steps: list[tuple[tuple[str, Any], bool]], charging_first: bool
) -> None:
    run = Run()
    run.d.connect(accept=False)
    run.collect()
    run.serve()
    run.check()
    if charging_first:  # half the runs disturb a session that is already charging
        steps = [(("meter", 0), False), (("pilot", "C"), False), (("tap", "GOOD1"), True),
                 (("follow", 0), True), *steps]
    for (name, arg), then_serve in steps:
        step(run, name, arg)
        run.check()
        if then_serve:  # the CSMS answers what is waiting (or, when not, calls time out later)
            run.serve()
            run.check()
    # Let everything settle: online, the EV gone, every timer and retry run, every message answered.
    if not run.d.station.endpoint.connected:
        step(run, "reconnect", 0)
    run.feed_pilot("A")
    for _ in range(12):
        step(run, "remote_stop", 0)  # E10: with StopTxOnEVSideDisconnect false the unplug does not end it
        run.d.meter(energy_wh=run.energy)
        run.collect()
        run.serve()
        run.d.advance(61)
        run.collect()
        if not run.d.station.endpoint.connected:
            step(run, "reconnect", 0)
        run.serve()
        run.check()
    assert not run.closed
    assert not run.outbox, run.outbox  # every TransactionEvent was answered (or given up on, E13)
    # Nothing generated is lost or sent twice: each one delivered once or dropped after its last attempt.
    assert sorted(map(ident, run.delivered + run.dropped)) == sorted(map(ident, run.generated))
    # Every transaction ended, exactly once, with its last event.
    by_tx: dict[str, list[str]] = {}
    for e in run.generated:
        by_tx.setdefault(e["transactionInfo"]["transactionId"], []).append(e["eventType"])
    for tx_id, kinds in by_tx.items():
        assert kinds[0] == "Started" and kinds[-1] == "Ended" and kinds.count("Ended") == 1, (tx_id, kinds)
        assert "Started" not in kinds[1:], (tx_id, kinds)


# -- station bugs the properties found, as fixed examples ------------------------------------------------


def tx_summary(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(e["eventType"], e["transactionInfo"]["transactionId"], e["transactionInfo"].get("stoppedReason"))
            for e in events]


def set_variable(d: Driver201, component: str, variable: str, value: str) -> None:
    data = {"attributeValue": value, "component": {"name": component}, "variable": {"name": variable}}
    reply = d.csms_call("SetVariables", {"setVariableData": [data]}, uid="sv")
    assert reply[2]["setVariableResult"][0]["attributeStatus"] == "Accepted", reply


@pytest.mark.parametrize("stop_point", ["EVConnected,Authorized", "PowerPathClosed"])
def test_unplugging_ends_the_transaction_at_its_stop_point_whatever_stop_tx_on_ev_side_disconnect(
    stop_point: str
) -> None:
    d = Driver201()
    d.connect()
    set_variable(d, "TxCtrlr", "TxStopPoint", stop_point)
    set_variable(d, "TxCtrlr", "StopTxOnEVSideDisconnect", "false")
    d.meter()
    d.pilot("C")
    d.tap("CARD1")
    d.serve()
    d.feed(ContactorChanged(1, True))
    d.serve()
    assert d.events()[-1]["transactionInfo"]["chargingState"] == "Charging"
    d.pilot("A")  # the EV and the EVSE are disconnected
    d.serve()
    ended = d.events("Ended")
    assert len(ended) == 1, tx_summary(d.events())
    assert ended[0]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended[0]["triggerReason"] == "EVCommunicationLost"


def restart_with_the_cable_in(d: Driver201) -> Driver201:
    """kill -9 with the EV plugged in; the new process hears the pilot (B) before the first meter reading."""
    again = Driver201(d.store, start=d.now.later(1.0))
    again.connect()
    again.pilot("B")
    again.serve()
    return again


def test_a_transaction_cut_by_a_power_loss_ends_before_a_new_one_begins() -> None:
    d = Driver201()
    d.connect()
    set_variable(d, "TxCtrlr", "TxStartPoint", "EVConnected")
    d.meter()
    d.pilot("B")
    d.serve()
    again = restart_with_the_cable_in(d)
    again.meter()
    again.serve()
    events = tx_summary([*d.events(), *again.events()])
    assert ("Ended", events[0][1], "PowerLoss") in events, events
    running: set[str] = set()
    for kind, tx_id, _ in events:
        if kind == "Started":
            assert not running, f"{tx_id} started while {running} still runs: {events}"
            running.add(tx_id)
        elif kind == "Ended":
            running.discard(tx_id)


def test_no_transaction_is_lost_across_two_restarts_with_the_cable_in() -> None:
    d = Driver201()
    d.connect()
    set_variable(d, "TxCtrlr", "TxStartPoint", "EVConnected")
    d.meter()
    d.pilot("B")
    d.serve()
    second = restart_with_the_cable_in(d)  # a new transaction begins before the old one is ended
    second.meter()  # now the old one ends (PowerLoss)
    second.serve()
    third = Driver201(second.store, start=second.now.later(1.0))
    third.connect()
    third.meter()
    third.pilot("A")
    third.serve()
    third.advance(30)
    third.serve()
    events = [*d.events(), *second.events(), *third.events()]
    started = sorted(e["transactionInfo"]["transactionId"] for e in events if e["eventType"] == "Started")
    ended = sorted(e["transactionInfo"]["transactionId"] for e in events if e["eventType"] == "Ended")
    assert started == ended, tx_summary(events)

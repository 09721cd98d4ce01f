"""OCPP-J call bookkeeping: the outgoing queue, the durable outbox, one outstanding CALL, timeouts.

Rules implemented here (version-neutral; the adapter supplies the policy through ``EndpointListener``):
- One outstanding CALL at a time (OCPP-J 1.6 §4.1.1 / OCPP 2.0.1 part 4 §4.1.1); unique ids are never reused,
  not even across restarts (the prefix comes from the persisted boot counter), so a late answer to a call that
  already timed out can never be taken for the answer to the next call.
- Durable (transaction-related) messages are ``Persist``-ed before their ``SendText`` and ``Forget``-ed only
  once the CSMS answered them, or after the last allowed attempt (OCPP 1.6 §4.10 TransactionMessageAttempts /
  TransactionMessageRetryInterval; 2.0.1 E13 MessageAttemptsTransactionEvent). They keep their order.
- Other messages live in memory only; when the connection drops they fail at once (the adapter decides what
  that means: offline authorisation, status replay after reconnect).
- The receive side is never blocked: incoming CALLs are answered while our own CALL waits.
- Bad input never raises out of here: it becomes a CALLERROR (or is dropped when it has no unique id).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from chargepoint.core.actions import Action, Forget, Log, Persist, SendText
from chargepoint.core.clock import Now
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
from chargepoint.core.rpc.validation import SchemaSet
from chargepoint.core.timers import Timers

JsonObject = dict[str, object]

OUTBOX = "outbox"
CALL_TIMER = "rpc.call-timeout"
RETRY_TIMER = "rpc.retry"
MAX_VOLATILE = 200  # bound on queued non-durable messages (heartbeats, statuses) while slow


@dataclass(slots=True)
class Outgoing:
    """A message we want to send. ``key`` is set for durable messages (the outbox row)."""

    action: str
    payload: JsonObject
    key: str | None = None
    attempts: int = 0
    not_before: float = 0.0
    meta: JsonObject = field(default_factory=dict)

    @property
    def durable(self) -> bool:
        return self.key is not None

    def record(self) -> JsonObject:
        return {
            "action": self.action,
            "payload": self.payload,
            "attempts": self.attempts,
            "meta": self.meta,
        }


class Deferred:
    """Returned by ``on_call`` when the answer comes later through ``Endpoint.reply``."""


DEFERRED = Deferred()


class CallRefused(Exception):
    """Raised by a call handler to answer with a CALLERROR of the given code."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class EndpointListener(Protocol):
    """The adapter's side of the endpoint."""

    def may_send(self, msg: Outgoing) -> bool:
        """Whether ``msg`` may go out now (e.g. only BootNotification before boot is accepted)."""
        ...

    def prepare(self, msg: Outgoing) -> JsonObject | None:
        """The payload to send (late fields filled in), or ``None`` to drop the message."""
        ...

    def on_result(self, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
        """The CSMS answered ``msg``."""
        ...

    def on_failure(self, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
        """``msg`` failed for good (CALLERROR, timeout, offline, or out of attempts)."""
        ...

    def on_call(self, call: Call, now: Now) -> JsonObject | Deferred:
        """An incoming, schema-valid CALL; may raise ``CallRefused``."""
        ...

    def retry_policy(self) -> tuple[int, float]:
        """(attempts, interval_s) for durable messages."""
        ...


class Endpoint:
    """The OCPP-J endpoint of the station: framing, validation, queueing and the outstanding call."""

    def __init__(
        self,
        schemas: SchemaSet,
        dialect: Dialect,
        listener: EndpointListener,
        timers: Timers,
        *,
        call_timeout_s: float = 30.0,
    ) -> None:
        self._schemas = schemas
        self._dialect = dialect
        self._listener = listener
        self._timers = timers
        self.call_timeout_s = call_timeout_s
        self.connected = False
        self._queue: deque[Outgoing] = deque()
        self._pending: tuple[str, Outgoing] | None = None
        self._id_prefix = "0"
        self._counter = 0
        self._seq = 0

    # -- set-up ------------------------------------------------------------------------------------

    def restore(self, rows: list[tuple[str, object]], boot_count: int) -> None:
        """Queue the durable messages left on disk (in key order) and fix the unique-id prefix."""
        self._id_prefix = f"{boot_count:x}"
        for key, value in sorted(rows):
            if not isinstance(value, dict):
                continue
            action, payload = value.get("action"), value.get("payload")
            attempts, meta = value.get("attempts", 0), value.get("meta", {})
            if not isinstance(action, str) or not isinstance(payload, dict):
                continue
            self._queue.append(
                Outgoing(
                    action,
                    payload,
                    key=key,
                    attempts=attempts if isinstance(attempts, int) else 0,
                    meta=meta if isinstance(meta, dict) else {},
                )
            )
            self._seq = max(self._seq, int(key) + 1 if key.isdigit() else self._seq)

    # -- queries -----------------------------------------------------------------------------------

    def durable_messages(self) -> list[Outgoing]:
        """Every durable message not yet answered, in send order (the pending one first)."""
        pending = [self._pending[1]] if self._pending and self._pending[1].durable else []
        return pending + [m for m in self._queue if m.durable]

    def queued(self) -> list[Outgoing]:
        """Every message not yet answered (the pending one first)."""
        pending = [self._pending[1]] if self._pending else []
        return pending + list(self._queue)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    # -- sending -----------------------------------------------------------------------------------

    def enqueue(self, msg: Outgoing, now: Now, *, durable: bool = False, first: bool = False) -> list[Action]:
        """Queue ``msg``; durable messages are persisted first. Returns the actions to run."""
        actions: list[Action] = []
        if durable:
            msg.key = f"{self._seq:012d}"
            self._seq += 1
            actions.append(Persist(OUTBOX, msg.key, msg.record()))
        else:
            volatile = [m for m in self._queue if not m.durable]
            if len(volatile) >= MAX_VOLATILE:
                self._queue.remove(volatile[0])
        if first:
            self._queue.appendleft(msg)
        else:
            self._queue.append(msg)
        actions += self.pump(now)
        return actions

    def update(self, msg: Outgoing) -> list[Action]:
        """Re-persist a queued durable message whose payload or meta the adapter changed."""
        return [Persist(OUTBOX, msg.key, msg.record())] if msg.key is not None else []

    def pump(self, now: Now) -> list[Action]:
        """Send the next message if the line is free."""
        if not self.connected or self._pending is not None:
            return []
        actions: list[Action] = []
        while self._pending is None:
            msg = self._next_sendable(now)
            if msg is None:
                break
            self._queue.remove(msg)
            payload = self._listener.prepare(msg)
            if payload is None:
                if msg.key is not None:
                    actions.append(Forget(OUTBOX, msg.key))
                continue
            self._counter += 1
            unique_id = f"{self._id_prefix}-{self._counter}"
            violation = self._schemas.check_call(msg.action, payload)
            if violation is not None:  # our own bug: say so loudly, but never lose the message
                actions.append(
                    Log(logging.ERROR, f"outgoing {msg.action} violates its schema: {violation.description}")
                )
            self._pending = (unique_id, msg)
            self._timers.set(CALL_TIMER, now.monotonic + self.call_timeout_s)
            actions.append(SendText(encode_call(unique_id, msg.action, payload)))
        return actions

    def _next_sendable(self, now: Now) -> Outgoing | None:
        self._timers.cancel(RETRY_TIMER)
        for msg in self._queue:
            if not self._listener.may_send(msg):
                continue
            if msg.not_before > now.monotonic:
                self._timers.set(RETRY_TIMER, msg.not_before)
                if msg.durable:
                    return None  # durable messages keep their order
                continue
            return msg
        return None

    def reply(self, unique_id: str, action: str, payload: JsonObject) -> list[Action]:
        """Answer an incoming call (used directly for deferred answers)."""
        if not self.connected:
            return []
        return [SendText(encode_result(unique_id, payload))]

    def reply_error(self, unique_id: str, code: str, description: str) -> list[Action]:
        if not self.connected:
            return []
        return [SendText(encode_error(unique_id, code, description))]

    # -- connection --------------------------------------------------------------------------------

    def opened(self, now: Now) -> list[Action]:
        self.connected = True
        return self.pump(now)

    def closed(self, now: Now) -> list[Action]:
        """The connection dropped: durable messages wait, the others fail now."""
        self.connected = False
        self._timers.cancel(CALL_TIMER)
        actions: list[Action] = []
        failed: list[Outgoing] = []
        if self._pending is not None:
            msg = self._pending[1]
            self._pending = None
            if msg.durable:
                self._queue.appendleft(msg)  # not an attempt: it never got a fair chance
            else:
                failed.append(msg)
        failed += [m for m in self._queue if not m.durable]
        self._queue = deque(m for m in self._queue if m.durable)
        for msg in failed:
            actions += self._listener.on_failure(msg, None, now)
        return actions

    # -- timers ------------------------------------------------------------------------------------

    def on_timer(self, name: str, now: Now) -> list[Action]:
        if name == CALL_TIMER and self._pending is not None:
            unique_id, msg = self._pending
            self._pending = None
            return [
                Log(logging.WARNING, f"{msg.action} ({unique_id}) got no answer in time"),
                *self._failed(msg, None, now),
                *self.pump(now),
            ]
        if name == RETRY_TIMER:
            return self.pump(now)
        return []

    def _failed(self, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
        if not msg.durable:
            return self._listener.on_failure(msg, error, now)
        attempts, interval = self._listener.retry_policy()
        msg.attempts += 1
        if msg.attempts >= max(1, attempts):
            # OCPP 1.6 §4.10: after the last attempt the message is discarded.
            assert msg.key is not None
            return [
                Forget(OUTBOX, msg.key),
                Log(logging.WARNING, f"{msg.action} dropped after {msg.attempts} attempts"),
                *self._listener.on_failure(msg, error, now),
            ]
        # Retry after the interval times the number of preceding transmissions.
        msg.not_before = now.monotonic + interval * msg.attempts
        self._queue.appendleft(msg)
        return self.update(msg)

    # -- receiving ---------------------------------------------------------------------------------

    def receive(self, text: str, now: Now) -> list[Action]:
        """Handle one text frame from the CSMS."""
        frame = decode(text, self._dialect)
        if isinstance(frame, BadFrame):
            if frame.unique_id is None:
                return [Log(logging.WARNING, f"dropped a frame without a usable id: {frame.description}")]
            return self.reply_error(frame.unique_id, frame.code, frame.description)
        if isinstance(frame, Call):
            return self._incoming_call(frame, now)
        return self._incoming_answer(frame, now)

    def _incoming_call(self, call: Call, now: Now) -> list[Action]:
        violation = self._schemas.check_call(call.action, call.payload)
        if violation is not None:
            return self.reply_error(call.unique_id, violation.code, violation.description)
        # JSON has one number type: a schema "integer" may arrive as 2.0. Handlers see it as 2.
        call = Call(call.unique_id, call.action, _whole_payload(call.payload))
        try:
            answer = self._listener.on_call(call, now)
        except CallRefused as refused:
            return self.reply_error(call.unique_id, refused.code, refused.description)
        if isinstance(answer, Deferred):
            return []
        violation = self._schemas.check_result(call.action, answer)
        if violation is not None:
            return [
                Log(logging.ERROR, f"our {call.action} answer violates its schema: {violation.description}"),
                *self.reply_error(call.unique_id, "InternalError", "invalid answer"),
            ]
        return self.reply(call.unique_id, call.action, answer)

    def _incoming_answer(self, frame: CallResult | CallError, now: Now) -> list[Action]:
        if self._pending is None or self._pending[0] != frame.unique_id:
            # A late answer to a call that timed out, or a stray id: never matched to another call.
            return [Log(logging.INFO, f"ignored an answer to unknown or expired call {frame.unique_id!r}")]
        unique_id, msg = self._pending
        self._pending = None
        self._timers.cancel(CALL_TIMER)
        actions: list[Action] = []
        if isinstance(frame, CallError):
            actions.append(
                Log(logging.WARNING, f"{msg.action} ({unique_id}) refused: {frame.code} {frame.description}")
            )
            actions += self._failed(msg, frame, now)
        else:
            violation = self._schemas.check_result(msg.action, frame.payload)
            if violation is not None:
                error = CallError(unique_id, violation.code, violation.description, {})
                actions.append(
                    Log(logging.WARNING, f"invalid {msg.action} answer: {violation.description}")
                )
                actions += self._failed(msg, error, now)
            else:
                if msg.key is not None:
                    actions.append(Forget(OUTBOX, msg.key))
                actions += self._listener.on_result(msg, frame.payload, now)
        actions += self.pump(now)
        return actions


def _whole_numbers(value: object) -> object:
    """``value`` with every float that has no fraction turned into an int (checked payloads only)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _whole_payload(payload: JsonObject) -> JsonObject:
    return {key: _whole_numbers(item) for key, item in payload.items()}

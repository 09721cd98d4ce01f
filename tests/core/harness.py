"""A test driver for the pure core: a fake clock, an in-memory store and a scripted CSMS side.

No event loop: events go in, actions come out, time moves by ``advance``. The store dict applies
``Persist``/``Forget`` exactly as the SQLite store would, so a test can restart the station from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chargepoint.core.actions import Action, Forget, Persist, SendText
from chargepoint.core.clock import Now
from chargepoint.core.domain.info import EvseSpec, StationInfo
from chargepoint.core.events import (
    Event,
    MeterSampled,
    PilotChanged,
    Record,
    Restored,
    TextReceived,
    TokenPresented,
    TransportClosed,
    TransportOpened,
)
from chargepoint.core.station import build_core
from hal.types import MeterSample, PilotState

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


class Driver:
    """Drives one ``Station16`` through events and time."""

    version = "1.6"

    def __init__(self, store: dict[tuple[str, str], Any] | None = None, *, evses: int = 1,
                 start: Now | None = None, **info: Any) -> None:
        self.store: dict[tuple[str, str], Any] = {} if store is None else store
        self.now = start or Now(1000.0, T0)
        self.info = StationInfo("CP-1", "Acme", "AC22", "SN1", "0.1.0",
                                tuple(EvseSpec(i, 32.0, 3) for i in range(1, evses + 1)), **info)
        self.station: Any = build_core(self.info, self.version)
        self.actions: list[Action] = []
        self.sent: list[list[Any]] = []  # every frame sent, decoded
        self.energy = {i: 1000.0 for i in range(1, evses + 1)}
        self.answered: set[str] = set()
        self.tx_counter = 500
        records = tuple(Record(k, key, v) for (k, key), v in sorted(self.store.items()))
        self.feed(Restored(records))

    # -- plumbing ---------------------------------------------------------------------------------

    def _apply(self, actions: list[Action]) -> list[Action]:
        for action in actions:
            if isinstance(action, Persist):
                self.store[(action.kind, action.key)] = json.loads(json.dumps(action.value))
            elif isinstance(action, Forget):
                self.store.pop((action.kind, action.key), None)
            elif isinstance(action, SendText):
                self.sent.append(json.loads(action.text))
        self.actions += actions
        return actions

    def feed(self, event: Event) -> list[Action]:
        return self._apply(self.station.handle(event, self.now))

    def advance(self, seconds: float) -> list[Action]:
        """Move time forward, firing every timer on the way in order."""
        end = self.now.monotonic + seconds
        out: list[Action] = []
        while True:
            deadline = self.station.next_deadline()
            if deadline is None or deadline > end:
                break
            self.now = self.now.later(max(0.0, deadline - self.now.monotonic))
            out += self._apply(self.station.handle_timer(self.now))
        self.now = self.now.later(end - self.now.monotonic)
        return out

    # -- the CSMS side ----------------------------------------------------------------------------

    def calls(self, action: str | None = None) -> list[list[Any]]:
        return [m for m in self.sent if m[0] == 2 and (action is None or m[2] == action)]

    def last_call(self) -> list[Any]:
        return self.calls()[-1]

    def answer(self, payload: dict[str, Any], call: list[Any] | None = None) -> list[Action]:
        call = call or self.last_call()
        self.answered.add(call[1])
        return self.feed(TextReceived(json.dumps([3, call[1], payload])))

    def answer_error(self, code: str = "InternalError", call: list[Any] | None = None) -> list[Action]:
        call = call or self.last_call()
        self.answered.add(call[1])
        return self.feed(TextReceived(json.dumps([4, call[1], code, "", {}])))

    def csms_call(self, action: str, payload: dict[str, Any], uid: str = "c1") -> list[Any]:
        """Send a CALL from the CSMS; returns the station's reply frame."""
        before = len(self.sent)
        self.feed(TextReceived(json.dumps([2, uid, action, payload])))
        replies = [m for m in self.sent[before:] if m[0] in (3, 4) and m[1] == uid]
        assert replies, f"no reply to {action}"
        return replies[0]

    def pending(self) -> list[Any] | None:
        """The station's unanswered call, if any (there is at most one)."""
        open_calls = [c for c in self.calls() if c[1] not in self.answered]
        return open_calls[-1] if open_calls else None

    def serve(self, limit: int = 100, until: str | None = None, **answers: dict[str, Any]) -> None:
        """Answer station calls like a friendly CSMS until none is outstanding (or ``until`` is pending)."""
        for _ in range(limit):
            call = self.pending()
            if call is None or call[2] == until:
                return
            action = call[2]
            if action in answers:
                payload = answers[action]
            elif action == "BootNotification":
                payload = {"status": "Accepted", "currentTime": "2026-11-24T12:00:00.000Z", "interval": 300}
            elif action == "Heartbeat":
                payload = {"currentTime": "2026-11-24T12:00:00.000Z"}
            elif action in ("Authorize",):
                payload = {"idTagInfo": {"status": "Accepted"}}
            elif action == "StartTransaction":
                self.tx_counter += 1
                payload = {"transactionId": self.tx_counter, "idTagInfo": {"status": "Accepted"}}
            else:
                payload = {}
            self.answer(payload, call)
        raise AssertionError("the station kept calling")

    # -- the hardware side -----------------------------------------------------------------------

    def connect(self, accept: bool = True) -> None:
        self.feed(TransportOpened("ocpp" + self.version))
        if accept:
            self.serve()

    def disconnect(self) -> None:
        self.feed(TransportClosed("test"))

    def meter(self, evse: int = 1, energy_wh: float | None = None) -> None:
        if energy_wh is not None:
            self.energy[evse] = energy_wh
        self.feed(MeterSampled(evse, MeterSample(energy_wh=self.energy[evse], power_w=11000.0,
                                                 current_a=(16.0, 16.0, 16.0),
                                                 voltage_v=(230.0, 230.0, 230.0))))

    def pilot(self, state: str, evse: int = 1) -> None:
        self.feed(PilotChanged(evse, PilotState(state)))

    def tap(self, token: str) -> None:
        self.feed(TokenPresented("r1", token))

    def statuses(self, connector: int = 1) -> list[str]:
        return [c[3]["status"] for c in self.calls("StatusNotification") if c[3]["connectorId"] == connector]


class Driver201(Driver):
    """The same driver for the OCPP 2.0.1 station, with a friendly 2.0.1 CSMS in ``serve``."""

    version = "2.0.1"

    def serve(self, limit: int = 100, until: str | None = None, **answers: dict[str, Any]) -> None:
        defaults: dict[str, dict[str, Any]] = {
            "Authorize": {"idTokenInfo": {"status": "Accepted"}},
            "TransactionEvent": {},
        }
        super().serve(limit, until, **{**defaults, **answers})

    def statuses(self, connector: int = 1) -> list[str]:
        calls = self.calls("StatusNotification")
        return [c[3]["connectorStatus"] for c in calls if c[3]["evseId"] == connector]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [c[3] for c in self.calls("TransactionEvent") if kind is None or c[3]["eventType"] == kind]

"""Property: any text from the CSMS gets at most one reply per CALL id (a CALLRESULT or a CALLERROR), never
an exception out of the core, and the station still runs a normal session afterwards."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargepoint.core.events import ContactorChanged, TextReceived
from chargepoint.core.rpc.validation import SchemaSet
from tests.core.harness import Driver

ACTIONS = [*sorted(SchemaSet("1.6").actions), "Nope", ""]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(
    st.sampled_from(["connectorId", "idTag", "type", "key", "value", "transactionId", "requestedMessage",
                     "reservationId", "expiryDate", "listVersion", "updateType", "vendorId", "x"]),
    json_values, max_size=6,
)
calls = st.builds(lambda uid, action, payload: json.dumps([2, uid, action, payload]),
                  st.text(min_size=1, max_size=10), st.sampled_from(ACTIONS), payloads)
texts = st.one_of(st.text(max_size=60), calls, st.builds(json.dumps, st.lists(json_values, max_size=5)))


def replies_to(d: Driver, uid: str, since: int) -> list[list[Any]]:
    return [m for m in d.sent[since:] if m[0] in (3, 4) and m[1] == uid]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=6))
def test_any_text_from_the_csms_is_answered_or_dropped_and_the_station_goes_on(frames: list[str]) -> None:
    d = Driver()
    d.connect()
    for text in frames:
        before = len(d.sent)
        d.feed(TextReceived(text))
        try:
            msg = json.loads(text)
        except ValueError:
            continue
        if isinstance(msg, list) and len(msg) == 4 and msg[0] == 2 and isinstance(msg[1], str):
            assert len(replies_to(d, msg[1], before)) <= 1
            if len(msg[1]) <= 36 and isinstance(msg[3], dict) and isinstance(msg[2], str):
                assert len(replies_to(d, msg[1], before)) == 1 or msg[2] == "UnlockConnector"
        d.serve()
        d.advance(6)  # a Reset may reboot: fine, the core said so with an action
        d.serve()
    # Whatever happened, a normal session still works (unless the CSMS made the EVSE unavailable).
    d.csms_call("ChangeAvailability", {"connectorId": 0, "type": "Operative"}, uid="restore")
    d.serve()
    d.meter()
    d.pilot("A")
    d.pilot("B")
    d.tap("FUZZ-OK")
    d.serve()
    d.pilot("C")
    d.feed(ContactorChanged(1, True))
    d.serve()
    evse = d.station.evses[1]
    # A RemoteStartTransaction among the frames may hold the EVSE for its own id (an empty idTag is
    # schema-valid): then the cable starts that transaction instead, and that is the right behaviour.
    remote = evse.session is not None and evse.session.id_tag != "FUZZ-OK" and evse.session.started
    assert any(c[2] == "StartTransaction" and c[3]["idTag"] == "FUZZ-OK" for c in d.calls()) or remote or (
        evse.faults or evse.reservation is not None or not evse.operative
    )

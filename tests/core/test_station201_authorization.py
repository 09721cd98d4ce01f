"""OCPP 2.0.1 blocks C (authorisation, cache, offline rules, group ids) and F (remote control) on the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chargepoint.core.actions import SetLock, SetPilotCurrent
from chargepoint.core.events import LockResult, TextReceived
from tests.core.harness import Driver201
from tests.core.test_station201_transactions import assert_schema_valid, charging, configure, tx_id

CARD = {"idToken": "CARD1", "type": "ISO14443"}
GROUP = {"idToken": "FLEET", "type": "Central"}
ACCEPTED_IN_GROUP = {"idTokenInfo": {"status": "Accepted", "groupIdToken": GROUP}}


def offered(d: Driver201) -> float:
    """The last pilot current the station commanded on EVSE 1 (0 before any)."""
    currents = [a.current_a for a in d.actions if isinstance(a, SetPilotCurrent) and a.evse == 1]
    return currents[-1] if currents else 0.0


def cache_card(d: Driver201, token: str, answer: dict[str, Any] | None = None) -> None:
    """Have the CSMS answer an Authorize for ``token`` (cached), then cancel the waiting authorisation."""
    d.tap(token)
    d.serve(Authorize=answer or {"idTokenInfo": {"status": "Accepted"}})
    d.tap(token)  # the driver changes their mind: the authorisation is dropped, the cache entry stays
    assert ("auth_cache", token) in d.store


# -- C01: Authorize ---------------------------------------------------------------------------------------


def test_a_tap_sends_authorize_with_an_iso14443_token() -> None:
    d = Driver201()
    d.connect()
    d.tap("CARD1")
    pending = d.pending()
    assert pending is not None and pending[2] == "Authorize"
    assert pending[3] == {"idToken": CARD}
    assert_schema_valid(d)


def test_accepted_gives_a_session() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve()
    assert offered(d) == 32.0
    [started] = d.events()
    assert started["idToken"] == CARD
    assert_schema_valid(d)


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired", "Unknown", "NoCredit"])
def test_a_refused_token_gives_no_session(status: str) -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(Authorize={"idTokenInfo": {"status": status}})
    assert offered(d) == 0.0
    assert d.events() == []
    d.tap("CARD2")  # the EVSE is still free for the next card
    d.serve()
    assert d.events()[0]["idToken"]["idToken"] == "CARD2"
    assert_schema_valid(d)


# -- C10-C13: the Authorization Cache and the offline rules ----------------------------------------------


@pytest.mark.parametrize("local_offline", [True, False])
def test_a_cached_card_authorises_offline_with_local_authorize_offline(local_offline: bool) -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_LocalAuthorizeOffline=str(local_offline).lower())
    cache_card(d, "CARD1")
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    assert offered(d) == (32.0 if local_offline else 0.0)
    d.connect()
    started = d.events("Started")
    if local_offline:
        assert started[0]["idToken"] == CARD and started[0]["offline"] is True
    else:
        assert started == []
    assert_schema_valid(d)


@pytest.mark.parametrize("age_s", [100, 4000])
def test_a_cache_entry_older_than_its_lifetime_is_not_used(age_s: int) -> None:
    """C10 AuthCacheCtrlr.LifeTime: a cached answer older than the lifetime no longer authorises offline;
    a younger one does. The time the answer came is kept on disk."""
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_LocalAuthorizeOffline="true", AuthCacheCtrlr_LifeTime="3600")
    cache_card(d, "CARD1")
    assert "cachedAt" in d.store[("auth_cache", "CARD1")]
    d.disconnect()
    d = Driver201(store=d.store, start=d.now.later(age_s))  # a restart on the way: the age survives
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    assert offered(d) == (32.0 if age_s < 3600 else 0.0)


def test_clear_cache_empties_the_cache() -> None:
    d = Driver201()
    d.connect()
    cache_card(d, "CARD1")
    assert d.csms_call("ClearCache", {})[2] == {"status": "Accepted"}
    assert not [k for k in d.store if k[0] == "auth_cache"]
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")  # no longer known, and unknown ids may not charge offline
    assert offered(d) == 0.0
    assert_schema_valid(d)


def test_clear_cache_is_rejected_while_the_cache_is_disabled() -> None:
    d = Driver201()
    d.connect()
    cache_card(d, "CARD1")
    configure(d, AuthCacheCtrlr_Enabled="false")
    assert d.csms_call("ClearCache", {})[2] == {"status": "Rejected"}  # C11.FR.04
    assert_schema_valid(d)


def test_a_disabled_cache_stores_nothing() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCacheCtrlr_Enabled="false")
    d.tap("CARD1")
    d.serve()
    assert not [k for k in d.store if k[0] == "auth_cache"]
    assert_schema_valid(d)


@pytest.mark.parametrize("allowed", [True, False])
def test_offline_tx_for_unknown_id(allowed: bool) -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_OfflineTxForUnknownIdEnabled=str(allowed).lower())
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("STRANGER")
    assert offered(d) == (32.0 if allowed else 0.0)
    d.connect()
    assert [e["idToken"]["idToken"] for e in d.events("Started")] == (["STRANGER"] if allowed else [])
    assert_schema_valid(d)


def test_an_id_cached_as_invalid_never_charges_offline() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_OfflineTxForUnknownIdEnabled="true")
    d.tap("CARD1")
    d.serve(Authorize={"idTokenInfo": {"status": "Blocked"}})
    d.disconnect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    assert offered(d) == 0.0
    assert_schema_valid(d)


def test_local_pre_authorize_starts_at_once_for_a_cached_id() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_LocalPreAuthorize="true")
    cache_card(d, "CARD1")
    authorizes = len(d.calls("Authorize"))
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    assert offered(d) == 32.0  # before any answer from the CSMS
    d.serve()
    assert len(d.calls("Authorize")) == authorizes
    assert d.events("Started")[0]["idToken"] == CARD
    assert_schema_valid(d)


def test_without_local_pre_authorize_a_cached_id_is_asked_for() -> None:
    d = Driver201()
    d.connect()
    cache_card(d, "CARD1")
    authorizes = len(d.calls("Authorize"))
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    assert offered(d) == 0.0
    d.serve()
    assert len(d.calls("Authorize")) == authorizes + 1
    assert_schema_valid(d)


# -- C09: GroupIdToken -----------------------------------------------------------------------------------


def test_a_cached_card_of_the_same_group_stops_the_transaction() -> None:
    d = Driver201()
    d.connect()
    cache_card(d, "MATE", ACCEPTED_IN_GROUP)
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(Authorize=ACCEPTED_IN_GROUP)
    d.tap("MATE")
    d.serve()
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"]["idToken"] == "MATE"
    assert_schema_valid(d)


def test_a_card_of_another_group_does_not_stop_the_transaction() -> None:
    d = Driver201()
    d.connect()
    cache_card(d, "OTHER", {"idTokenInfo": {"status": "Accepted",
                                            "groupIdToken": {"idToken": "ELSE", "type": "Central"}}})
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(Authorize=ACCEPTED_IN_GROUP)
    d.tap("OTHER")
    d.serve()
    assert d.events("Ended") == []
    assert_schema_valid(d)


def test_an_unknown_card_is_authorised_to_learn_its_group_and_stops_the_transaction() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.tap("CARD1")
    d.serve(Authorize=ACCEPTED_IN_GROUP)
    d.tap("MATE")
    pending = d.pending()
    assert pending is not None and pending[2] == "Authorize"
    assert pending[3]["idToken"]["idToken"] == "MATE"
    d.serve(Authorize=ACCEPTED_IN_GROUP)
    [ended] = d.events("Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"


# -- F01 / F02: RequestStartTransaction ------------------------------------------------------------------

REMOTE = {"idToken": "APP-7", "type": "Central"}


def test_request_start_with_an_evse_starts_with_the_remote_start_id() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.serve()
    reply = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 42, "evseId": 1})
    assert reply[2]["status"] == "Accepted"
    d.serve()
    [started] = d.events()
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42  # F01.FR.25
    assert started["idToken"]["idToken"] == "APP-7"
    assert d.calls("Authorize") == []  # AuthorizeRemoteStart is false by default
    assert_schema_valid(d)


def test_request_start_without_an_evse_waits_for_the_cable() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    reply = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 43})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    assert d.events() == []  # PowerPathClosed: no EV yet
    d.pilot("B")
    d.serve()
    [started] = d.events()
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 43
    assert_schema_valid(d)


def test_request_start_answers_a_transaction_id_only_for_one_begun_before() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")  # PowerPathClosed: the cable alone is no transaction
    d.serve()
    assert d.events() == []
    reply = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 42, "evseId": 1})
    assert reply[2] == {"status": "Accepted"}


def test_request_start_keeps_the_token_type_the_csms_sent() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    d.pilot("B")
    d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 42, "evseId": 1})
    d.serve()
    assert d.events()[0]["idToken"] == REMOTE


def test_request_start_with_authorize_remote_start_asks_first() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_AuthorizeRemoteStart="true")
    d.meter()
    d.pilot("B")
    d.serve()
    reply = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 44, "evseId": 1})
    assert reply[2] == {"status": "Accepted"}
    pending = d.pending()
    assert pending is not None and pending[2] == "Authorize"
    assert pending[3]["idToken"]["idToken"] == "APP-7"
    assert d.events() == []
    d.serve()
    [started] = d.events()
    assert started["transactionInfo"]["remoteStartId"] == 44 and started["triggerReason"] == "RemoteStart"
    assert_schema_valid(d)


def test_request_start_with_authorize_remote_start_refused_starts_nothing() -> None:
    d = Driver201()
    d.connect()
    configure(d, AuthCtrlr_AuthorizeRemoteStart="true")
    d.meter()
    d.pilot("B")
    d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 45, "evseId": 1})
    d.serve(Authorize={"idTokenInfo": {"status": "Invalid"}})
    assert d.events() == [] and offered(d) == 0.0
    assert_schema_valid(d)


def test_request_start_is_rejected_for_an_unknown_or_occupied_evse() -> None:
    d = Driver201()
    d.connect()
    unknown = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 1, "evseId": 7})
    assert unknown[2] == {"status": "Rejected"}
    charging(d)
    busy = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 2, "evseId": 1}, "c2")
    assert busy[2] == {"status": "Rejected"}
    anywhere = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 3}, "c3")
    assert anywhere[2] == {"status": "Rejected"}
    assert len(d.events("Started")) == 1
    assert_schema_valid(d)


def test_request_start_on_a_transaction_begun_by_the_cable_returns_its_id() -> None:
    d = Driver201()
    d.connect()
    configure(d, TxCtrlr_TxStartPoint="EVConnected")
    d.meter()
    d.pilot("B")
    d.serve()
    [started] = d.events()
    reply = d.csms_call("RequestStartTransaction", {"idToken": REMOTE, "remoteStartId": 9, "evseId": 1})
    assert reply[2] == {"status": "Accepted", "transactionId": tx_id(started)}  # F02.FR.01
    d.serve()
    updated = d.events()[-1]
    assert updated["triggerReason"] == "RemoteStart" and updated["transactionInfo"]["remoteStartId"] == 9
    assert offered(d) == 32.0
    assert_schema_valid(d)


# -- F03: RequestStopTransaction -------------------------------------------------------------------------


def test_request_stop_ends_the_transaction_remotely() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    running = tx_id(d.events("Started")[0])
    reply = d.csms_call("RequestStopTransaction", {"transactionId": running})
    assert reply[2] == {"status": "Accepted"}
    d.serve()
    [ended] = d.events("Ended")
    assert tx_id(ended) == running
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended["triggerReason"] == "RemoteStop"
    assert offered(d) == 0.0
    assert_schema_valid(d)


def test_request_stop_of_an_unknown_transaction_is_rejected() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    reply = d.csms_call("RequestStopTransaction", {"transactionId": "no-such-tx"})
    assert reply[2] == {"status": "Rejected"}
    assert d.events("Ended") == []
    assert_schema_valid(d)


# -- F05: UnlockConnector --------------------------------------------------------------------------------


def unlock(d: Driver201, evse: int, uid: str) -> list[list[Any]]:
    """Send UnlockConnector; returns the replies so far (the answer may follow the lock)."""
    before = len(d.sent)
    d.feed(TextReceived(json.dumps([2, uid, "UnlockConnector", {"evseId": evse, "connectorId": 1}])))
    return [m for m in d.sent[before:] if m[0] in (3, 4) and m[1] == uid]


def test_unlock_connector_is_refused_during_an_authorised_transaction() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    [reply] = unlock(d, 1, "u1")
    assert reply[2] == {"status": "OngoingAuthorizedTransaction"}  # F05.FR.02
    assert SetLock(1, False) not in d.actions
    assert_schema_valid(d)


def test_unlock_connector_answers_once_the_lock_has_opened() -> None:
    d = Driver201()
    d.connect()
    assert unlock(d, 1, "u1") == []
    assert SetLock(1, False) in d.actions
    d.feed(LockResult(1, False, True))
    replies = [m for m in d.sent if m[0] == 3 and m[1] == "u1"]
    assert [r[2] for r in replies] == [{"status": "Unlocked"}]
    assert_schema_valid(d)


def test_unlock_connector_reports_a_failed_lock() -> None:
    d = Driver201()
    d.connect()
    unlock(d, 1, "u1")
    d.feed(LockResult(1, False, False))  # the unlock was commanded and did not happen
    assert [m[2] for m in d.sent if m[0] == 3 and m[1] == "u1"] == [{"status": "UnlockFailed"}]


def test_unlock_connector_fails_when_the_lock_never_reports() -> None:
    d = Driver201()
    d.connect()
    unlock(d, 1, "u1")
    d.advance(60)
    assert [m[2] for m in d.sent if m[0] == 3 and m[1] == "u1"] == [{"status": "UnlockFailed"}]


def test_unlock_connector_of_an_unknown_evse() -> None:
    d = Driver201()
    d.connect()
    [reply] = unlock(d, 9, "u1")
    assert reply[2] == {"status": "UnknownConnector"}


# -- F06: TriggerMessage ---------------------------------------------------------------------------------


def trigger(d: Driver201, what: str, uid: str, evse: dict[str, int] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestedMessage": what}
    if evse is not None:
        payload["evse"] = evse
    reply = d.csms_call("TriggerMessage", payload, uid)
    assert reply[0] == 3, reply
    answer: dict[str, Any] = reply[2]
    return answer


def test_trigger_boot_notification_is_rejected_once_accepted() -> None:
    d = Driver201()
    d.connect()
    assert trigger(d, "BootNotification", "t1") == {"status": "Rejected"}  # F06.FR.17
    assert len(d.calls("BootNotification")) == 1
    assert_schema_valid(d)


def test_trigger_heartbeat_and_status_notification() -> None:
    d = Driver201()
    d.connect()
    heartbeats, statuses = len(d.calls("Heartbeat")), len(d.calls("StatusNotification"))
    assert trigger(d, "Heartbeat", "t1") == {"status": "Accepted"}
    d.serve()
    assert len(d.calls("Heartbeat")) == heartbeats + 1
    assert trigger(d, "StatusNotification", "t2", {"id": 1, "connectorId": 1}) == {"status": "Accepted"}
    d.serve()
    assert len(d.calls("StatusNotification")) == statuses + 1
    last = d.calls("StatusNotification")[-1][3]
    assert (last["evseId"], last["connectorId"], last["connectorStatus"]) == (1, 1, "Available")
    assert trigger(d, "StatusNotification", "t3", {"id": 5, "connectorId": 1}) == {"status": "Rejected"}
    assert_schema_valid(d)


def test_trigger_meter_values_while_idle() -> None:
    d = Driver201()
    d.connect()
    d.meter()
    assert trigger(d, "MeterValues", "t1", {"id": 1}) == {"status": "Accepted"}
    d.serve()
    [mv] = [c[3] for c in d.calls("MeterValues")]
    assert mv["evseId"] == 1
    assert {v["context"] for v in mv["meterValue"][0]["sampledValue"]} == {"Trigger"}
    assert_schema_valid(d)


def test_trigger_transaction_event_gives_an_updated_with_trigger() -> None:
    d = Driver201()
    d.connect()
    charging(d)
    count = len(d.events())
    assert trigger(d, "TransactionEvent", "t1", {"id": 1}) == {"status": "Accepted"}
    d.serve()
    events = d.events()
    assert len(events) == count + 1
    assert events[-1]["eventType"] == "Updated" and events[-1]["triggerReason"] == "Trigger"
    assert events[-1]["seqNo"] == events[-2]["seqNo"] + 1
    assert_schema_valid(d)

"""Nothing is lost in OCPP 2.0.1: kill -9 or SIGTERM of the real station process, then a restart (E04, E13).

The CSMS is the strict one of ``chargepoint.service.csms`` on loopback (it validates every message against
the official 2.0.1 schemas and records a violation for a TransactionEvent seqNo that repeats or skips); the
station is ``python -m chargepoint run`` with the simulated HAL, restarted on the same state directory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Protocol

from ocpp.v201 import call

from chargepoint.service.csms import Csms

STATION = "SYS-CP-1"


class StationProcess(Protocol):
    """What these tests use of conftest's ``StationProcess``."""

    config: Path
    log: Path

    async def start(self) -> None: ...

    async def sim(self, *argv: str) -> dict[str, object]: ...

    def kill9(self) -> None: ...

    def terminate(self) -> int: ...


def station_201(station_factory: Any, url: str) -> StationProcess:
    """A station process on the shared state directory, configured for OCPP 2.0.1."""
    station: StationProcess = station_factory(url)
    station.config.write_text(station.config.read_text().replace('ocpp_version = "1.6"',
                                                                 'ocpp_version = "2.0.1"'))
    return station


def station_calls(csms: Csms, action: str, since: int = 0) -> list[dict[str, Any]]:
    """Payloads of every ``action`` CALL the station sent, from frame ``since`` on, in wire order."""
    out = []
    for frame in csms.frames[since:]:
        if frame.direction == "<":
            message = json.loads(frame.text)
            if message[0] == 2 and message[2] == action:
                out.append(message[3])
    return out


def call_index(csms: Csms, action: str) -> list[int]:
    """Frame positions of every ``action`` CALL from the station."""
    out = []
    for index, frame in enumerate(csms.frames):
        if frame.direction == "<":
            message = json.loads(frame.text)
            if message[0] == 2 and message[2] == action:
                out.append(index)
    return out


def events(csms: Csms, since: int = 0) -> list[dict[str, Any]]:
    return station_calls(csms, "TransactionEvent", since)


def of_kind(csms: Csms, kind: str) -> list[dict[str, Any]]:
    return [e for e in events(csms) if e["eventType"] == kind]


def settled(csms: Csms) -> bool:
    """Every CALL the station sent has its answer on the wire."""
    asked: set[str] = set()
    answered: set[str] = set()
    for frame in csms.frames:
        message = json.loads(frame.text)
        if frame.direction == "<" and message[0] == 2:
            asked.add(message[1])
        elif frame.direction == ">" and message[0] in (3, 4):
            answered.add(message[1])
    return asked <= answered


def charging(csms: Csms) -> bool:
    return any(e["transactionInfo"].get("chargingState") == "Charging" for e in events(csms))


def assert_each_event_once_in_order(delivered: list[dict[str, Any]]) -> None:
    """TransactionEventRequest.seqNo: 0, 1, 2... per transaction, each exactly once, in order (E13)."""
    per_tx: dict[str, list[int]] = {}
    for e in delivered:
        per_tx.setdefault(e["transactionInfo"]["transactionId"], []).append(e["seqNo"])
    for tx_id, seq in per_tx.items():
        assert seq == list(range(len(seq))), (tx_id, seq)
    stamps = [e["timestamp"] for e in delivered]
    assert stamps == sorted(stamps), stamps  # same format (UTC, Z, ms), so text order is time order


async def wait_settled(csms: Csms) -> None:
    await csms.wait_for(lambda: settled(csms), 20)
    await asyncio.sleep(0.5)  # the station has read the last answer too: nothing is in flight


async def set_variables(csms: Csms, **values: str) -> None:
    """B05 SetVariables from the CSMS (``Component_Variable=value``), each Accepted."""
    data = []
    for key, value in values.items():
        component, variable = key.split("_", 1)
        data.append({"attribute_value": value, "component": {"name": component},
                     "variable": {"name": variable}})
    answer = await csms.sessions[STATION].call(call.SetVariables(set_variable_data=data))
    assert [r["attribute_status"] for r in answer.set_variable_result] == ["Accepted"] * len(data)


async def sim_status(station: StationProcess) -> dict[str, Any]:
    return dict(await station.sim("status"))


async def wait_offline(station: StationProcess) -> None:
    async with asyncio.timeout(20):
        while (await sim_status(station))["connected"]:
            await asyncio.sleep(0.1)


async def test_kill9_during_a_transaction_ends_it_with_power_loss_after_restart(
    csms: Csms, station_factory: Any
) -> None:
    station = station_201(station_factory, csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(station_calls(csms, "StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "AA11BB22")
    await csms.wait_for(lambda: charging(csms), 20)
    await asyncio.sleep(1.0)  # some energy flows
    await wait_settled(csms)
    before = events(csms)
    tx_id = before[0]["transactionInfo"]["transactionId"]
    station.kill9()

    station2 = station_201(station_factory, csms.url)
    await station2.start()
    await csms.wait_for(lambda: bool(of_kind(csms, "Ended")), 30)
    await wait_settled(csms)

    delivered = events(csms)
    assert [e["eventType"] for e in delivered[:len(before)]] == [e["eventType"] for e in before]
    assert [e["eventType"] for e in delivered[len(before):]] == ["Ended"]  # nothing sent again
    ended = delivered[-1]
    # E06 / ReasonEnumType: a transaction cut by a power loss ends with stoppedReason PowerLoss.
    assert ended["transactionInfo"]["transactionId"] == tx_id
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert ended["seqNo"] == before[-1]["seqNo"] + 1
    assert_each_event_once_in_order(delivered)
    assert len(of_kind(csms, "Started")) == 1
    # B01 / B02.FR.02: after the restart the station registers again (a power-up) before anything else.
    boots = call_index(csms, "BootNotification")
    assert len(boots) == 2
    assert station_calls(csms, "BootNotification")[1]["reason"] == "PowerUp"
    assert call_index(csms, "TransactionEvent")[-1] > boots[1]
    assert not csms.violations  # the strict CSMS found every message well-formed, seqNo without gap/repeat
    status = await sim_status(station2)
    assert status["queued_transaction_messages"] == 0
    assert status["evses"][0]["transaction_id"] is None
    assert station2.terminate() == 0


async def test_kill9_while_offline_delivers_every_queued_event_once_in_order(
    csms: Csms, station_factory: Any
) -> None:
    station = station_201(station_factory, csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(station_calls(csms, "StatusNotification")), 20)
    # C15: an unknown id may charge offline; J02: a TransactionEvent Updated with meter values every second.
    await set_variables(csms, AuthCtrlr_OfflineTxForUnknownIdEnabled="true",
                        SampledDataCtrlr_TxUpdatedInterval="1")
    port = csms.port
    await csms.close()  # the CSMS goes away: the station is offline
    for session in list(csms.sessions.values()):
        await session._connection._ws.close()
    await wait_offline(station)
    online_frames = len(csms.frames)
    await station.sim("plug", "1")
    await station.sim("tap", "CC33DD44")
    await asyncio.sleep(2.5)  # charging offline: Started, Charging, periodic meter values queue up
    await station.sim("unplug", "1")
    await asyncio.sleep(0.5)
    queued = (await sim_status(station))["queued_transaction_messages"]
    assert queued >= 3, queued  # Started, Updated..., Ended wait on disk
    station.kill9()  # the queue is only on disk now

    assert len(csms.frames) == online_frames  # nothing reached the CSMS while it was away
    await csms.start(port)
    station2 = station_201(station_factory, csms.url)
    await station2.start()
    await csms.wait_for(lambda: bool(of_kind(csms, "Ended")), 60)
    await wait_settled(csms)

    delivered = events(csms, online_frames)
    assert len(delivered) == queued, delivered  # every queued event, exactly once
    assert delivered[0]["eventType"] == "Started" and delivered[-1]["eventType"] == "Ended"
    assert {e["eventType"] for e in delivered[1:-1]} <= {"Updated"}
    assert len({e["transactionInfo"]["transactionId"] for e in delivered}) == 1
    assert delivered[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    # E04.FR.01: every event generated while offline says so.
    assert all(e.get("offline") is True for e in delivered), delivered
    assert_each_event_once_in_order(delivered)
    boots = call_index(csms, "BootNotification")
    assert len(boots) == 2 and call_index(csms, "TransactionEvent")[0] > boots[1]
    assert not station_calls(csms, "Authorize", online_frames)  # decided offline, not asked again later
    assert not csms.violations
    assert (await sim_status(station2))["queued_transaction_messages"] == 0
    assert station2.terminate() == 0


async def test_sigterm_during_a_transaction_exits_0_and_loses_nothing(
    csms: Csms, station_factory: Any
) -> None:
    station = station_201(station_factory, csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(station_calls(csms, "StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "EE55FF66")
    await csms.wait_for(lambda: charging(csms), 20)
    await wait_settled(csms)
    before = events(csms)
    tx_id = before[0]["transactionInfo"]["transactionId"]
    assert station.terminate() == 0  # systemd's stop: a clean exit
    assert "Traceback" not in station.log.read_text()

    station2 = station_201(station_factory, csms.url)
    await station2.start()
    await csms.wait_for(lambda: bool(of_kind(csms, "Ended")), 30)
    await wait_settled(csms)
    delivered = events(csms)
    assert [e["eventType"] for e in delivered[len(before):]] == ["Ended"]
    ended = delivered[-1]
    assert ended["transactionInfo"]["transactionId"] == tx_id
    assert ended["seqNo"] == before[-1]["seqNo"] + 1
    # The process stopped with the transaction open: it ends at the next start (ReasonEnumType).
    assert ended["transactionInfo"]["stoppedReason"] in ("PowerLoss", "Reboot")
    assert_each_event_once_in_order(delivered)
    assert len(of_kind(csms, "Started")) == 1
    assert not csms.violations
    assert station2.terminate() == 0

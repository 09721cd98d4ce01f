"""OCPP 2.0.1 Reset against the real process: the transaction ends, the process restarts itself in place, and
the next BootNotification says why (B11)."""

from __future__ import annotations

import json
from typing import Any

from ocpp.v201 import call

from chargepoint.service.csms import Csms


def station_calls(csms: Csms, action: str) -> list[dict[str, Any]]:
    out = []
    for frame in csms.frames:
        if frame.direction == "<":
            message = json.loads(frame.text)
            if message[0] == 2 and message[2] == action:
                out.append(message[3])
    return out


def started(csms: Csms) -> bool:
    return any(e["eventType"] == "Started" for e in station_calls(csms, "TransactionEvent"))


async def test_reset_immediate_ends_the_transaction_and_reboots_with_reason_remote_reset(
    csms: Csms, station_factory: Any
) -> None:
    station = station_factory(csms.url)
    station.config.write_text(station.config.read_text().replace('ocpp_version = "1.6"',
                                                                 'ocpp_version = "2.0.1"'))
    await station.start()
    await csms.wait_for(lambda: bool(station_calls(csms, "StatusNotification")), 20)
    assert station_calls(csms, "BootNotification")[0]["reason"] == "PowerUp"
    await station.sim("plug", "1")
    await station.sim("tap", "EE55FF66")
    await csms.wait_for(lambda: started(csms), 20)
    pid = station.proc.pid
    answer = await csms.sessions["SYS-CP-1"].call(call.Reset(type="Immediate"))
    assert answer.status == "Accepted"
    await csms.wait_for(lambda: len(station_calls(csms, "BootNotification")) == 2, 30)
    ended = [e for e in station_calls(csms, "TransactionEvent") if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["stoppedReason"] for e in ended] == ["ImmediateReset"]
    assert station_calls(csms, "BootNotification")[1]["reason"] == "RemoteReset"
    assert station.proc.poll() is None and station.proc.pid == pid  # the same process, a new image
    assert not csms.violations
    await station.wait_control()
    assert station.terminate() == 0


async def test_reset_on_idle_waits_for_the_transaction(csms: Csms, station_factory: Any) -> None:
    station = station_factory(csms.url)
    station.config.write_text(station.config.read_text().replace('ocpp_version = "1.6"',
                                                                 'ocpp_version = "2.0.1"'))
    await station.start()
    await csms.wait_for(lambda: bool(station_calls(csms, "StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "EE55FF66")
    await csms.wait_for(lambda: started(csms), 20)
    answer = await csms.sessions["SYS-CP-1"].call(call.Reset(type="OnIdle"))
    assert answer.status == "Scheduled"
    await station.sim("unplug", "1")
    await csms.wait_for(lambda: len(station_calls(csms, "BootNotification")) == 2, 30)
    ended = [e for e in station_calls(csms, "TransactionEvent") if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["stoppedReason"] for e in ended] == ["EVDisconnected"]
    assert station_calls(csms, "BootNotification")[1]["reason"] == "RemoteReset"
    await station.wait_control()
    assert station.terminate() == 0

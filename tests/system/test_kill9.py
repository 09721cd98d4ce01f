"""Nothing is lost: kill -9 of a real station process, then a restart (OCPP 1.6 §4.10, issue "Nothing is
lost"). The CSMS is a real server on loopback; the station is `python -m chargepoint run`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chargepoint.service.csms import Csms


def actions(csms: Csms, *names: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    import json

    for frame in csms.frames:
        if frame.direction == "<":
            msg = json.loads(frame.text)
            if msg[0] == 2 and msg[2] in names:
                out.append((msg[2], msg[3]))
    return out


async def test_kill9_during_a_transaction_stops_it_with_power_loss_after_restart(
    csms: Csms, station_factory: Any
) -> None:
    station = station_factory(csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "AA11BB22")
    await csms.wait_for(lambda: any(f.direction == ">" and '"transactionId"' in f.text for f in csms.frames))
    await asyncio.sleep(1.5)  # some energy flows
    station.kill9()

    station2 = station_factory(csms.url)
    await station2.start()
    await csms.wait_for(lambda: bool(actions(csms, "StopTransaction")), 30)
    await asyncio.sleep(0.5)
    starts = actions(csms, "StartTransaction")
    stops = actions(csms, "StopTransaction")
    assert len(starts) == 1, starts  # answered before the kill: never sent again
    assert len(stops) == 1
    stop = stops[0][1]
    assert stop["reason"] == "PowerLoss"
    assert stop["transactionId"] == 1001
    assert stop["meterStop"] >= starts[0][1]["meterStart"]
    assert not csms.violations  # the strict CSMS found every message well-formed
    assert station2.terminate() == 0


async def test_kill9_while_offline_delivers_the_queue_once_in_order(csms: Csms, station_factory: Any) -> None:
    station = station_factory(csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    session = csms.sessions["SYS-CP-1"]
    from ocpp.v16 import call

    await session.call(call.ChangeConfiguration(key="AllowOfflineTxForUnknownId", value="true"))
    port = csms.port
    await csms.close()  # the CSMS goes away: the station is offline
    for ws in list(csms.sessions.values()):
        await ws._connection._ws.close()
    await asyncio.sleep(0.5)
    await station.sim("plug", "1")
    await station.sim("tap", "CC33DD44")
    await asyncio.sleep(1.0)
    await station.sim("unplug", "1")
    await asyncio.sleep(0.5)
    station.kill9()  # the queued Start/Stop are only on disk now

    before = len(csms.frames)
    await csms.start(port)
    station2 = station_factory(csms.url)
    await station2.start()
    await csms.wait_for(lambda: bool(actions(csms, "StopTransaction")), 60)
    await asyncio.sleep(0.5)
    new = [(a, p) for a, p in actions(csms, "StartTransaction", "StopTransaction")]
    assert [a for a, _ in new] == ["StartTransaction", "StopTransaction"], new
    assert new[1][1]["transactionId"] == 1001
    assert new[1][1]["reason"] == "EVDisconnected"
    assert len(csms.frames) > before
    assert station2.terminate() == 0


async def test_soft_reset_stops_the_transaction_and_the_process_restarts_itself(
    csms: Csms, station_factory: Any
) -> None:
    station = station_factory(csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "EE55FF66")
    await csms.wait_for(lambda: bool(csms.transactions), 20)
    from ocpp.v16 import call

    pid = station.proc.pid
    await csms.sessions["SYS-CP-1"].call(call.Reset(type="Soft"))
    await csms.wait_for(lambda: len(csms.received("BootNotification")) == 2, 30)
    stops = actions(csms, "StopTransaction")
    assert [s["reason"] for _, s in stops] == ["SoftReset"]
    assert station.proc.poll() is None and station.proc.pid == pid  # the same process, a new image
    assert not csms.violations
    await station.wait_control()
    assert station.terminate() == 0


async def test_hard_reset_runs_the_integrators_hook_then_restarts(
    csms: Csms, station_factory: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "hook-ran"
    hook = tmp_path / "reboot-board"
    hook.write_text(f"#!/bin/sh\necho hard >> {marker}\n")
    hook.chmod(0o755)
    station = station_factory(csms.url)
    station.config.write_text(station.config.read_text().replace(
        'ocpp_version = "1.6"', f'ocpp_version = "1.6"\nhard_reset_hook = "{hook}"'))
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    await station.sim("plug", "1")
    await station.sim("tap", "EE55FF66")
    await csms.wait_for(lambda: bool(csms.transactions), 20)
    from ocpp.v16 import call

    await csms.sessions["SYS-CP-1"].call(call.Reset(type="Hard"))
    await csms.wait_for(lambda: len(csms.received("BootNotification")) == 2, 30)
    assert [s["reason"] for _, s in actions(csms, "StopTransaction")] == ["HardReset"]
    assert marker.read_text() == "hard\n"  # once, after the station had stopped cleanly
    assert not csms.violations
    await station.wait_control()
    assert station.terminate() == 0

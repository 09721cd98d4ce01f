"""The `chargepoint` command in OCPP 2.0.1 as a user runs it: `demo --ocpp 2.0.1`, `sim status`, `status`.

``demo`` starts its own strict CSMS (the ``ocpp`` library's v201 server side, which validates every station
message against the official schemas and answers a bad one with a CALLERROR); the status commands talk to a
real ``python -m chargepoint run`` process over its control socket.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

from chargepoint.service.csms import Csms

CLI = [sys.executable, "-m", "chargepoint"]
SENT = "  station -> CSMS  "

Validator = Callable[[dict[str, Any]], object]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


@functools.cache
def request_schema(action: str) -> Validator:
    """The official OCPP 2.0.1 ``<Action>Request.json`` shipped with the ``ocpp`` package, compiled."""
    path = resources.files("ocpp").joinpath("v201", "schemas", f"{action}Request.json")
    schema = json.loads(path.read_bytes().decode("utf-8-sig"))  # some files start with a BOM
    validator: Validator = fastjsonschema.compile(schema)
    return validator


def station_calls(out: str) -> list[tuple[str, dict[str, Any]]]:
    """The CALLs the demo printed as sent by the station: (action, payload)."""
    calls = []
    for line in out.splitlines():
        if line.startswith(SENT) and not line[len(SENT):].startswith(" "):  # "   answer ..." is a reply
            action, _, payload = line[len(SENT):].partition(" ")
            calls.append((action, json.loads(payload)))
    return calls


def test_demo_201_runs_a_whole_session_and_prints_the_201_exchange() -> None:
    result = run("demo", "--ocpp", "2.0.1", "--seconds", "1", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "strict CSMS found problems" not in result.stderr
    out = result.stdout
    assert "(OCPP 2.0.1)" in out.splitlines()[0]
    # The CSMS answered every station message: a schema violation would show as "error <code>" (part 4 §4.3).
    assert not [line for line in out.splitlines() if line.lstrip().startswith("error ")], out
    calls = station_calls(out)
    actions = [a for a, _ in calls]
    assert actions[0] == "BootNotification", actions
    for needed in ("StatusNotification", "Authorize", "TransactionEvent"):
        assert needed in actions, actions
    assert not {"StartTransaction", "StopTransaction"} & set(actions)  # 1.6 words never appear in 2.0.1
    for action, payload in calls:
        try:
            request_schema(action)(payload)
        except fastjsonschema.JsonSchemaException as error:
            raise AssertionError(f"{action} violates its 2.0.1 schema: {error}: {payload}") from None
    tx_events = [p for a, p in calls if a == "TransactionEvent"]
    # E01 / E02 / E06: one transaction, Started ... Ended, seqNo 0, 1, 2... and the cable's reason at the end.
    assert tx_events[0]["eventType"] == "Started" and tx_events[-1]["eventType"] == "Ended"
    assert {e["eventType"] for e in tx_events[1:-1]} <= {"Updated"}
    assert [e["seqNo"] for e in tx_events] == list(range(len(tx_events)))
    tx_ids = {e["transactionInfo"]["transactionId"] for e in tx_events}
    assert len(tx_ids) == 1
    assert any(e["transactionInfo"]["chargingState"] == "Charging" for e in tx_events)
    assert tx_events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    summary = out[out.index("== summary =="):]
    assert f"transaction id : {tx_ids.pop()}" in summary
    assert "stop reason    : EVDisconnected" in summary and "kWh" in summary


def station_201(station_factory: Any, url: str) -> Any:
    """A ``StationProcess`` (conftest) configured for OCPP 2.0.1."""
    station = station_factory(url)
    station.config.write_text(station.config.read_text().replace('ocpp_version = "1.6"',
                                                                 'ocpp_version = "2.0.1"'))
    return station


def tx_events(csms: Csms) -> list[dict[str, Any]]:
    return [m[3] for m in csms.received("TransactionEvent")]


async def test_sim_status_and_status_show_a_201_transaction(csms: Csms, station_factory: Any) -> None:
    station = station_201(station_factory, csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    config = str(station.config)
    assert run("sim", "--config", config, "plug", "1").returncode == 0
    assert run("sim", "--config", config, "tap", "A1B2C3D4").returncode == 0
    await csms.wait_for(lambda: any(e["transactionInfo"].get("chargingState") == "Charging"
                                    for e in tx_events(csms)), 20)
    tx_id = tx_events(csms)[0]["transactionInfo"]["transactionId"]

    sim = run("sim", "--config", config, "status")
    assert sim.returncode == 0, sim.stderr
    status = json.loads(sim.stdout)
    assert status["ocpp_version"] == "2.0.1" and status["connected"] is True
    assert status["registration"] == "Accepted"
    evse = status["evses"][0]
    # G01: a connector in use is Occupied in 2.0.1 (ConnectorStatusEnumType); E02: the charging state.
    assert evse["status"] == "Occupied" and evse["charging_state"] == "Charging"
    assert evse["relay_closed"] is True and evse["current_limit_a"] == 32.0
    assert evse["transaction_id"] == tx_id  # the station's own 2.0.1 transaction id (a string)
    assert evse["id_tag"] == "A1B2…"  # never the whole token
    assert "meter_energy_wh" in evse

    human = run("status", "--config", config)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].startswith("SYS-CP-1  OCPP 2.0.1  connected, registration Accepted"), lines
    assert lines[1].startswith(f"EVSE 1: Occupied  transaction {tx_id} (A1B2…)"), lines
    assert "relay closed" in lines[1]
    assert "A1B2C3D4" not in human.stdout
    assert station.terminate() == 0
    gone = run("status", "--config", config)
    assert gone.returncode == 69 and "chargepoint run" in gone.stderr


async def test_status_shows_a_201_fault(csms: Csms, station_factory: Any) -> None:
    station = station_201(station_factory, csms.url)
    await station.start()
    await csms.wait_for(lambda: bool(csms.received("StatusNotification")), 20)
    config = str(station.config)
    assert run("sim", "--config", config, "fault", "1", "meter").returncode == 0
    # N07: the meter fault is a NotifyEvent on the PowerMeter component; G01: the connector is Faulted.
    await csms.wait_for(lambda: any(e.get("tech_code") == "PowerMeterFailure" for e in csms.events), 30)
    await csms.wait_for(lambda: any(m[3]["connectorStatus"] == "Faulted"
                                    for m in csms.received("StatusNotification")), 30)
    result = run("status", "--config", config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SYS-CP-1  OCPP 2.0.1  connected, registration Accepted"), lines
    assert lines[1].startswith("EVSE 1: Faulted") and "relay open" in lines[1]
    assert lines[2].strip().startswith("fault PowerMeterFailure:")
    raw = json.loads(run("status", "--config", config, "--json").stdout)
    assert raw["evses"][0]["faults"].keys() == {"PowerMeterFailure"}
    assert raw["evses"][0]["simulated_faults"] == ["PowerMeterFailure"]
    assert station.terminate() == 0

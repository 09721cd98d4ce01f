"""OCPP 2.0.1 pair tests: the real station (simulated HAL) against the strict test CSMS over a real WebSocket.

Each functional block the station builds (docs/ocpp201.md) is exercised over the wire: the CSMS side is the
``ocpp`` library's v201 server (every station message validated against the official schemas), so what is
asserted here is what a CSMS sees: the messages it receives, their fields, and the answers to its calls.
The station runs in-process (``serve``); its devices are driven through the control socket, as a tester does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.v201 import call

from chargepoint.core.ocpp201.variables import Mutability, catalog
from chargepoint.service.app import Station, serve
from chargepoint.service.config import load_config
from chargepoint.service.control import send_command
from chargepoint.service.csms import Csms, CsmsPolicy
from chargepoint.service.runner import RunResult

pytestmark = pytest.mark.timeout(120)

SID = "PAIR201"
WAIT_S = 30.0

CONFIG = """\
[station]
id = "{sid}"
vendor = "Acme"
model = "AC22"
serial_number = "SN-201"
firmware_version = "1.2.3"
ocpp_version = "2.0.1"

[csms]
url = "{url}"
security_profile = 0
call_timeout_s = 5

[storage]
dir = "{state}"

[hal]
driver = "sim"
control_socket = "{state}/sim.sock"

[[evse]]
id = 1
max_current_a = 32
phases = 3
"""

Json = dict[str, Any]


def utc_in(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def comp(name: str, *, evse: int | None = None, connector: int | None = None,
         instance: str | None = None) -> Json:
    """A ComponentType (snake_case keys: the ``ocpp`` library turns them into camelCase on the wire)."""
    out: Json = {"name": name}
    if instance is not None:
        out["instance"] = instance
    if evse is not None:
        out["evse"] = {"id": evse} if connector is None else {"id": evse, "connector_id": connector}
    return out


def get_item(component: Json, variable: str, instance: str | None = None) -> Json:
    var: Json = {"name": variable} if instance is None else {"name": variable, "instance": instance}
    return {"component": component, "variable": var}


def set_item(component: Json, variable: str, value: str, instance: str | None = None) -> Json:
    return {**get_item(component, variable, instance), "attribute_value": value}


def id_token(token: str, kind: str = "ISO14443") -> Json:
    return {"id_token": token, "type": kind}


def sampled(event: Json) -> list[Json]:
    return [sv for mv in event.get("meterValue", []) for sv in mv["sampledValue"]]


def energy(event: Json, context: str) -> float:
    values = [sv["value"] for sv in sampled(event)
              if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
              and sv.get("context") == context]
    assert len(values) == 1, event
    value = values[0]
    assert isinstance(value, int | float)  # 2.0.1 sends numbers, not strings
    return float(value)


class Pair:
    """One station and the CSMS it talks to, with the helpers the tests share."""

    def __init__(self, tmp_path: Path, policy: CsmsPolicy | None = None) -> None:
        self.csms = Csms(policy or CsmsPolicy())
        self.state = tmp_path / "state"
        self.sock = self.state / "sim.sock"
        self.path = tmp_path / "station.toml"
        self.task: asyncio.Task[RunResult] | None = None
        self.station: Station | None = None

    # -- life cycle ------------------------------------------------------------------------------------

    async def start(self, wait: bool = True) -> None:
        url = await self.csms.start()
        self.path.write_text(CONFIG.format(sid=SID, url=url, state=self.state))
        await self.start_station(wait)

    async def start_station(self, wait: bool = True) -> None:
        """Start the station; with ``wait``, until it booted (Accepted) and reported its connector."""
        boots = len(self.calls("BootNotification"))
        statuses = len(self.calls("StatusNotification"))
        holder: list[Station] = []
        self.task = asyncio.create_task(serve(load_config(self.path), on_station=holder.append))
        async with asyncio.timeout(WAIT_S):
            while not holder:
                assert not self.task.done(), self.task
                await asyncio.sleep(0.02)
        self.station = holder[0]
        if wait:
            await self.wait(lambda: SID in self.csms.sessions and len(self.calls("BootNotification")) > boots
                            and len(self.calls("StatusNotification")) > statuses)

    async def stop_station(self) -> None:
        if self.station is not None and self.task is not None:
            self.station.runner.stop()
            await asyncio.wait_for(self.task, WAIT_S)
        self.station, self.task = None, None

    async def restart_station(self) -> None:
        await self.stop_station()
        await self.start_station()

    async def close(self) -> None:
        try:
            await self.stop_station()
        finally:
            await self.csms.close()

    async def go_offline(self) -> int:
        """The CSMS drops the connection and refuses the station's reconnections (HTTP 401 at the
        handshake, so each attempt shows in ``auth_failures``); returns the frame index from which what
        arrives was generated offline."""
        self.csms.policy.password = "refuse-this-station"  # the station (profile 0) sends no credentials
        await self.csms.close()
        await self.csms.start(self.csms.port)
        await self.until(lambda snap: snap["connected"] is False)
        return len(self.csms.frames)

    async def refused(self, attempts: int = 1) -> None:
        """Wait until the station has tried, and failed, to reconnect ``attempts`` more times."""
        target = self.csms.auth_failures + attempts
        async with asyncio.timeout(WAIT_S):
            while self.csms.auth_failures < target:
                await asyncio.sleep(0.05)

    async def go_online(self) -> None:
        """The CSMS lets the station in again; returns once both sides see the connection."""
        self.csms.policy.password = None
        await self.until(lambda snap: snap["connected"] is True and SID in self.csms.sessions)

    async def fast_reconnect(self) -> None:
        """B10: a 1 s reconnect back-off without randomness, in force from the next start of the station."""
        reply = await self.call(call.SetVariables(set_variable_data=[
            set_item(comp("OCPPCommCtrlr"), "RetryBackOffWaitMinimum", "1"),
            set_item(comp("OCPPCommCtrlr"), "RetryBackOffRandomRange", "0"),
            set_item(comp("OCPPCommCtrlr"), "RetryBackOffRepeatTimes", "0"),
        ]))
        assert [r["attribute_status"] for r in reply.set_variable_result] == ["Accepted"] * 3
        await self.restart_station()

    # -- the CSMS's view ---------------------------------------------------------------------------------

    def messages(self, direction: str = "<", since: int = 0) -> list[list[Any]]:
        return [json.loads(frame.text) for frame in self.csms.frames[since:] if frame.direction == direction]

    def calls(self, action: str, since: int = 0) -> list[Json]:
        """The payloads of the ``action`` CALLs the station sent (from frame ``since`` on), as on the wire."""
        out: list[Json] = []
        for frame in self.csms.frames[since:]:
            if frame.direction == "<":
                msg = json.loads(frame.text)
                if msg[0] == 2 and msg[2] == action:
                    out.append(msg[3])
        return out

    def events(self, since: int = 0) -> list[Json]:
        return self.calls("TransactionEvent", since)

    def statuses(self, since: int = 0) -> list[str]:
        return [s["connectorStatus"] for s in self.calls("StatusNotification", since)]

    def csms_errors(self) -> list[list[Any]]:
        """CALLERRORs the CSMS sent: a station message that failed the official schema, among others."""
        return [msg for msg in self.messages(">") if msg[0] == 4]

    def assert_clean(self) -> None:
        assert self.csms_errors() == []
        assert self.csms.violations == []

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        await self.csms.wait_for(predicate, timeout_s)

    async def call(self, payload: Any) -> Any:
        return await self.csms.sessions[SID].call(payload, suppress=False)

    async def barrier(self) -> None:
        """A round trip: the station answers in order, so everything it did before has reached the CSMS."""
        await self.call(call.GetLocalListVersion())

    # -- the station's devices -------------------------------------------------------------------------

    async def sim(self, *argv: str) -> dict[str, object]:
        reply = await send_command(self.sock, list(argv))
        assert reply.get("ok") is True, reply
        return reply

    async def tap(self, token: str) -> None:
        """Present a card; the reader ignores the same card within a second, so try until it is taken."""
        async with asyncio.timeout(WAIT_S):
            while (await self.sim("tap", token)).get("accepted") is not True:
                await asyncio.sleep(0.1)

    async def snapshot(self) -> Json:
        reply = await send_command(self.sock, ["status"])
        evses = reply["evses"]
        assert isinstance(evses, list)
        return {"connected": reply["connected"], **evses[0]}

    async def until(self, predicate: Callable[[Json], bool], timeout_s: float = WAIT_S) -> Json:
        """Poll the station's own status (what ``chargepoint status`` shows) until ``predicate`` holds."""
        async with asyncio.timeout(timeout_s):
            while True:
                snap = await self.snapshot()
                if predicate(snap):
                    return snap
                await asyncio.sleep(0.05)

    # -- transactions --------------------------------------------------------------------------------

    def started(self, since: int = 0) -> list[Json]:
        return [e for e in self.events(since) if e["eventType"] == "Started"]

    def ended(self, since: int = 0) -> list[Json]:
        return [e for e in self.events(since) if e["eventType"] == "Ended"]

    def of(self, tx_id: str) -> list[Json]:
        return [e for e in self.events() if e["transactionInfo"]["transactionId"] == tx_id]

    def charging_states(self, tx_id: str) -> list[str]:
        return [e["transactionInfo"].get("chargingState", "") for e in self.of(tx_id)]

    async def charge(self, token: str) -> str:
        """Plug in, present ``token``, wait until energy flows; returns the transaction id."""
        mark = len(self.csms.frames)
        await self.sim("plug", "1")
        await self.tap(token)
        await self.wait(lambda: bool(self.started(mark)))
        tx_id = str(self.started(mark)[0]["transactionInfo"]["transactionId"])
        await self.wait(lambda: "Charging" in self.charging_states(tx_id))
        return tx_id


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    p = Pair(tmp_path)
    try:
        await p.start()
        yield p
    finally:
        await p.close()


def statuses_of(results: list[Json]) -> list[str]:
    return [r["attribute_status"] for r in results]


# == B: provisioning =======================================================================================


async def test_boot_notification_and_heartbeat(tmp_path: Path) -> None:
    """B01: BootNotification with reason PowerUp and the station's identity; the interval of the Accepted
    answer is the heartbeat interval (B01.FR.04)."""
    p = Pair(tmp_path, CsmsPolicy(heartbeat_interval=1))
    try:
        await p.start()
        boots = p.calls("BootNotification")
        assert len(boots) == 1
        assert boots[0]["reason"] == "PowerUp"
        assert boots[0]["chargingStation"] == {"model": "AC22", "vendorName": "Acme",
                                               "serialNumber": "SN-201", "firmwareVersion": "1.2.3"}
        status = p.calls("StatusNotification")[0]
        assert (status["connectorStatus"], status["evseId"], status["connectorId"]) == ("Available", 1, 1)
        await p.wait(lambda: len(p.calls("Heartbeat")) >= 2)
        assert all(h == {} for h in p.calls("Heartbeat"))
        reply = await p.call(call.GetVariables(get_variable_data=[
            get_item(comp("OCPPCommCtrlr"), "HeartbeatInterval")]))
        assert reply.get_variable_result[0]["attribute_value"] == "1"
        p.assert_clean()
    finally:
        await p.close()


async def test_boot_pending_until_the_csms_triggers_it(tmp_path: Path) -> None:
    """B02: while Pending the station answers the CSMS (and sends the report it asked for) but sends nothing
    else; a triggered BootNotification (reason Triggered) then gets Accepted, and the statuses follow."""
    p = Pair(tmp_path, CsmsPolicy(boot_status="Pending", heartbeat_interval=300))
    try:
        await p.start(wait=False)
        await p.wait(lambda: SID in p.csms.sessions and len(p.messages(">")) >= 1)
        await p.barrier()
        reply = await p.call(call.GetVariables(get_variable_data=[
            get_item(comp("OCPPCommCtrlr"), "OfflineThreshold")]))
        assert reply.get_variable_result[0]["attribute_status"] == "Accepted"
        report = await p.call(call.GetBaseReport(request_id=77, report_base="SummaryInventory"))
        assert report.status == "Accepted"
        await p.wait(lambda: any(not part.get("tbc") for part in p.csms.reports.get(77, [])))
        await p.barrier()
        # B02.FR.02: no StatusNotification, Heartbeat or other message while Pending.
        sent = {msg[2] for msg in p.messages() if msg[0] == 2}
        assert sent == {"BootNotification", "NotifyReport"}
        assert [b["reason"] for b in p.calls("BootNotification")] == ["PowerUp"]

        p.csms.policy.boot_status = "Accepted"
        trigger = await p.call(call.TriggerMessage(requested_message="BootNotification"))
        assert trigger.status == "Accepted"
        await p.wait(lambda: bool(p.calls("StatusNotification")))
        assert [b["reason"] for b in p.calls("BootNotification")] == ["PowerUp", "Triggered"]
        assert p.statuses() == ["Available"]
        # F06.FR.17: once accepted, a BootNotification is no longer triggered.
        again = await p.call(call.TriggerMessage(requested_message="BootNotification"))
        assert again.status == "Rejected"
        p.assert_clean()
    finally:
        await p.close()


async def test_set_and_get_variables_survive_a_restart(pair: Pair) -> None:
    """B05 / B06: every attribute status; accepted values read back, and still there after a restart."""
    ocpp_comm = comp("OCPPCommCtrlr")
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(ocpp_comm, "OfflineThreshold", "45"),
        set_item(comp("SampledDataCtrlr"), "TxUpdatedInterval", "15"),
        set_item(comp("AuthCtrlr"), "LocalPreAuthorize", "true"),
        set_item(comp("NoSuchCtrlr"), "Enabled", "true"),
        set_item(ocpp_comm, "NoSuchVariable", "1"),
        set_item(ocpp_comm, "NetworkConfigurationPriority", "1"),
        set_item(comp("DeviceDataCtrlr"), "ItemsPerMessage", "5", instance="GetReport"),
        set_item(ocpp_comm, "OfflineThreshold", "soon"),
    ]))
    results = reply.set_variable_result
    assert statuses_of(results) == ["Accepted", "Accepted", "Accepted", "UnknownComponent", "UnknownVariable",
                                    "RebootRequired", "Rejected", "Rejected"]
    # B05.FR.02/03: each result names what it is about.
    assert [(r["component"]["name"], r["variable"]["name"]) for r in results][3:5] == [
        ("NoSuchCtrlr", "Enabled"), ("OCPPCommCtrlr", "NoSuchVariable")]

    wanted = [
        get_item(ocpp_comm, "OfflineThreshold"),
        get_item(comp("SampledDataCtrlr"), "TxUpdatedInterval"),
        get_item(comp("AuthCtrlr"), "LocalPreAuthorize"),
        get_item(comp("DeviceDataCtrlr"), "ItemsPerMessage", "GetReport"),
        get_item(comp("SecurityCtrlr"), "BasicAuthPassword"),
        get_item(comp("EVSE", evse=1), "AvailabilityState"),
        get_item(comp("NoSuchCtrlr"), "Enabled"),
        get_item(ocpp_comm, "NoSuchVariable"),
        {**get_item(ocpp_comm, "OfflineThreshold"), "attribute_type": "Target"},
    ]

    async def read() -> list[Json]:
        answer = await pair.call(call.GetVariables(get_variable_data=wanted))
        return list(answer.get_variable_result)

    before = await read()
    assert statuses_of(before) == ["Accepted"] * 4 + ["Rejected", "Accepted", "UnknownComponent",
                                                       "UnknownVariable", "NotSupportedAttributeType"]
    values = [r.get("attribute_value") for r in before]
    assert values[:4] == ["45", "15", "true", "20"]
    assert values[4] is None  # B06.FR.09: a write-only value is never read back
    assert values[5] == "Available"

    # B06.FR.16: more items than ItemsPerMessage (50) are refused as a whole.
    with pytest.raises(OCPPError) as refused:
        await pair.call(call.GetVariables(get_variable_data=[get_item(ocpp_comm, "OfflineThreshold")] * 51))
    assert refused.value.code == "OccurrenceConstraintViolation"

    await pair.restart_station()
    assert [b["reason"] for b in pair.calls("BootNotification")] == ["PowerUp", "PowerUp"]
    after = await read()
    assert [r.get("attribute_value") for r in after][:4] == ["45", "15", "true", "20"]
    pair.assert_clean()


ReportKey = tuple[str, str | None, int | None, int | None, str, str | None]


def report_key(entry: Json) -> ReportKey:
    component, variable = entry["component"], entry["variable"]
    evse = component.get("evse") or {}
    return (component["name"], component.get("instance"), evse.get("id"), evse.get("connector_id"),
            variable["name"], variable.get("instance"))


async def collect_report(pair: Pair, request_id: int) -> list[Json]:
    """Every NotifyReport part of one request: seqNo 0..n in order, tbc on all but the last (B07.FR.04)."""
    await pair.wait(lambda: any(not part.get("tbc", False) for part in pair.csms.reports.get(request_id, [])))
    parts = pair.csms.reports[request_id]
    assert [part["seq_no"] for part in parts] == list(range(len(parts)))
    assert [part.get("tbc", False) for part in parts] == [True] * (len(parts) - 1) + [False]
    return [entry for part in parts for entry in part["report_data"]]


async def test_full_inventory_reports_the_whole_device_model(pair: Pair) -> None:
    """B07 FullInventory: every component-variable of the device model, with characteristics, in parts of at
    most ItemsPerMessage; SummaryInventory and ConfigurationInventory are answered too."""
    reply = await pair.call(call.GetBaseReport(request_id=1, report_base="FullInventory"))
    assert reply.status == "Accepted"
    entries = await collect_report(pair, 1)
    parts = pair.csms.reports[1]
    assert len(parts) > 1 and all(len(part["report_data"]) <= 20 for part in parts)

    defs = {(d.component, d.component_instance, d.evse, d.connector, d.variable, d.variable_instance): d
            for d in catalog(1)}
    keys = [report_key(e) for e in entries]
    assert len(keys) == len(set(keys))  # nothing twice
    assert set(keys) == set(defs)  # nothing missing, nothing the station does not define
    for entry in entries:
        vdef = defs[report_key(entry)]
        attributes = entry["variable_attribute"]
        assert [a["type"] for a in attributes] == [a.value for a in vdef.attributes]
        assert all(a["mutability"] == vdef.mutability.value for a in attributes)
        if vdef.mutability is Mutability.WRITE_ONLY:
            assert all("value" not in a for a in attributes)  # B07.FR.03: never reported
        else:
            assert all("value" in a for a in attributes)
        assert entry["variable_characteristics"]["data_type"] == vdef.data_type.value
    by_key = {report_key(e): e for e in entries}
    heartbeat = by_key[("OCPPCommCtrlr", None, None, None, "HeartbeatInterval", None)]
    assert heartbeat["variable_attribute"][0]["value"] == str(pair.csms.policy.heartbeat_interval)
    assert heartbeat["variable_characteristics"]["unit"] == "s"

    summary = await pair.call(call.GetBaseReport(request_id=2, report_base="SummaryInventory"))
    assert summary.status == "Accepted"
    summary_entries = await collect_report(pair, 2)
    assert {e["variable"]["name"] for e in summary_entries} == {"AvailabilityState", "Problem"}
    assert {(e["component"]["name"], e["variable"]["name"]) for e in summary_entries} >= {
        ("ChargingStation", "AvailabilityState"), ("EVSE", "AvailabilityState"),
        ("Connector", "AvailabilityState")}

    configuration = await pair.call(call.GetBaseReport(request_id=3, report_base="ConfigurationInventory"))
    assert configuration.status == "Accepted"
    config_entries = await collect_report(pair, 3)
    assert config_entries and all(a["mutability"] != "ReadOnly"
                                  for e in config_entries for a in e["variable_attribute"])
    assert ("OCPPCommCtrlr", None, None, None, "HeartbeatInterval", None) in {report_key(e)
                                                                             for e in config_entries}
    pair.assert_clean()


async def test_get_report_with_criteria_and_filters(pair: Pair) -> None:
    """B08: componentCriteria and componentVariable filters; EmptyResultSet when nothing matches."""
    reply = await pair.call(call.GetReport(request_id=10, component_criteria=["Available"],
                                           component_variable=[{"component": comp("EVSE", evse=1)}]))
    assert reply.status == "Accepted"
    entries = await collect_report(pair, 10)
    assert {(e["component"]["name"], e["component"]["evse"]["id"]) for e in entries} == {("EVSE", 1)}
    assert {e["variable"]["name"] for e in entries} == {d.variable for d in catalog(1)
                                                         if d.component == "EVSE"}

    one = await pair.call(call.GetReport(request_id=11, component_variable=[
        {"component": comp("OCPPCommCtrlr"), "variable": {"name": "HeartbeatInterval"}}]))
    assert one.status == "Accepted"
    assert [report_key(e) for e in await collect_report(pair, 11)] == [
        ("OCPPCommCtrlr", None, None, None, "HeartbeatInterval", None)]

    # B08.FR.10: nothing has a problem.
    empty = await pair.call(call.GetReport(request_id=12, component_criteria=["Problem"]))
    assert empty.status == "EmptyResultSet"
    await pair.barrier()
    assert 12 not in pair.csms.reports
    pair.assert_clean()


async def test_set_network_profile(pair: Pair) -> None:
    """B09: a valid profile for a free slot is Accepted; the slot in use, another OCPP version and a URL that
    does not fit the security profile are Rejected."""

    def profile(**changes: object) -> Json:
        data: Json = {"ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": pair.csms.url,
                      "message_timeout": 30, "security_profile": 0, "ocpp_interface": "Wired0"}
        return {**data, **changes}

    async def status(slot: int, data: Json) -> str:
        reply = await pair.call(call.SetNetworkProfile(configuration_slot=slot, connection_data=data))
        return str(reply.status)

    assert await status(2, profile()) == "Accepted"
    assert await status(1, profile()) == "Rejected"  # the slot in use
    assert await status(3, profile(ocpp_version="OCPP16")) == "Rejected"
    assert await status(3, profile(security_profile=2)) == "Rejected"  # profile 2 needs wss://
    assert await status(3, profile(ocpp_csms_url="wss://127.0.0.1:1/ocpp", security_profile=2)) == "Accepted"
    pair.assert_clean()


async def test_status_changed_offline_is_reported_after_a_short_outage(pair: Pair) -> None:
    """B04.FR.02 (OCTT TC_B_52_CS): offline for less than OfflineThreshold, the connectors whose status
    changed meanwhile are reported after the reconnect."""
    await pair.fast_reconnect()
    offline_from = await pair.go_offline()
    await pair.sim("plug", "1")
    await pair.until(lambda s: s["status"] == "Occupied")
    await pair.refused()  # the station keeps trying while the CSMS refuses it
    await pair.go_online()
    await pair.barrier()  # the station reports what changed as soon as it is connected
    assert pair.statuses(offline_from) == ["Occupied"]
    pair.assert_clean()


async def test_every_status_is_reported_after_a_long_outage(pair: Pair) -> None:
    """B04.FR.01 (OCTT TC_B_51_CS): offline for longer than OfflineThreshold, every connector's status is
    reported after the reconnect."""
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("OCPPCommCtrlr"), "OfflineThreshold", "1")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    await pair.fast_reconnect()
    offline_from = await pair.go_offline()
    await pair.sim("plug", "1")
    await pair.until(lambda s: s["status"] == "Occupied")
    await pair.refused(2)  # two attempts a second apart: longer offline than the threshold
    await pair.go_online()
    await pair.barrier()  # the station reports what changed as soon as it is connected
    assert pair.statuses(offline_from) == ["Occupied"]
    pair.assert_clean()


# == C: authorization ======================================================================================


async def test_authorize_a_card_and_refuse_an_invalid_one(pair: Pair) -> None:
    """C01: a card is authorised as ISO14443; an Invalid answer starts nothing; C11 ClearCache Accepted."""
    pair.csms.policy.rejected_tokens = {"BAD00001"}
    await pair.sim("plug", "1")
    await pair.wait(lambda: pair.statuses()[-1:] == ["Occupied"])
    await pair.tap("BAD00001")
    await pair.wait(lambda: bool(pair.calls("Authorize")))
    assert pair.calls("Authorize")[0] == {"idToken": {"idToken": "BAD00001", "type": "ISO14443"}}
    await pair.barrier()
    assert pair.events() == []
    snap = await pair.snapshot()
    assert snap["transaction_id"] is None and snap["id_tag"] is None

    clear = await pair.call(call.ClearCache())
    assert clear.status == "Accepted"

    await pair.tap("A1B2C3D4")
    await pair.wait(lambda: bool(pair.started()))
    assert pair.calls("Authorize")[1] == {"idToken": {"idToken": "A1B2C3D4", "type": "ISO14443"}}
    assert pair.started()[0]["idToken"] == {"idToken": "A1B2C3D4", "type": "ISO14443"}
    pair.assert_clean()


async def test_an_authorisation_without_a_cable_times_out(pair: Pair) -> None:
    """E03 / TxCtrlr.EVConnectionTimeOut: a card presented without a cable is forgotten after the timeout;
    a cable plugged in later starts nothing."""
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("TxCtrlr"), "EVConnectionTimeOut", "1")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    await pair.tap("A1B2C3D4")
    await pair.until(lambda s: s["id_tag"] is not None)
    await pair.until(lambda s: s["id_tag"] is None)
    await pair.sim("plug", "1")
    await pair.wait(lambda: pair.statuses()[-1:] == ["Occupied"])
    await pair.barrier()
    assert pair.events() == []
    assert len(pair.calls("Authorize")) == 1
    pair.assert_clean()


# == D: local authorization list ==========================================================================


async def test_local_list_versions_and_an_offline_start(pair: Pair) -> None:
    """D01 / D02: Full then Differential updates and the version; a token on the list starts a transaction
    while the CSMS is unreachable (C15 LocalAuthorizeOffline), reported offline once the CSMS is back."""
    await pair.fast_reconnect()

    def entry(token: str, status: str = "Accepted") -> Json:
        return {"id_token": id_token(token), "id_token_info": {"status": status}}

    full = await pair.call(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[
        entry("LOCAL001"), entry("BLOCKED1", "Blocked")]))
    assert full.status == "Accepted"
    assert (await pair.call(call.GetLocalListVersion())).version_number == 1
    diff = await pair.call(call.SendLocalList(version_number=2, update_type="Differential",
                                              local_authorization_list=[entry("LOCAL002")]))
    assert diff.status == "Accepted"
    assert (await pair.call(call.GetLocalListVersion())).version_number == 2
    stale = await pair.call(call.SendLocalList(version_number=2, update_type="Differential",
                                               local_authorization_list=[entry("LOCAL003")]))
    assert stale.status == "VersionMismatch"
    entries = await pair.call(call.GetVariables(get_variable_data=[
        get_item(comp("LocalAuthListCtrlr"), "Entries")]))
    assert entries.get_variable_result[0]["attribute_value"] == "3"

    offline_from = await pair.go_offline()
    await pair.sim("plug", "1")
    await pair.tap("BLOCKED1")  # on the list, but Blocked: refused
    await pair.tap("LOCAL002")
    snap = await pair.until(lambda s: s["transaction_id"] is not None)
    assert snap["id_tag"] == "LOCA…"  # the card after the blocked one, which started nothing
    await pair.go_online()
    await pair.wait(lambda: bool(pair.started(offline_from)))
    started = pair.started(offline_from)[0]
    assert started["offline"] is True
    assert started["idToken"] == {"idToken": "LOCAL002", "type": "ISO14443"}
    assert len(pair.started()) == 1
    assert pair.calls("Authorize") == []  # offline the list decided; nothing asked afterwards
    pair.assert_clean()


# == E: transactions ======================================================================================


async def test_a_whole_transaction(pair: Pair) -> None:
    """E01-E07: Started / Updated / Ended with seqNo 0, 1, 2..., triggerReasons, every charging-state change,
    the meter at Transaction.Begin and Transaction.End."""
    tx_id = await pair.charge("A1B2C3D4")
    started = pair.of(tx_id)[0]
    assert started["eventType"] == "Started" and started["seqNo"] == 0
    assert started["triggerReason"] == "Authorized"
    assert started["evse"] == {"id": 1, "connectorId": 1}  # E01.FR.16: in the first event
    assert started["idToken"] == {"idToken": "A1B2C3D4", "type": "ISO14443"}
    assert "offline" not in started
    begin_wh = energy(started, "Transaction.Begin")
    # Let some energy flow and reach the station's meter before the stop.
    await pair.until(lambda s: s["energy_wh"] > begin_wh + 0.5)

    status = await pair.call(call.GetTransactionStatus(transaction_id=tx_id))
    assert status.ongoing_indicator is True

    await pair.sim("ev", "1", "pause")
    await pair.wait(lambda: pair.charging_states(tx_id)[-1] == "SuspendedEV")
    await pair.sim("ev", "1", "resume")
    await pair.wait(lambda: pair.charging_states(tx_id)[-1] == "Charging")
    await pair.tap("A1B2C3D4")
    await pair.wait(lambda: bool(pair.ended()))
    await pair.sim("unplug", "1")
    await pair.wait(lambda: pair.statuses()[-1:] == ["Available"])
    await pair.barrier()

    events = pair.of(tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert [e["eventType"] for e in events] == ["Started"] + ["Updated"] * (len(events) - 2) + ["Ended"]
    assert all(e.get("triggerReason") == "ChargingStateChanged" for e in events[1:-1])
    states = [e["transactionInfo"]["chargingState"] for e in events[1:-1]]
    assert states[-3:] == ["Charging", "SuspendedEV", "Charging"]
    assert all(a != b for a, b in itertools.pairwise(states))  # an Updated only on a change
    assert all("evse" not in e for e in events[1:])
    ended = events[-1]
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"] == {"idToken": "A1B2C3D4", "type": "ISO14443"}
    assert energy(ended, "Transaction.End") > begin_wh
    record = pair.csms.transactions[tx_id]
    assert record["seq"] == list(range(len(events)))
    assert (record["meter_start"], record["reason"]) == (begin_wh, "Local")
    assert record["meter_stop"] == energy(ended, "Transaction.End")
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)
    # The connector went Occupied with the cable and back to Available without it.
    assert pair.statuses() == ["Available", "Occupied", "Available"]
    final = await pair.call(call.GetTransactionStatus(transaction_id=tx_id))
    assert (final.ongoing_indicator, final.messages_in_queue) == (False, False)
    pair.assert_clean()


async def test_unplugging_ends_the_transaction(pair: Pair) -> None:
    """E06 (TxStopPoint EVConnected): the cable out ends the transaction (EVDisconnected,
    EVCommunicationLost)."""
    tx_id = await pair.charge("A1B2C3D4")
    await pair.sim("unplug", "1")
    await pair.wait(lambda: bool(pair.ended()))
    ended = pair.of(tx_id)[-1]
    assert ended["eventType"] == "Ended"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["chargingState"] == "Idle"
    pair.assert_clean()


async def test_offline_transactions_arrive_once_in_order(pair: Pair) -> None:
    """E04 / E13: what happens while the CSMS is unreachable is queued durably and delivered after the
    reconnect, each event once, in order, with ``offline: true`` on those generated offline (E04.FR.01)."""
    await pair.fast_reconnect()
    boots = len(pair.calls("BootNotification"))
    first = await pair.charge("A1B2C3D4")
    await pair.barrier()  # the CSMS has answered every event so far

    offline_from = await pair.go_offline()
    await pair.sim("ev", "1", "pause")
    await pair.until(lambda s: s["charging_state"] == "SuspendedEV")
    await pair.tap("A1B2C3D4")
    await pair.until(lambda s: s["transaction_id"] is None)
    await pair.sim("unplug", "1")
    await pair.until(lambda s: s["status"] == "Available")
    # A whole second transaction offline: the card is known from the cache (LocalAuthorizeOffline).
    await pair.sim("plug", "1")
    await pair.tap("A1B2C3D4")
    snap = await pair.until(lambda s: s["transaction_id"] is not None and s["charging_state"] == "Charging")
    second = str(snap["transaction_id"])
    assert second != first
    await pair.tap("A1B2C3D4")
    await pair.until(lambda s: s["transaction_id"] is None)
    await pair.sim("unplug", "1")
    await pair.until(lambda s: s["status"] == "Available")
    assert pair.events(offline_from) == []

    await pair.go_online()
    await pair.wait(lambda: len(pair.ended()) == 2)
    await pair.barrier()

    offline_part = pair.events(offline_from)
    online_part = pair.events()[: len(pair.events()) - len(offline_part)]
    assert online_part and all("offline" not in e for e in online_part)
    assert offline_part and all(e.get("offline") is True for e in offline_part)
    first_events, second_events = pair.of(first), pair.of(second)
    for events in (first_events, second_events):
        assert [e["seqNo"] for e in events] == list(range(len(events)))  # once each, in order
        assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    # Delivered in the order they happened: the first transaction's rest before the second.
    order = [e["transactionInfo"]["transactionId"] for e in offline_part]
    assert order == sorted(order, key=lambda t: 0 if t == first else 1)
    assert [e["timestamp"] for e in offline_part] == sorted(e["timestamp"] for e in offline_part)
    assert first_events[-2]["transactionInfo"]["chargingState"] == "SuspendedEV"
    assert first_events[-1]["transactionInfo"]["stoppedReason"] == "Local"
    assert second_events[0]["idToken"] == {"idToken": "A1B2C3D4", "type": "ISO14443"}
    assert energy(second_events[-1], "Transaction.End") >= energy(second_events[0], "Transaction.Begin")
    assert len(pair.calls("BootNotification")) == boots  # a reconnect, not a reboot
    pair.assert_clean()


async def test_an_offline_start_refused_later_is_stopped(pair: Pair) -> None:
    """C15 OfflineTxForUnknownIdEnabled lets an unknown card charge offline; E05: when the CSMS then answers
    the transaction's token Invalid, the transaction ends (StopTxOnInvalidId): DeAuthorized."""
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("AuthCtrlr"), "OfflineTxForUnknownIdEnabled", "true")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    await pair.fast_reconnect()
    pair.csms.policy.rejected_tokens = {"UNKNOWN9"}
    await pair.go_offline()
    await pair.sim("plug", "1")
    await pair.tap("UNKNOWN9")
    await pair.until(lambda s: s["transaction_id"] is not None)
    await pair.go_online()
    await pair.wait(lambda: bool(pair.ended()))
    started, ended = pair.started()[0], pair.ended()[0]
    assert started["offline"] is True and started["idToken"]["idToken"] == "UNKNOWN9"
    assert "offline" not in ended  # generated after the CSMS answered, online
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    pair.assert_clean()


# == F: remote control =====================================================================================


async def test_remote_start_and_stop_and_unlock(pair: Pair) -> None:
    """F01: RequestStartTransaction before the cable: remoteStartId and RemoteStart in the Started event;
    F03 RequestStopTransaction; F05 UnlockConnector refused while charging, done after."""
    reply = await pair.call(call.RequestStartTransaction(id_token=id_token("REMOTE01", "Central"),
                                                         remote_start_id=42, evse_id=1))
    assert reply.status == "Accepted"
    await pair.sim("plug", "1")
    await pair.wait(lambda: bool(pair.started()))
    started = pair.started()[0]
    tx_id = started["transactionInfo"]["transactionId"]
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42
    assert started["idToken"] == {"idToken": "REMOTE01", "type": "Central"}
    await pair.wait(lambda: "Charging" in pair.charging_states(tx_id))

    unlock = await pair.call(call.UnlockConnector(evse_id=1, connector_id=1))
    assert unlock.status == "OngoingAuthorizedTransaction"
    unknown = await pair.call(call.RequestStopTransaction(transaction_id="no-such-transaction"))
    assert unknown.status == "Rejected"
    stop = await pair.call(call.RequestStopTransaction(transaction_id=tx_id))
    assert stop.status == "Accepted"
    await pair.wait(lambda: bool(pair.ended()))
    ended = pair.ended()[0]
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"

    unlock = await pair.call(call.UnlockConnector(evse_id=1, connector_id=1))
    assert unlock.status == "Unlocked"
    other = await pair.call(call.UnlockConnector(evse_id=2, connector_id=1))
    assert other.status == "UnknownConnector"
    pair.assert_clean()


async def test_remote_start_authorized_first_when_configured(pair: Pair) -> None:
    """F01.FR.02 (AuthCtrlr.AuthorizeRemoteStart true): the token of a RequestStartTransaction is authorised
    with the CSMS before the transaction starts; a token the CSMS refuses starts nothing."""
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("AuthCtrlr"), "AuthorizeRemoteStart", "true")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    pair.csms.policy.rejected_tokens = {"REMOTEBAD"}
    await pair.sim("plug", "1")
    refused = await pair.call(call.RequestStartTransaction(id_token=id_token("REMOTEBAD", "Central"),
                                                           remote_start_id=1, evse_id=1))
    assert refused.status == "Accepted"
    await pair.wait(lambda: bool(pair.calls("Authorize")))
    await pair.barrier()
    assert pair.events() == []
    assert pair.calls("Authorize") == [{"idToken": {"idToken": "REMOTEBAD", "type": "Central"}}]

    reply = await pair.call(call.RequestStartTransaction(id_token=id_token("REMOTE02", "Central"),
                                                         remote_start_id=2, evse_id=1))
    assert reply.status == "Accepted"
    await pair.wait(lambda: bool(pair.started()))
    assert pair.calls("Authorize")[1] == {"idToken": {"idToken": "REMOTE02", "type": "Central"}}
    started = pair.started()[0]
    assert (started["triggerReason"], started["transactionInfo"]["remoteStartId"]) == ("RemoteStart", 2)
    pair.assert_clean()


async def test_trigger_message(pair: Pair) -> None:
    """F06: StatusNotification, Heartbeat and MeterValues on request; Rejected for an unknown EVSE."""
    statuses = len(pair.calls("StatusNotification"))
    reply = await pair.call(call.TriggerMessage(requested_message="StatusNotification",
                                                evse={"id": 1, "connector_id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: len(pair.calls("StatusNotification")) == statuses + 1)
    assert pair.calls("StatusNotification")[-1]["connectorStatus"] == "Available"

    reply = await pair.call(call.TriggerMessage(requested_message="Heartbeat"))
    assert reply.status == "Accepted"
    await pair.wait(lambda: len(pair.calls("Heartbeat")) == 1)

    # The meter is read from the start, long before the boot is through: there is a value to send.
    reply = await pair.call(call.TriggerMessage(requested_message="MeterValues", evse={"id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: len(pair.calls("MeterValues")) == 1)
    meter = pair.calls("MeterValues")[0]
    assert meter["evseId"] == 1
    values = [sv for mv in meter["meterValue"] for sv in mv["sampledValue"]]
    assert values and all(sv["context"] == "Trigger" for sv in values)
    assert any(sv["measurand"] == "Energy.Active.Import.Register" and sv["unitOfMeasure"]["unit"] == "Wh"
               for sv in values)

    reply = await pair.call(call.TriggerMessage(requested_message="StatusNotification",
                                                evse={"id": 5, "connector_id": 1}))
    assert reply.status == "Rejected"
    pair.assert_clean()


async def test_trigger_transaction_event_while_charging(pair: Pair) -> None:
    """F06: TriggerMessage TransactionEvent in a transaction: an Updated event with triggerReason Trigger."""
    tx_id = await pair.charge("A1B2C3D4")
    reply = await pair.call(call.TriggerMessage(requested_message="TransactionEvent", evse={"id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.of(tx_id)[-1]["triggerReason"] == "Trigger")
    assert pair.of(tx_id)[-1]["eventType"] == "Updated"
    pair.assert_clean()


# == G: availability =======================================================================================


async def test_change_availability_now_and_scheduled(pair: Pair) -> None:
    """G03: Inoperative at once when idle (Unavailable), Scheduled during a transaction and applied when it
    ends; Operative brings the connector back."""
    reply = await pair.call(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Unavailable"])
    state = await pair.call(call.GetVariables(get_variable_data=[
        get_item(comp("EVSE", evse=1), "AvailabilityState")]))
    assert state.get_variable_result[0]["attribute_value"] == "Unavailable"
    reply = await pair.call(call.ChangeAvailability(operational_status="Operative", evse={"id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Available"])
    # G04: the whole station.
    reply = await pair.call(call.ChangeAvailability(operational_status="Inoperative"))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Unavailable"])
    station = await pair.call(call.GetVariables(get_variable_data=[
        get_item(comp("ChargingStation"), "AvailabilityState")]))
    assert station.get_variable_result[0]["attribute_value"] == "Unavailable"
    reply = await pair.call(call.ChangeAvailability(operational_status="Operative"))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Available"])
    assert pair.statuses() == ["Available", "Unavailable", "Available", "Unavailable", "Available"]

    before_tx = len(pair.csms.frames)
    tx_id = await pair.charge("A1B2C3D4")
    reply = await pair.call(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
    assert reply.status == "Scheduled"
    await pair.barrier()
    assert pair.statuses()[-1] == "Occupied"  # not yet: the transaction runs on
    assert pair.ended() == []
    mark = len(pair.csms.frames)
    await pair.tap("A1B2C3D4")
    await pair.wait(lambda: "Unavailable" in pair.statuses(mark))
    # The change took effect after the transaction ended, not before.
    order = [msg[3].get("eventType") or msg[3].get("connectorStatus")
             for msg in pair.messages(since=before_tx)
             if msg[0] == 2 and msg[2] in ("TransactionEvent", "StatusNotification")]
    assert order[-2:] == ["Ended", "Unavailable"]
    assert order.count("Unavailable") == 1
    assert pair.of(tx_id)[-1]["eventType"] == "Ended"
    reply = await pair.call(call.ChangeAvailability(operational_status="Operative", evse={"id": 1}))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Occupied"])  # the cable is still in
    pair.assert_clean()


async def test_a_hardware_fault_is_notified_and_cleared(pair: Pair) -> None:
    """N07 / G01: a ground fault from the hardware: NotifyEvent on the EVSE's RCD, StatusNotification
    Faulted; when it clears, a cleared NotifyEvent and the connector is Available again."""
    await pair.sim("fault", "1", "ground")
    await pair.wait(lambda: bool(pair.csms.events) and pair.statuses()[-1:] == ["Faulted"])
    event = pair.calls("NotifyEvent")[0]["eventData"][0]
    assert event["component"] == {"name": "RCD", "evse": {"id": 1}}
    assert event["variable"] == {"name": "Tripped"}
    assert (event["trigger"], event["eventNotificationType"]) == ("Alerting", "HardWiredNotification")
    assert event["actualValue"] == "true"
    assert event["techCode"] == "GroundFailure"
    assert "cleared" not in event
    problem = await pair.call(call.GetVariables(get_variable_data=[
        get_item(comp("EVSE", evse=1), "Problem")]))
    assert problem.get_variable_result[0]["attribute_value"] == "true"

    await pair.sim("clear", "1")
    await pair.wait(lambda: len(pair.calls("NotifyEvent")) == 2 and pair.statuses()[-1:] == ["Available"])
    cleared = pair.calls("NotifyEvent")[1]["eventData"][0]
    assert cleared["cleared"] is True and cleared["actualValue"] == "false"
    assert cleared["component"] == event["component"] and cleared["eventId"] != event["eventId"]
    pair.assert_clean()


async def test_a_silent_meter_is_a_power_meter_fault(pair: Pair) -> None:
    """N07: a meter that stops answering is a Problem of the EVSE's PowerMeter; the connector is Faulted until
    it answers again."""
    await pair.sim("fault", "1", "meter")
    await pair.wait(lambda: bool(pair.csms.events) and pair.statuses()[-1:] == ["Faulted"])
    event = pair.calls("NotifyEvent")[0]["eventData"][0]
    assert event["component"] == {"name": "PowerMeter", "evse": {"id": 1}}
    assert (event["variable"], event["techCode"]) == ({"name": "Problem"}, "PowerMeterFailure")
    await pair.sim("clear", "1")
    await pair.wait(lambda: len(pair.calls("NotifyEvent")) == 2 and pair.statuses()[-1:] == ["Available"])
    assert pair.calls("NotifyEvent")[1]["eventData"][0]["cleared"] is True
    pair.assert_clean()


# == H: reservation ========================================================================================


async def test_reservation_is_kept_for_its_holder(pair: Pair) -> None:
    """H01 / H03: Reserved; another card cannot use the EVSE; the holder can."""
    reply = await pair.call(call.ReserveNow(id=7, expiry_date_time=utc_in(120), id_token=id_token("HOLDER01"),
                                            evse_id=1))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Reserved"])
    await pair.sim("plug", "1")
    await pair.tap("OTHER001")
    await pair.barrier()
    assert pair.calls("Authorize") == [] and pair.events() == []
    assert (await pair.snapshot())["transaction_id"] is None

    await pair.tap("HOLDER01")
    await pair.wait(lambda: bool(pair.started()))
    assert pair.started()[0]["idToken"] == {"idToken": "HOLDER01", "type": "ISO14443"}
    # Used up: another reservation of the busy EVSE is refused.
    busy = await pair.call(call.ReserveNow(id=8, expiry_date_time=utc_in(120), id_token=id_token("HOLDER02"),
                                           evse_id=1))
    assert busy.status == "Occupied"
    pair.assert_clean()


async def test_transaction_on_a_reservation_names_it(pair: Pair) -> None:
    """H01.FR.15 / E01.FR.13: the transaction that uses a reservation reports its reservationId (with the
    token that used it), and the reservation is gone."""
    reply = await pair.call(call.ReserveNow(id=9, expiry_date_time=utc_in(120), id_token=id_token("HOLDER01"),
                                            evse_id=1))
    assert reply.status == "Accepted"
    tx_id = await pair.charge("HOLDER01")
    await pair.barrier()
    named = [e for e in pair.of(tx_id) if "reservationId" in e]
    assert [(e["reservationId"], e["idToken"]["idToken"]) for e in named] == [(9, "HOLDER01")]
    assert (await pair.call(call.CancelReservation(reservation_id=9))).status == "Rejected"
    pair.assert_clean()


async def test_cancel_and_expire_reservations(pair: Pair) -> None:
    """H02 CancelReservation (Accepted, then Rejected for one that is gone); H01.FR.23 an expired reservation
    is reported with ReservationStatusUpdate Expired and the connector is Available again."""
    reply = await pair.call(call.ReserveNow(id=21, expiry_date_time=utc_in(120),
                                            id_token=id_token("HOLDER01"), evse_id=1))
    assert reply.status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Reserved"])
    assert (await pair.call(call.CancelReservation(reservation_id=21))).status == "Accepted"
    await pair.wait(lambda: pair.statuses()[-1:] == ["Available"])
    assert (await pair.call(call.CancelReservation(reservation_id=21))).status == "Rejected"
    assert pair.calls("ReservationStatusUpdate") == []  # a cancelled reservation is not "expired"

    reply = await pair.call(call.ReserveNow(id=22, expiry_date_time=utc_in(2), id_token=id_token("HOLDER01"),
                                            evse_id=1))
    assert reply.status == "Accepted"
    await pair.wait(lambda: bool(pair.calls("ReservationStatusUpdate")))
    expired = {"reservationId": 22, "reservationUpdateStatus": "Expired"}
    assert pair.calls("ReservationStatusUpdate") == [expired]
    await pair.wait(lambda: pair.statuses()[-2:] == ["Reserved", "Available"])
    pair.assert_clean()


# == J: meter values =======================================================================================


async def test_sampled_and_aligned_meter_values(pair: Pair) -> None:
    """J02: TxUpdatedInterval (Sample.Periodic, MeterValuePeriodic) in the transaction's Updated events;
    J01: AlignedDataCtrlr.Interval (Sample.Clock) in the transaction and, with SendDuringIdle, as MeterValues
    while idle."""
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("SampledDataCtrlr"), "TxUpdatedInterval", "1")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    tx_id = await pair.charge("A1B2C3D4")

    def periodic() -> list[Json]:
        return [e for e in pair.of(tx_id) if e["triggerReason"] == "MeterValuePeriodic"]

    await pair.wait(lambda: len(periodic()) >= 2)
    for event in periodic():
        values = sampled(event)
        assert all(sv["context"] == "Sample.Periodic" for sv in values)
        units = {sv["measurand"]: sv["unitOfMeasure"]["unit"] for sv in values}
        assert units["Energy.Active.Import.Register"] == "Wh"
        assert units["Power.Active.Import"] == "W"
        assert units["Current.Import"] == "A"
        assert units["Voltage"] == "V"
        assert all(isinstance(sv["value"], int | float) for sv in values)
    readings = [energy(e, "Sample.Periodic") for e in periodic()]
    assert readings == sorted(readings)

    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("SampledDataCtrlr"), "TxUpdatedInterval", "0"),
        set_item(comp("AlignedDataCtrlr"), "Interval", "1")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted", "Accepted"]
    await pair.wait(lambda: any(e["triggerReason"] == "MeterValueClock" for e in pair.of(tx_id)))
    clock = next(e for e in pair.of(tx_id) if e["triggerReason"] == "MeterValueClock")
    assert {sv["context"] for sv in sampled(clock)} == {"Sample.Clock"}
    assert energy(clock, "Sample.Clock") >= readings[-1]

    await pair.tap("A1B2C3D4")
    await pair.wait(lambda: bool(pair.ended()))
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("AlignedDataCtrlr"), "SendDuringIdle", "true")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    await pair.wait(lambda: bool(pair.calls("MeterValues")))
    idle = pair.calls("MeterValues")[0]
    assert idle["evseId"] == 1
    assert {sv["context"] for mv in idle["meterValue"] for sv in mv["sampledValue"]} == {"Sample.Clock"}
    reply = await pair.call(call.SetVariables(set_variable_data=[
        set_item(comp("AlignedDataCtrlr"), "Interval", "0")]))
    assert statuses_of(reply.set_variable_result) == ["Accepted"]
    pair.assert_clean()


# == P: data transfer, and what is not built ==============================================================


@dataclasses.dataclass
class MakeCoffee:
    """An action no OCPP version defines (the ``ocpp`` library names the CALL after the class)."""


async def test_data_transfer_and_actions_not_built(pair: Pair) -> None:
    """P01: DataTransfer is answered UnknownVendorId. An action of 2.0.1 that is not built gets the CALLERROR
    NotSupported, an unknown one NotImplemented (OCPP 2.0.1 part 4 §4.3)."""
    reply = await pair.call(call.DataTransfer(vendor_id="com.example.pair", message_id="hello", data="x"))
    assert reply.status == "UnknownVendorId"

    with pytest.raises(NotSupportedError):  # I: tariff and cost is not built
        await pair.call(call.CostUpdated(total_cost=1.5, transaction_id="no-such-transaction"))
    with pytest.raises(OcppNotImplemented):
        await pair.csms.sessions[SID].call(MakeCoffee(), suppress=False, skip_schema_validation=True)
    errors = [msg for msg in pair.messages() if msg[0] == 4]
    assert [msg[2] for msg in errors] == ["NotSupported", "NotImplemented"]
    # The station is unharmed: it still answers.
    await pair.barrier()
    pair.assert_clean()

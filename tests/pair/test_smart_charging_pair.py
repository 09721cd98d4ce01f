"""Smart charging over a real WebSocket, both versions (issue 5): a TxDefaultProfile the CSMS sets lowers
the simulated EV's current at the period boundary, GetCompositeSchedule says the same, ClearChargingProfile
restores the limit, and a restart keeps the profiles. The CSMS is the ``ocpp`` library's server side, which
validates every message against the official schemas."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargepoint.service.app import Station, serve
from chargepoint.service.config import load_config
from chargepoint.service.control import send_command
from chargepoint.service.csms import Csms

pytestmark = pytest.mark.timeout(120)

CONFIG = """\
[station]
id = "SMART-CP"
vendor = "Acme"
model = "AC22"
ocpp_version = "{version}"
[csms]
url = "{url}"
security_profile = 0
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

BOUNDARY_S = 4  # seconds from the profile's start to its lower period


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Rig:
    """One station process-in-the-loop (``serve`` in this event loop) against the test CSMS."""

    def __init__(self, tmp_path: Path, version: str, csms: Csms) -> None:
        self.version = version
        self.csms = csms
        self.state = tmp_path / "state"
        self.path = tmp_path / "station.toml"
        self.path.write_text(CONFIG.format(version=version, url=csms.url, state=self.state))
        self.task: asyncio.Task[object] | None = None
        self.holder: list[Station] = []

    async def start(self) -> None:
        self.holder = []
        self.task = asyncio.create_task(serve(load_config(self.path), on_station=self.holder.append))
        await self.csms.wait_for(lambda: "SMART-CP" in self.csms.sessions, 30)
        async with asyncio.timeout(30):  # registered: a card is asked about, not judged offline
            while self.holder[0].runner.snapshot().get("registration") != "Accepted":
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.holder:
            self.holder[0].runner.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
        self.task = None

    async def sim(self, *argv: str) -> dict[str, Any]:
        return await send_command(self.state / "sim.sock", list(argv))

    async def amps(self) -> float:
        status = await self.sim("status")
        evse = status["evses"][0]
        return float(evse["current_a"][0])

    async def wait_amps(self, check: Any, timeout_s: float = 20.0) -> float:
        async with asyncio.timeout(timeout_s):
            while True:
                amps = await self.amps()
                if check(amps):
                    return amps
                await asyncio.sleep(0.1)

    async def call(self, request: Any) -> Any:
        return await self.csms.sessions["SMART-CP"].call(request)

    def tx_default(self, pid: int, periods: list[tuple[int, float]], start: datetime) -> Any:
        sched = [{"start_period": s, "limit": lim} for s, lim in periods]
        if self.version == "2.0.1":
            return call201.SetChargingProfile(evse_id=0, charging_profile={
                "id": pid, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [{"id": 1, "start_schedule": stamp(start), "charging_rate_unit": "A",
                                       "charging_schedule_period": sched}]})
        return call16.SetChargingProfile(connector_id=0, cs_charging_profiles={
            "charging_profile_id": pid, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": {"start_schedule": stamp(start), "charging_rate_unit": "A",
                                  "charging_schedule_period": sched}})

    async def composite(self, duration: int) -> list[tuple[int, float]]:
        if self.version == "2.0.1":
            reply = await self.call(call201.GetCompositeSchedule(duration=duration, evse_id=1,
                                                                 charging_rate_unit="A"))
            assert reply.status == "Accepted"
            periods = reply.schedule["charging_schedule_period"]
        else:
            reply = await self.call(call16.GetCompositeSchedule(connector_id=1, duration=duration,
                                                                charging_rate_unit="A"))
            assert reply.status == "Accepted"
            periods = reply.charging_schedule["charging_schedule_period"]
        return [(p["start_period"], p["limit"]) for p in periods]

    async def clear(self, pid: int) -> str:
        if self.version == "2.0.1":
            reply = await self.call(call201.ClearChargingProfile(charging_profile_id=pid))
        else:
            reply = await self.call(call16.ClearChargingProfile(id=pid))
        return str(reply.status)


@pytest.fixture
async def csms() -> Any:
    server = Csms()
    await server.start()
    yield server
    await server.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_profile_lowers_the_current_at_the_boundary_and_clear_restores_it(
        version: str, csms: Csms, tmp_path: Path) -> None:
    rig = Rig(tmp_path, version, csms)
    await rig.start()
    try:
        await rig.sim("plug", "1")
        await rig.sim("tap", "CARD-SMART")
        full = await rig.wait_amps(lambda a: a > 15.0)  # the EV asks 11 kW: ~16 A of the 32 A offered
        start = datetime.now(UTC)
        reply = await rig.call(rig.tx_default(11, [(0, 20.0), (BOUNDARY_S, 10.0)], start))
        assert reply.status == "Accepted"
        boundary = time.monotonic() - (datetime.now(UTC) - start).total_seconds() + BOUNDARY_S
        assert await rig.amps() == pytest.approx(full, abs=0.1)  # 20 A is above what the EV draws
        await rig.wait_amps(lambda a: a <= 10.0 + 1e-6)
        assert time.monotonic() >= boundary - 1.0  # not before the period starts (the clock is CSMS time)
        assert (await rig.sim("status"))["evses"][0]["current_limit_a"] == 10.0
        # GetCompositeSchedule from now on: the 10 A period, as the EV gets it.
        periods = await rig.composite(60)
        assert periods[0] == (0, 10.0)
        assert all(limit <= 20.0 for _, limit in periods)
        assert await rig.clear(11) == "Accepted"
        await rig.wait_amps(lambda a: a > 15.0)
        assert (await rig.composite(60)) == [(0, 32.0)]
        assert not csms.violations
    finally:
        await rig.stop()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_restart_keeps_the_profiles(version: str, csms: Csms, tmp_path: Path) -> None:
    rig = Rig(tmp_path, version, csms)
    await rig.start()
    try:
        start = datetime.now(UTC) - timedelta(seconds=1)
        assert (await rig.call(rig.tx_default(5, [(0, 8.0)], start))).status == "Accepted"
        await rig.stop()
        await rig.start()
        assert (await rig.composite(30)) == [(0, 8.0)]
        await rig.sim("plug", "1")
        await rig.sim("tap", "CARD-SMART")
        amps = await rig.wait_amps(lambda a: a > 0)
        assert amps == pytest.approx(8.0, abs=0.01)
    finally:
        await rig.stop()


async def test_201_external_limit_is_notified_and_profiles_are_reported(csms: Csms, tmp_path: Path) -> None:
    """K12/K13: an energy manager's limit (``sim limit``) governs the EV and the CSMS hears of it; K09:
    GetChargingProfiles is answered with ReportChargingProfiles."""
    rig = Rig(tmp_path, "2.0.1", csms)
    await rig.start()
    try:
        await rig.sim("plug", "1")
        await rig.sim("tap", "CARD-SMART")
        await rig.wait_amps(lambda a: a > 15.0)
        assert (await rig.sim("limit", "1", "8"))["ok"] is True
        await rig.wait_amps(lambda a: a <= 8.0 + 1e-6)
        await csms.wait_for(lambda: any(a == "NotifyChargingLimit" for a, _ in csms.limits), 30)
        note = next(p for a, p in csms.limits if a == "NotifyChargingLimit")
        assert note["charging_limit"]["charging_limit_source"] == "EMS" and note["evse_id"] == 1
        status = (await rig.sim("status"))["evses"][0]
        assert status["limited_by"] == "ChargingStationExternalConstraints"
        reply = await rig.call(call201.GetChargingProfiles(request_id=42, charging_profile={
            "charging_limit_source": ["EMS"]}))
        assert reply.status == "Accepted"
        await csms.wait_for(lambda: any(a == "ReportChargingProfiles" for a, _ in csms.limits), 30)
        report = next(p for a, p in csms.limits if a == "ReportChargingProfiles")
        assert report["request_id"] == 42 and report["charging_profile"][0]["charging_profile_purpose"] == (
            "ChargingStationExternalConstraints")
        assert (await rig.sim("limit", "1", "off"))["ok"] is True
        await rig.wait_amps(lambda a: a > 15.0)
        await csms.wait_for(lambda: any(a == "ClearedChargingLimit" for a, _ in csms.limits), 30)
        assert (await rig.sim("limit", "9", "8"))["ok"] is False  # no such EVSE
        refused = await rig.sim("limit", "1", "lots")
        assert refused["ok"] is False and "usage: limit EVSE AMPS|off" in str(refused["error"])
        assert (await rig.sim("status"))["evses"][0]["limited_by"] != "ChargingStationExternalConstraints"
        assert not csms.violations
    finally:
        await rig.stop()

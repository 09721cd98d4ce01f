"""Benchmark: CPU time the core spends on one meter sample, with and without charging profiles and sharing.

Every event re-applies the smart-charging limits (``charging.rebalance``): the composite of the profiles in
force for each EVSE, the station maximum, the fair share of ``site_max_current_a``. This measures what that
costs per meter sample (``MeterSampled`` with a different reading each time, so nothing is reused across
events) on stations with 1 and 4 charging EVSEs, with no profile and with five TxDefaultProfiles stacked,
in both versions. ``time.process_time`` over many events, variants interleaved in rounds, best round kept.
A board is several times slower than a desktop core: the figure to watch is the ratio to "no profile" and
the absolute cost on the target (at one sample per EVSE per second, 1 ms per sample is 0.1 % of a core).

Run: ``python -m bench.smart_cost [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from chargepoint.core.actions import Action, SendText
from chargepoint.core.clock import Now
from chargepoint.core.domain.info import EvseSpec, StationInfo
from chargepoint.core.events import (
    ContactorChanged,
    MeterSampled,
    PilotChanged,
    Restored,
    TextReceived,
    TokenPresented,
    TransportOpened,
)
from chargepoint.core.station import build_core
from hal.types import MeterSample, PilotState

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Rig:
    """A core with a scripted CSMS that accepts everything, every EVSE charging."""

    def __init__(self, version: str, evses: int, profiles: int) -> None:
        self.version = version
        self.now = Now(1000.0, T0)
        specs = tuple(EvseSpec(i, 32.0, 3) for i in range(1, evses + 1))
        info = StationInfo("BENCH", "Acme", "AC22", evses=specs,
                           site_max_current_a=32.0 * evses * 0.75 if evses > 1 else None)
        self.core: Any = build_core(info, version)
        self.pending: list[list[Any]] = []
        self.feed(Restored(()))
        self.feed(TransportOpened("ocpp" + version))
        self.drain()
        for n in range(profiles):
            self.set_profile(n)
        for evse in range(1, evses + 1):
            self.feed(MeterSampled(evse, self.sample(0)))
            self.feed(PilotChanged(evse, PilotState.B))
            self.feed(TokenPresented("r", f"CARD{evse}"))
            self.drain()
            self.feed(PilotChanged(evse, PilotState.C))
            self.feed(ContactorChanged(evse, True))
            self.drain()

    def feed(self, event: object) -> None:
        self.collect(self.core.handle(event, self.now))

    def collect(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendText):
                frame = json.loads(action.text)
                if frame[0] == 2:
                    self.pending.append(frame)

    def drain(self) -> None:
        for _ in range(200):
            if not self.pending:
                return
            call = self.pending.pop(0)
            answer: dict[str, Any] = {}
            if call[2] == "BootNotification":
                answer = {"status": "Accepted", "currentTime": "2026-01-05T12:00:00Z", "interval": 300}
            elif call[2] in ("Authorize", "StartTransaction"):
                key = "idTokenInfo" if self.version == "2.0.1" else "idTagInfo"
                answer = {key: {"status": "Accepted"}}
                if call[2] == "StartTransaction":
                    answer["transactionId"] = len(self.pending) + 7
            self.feed(TextReceived(json.dumps([3, call[1], answer])))

    def set_profile(self, n: int) -> None:
        periods = [{"startPeriod": 0, "limit": 24.0 - n}, {"startPeriod": 3600, "limit": 16.0}]
        schedule: dict[str, Any] = {"chargingRateUnit": "A", "chargingSchedulePeriod": periods,
                                    "startSchedule": "2026-01-05T00:00:00Z"}
        if self.version == "2.0.1":
            payload: dict[str, Any] = {"evseId": 0, "chargingProfile": {
                "id": 10 + n, "stackLevel": n, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
                "chargingSchedule": [{"id": 1, **schedule}]}}
        else:
            payload = {"connectorId": 0, "csChargingProfiles": {
                "chargingProfileId": 10 + n, "stackLevel": n, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "chargingSchedule": schedule}}
        self.feed(TextReceived(json.dumps([2, f"p{n}", "SetChargingProfile", payload])))
        self.drain()

    @staticmethod
    def sample(i: int) -> MeterSample:
        amps = 15.0 + (i % 7) * 0.1
        return MeterSample(energy_wh=1000.0 + i, power_w=amps * 690, current_a=(amps, amps, amps),
                           voltage_v=(230.0, 230.0, 230.0))

    def run(self, events: int, evses: int) -> float:
        start = time.process_time()
        for i in range(events):
            self.core.handle(MeterSampled(1 + i % evses, self.sample(i)), self.now)
        return (time.process_time() - start) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args([] if __name__ != "__main__" else None)
    variants = [(v, e, p) for v in ("1.6", "2.0.1") for e in (1, 4) for p in (0, 5)]
    rigs = {key: Rig(*key) for key in variants}
    best = {key: float("inf") for key in variants}
    for _ in range(args.rounds):
        for key in variants:
            best[key] = min(best[key], rigs[key].run(args.events, key[1]))
    print("CPU per meter sample (best of rounds), charging on every EVSE")
    for version, evses, profiles in variants:
        base = best[(version, evses, 0)]
        cost = best[(version, evses, profiles)]
        label = f"{profiles} profiles" if profiles else "no profile"
        sharing = ", shared site limit" if evses > 1 else ""
        print(f"  OCPP {version:5}  {evses} EVSE{'s' if evses > 1 else ' '}{sharing:20}  {label:11}  "
              f"{cost * 1e6:7.1f} us   {cost / base:4.2f}x no profile")


if __name__ == "__main__":
    main()

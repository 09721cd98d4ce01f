"""Benchmark: CPU time of one OCPP 1.6 MeterValues round trip at the station, schema validation on vs off.

One round trip is what the station does for a periodic meter sample: encode the outgoing CALL (10 sampled
values) and validate it (``check_call``, our own bug check), then decode the CSMS's ``[3,"<id>",{}]`` and
validate it (``check_result``). Measured with ``time.process_time`` (CPU, not wall clock) over many
iterations, the variants interleaved in rounds and the best round kept, so that other load on the machine
moves every variant alike. The ``ocpp`` library's own path (``Call.to_json`` + ``ocpp.messages.
_validate_payload`` with its jsonschema validators, ``unpack`` + ``_validate_payload`` for the result) is
timed on the same message for comparison. Goal: validation on costs at most 1.2x validation off.

Run: ``python -m bench.message_cost [--iterations N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from chargepoint.core.rpc.framing import CallResult, Dialect, decode, encode_call
from chargepoint.core.rpc.validation import SchemaSet

GOAL = 1.2
RESULT_TEXT = '[3,"1a-42",{}]'

_MEASURANDS = (
    ("Energy.Active.Import.Register", None, "Wh", "123456.7"),
    ("Power.Active.Import", None, "W", "11040.0"),
    ("Current.Import", "L1", "A", "16.02"),
    ("Current.Import", "L2", "A", "15.98"),
    ("Current.Import", "L3", "A", "16.10"),
    ("Voltage", "L1-N", "V", "230.1"),
    ("Voltage", "L2-N", "V", "229.8"),
    ("Voltage", "L3-N", "V", "231.0"),
    ("Frequency", None, "Hertz", "50.01"),
    ("Temperature", None, "Celsius", "41.5"),
)


def meter_values_payload() -> dict[str, object]:
    """A realistic OCPP 1.6 MeterValues request: one meter value with 10 sampled values."""
    sampled: list[object] = []
    for measurand, phase, unit, value in _MEASURANDS:
        item: dict[str, object] = {
            "value": value,
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": measurand,
            "location": "Outlet",
            "unit": unit,
        }
        if phase is not None:
            item["phase"] = phase
        sampled.append(item)
    return {
        "connectorId": 1,
        "transactionId": 4242,
        "meterValue": [{"timestamp": "2024-05-01T12:00:00.000Z", "sampledValue": sampled}],
    }


def station_round_trip(schemas: SchemaSet, payload: dict[str, object]) -> Callable[[], None]:
    """Our path: encode + check_call, decode + check_result."""

    def run() -> None:
        encode_call("1a-42", "MeterValues", payload)
        if schemas.check_call("MeterValues", payload) is not None:
            raise AssertionError("the benchmark payload must be valid")
        frame = decode(RESULT_TEXT, Dialect.V16)
        if not isinstance(frame, CallResult):
            raise AssertionError("the benchmark answer must decode")
        if schemas.check_result("MeterValues", frame.payload) is not None:
            raise AssertionError("the benchmark answer must be valid")

    return run


def ocpp_round_trip(payload: dict[str, object], *, validate: bool) -> Callable[[], None]:
    """The ``ocpp`` library's path (its ``ChargePoint`` validates both directions by default)."""
    from ocpp import messages  # imported here: the core never uses it

    def run() -> None:
        call = messages.Call("1a-42", "MeterValues", payload)
        call.to_json()
        if validate:
            messages._validate_payload(call, "1.6")
        result = messages.unpack(RESULT_TEXT)
        result.action = "MeterValues"
        if validate:
            messages._validate_payload(result, "1.6")

    return run


def core_round_trip(*, validate: bool) -> Callable[[], None]:
    """The whole station core for one periodic sample of a running transaction: the meter sample event,
    the sampling timer building MeterValues (10 values), the durable outbox (Persist), framing and
    validation of the CALL, then the CSMS's answer decoded, validated and the row forgotten."""
    import json
    from datetime import UTC, datetime

    from chargepoint.core.actions import SendText
    from chargepoint.core.clock import Now
    from chargepoint.core.domain.info import EvseSpec, StationInfo
    from chargepoint.core.events import (
        MeterSampled,
        PilotChanged,
        Restored,
        TextReceived,
        TokenPresented,
        TransportOpened,
    )
    from chargepoint.core.ocpp16.station import Station16
    from hal.types import MeterSample, PilotState

    station = Station16(StationInfo("BENCH", "V", "M", evses=(EvseSpec(1, 32.0, 3),), validate=validate))
    clock = [Now(0.0, datetime(2026, 1, 1, tzinfo=UTC))]
    sample = MeterSample(energy_wh=1000.0, power_w=11000.0, current_a=(16.0, 16.0, 16.0),
                         voltage_v=(230.0, 230.0, 230.0), frequency_hz=50.0, power_factor=0.99)

    def answer(actions: list[object]) -> str | None:
        """Answer every CALL like a friendly CSMS; returns the unique id of a MeterValues call."""
        uid = None
        while actions:
            texts = [a.text for a in actions if isinstance(a, SendText)]
            actions = []
            for text in texts:
                msg = json.loads(text)
                if msg[0] != 2:
                    continue
                if msg[2] == "MeterValues":
                    uid = msg[1]
                    continue
                reply = {"BootNotification": {"status": "Accepted", "interval": 0,
                                              "currentTime": "2026-01-01T00:00:00.000Z"},
                         "Authorize": {"idTagInfo": {"status": "Accepted"}},
                         "StartTransaction": {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
                         }.get(msg[2], {})
                actions += station.handle(TextReceived(json.dumps([3, msg[1], reply])), clock[0])
        return uid

    station.handle(Restored(()), clock[0])
    station.settings.set("HeartbeatInterval", 0)
    station.settings.set("MeterValueSampleInterval", 1)
    station.settings.set("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,"
                         "Current.Import,Voltage,Frequency,Power.Factor")
    answer(station.handle(TransportOpened("ocpp1.6"), clock[0]))
    station.handle(MeterSampled(1, sample), clock[0])
    answer(station.handle(PilotChanged(1, PilotState.B), clock[0]))
    answer(station.handle(TokenPresented("r", "CARD"), clock[0]))

    def once() -> None:
        clock[0] = clock[0].later(1.0)
        now = clock[0]
        actions = station.handle(MeterSampled(1, sample), now) + station.handle_timer(now)
        uid = answer(list(actions))
        assert uid is not None
        station.handle(TextReceived(f'[3,"{uid}",{{}}]'), now)

    return once


def cpu_seconds_per_call(fn: Callable[[], object], iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        fn()
    return (time.process_time() - start) / iterations


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=20000, help="round trips per variant (20000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    args = parser.parse_args(argv)
    per_round = max(1, args.iterations // args.rounds)

    payload = meter_values_payload()
    schemas = SchemaSet("1.6")
    result = decode(RESULT_TEXT, Dialect.V16)
    assert isinstance(result, CallResult)
    variants: dict[str, Callable[[], object]] = {
        "core, validation off": core_round_trip(validate=False),
        "core, validation on": core_round_trip(validate=True),
        "station, validation off": station_round_trip(SchemaSet("1.6", enabled=False), payload),
        "station, validation on": station_round_trip(schemas, payload),
        "ocpp lib, validation off": ocpp_round_trip(payload, validate=False),
        "ocpp lib, validation on": ocpp_round_trip(payload, validate=True),
        # The parts of "station, validation on", to show where the time goes.
        "  part: encode_call": lambda: encode_call("1a-42", "MeterValues", payload),
        "  part: check_call": lambda: schemas.check_call("MeterValues", payload),
        "  part: decode": lambda: decode(RESULT_TEXT, Dialect.V16),
        "  part: check_result": lambda: schemas.check_result("MeterValues", result.payload),
    }
    for fn in variants.values():  # warm up: compile the schemas, fill caches
        for _ in range(50):
            fn()
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.rounds):
        for name, fn in variants.items():
            best[name] = min(best[name], cpu_seconds_per_call(fn, per_round))

    off = best["station, validation off"]
    print(f"MeterValues round trip (10 sampled values), CPU time, best of {args.rounds} x {per_round}:")
    for name, seconds in best.items():
        print(f"  {name:<26} {seconds * 1e6:8.2f} us   {seconds / off:5.2f}x station-off")
    core_ratio = best["core, validation on"] / best["core, validation off"]
    print(f"whole core per MeterValues round trip, validation on/off: {core_ratio:.2f}x "
          f"({'meets' if core_ratio <= GOAL else 'misses'} the {GOAL}x goal)")
    on_ratio = best["station, validation on"] / off
    lib_ratio = best["ocpp lib, validation on"] / best["ocpp lib, validation off"]
    verdict = "meets" if on_ratio <= GOAL else "misses"
    print(f"codec alone (encode+decode) validation on/off: {on_ratio:.2f}x ({verdict} the {GOAL}x goal)")
    print(f"ocpp lib validation on/off: {lib_ratio:.2f}x; ocpp lib on / station on: "
          f"{best['ocpp lib, validation on'] / best['station, validation on']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

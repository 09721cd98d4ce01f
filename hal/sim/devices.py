"""The simulated HAL: every device port implemented around a simulated EV, for testers and tests.

The EV follows IEC 61851-1: pilot A unplugged, B plugged, C when it asks for power *and* the EVSE offers a
PWM current of at least 6 A. It draws min(what it wants, limit x 230 V x phases) only while the contactor is
closed, and the meter integrates that power over the injected clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence

from hal.errors import DeviceFault, DeviceTimeout
from hal.pilot import PilotStatus
from hal.station import EvseHardware, StationHardware
from hal.types import FaultCode, MeterSample, PilotState

VOLTAGE_V = 230.0
MIN_CURRENT_A = 6.0  # IEC 61851-1: below 6 A the EV may not draw
DEBOUNCE_S = 1.0
METER_FAULTS = {FaultCode.POWER_METER_FAILURE}
SWITCH_FAULTS = {FaultCode.POWER_SWITCH_FAILURE}
PILOT_FAULTS = set(FaultCode) - METER_FAULTS - SWITCH_FAULTS - {FaultCode.READER_FAILURE}
FAULT_ALIASES = {"ground": FaultCode.GROUND_FAILURE, "meter": FaultCode.POWER_METER_FAILURE,
                 "relay": FaultCode.POWER_SWITCH_FAILURE, "overcurrent": FaultCode.OVER_CURRENT_FAILURE,
                 "temperature": FaultCode.HIGH_TEMPERATURE}

Clock = Callable[[], float]


class SimEvse:
    """One EVSE with its simulated EV, meter, contactor, pilot and lock."""

    def __init__(self, evse_id: int, max_current_a: float, phases: int, clock: Clock) -> None:
        self.evse_id = evse_id
        self.max_current_a = max_current_a
        self.phases = phases
        self._clock = clock
        self.plugged = False
        self.ev_wants = True
        self.wanted_w = 11000.0 if phases == 3 else 7400.0
        self.enabled = True
        self.limit_a = 0.0
        self.relay_closed = False
        self.locked = False
        self.faults: set[FaultCode] = set()
        self.energy_wh = 0.0
        self._last = clock()
        self._listeners: list[asyncio.Queue[PilotStatus]] = []

    # -- physics --------------------------------------------------------------------------------------

    def _integrate(self) -> None:
        now = self._clock()
        self.energy_wh += self.power_w * max(0.0, now - self._last) / 3600.0
        self._last = now

    def pilot_status(self) -> PilotStatus:
        pilot_fault = next((f for f in sorted(self.faults) if f in PILOT_FAULTS), None)
        if pilot_fault is not None:
            return PilotStatus(PilotState.F, pilot_fault)
        if not self.enabled:
            return PilotStatus(PilotState.F)
        if not self.plugged:
            return PilotStatus(PilotState.A)
        if self.ev_wants and self.limit_a >= MIN_CURRENT_A:
            return PilotStatus(PilotState.C)
        return PilotStatus(PilotState.B)

    @property
    def power_w(self) -> float:
        if not (self.relay_closed and self.pilot_status().state is PilotState.C):
            return 0.0
        return min(self.wanted_w, self.limit_a * VOLTAGE_V * self.phases)

    @property
    def current_a(self) -> float:
        return self.power_w / (VOLTAGE_V * self.phases)

    def _changed(self) -> None:
        """Integrate up to now at the old power, then tell the pilot listeners."""
        status = self.pilot_status()
        for queue in self._listeners:
            queue.put_nowait(status)

    def change(self, apply: Callable[[], None]) -> None:
        self._integrate()
        before = self.pilot_status()
        apply()
        if self.pilot_status() != before:
            self._changed()

    def snapshot(self) -> dict[str, object]:
        self._integrate()
        return {
            "evse": self.evse_id,
            "plugged": self.plugged,
            "ev_state": "charge" if self.ev_wants else "pause",
            "pilot": self.pilot_status().state.value,
            "relay_closed": self.relay_closed,
            "current_limit_a": self.limit_a,
            "current_a": [round(self.current_a, 2)] * self.phases,
            "power_w": round(self.power_w, 1),
            "energy_wh": round(self.energy_wh, 3),
            "faults": sorted(f.value for f in self.faults),
        }


class SimMeter:
    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse
        self.phases = evse.phases

    async def read(self) -> MeterSample:
        evse = self._evse
        if evse.faults & METER_FAULTS:
            raise DeviceTimeout("simulated meter does not answer")
        evse._integrate()
        current = round(evse.current_a, 3)
        return MeterSample(
            energy_wh=evse.energy_wh,
            power_w=evse.power_w,
            current_a=(current,) * evse.phases,
            voltage_v=(VOLTAGE_V,) * evse.phases,
            frequency_hz=50.0,
            power_factor=1.0,
        )

    async def close(self) -> None:
        return None


class SimContactor:
    has_feedback = True

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse

    async def set_closed(self, closed: bool) -> None:
        if self._evse.faults & SWITCH_FAULTS:
            raise DeviceFault("simulated contactor does not follow")
        self._evse.change(lambda: setattr(self._evse, "relay_closed", closed))

    async def is_closed(self) -> bool:
        return self._evse.relay_closed

    async def close(self) -> None:
        await self.set_closed(False)


class SimPilot:
    supports_phase_switching = False

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse

    async def set_current_limit(self, current_a: float) -> None:
        self._evse.change(lambda: setattr(self._evse, "limit_a", min(current_a, self._evse.max_current_a)))

    async def set_enabled(self, enabled: bool) -> None:
        self._evse.change(lambda: setattr(self._evse, "enabled", enabled))

    async def status_updates(self) -> AsyncIterator[PilotStatus]:
        queue: asyncio.Queue[PilotStatus] = asyncio.Queue()
        self._evse._listeners.append(queue)
        try:
            yield self._evse.pilot_status()
            while True:
                yield await queue.get()
        finally:
            self._evse._listeners.remove(queue)

    async def close(self) -> None:
        return None


class SimLock:
    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse

    async def set_locked(self, locked: bool) -> None:
        if FaultCode.CONNECTOR_LOCK_FAILURE in self._evse.faults:
            raise DeviceFault("simulated lock is stuck")
        self._evse.locked = locked


class SimReader:
    """A card reader; ``tap`` presents a card, debounced like a real reader (one token per second)."""

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._last: tuple[str, float] | None = None

    def tap(self, token: str) -> bool:
        now = self._clock()
        if self._last is not None and self._last[0] == token and now - self._last[1] < DEBOUNCE_S:
            return False
        self._last = (token, now)
        self._queue.put_nowait(token)
        return True

    async def tokens(self) -> AsyncIterator[str]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        return None


class SimStation:
    """Every simulated device of a station, and the tester's commands."""

    def __init__(self, evses: Sequence[SimEvse], reader: SimReader) -> None:
        self._evses = {e.evse_id: e for e in evses}
        self.reader = reader
        self.hardware = StationHardware(
            evses=[
                EvseHardware(e.evse_id, SimMeter(e), SimContactor(e), SimPilot(e), SimLock(e)) for e in evses
            ],
            readers=[reader],
        )

    def evse(self, evse_id: int) -> SimEvse:
        return self._evses[evse_id]

    def snapshot(self) -> dict[str, object]:
        return {"evses": [e.snapshot() for e in self._evses.values()]}

    async def command(self, argv: list[str]) -> dict[str, object]:
        """Run one tester command; errors come back as ``{"ok": false, "error": ...}``."""
        try:
            return self._command(argv)
        except (ValueError, KeyError, IndexError) as err:
            return {"ok": False, "error": f"{' '.join(argv)}: {err}"}

    def _get(self, text: str) -> SimEvse:
        evse = self._evses.get(int(text))
        if evse is None:
            raise KeyError(f"no EVSE {text}")
        return evse

    def _command(self, argv: list[str]) -> dict[str, object]:
        if not argv:
            raise ValueError("empty command")
        name, args = argv[0], argv[1:]
        if name == "status":
            return {"ok": True, **self.snapshot()}
        if name == "tap" and len(args) == 1:
            return {"ok": True, "accepted": self.reader.tap(args[0].strip().upper())}
        if name in ("plug", "unplug") and len(args) == 1:
            evse = self._get(args[0])
            evse.change(lambda: setattr(evse, "plugged", name == "plug"))
            if name == "plug":
                evse.change(lambda: setattr(evse, "ev_wants", True))
            return {"ok": True}
        if name == "ev" and len(args) == 2 and args[1] in ("charge", "pause", "resume"):
            evse = self._get(args[0])
            evse.change(lambda: setattr(evse, "ev_wants", args[1] != "pause"))
            return {"ok": True}
        if name == "power" and len(args) == 2:
            evse = self._get(args[0])
            watts = float(args[1])
            if watts < 0:
                raise ValueError("WATTS must not be negative")
            evse.change(lambda: setattr(evse, "wanted_w", watts))
            return {"ok": True}
        if name == "fault" and len(args) == 2:
            evse = self._get(args[0])
            code = FAULT_ALIASES.get(args[1].lower()) or FaultCode(args[1])
            evse.change(lambda: evse.faults.add(code))
            return {"ok": True, "fault": code.value}
        if name == "clear" and len(args) == 1:
            evse = self._get(args[0])
            evse.change(evse.faults.clear)
            return {"ok": True}
        raise ValueError(
            "unknown command or wrong arguments (plug, unplug, tap, ev, fault, clear, power, status)"
        )


def build_sim_station(
    evse_specs: Sequence[tuple[int, float, int]], clock: Clock = time.monotonic
) -> SimStation:
    evses = [SimEvse(evse_id, max_a, phases, clock) for evse_id, max_a, phases in evse_specs]
    return SimStation(evses, SimReader("sim-rfid", clock))

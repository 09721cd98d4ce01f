"""The devices of one station, grouped per EVSE, as the shell hands them to the runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hal.contactor import Contactor
from hal.lock import ConnectorLock
from hal.meter import Meter
from hal.pilot import Pilot
from hal.token_reader import TokenReader


@dataclass(slots=True)
class EvseHardware:
    """The devices behind one EVSE (one connector per EVSE in this stack)."""

    evse_id: int
    meter: Meter
    contactor: Contactor
    pilot: Pilot
    lock: ConnectorLock | None = None


@dataclass(slots=True)
class StationHardware:
    """Every device of the station."""

    evses: Sequence[EvseHardware]
    readers: Sequence[TokenReader] = field(default_factory=tuple)

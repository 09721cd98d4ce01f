"""One EVSE (with its single connector): its facts, its session, and the phase derived from them.

Rules of this file:
- The facts (pilot state, contactor, faults, availability, reservation, session) are set by the station from
  hardware events and CSMS commands; the *phase* is never stored, always derived by ``PHASE_RULES``, a
  first-match table. Each adapter maps phases to its own status values (1.6 §4.9 ChargePointStatus;
  2.0.1 ConnectorStatusEnumType) in its own table.
- A transaction is a session with ``started`` set. A session that is not started yet is an authorisation
  waiting for the cable (1.6 ConnectionTimeOut) or a cable waiting for authorisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hal.types import FaultCode, MeterSample, PilotState


class EvsePhase(StrEnum):
    """Version-neutral connector phases (a superset the adapters map from)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(slots=True)
class Reservation:
    """A reservation of this EVSE (or of the station, for connector 0) for an id token."""

    reservation_id: int
    id_tag: str
    parent: str | None
    expiry: datetime


@dataclass(slots=True)
class Session:
    """An authorised use of the EVSE; a transaction once ``started``."""

    local_id: int
    id_tag: str
    parent: str | None = None
    started: bool = False
    start_energy_wh: float = 0.0
    start_time: datetime | None = None
    csms_id: int | None = None
    reservation_id: int | None = None
    authorized: bool = True  # False once the CSMS declared the id invalid (suspended, 1.6 §5.16 note)
    energy_cap_wh: float | None = None  # MaxEnergyOnInvalidId: the register value where an invalid id stops
    ended: bool = False
    begin_values: list[dict[str, object]] = field(default_factory=list)

    def to_record(self) -> dict[str, object]:
        return {
            "local_id": self.local_id,
            "id_tag": self.id_tag,
            "parent": self.parent,
            "start_energy_wh": self.start_energy_wh,
            "csms_id": self.csms_id,
            "reservation_id": self.reservation_id,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "begin_values": self.begin_values,
        }


@dataclass(slots=True)
class Evse:
    """The facts about one EVSE."""

    evse_id: int
    max_current_a: float
    phases: int
    pilot: PilotState = PilotState.A
    contactor_closed: bool = False  # the fact, from ContactorChanged
    contactor_command: bool = False  # what we last commanded
    offered_a: float = 0.0
    faults: dict[FaultCode, str] = field(default_factory=dict)
    operative: bool = True
    pending_operative: bool | None = None  # ChangeAvailability scheduled until the transaction ends
    reservation: Reservation | None = None
    session: Session | None = None
    finishing: bool = False  # a transaction ended and the cable is still in
    last_sample: MeterSample | None = None
    meter_failures: int = 0
    sample_at: datetime | None = None  # station time of last_sample
    offer_at: datetime | None = None  # station time the PWM offer last changed

    @property
    def plugged(self) -> bool:
        return self.pilot.connected

    @property
    def transaction(self) -> Session | None:
        """The running transaction, if any."""
        s = self.session
        return s if s is not None and s.started and not s.ended else None

    @property
    def energy_wh(self) -> float:
        return self.last_sample.energy_wh if self.last_sample is not None else 0.0

    def phase(self) -> EvsePhase:
        for predicate, phase in PHASE_RULES:
            if predicate(self):
                return phase
        raise AssertionError("PHASE_RULES ends with a catch-all")  # pragma: no cover


def _tx(e: Evse) -> bool:
    return e.transaction is not None


PHASE_RULES: tuple[tuple[Callable[[Evse], bool], EvsePhase], ...] = (
    # A fault wins over everything (1.6 §4.9: Faulted from any state).
    (lambda e: bool(e.faults), EvsePhase.FAULTED),
    # Inoperative is applied only once no transaction runs (scheduled change, 1.6 §5.2).
    (lambda e: not e.operative and not _tx(e), EvsePhase.UNAVAILABLE),
    # Charging once the contactor is commanded closed for an EV that asks (a contactor that does not
    # follow is reported as a PowerSwitchFailure fault, which wins above).
    (lambda e: _tx(e) and e.contactor_command and e.pilot.wants_power, EvsePhase.CHARGING),
    # The EV asks for power but the EVSE does not give it (no current offered, id invalid, contactor open).
    (lambda e: _tx(e) and e.pilot.wants_power, EvsePhase.SUSPENDED_EVSE),
    (lambda e: _tx(e) and e.plugged and e.offered_a <= 0, EvsePhase.SUSPENDED_EVSE),
    # Connected but not asking, or (StopTransactionOnEVSideDisconnect=false) the cable is out.
    (lambda e: _tx(e), EvsePhase.SUSPENDED_EV),
    (lambda e: e.session is not None and not e.session.ended, EvsePhase.PREPARING),
    (lambda e: e.finishing and e.plugged, EvsePhase.FINISHING),
    (lambda e: e.plugged, EvsePhase.PREPARING),
    (lambda e: e.reservation is not None, EvsePhase.RESERVED),
    (lambda e: True, EvsePhase.AVAILABLE),
)

"""Events: past facts the shell feeds into the core. Frozen, slotted, no behaviour.

Hardware events carry the EVSE id (1-based, as in OCPP). The connection events come from the transport;
``Restored`` comes once at start-up with everything the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.types import FaultCode, MeterSample, PilotState


@dataclass(frozen=True, slots=True)
class PilotChanged:
    """The control pilot of an EVSE changed state (A-F)."""

    evse: int
    state: PilotState


@dataclass(frozen=True, slots=True)
class TokenPresented:
    """A card (or other id token) was presented at a reader."""

    reader: str
    token: str


@dataclass(frozen=True, slots=True)
class MeterSampled:
    """A meter read succeeded."""

    evse: int
    sample: MeterSample


@dataclass(frozen=True, slots=True)
class MeterReadFailed:
    """A meter read failed (timeout, garbled reply); the core turns a lasting failure into a fault."""

    evse: int
    reason: str


@dataclass(frozen=True, slots=True)
class ContactorChanged:
    """The contactor of an EVSE is now closed or open (as commanded or as its feedback says)."""

    evse: int
    closed: bool


@dataclass(frozen=True, slots=True)
class FaultRaised:
    """A device fault began. ``evse`` 0 is the station as a whole."""

    evse: int
    code: FaultCode
    info: str = ""


@dataclass(frozen=True, slots=True)
class FaultCleared:
    """A device fault ended."""

    evse: int
    code: FaultCode


@dataclass(frozen=True, slots=True)
class LockResult:
    """The connector lock reached (or failed to reach) the commanded position."""

    evse: int
    locked: bool
    ok: bool


@dataclass(frozen=True, slots=True)
class TransportOpened:
    """The WebSocket to the CSMS is open with the negotiated subprotocol."""

    subprotocol: str


@dataclass(frozen=True, slots=True)
class TransportClosed:
    """The WebSocket closed or could not be opened."""

    reason: str


@dataclass(frozen=True, slots=True)
class TextReceived:
    """A text frame arrived from the CSMS."""

    text: str


@dataclass(frozen=True, slots=True)
class Record:
    """One persisted row: ``kind`` is the table, ``key`` orders rows within it, ``value`` is JSON data."""

    kind: str
    key: str
    value: object


@dataclass(frozen=True, slots=True)
class Restored:
    """Everything the store held at start-up. Fed once, before any other event."""

    records: tuple[Record, ...]


@dataclass(frozen=True, slots=True)
class SystemClockSet:
    """The shell set the board's clock; it moved by ``shift_s`` seconds (new minus old)."""

    shift_s: float


@dataclass(frozen=True, slots=True)
class ExternalLimitChanged:
    """A local energy manager (not the CSMS) limits an EVSE to ``limit_a`` per phase; ``None`` lifts it
    (2.0.1 ChargingStationExternalConstraints)."""

    evse: int
    limit_a: float | None


@dataclass(frozen=True, slots=True)
class PkiResult:
    """The answer to a ``PkiCommand``: ``ok`` with ``result``, or not with ``result["reason"]``."""

    ref: str
    op: str
    ok: bool
    result: dict[str, object]


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A ``StartJob`` moved on: ``status`` as listed there; ``detail`` says why for the failures."""

    job: str
    status: str
    detail: str = ""


Event = (
    PilotChanged
    | ExternalLimitChanged
    | PkiResult
    | JobProgress
    | TokenPresented
    | MeterSampled
    | MeterReadFailed
    | ContactorChanged
    | FaultRaised
    | FaultCleared
    | LockResult
    | TransportOpened
    | TransportClosed
    | TextReceived
    | Restored
    | SystemClockSet
)

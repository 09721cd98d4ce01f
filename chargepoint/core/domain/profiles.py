"""Version-neutral charging profiles: the model, its rows on disk, and the checks before one is installed.

Both adapters translate their own JSON (1.6 ``csChargingProfiles``, 2.0.1 ``ChargingProfileType``) into a
``Profile``; the composite schedule (``composite.py``) and the limit in force are computed from these only.
A profile is checked whole before anything changes (OCPP 1.6 §5.16 / 2.0.1 K01: never half-installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

from chargepoint.core.clock import format_timestamp, parse_timestamp


class Purpose(StrEnum):
    """What a profile limits. Values are the 2.0.1 names; 1.6 says ChargePointMaxProfile for STATION_MAX."""

    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"  # 2.0.1: set by a local energy manager, never the CSMS


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    AMPS = "A"
    WATTS = "W"


@dataclass(frozen=True, slots=True)
class Period:
    """One ChargingSchedulePeriod: from ``start_s`` seconds after the schedule's start, at most ``limit``
    (in the schedule's unit), on ``phases`` phases (``None``: the spec default, 3)."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """One ChargingSchedule. ``start`` is startSchedule (Absolute / Recurring); ``duration_s`` ``None``
    means the last period lasts until the profile ends (or the next recurrence)."""

    unit: RateUnit
    periods: tuple[Period, ...]
    start: datetime | None = None
    duration_s: int | None = None
    min_rate: float | None = None
    schedule_id: int = 0  # 2.0.1 ChargingScheduleType.id (1.6 has none)


@dataclass(frozen=True, slots=True)
class Profile:
    """An installed charging profile. ``evse_id`` 0 is the whole station (1.6 connector 0)."""

    profile_id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    evse_id: int = 0
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None  # TxProfile only; 1.6 integer ids are kept as their text
    source: str = "CSMS"  # 2.0.1 ChargingLimitSourceEnumType of who set it (EMS for external constraints)

    def valid_at(self, moment: datetime) -> bool:
        """Inside validFrom / validTo (both optional; validTo is exclusive)."""
        if self.valid_from is not None and moment < self.valid_from:
            return False
        return self.valid_to is None or moment < self.valid_to

    def to_row(self) -> dict[str, object]:
        """The profile as a JSON-friendly row for the store."""
        s = self.schedule
        return {
            "id": self.profile_id, "stack": self.stack_level, "purpose": self.purpose.value,
            "kind": self.kind.value, "evse": self.evse_id,
            "recurrency": self.recurrency.value if self.recurrency else None,
            "from": _ts(self.valid_from), "to": _ts(self.valid_to), "tx": self.transaction_id,
            "source": self.source,
            "schedule": {
                "unit": s.unit.value, "start": _ts(s.start), "duration": s.duration_s, "min": s.min_rate,
                "id": s.schedule_id,
                "periods": [[p.start_s, p.limit, p.phases] for p in s.periods],
            },
        }

    @staticmethod
    def from_row(row: object) -> Profile | None:
        """A profile read back from the store; ``None`` for a row that does not parse (never raises)."""
        try:
            assert isinstance(row, dict)
            s = row["schedule"]
            periods = tuple(Period(int(p[0]), float(p[1]), None if p[2] is None else int(p[2]))
                            for p in s["periods"])
            schedule = Schedule(RateUnit(s["unit"]), periods, _dt(s["start"]), s["duration"], s["min"],
                                int(s.get("id", 0)))
            return Profile(int(row["id"]), int(row["stack"]), Purpose(row["purpose"]), Kind(row["kind"]),
                           schedule, int(row["evse"]),
                           Recurrency(row["recurrency"]) if row["recurrency"] else None,
                           _dt(row["from"]), _dt(row["to"]), row["tx"], str(row.get("source", "CSMS")))
        except (AssertionError, KeyError, TypeError, ValueError, IndexError):
            return None


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _dt(text: object) -> datetime | None:
    return parse_timestamp(text) if isinstance(text, str) else None


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """The station's smart-charging limits (1.6 SmartCharging keys / 2.0.1 SmartChargingCtrlr)."""

    max_stack_level: int = 8  # ChargeProfileMaxStackLevel / SmartChargingCtrlr.ProfileStackLevel
    units: tuple[RateUnit, ...] = (RateUnit.AMPS, RateUnit.WATTS)  # ChargingScheduleAllowedChargingRateUnit
    max_periods: int = 24  # ChargingScheduleMaxPeriods / PeriodsPerSchedule
    max_installed: int = 16  # MaxChargingProfilesInstalled / Entries


class Reason(StrEnum):
    """Why a profile is refused; the 2.0.1 adapter sends these as statusInfo.reasonCode."""

    TX_NOT_FOUND = "TxNotFound"
    INVALID_EVSE = "UnknownEvse"
    INVALID_PROFILE = "InvalidProfile"
    INVALID_SCHEDULE = "InvalidSchedule"
    STACK_LEVEL = "InvalidStackLevel"
    RATE_UNIT = "UnsupportedRateUnit"
    TOO_MANY_PERIODS = "TooManyPeriods"
    TOO_MANY_PROFILES = "TooManyProfiles"
    DUPLICATE = "DuplicateProfile"
    EXTERNAL = "ExternalConstraints"


@dataclass(slots=True)
class ProfileStore:
    """The installed profiles, by id."""

    profiles: dict[int, Profile] = field(default_factory=dict)

    def check(self, profile: Profile, limits: ProfileLimits, evse_ids: set[int],
              running_tx: dict[int, str], replace_same_level: bool) -> Reason | None:
        """Why ``profile`` may not be installed, or ``None``. ``running_tx``: EVSE id → transaction id of the
        transactions in progress. ``replace_same_level``: 1.6 §5.16 replaces a profile of the same purpose
        and stack level on the same connector; 2.0.1 K01.FR.06 refuses one whose validity overlaps."""
        s = profile.schedule
        if profile.purpose is Purpose.EXTERNAL and profile.source == "CSMS":
            return Reason.EXTERNAL  # K01.FR.22: only the station's own energy manager sets these
        if profile.evse_id != 0 and profile.evse_id not in evse_ids:
            return Reason.INVALID_EVSE
        if profile.purpose is Purpose.STATION_MAX and profile.evse_id != 0:
            return Reason.INVALID_EVSE  # 1.6 §5.16 / K01.FR.38: a station maximum is set on 0 only
        if profile.purpose is Purpose.TX:
            if profile.evse_id == 0:
                return Reason.INVALID_EVSE  # K01.FR.16: a TxProfile needs its EVSE
            tx = running_tx.get(profile.evse_id)
            if tx is None or (profile.transaction_id is not None and profile.transaction_id != tx):
                return Reason.TX_NOT_FOUND  # 1.6 §3.13.3 / K01.FR.09: only with a running transaction
        elif profile.transaction_id is not None:
            return Reason.INVALID_PROFILE  # K01.FR.03: a transactionId belongs to a TxProfile only
        if not 0 <= profile.stack_level <= limits.max_stack_level:
            return Reason.STACK_LEVEL
        if s.unit not in limits.units:
            return Reason.RATE_UNIT
        if not s.periods or len(s.periods) > limits.max_periods:
            return Reason.TOO_MANY_PERIODS if s.periods else Reason.INVALID_SCHEDULE
        if s.periods[0].start_s != 0 or any(b.start_s <= a.start_s for a, b in pairwise(s.periods)):
            return Reason.INVALID_SCHEDULE  # K01.FR.19/20: the first period starts at 0, then ascending
        if any(p.limit < 0 or (p.phases is not None and p.phases not in (1, 2, 3)) for p in s.periods):
            return Reason.INVALID_SCHEDULE
        if s.duration_s is not None and s.duration_s <= 0:
            return Reason.INVALID_SCHEDULE
        if profile.kind is Kind.RECURRING and (profile.recurrency is None or s.start is None):
            return Reason.INVALID_PROFILE  # K01.FR.40: a recurring profile needs its start and kind
        if profile.kind is Kind.ABSOLUTE and s.start is None:
            return Reason.INVALID_PROFILE  # K01: an absolute schedule has a startSchedule
        if profile.kind is Kind.RELATIVE and s.start is not None:
            return Reason.INVALID_PROFILE  # K01.FR.41: a relative schedule has none
        if (profile.valid_from is not None and profile.valid_to is not None
                and profile.valid_to <= profile.valid_from):
            return Reason.INVALID_PROFILE
        same = self._same_level(profile)
        if same is not None and not replace_same_level and _overlap(same, profile):
            return Reason.DUPLICATE
        replaced = {profile.profile_id} | ({same.profile_id} if same is not None else set())
        if len(set(self.profiles) - replaced) + 1 > limits.max_installed:
            return Reason.TOO_MANY_PROFILES
        return None

    def _same_level(self, profile: Profile) -> Profile | None:
        for other in self.profiles.values():
            if (other.profile_id != profile.profile_id and other.purpose is profile.purpose
                    and other.stack_level == profile.stack_level and other.evse_id == profile.evse_id):
                return other
        return None

    def install(self, profile: Profile) -> list[int]:
        """Install a checked profile; returns the ids it replaced (same id, or 1.6 same purpose and level
        on the same connector) so the caller can forget their rows."""
        gone = [p.profile_id for p in self.profiles.values()
                if p.profile_id != profile.profile_id and p.purpose is profile.purpose
                and p.stack_level == profile.stack_level and p.evse_id == profile.evse_id]
        for key in gone:
            del self.profiles[key]
        self.profiles[profile.profile_id] = profile
        return gone

    def matching(self, profile_id: int | None = None, evse_id: int | None = None,
                 purpose: Purpose | None = None, stack_level: int | None = None) -> list[Profile]:
        """Profiles that fit every criterion given (1.6 ClearChargingProfile / 2.0.1 K10, K09 criteria).
        External constraints are never matched: the CSMS may not clear them (K10)."""
        out = []
        for p in self.profiles.values():
            if p.purpose is Purpose.EXTERNAL and purpose is not Purpose.EXTERNAL:
                continue
            if profile_id is not None and p.profile_id != profile_id:
                continue
            if evse_id is not None and p.evse_id != evse_id:
                continue
            if purpose is not None and p.purpose is not purpose:
                continue
            if stack_level is not None and p.stack_level != stack_level:
                continue
            out.append(p)
        return out

    def remove(self, ids: list[int]) -> None:
        for key in ids:
            self.profiles.pop(key, None)

    def end_transaction(self, evse_id: int) -> list[int]:
        """A TxProfile ends with its transaction (1.6 §3.13.3 / 2.0.1 K01): the ids removed."""
        gone = [p.profile_id for p in self.profiles.values()
                if p.purpose is Purpose.TX and p.evse_id == evse_id]
        self.remove(gone)
        return gone


def _overlap(a: Profile, b: Profile) -> bool:
    """Whether the validity windows of two profiles share a moment (open ends are unbounded)."""
    if a.valid_to is not None and b.valid_from is not None and a.valid_to <= b.valid_from:
        return False
    return not (b.valid_to is not None and a.valid_from is not None and b.valid_to <= a.valid_from)

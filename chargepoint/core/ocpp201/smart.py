"""OCPP 2.0.1 block K SmartCharging: charging profiles to and from 2.0.1 JSON.

K01 SetChargingProfile, K10 ClearChargingProfile, K09 GetChargingProfiles with ReportChargingProfiles,
K08 GetCompositeSchedule, the TxProfile of F01 RequestStartTransaction, and K12/K13 NotifyChargingLimit /
ClearedChargingLimit when the station's own energy manager (an external constraint) changes the limit.
The rules and the arithmetic are version-neutral (``chargepoint.core.domain.smart``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Log
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain.composite import composite
from chargepoint.core.domain.profiles import Kind, Period, Profile, Purpose, RateUnit, Recurrency, Schedule
from chargepoint.core.rpc.endpoint import JsonObject

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201

EXTERNAL_SOURCE = "EMS"  # ChargingLimitSourceEnumType of the station's local energy manager
REPORT_SIZE = 4  # profiles per ReportChargingProfiles (tbc between parts)


def parse_profile(raw: object, evse_id: int) -> Profile | None:
    """A ``ChargingProfileType`` for ``evse_id``; ``None`` if a date does not parse. Without ISO 15118
    only the first schedule is used (K01: the others are alternatives an EV may choose)."""
    if not isinstance(raw, dict):
        return None
    schedules = raw.get("chargingSchedule")
    if not isinstance(schedules, list) or not schedules or not isinstance(schedules[0], dict):
        return None
    sched = schedules[0]
    periods = tuple(Period(int(p["startPeriod"]), float(p["limit"]),
                           int(p["numberPhases"]) if "numberPhases" in p else None)
                    for p in sched.get("chargingSchedulePeriod", []) if isinstance(p, dict))
    dates = {"validFrom": raw.get("validFrom"), "validTo": raw.get("validTo"),
             "startSchedule": sched.get("startSchedule")}
    parsed = {key: parse_timestamp(value) if isinstance(value, str) else None for key, value in dates.items()}
    if any(isinstance(dates[key], str) and parsed[key] is None for key in dates):
        return None
    duration, min_rate = sched.get("duration"), sched.get("minChargingRate")
    schedule = Schedule(RateUnit(str(sched["chargingRateUnit"])), periods, parsed["startSchedule"],
                        int(duration) if isinstance(duration, int) else None,
                        float(min_rate) if isinstance(min_rate, (int, float)) else None,
                        int(sched.get("id", 0)))
    recurrency, tx_id = raw.get("recurrencyKind"), raw.get("transactionId")
    return Profile(int(raw["id"]), int(raw["stackLevel"]), Purpose(str(raw["chargingProfilePurpose"])),
                   Kind(str(raw["chargingProfileKind"])), schedule, evse_id,
                   Recurrency(recurrency) if isinstance(recurrency, str) else None,
                   parsed["validFrom"], parsed["validTo"], tx_id if isinstance(tx_id, str) else None)


def profile_json(profile: Profile) -> JsonObject:
    """A profile as a 2.0.1 ``ChargingProfileType`` (ReportChargingProfiles)."""
    s = profile.schedule
    schedule: JsonObject = {"id": s.schedule_id, "chargingRateUnit": s.unit.value,
                            "chargingSchedulePeriod": [_period(p) for p in s.periods]}
    if s.start is not None:
        schedule["startSchedule"] = format_timestamp(s.start)
    if s.duration_s is not None:
        schedule["duration"] = s.duration_s
    if s.min_rate is not None:
        schedule["minChargingRate"] = s.min_rate
    out: JsonObject = {"id": profile.profile_id, "stackLevel": profile.stack_level,
                       "chargingProfilePurpose": profile.purpose.value,
                       "chargingProfileKind": profile.kind.value, "chargingSchedule": [schedule]}
    if profile.recurrency is not None:
        out["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["validFrom"] = format_timestamp(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = format_timestamp(profile.valid_to)
    if profile.transaction_id is not None:
        out["transactionId"] = profile.transaction_id
    return out


def _period(period: Period) -> JsonObject:
    out: JsonObject = {"startPeriod": period.start_s, "limit": period.limit}
    if period.phases is not None:
        out["numberPhases"] = period.phases
    return out


def set_charging_profile(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """K01: install a checked profile (K01.FR.05 replaces the same id); Rejected with the reason, and
    nothing changed, otherwise."""
    evse_id = p.get("evseId")
    assert isinstance(evse_id, int)
    profile = parse_profile(p.get("chargingProfile"), evse_id)
    if profile is None:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
    reason = st.smart.check(profile, st.settings, st.evses, replace_same_level=False)
    if reason is not None:
        st.side([Log(logging.WARNING, f"SetChargingProfile {profile.profile_id} rejected: {reason.value}")])
        return {"status": "Rejected", "statusInfo": {"reasonCode": reason.value}}
    st.side(st.smart.install(profile))
    return {"status": "Accepted"}


def clear_charging_profile(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """K10: by id, or by every criterion given; Unknown when nothing matched. External constraints are
    not the CSMS's to clear."""
    profile_id, criteria = p.get("chargingProfileId"), p.get("chargingProfileCriteria")
    if isinstance(profile_id, int):
        found = st.smart.store.matching(profile_id=profile_id)
    elif isinstance(criteria, dict):
        evse_id, purpose = criteria.get("evseId"), criteria.get("chargingProfilePurpose")
        level = criteria.get("stackLevel")
        found = st.smart.store.matching(
            evse_id=evse_id if isinstance(evse_id, int) else None,
            purpose=Purpose(purpose) if isinstance(purpose, str) else None,
            stack_level=level if isinstance(level, int) else None)
    else:
        found = st.smart.store.matching()
    found = [f for f in found if f.purpose is not Purpose.EXTERNAL]
    if not found:
        return {"status": "Unknown"}
    st.side(st.smart.remove(found))
    return {"status": "Accepted"}


def get_charging_profiles(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """K09: Accepted and ReportChargingProfiles (one per EVSE and source, in parts with tbc), or
    NoProfiles. chargingProfileId, when given, selects alone (K09.FR.03)."""
    request_id, criteria = p.get("requestId"), p.get("chargingProfile")
    assert isinstance(request_id, int) and isinstance(criteria, dict)
    evse_id = p.get("evseId")
    ids = criteria.get("chargingProfileId")
    purpose, level = criteria.get("chargingProfilePurpose"), criteria.get("stackLevel")
    sources = criteria.get("chargingLimitSource")
    chosen: list[Profile] = []
    for profile in sorted(st.smart.store.profiles.values(), key=lambda x: (x.evse_id, x.profile_id)):
        if isinstance(ids, list) and ids:
            if profile.profile_id in ids:
                chosen.append(profile)
            continue
        if isinstance(evse_id, int) and profile.evse_id != evse_id:
            continue
        if isinstance(purpose, str) and profile.purpose.value != purpose:
            continue
        if isinstance(level, int) and profile.stack_level != level:
            continue
        if isinstance(sources, list) and profile.source not in sources:
            continue
        chosen.append(profile)
    if not chosen:
        return {"status": "NoProfiles"}
    groups: dict[tuple[int, str], list[Profile]] = {}
    for profile in chosen:
        groups.setdefault((profile.evse_id, profile.source), []).append(profile)
    parts = [(key, group[i:i + REPORT_SIZE]) for key, group in groups.items()
             for i in range(0, len(group), REPORT_SIZE)]
    actions: list[Action] = []
    for n, ((evse, source), part) in enumerate(parts):
        payload: JsonObject = {"requestId": request_id, "chargingLimitSource": source, "evseId": evse,
                               "chargingProfile": [profile_json(x) for x in part]}
        if n < len(parts) - 1:
            payload["tbc"] = True
        actions += st.enqueue("ReportChargingProfiles", payload, now)
    st.side(actions)
    return {"status": "Accepted"}


def get_composite_schedule(st: Station201, p: JsonObject, now: Now, _: str) -> JsonObject:
    """K08: the schedule the EVSE (0: the grid connection) will follow for ``duration`` seconds from now:
    the minimum of the profiles in force, external constraints and the hardware limit."""
    evse_id, duration = p.get("evseId"), p.get("duration")
    assert isinstance(evse_id, int) and isinstance(duration, int)
    unit_text = p.get("chargingRateUnit")
    unit = RateUnit(unit_text) if isinstance(unit_text, str) else RateUnit.AMPS
    if duration < 1:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
    if evse_id == 0:
        limits = st.smart.station_limits(st.evses.values())
    elif evse_id in st.evses:
        limits = st.smart.evse_limits(st.evses[evse_id])
    else:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    start = st.time(now).replace(microsecond=0)
    schedule = composite(st.smart.store.profiles.values(), limits, start, duration, unit)
    return {"status": "Accepted", "schedule": {
        "evseId": evse_id, "duration": duration, "scheduleStart": format_timestamp(start),
        "chargingRateUnit": schedule.unit.value,
        "chargingSchedulePeriod": [_period(period) for period in schedule.periods]}}


def request_start_profile(st: Station201, raw: object, evse_id: int) -> bool:
    """F01.FR.08-FR.11: a RequestStartTransaction may carry a TxProfile (no transactionId) for the
    transaction it starts; ``False`` if it cannot be installed (the request is then Rejected)."""
    profile = parse_profile(raw, evse_id)
    if profile is None or profile.purpose is not Purpose.TX:
        return False
    if st.smart.check_remote(profile, st.settings, st.evses) is not None:
        return False
    st.smart.await_session(profile)
    return True


def external_limit(st: Station201, evse_id: int, limit_a: float | None, now: Now) -> list[Action]:
    """The local energy manager set (or lifted) a limit: it governs like a ChargingStationExternalConstraints
    profile and the CSMS hears of it (K12 NotifyChargingLimit, K13 ClearedChargingLimit)."""
    actions = st.smart.set_external(evse_id, limit_a, EXTERNAL_SOURCE)
    if limit_a is None:
        return actions + st.enqueue("ClearedChargingLimit", {"chargingLimitSource": EXTERNAL_SOURCE,
                                                             "evseId": evse_id}, now)
    start = st.time(now).replace(microsecond=0)
    payload: JsonObject = {
        "chargingLimit": {"chargingLimitSource": EXTERNAL_SOURCE},
        "evseId": evse_id,
        "chargingSchedule": [{"id": 0, "startSchedule": format_timestamp(start), "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(limit_a, 1)}]}],
    }
    return actions + st.enqueue("NotifyChargingLimit", payload, now)

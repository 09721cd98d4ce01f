"""OCPP 1.6 SmartCharging profile (§3.13, §5.5, §5.7, §5.16): charging profiles to and from 1.6 JSON.

SetChargingProfile, ClearChargingProfile and GetCompositeSchedule over the version-neutral profiles of
``chargepoint.core.domain.smart``; RemoteStartTransaction's TxProfile is read here too. Payloads arrive
schema-valid (the endpoint checked them), so the parsing only has to reject what the schema allows but
the rules forbid.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Log
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain.composite import composite
from chargepoint.core.domain.profiles import Kind, Period, Profile, Purpose, RateUnit, Recurrency, Schedule
from chargepoint.core.rpc.endpoint import JsonObject

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.station import Station16

PURPOSES = {"ChargePointMaxProfile": Purpose.STATION_MAX, "TxDefaultProfile": Purpose.TX_DEFAULT,
            "TxProfile": Purpose.TX}
WIRE_PURPOSE = {v: k for k, v in PURPOSES.items()}


def parse_profile(raw: object, connector: int) -> Profile | None:
    """A ``csChargingProfiles`` object as a profile for ``connector``; ``None`` if a date does not parse."""
    if not isinstance(raw, dict):
        return None
    sched = raw.get("chargingSchedule")
    if not isinstance(sched, dict):
        return None
    periods = tuple(Period(int(p["startPeriod"]), float(p["limit"]),
                           int(p["numberPhases"]) if "numberPhases" in p else None)
                    for p in sched.get("chargingSchedulePeriod", []) if isinstance(p, dict))
    dates = {key: raw.get(key) for key in ("validFrom", "validTo")}
    dates["startSchedule"] = sched.get("startSchedule")
    parsed = {key: parse_timestamp(value) if isinstance(value, str) else None for key, value in dates.items()}
    if any(isinstance(dates[key], str) and parsed[key] is None for key in dates):
        return None
    duration = sched.get("duration")
    min_rate = sched.get("minChargingRate")
    schedule = Schedule(RateUnit(str(sched["chargingRateUnit"])), periods, parsed["startSchedule"],
                        int(duration) if isinstance(duration, int) else None,
                        float(min_rate) if isinstance(min_rate, (int, float)) else None)
    recurrency = raw.get("recurrencyKind")
    tx_id = raw.get("transactionId")
    return Profile(int(raw["chargingProfileId"]), int(raw["stackLevel"]),
                   PURPOSES[str(raw["chargingProfilePurpose"])], Kind(str(raw["chargingProfileKind"])),
                   schedule, connector, Recurrency(recurrency) if isinstance(recurrency, str) else None,
                   parsed["validFrom"], parsed["validTo"], str(tx_id) if isinstance(tx_id, int) else None)


def set_charging_profile(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.16: install a checked profile (replacing the same id, or the same purpose and stack level on
    the connector, §3.13.2); Rejected with nothing changed otherwise."""
    connector = p.get("connectorId")
    assert isinstance(connector, int)
    profile = parse_profile(p.get("csChargingProfiles"), connector)
    if profile is None:
        st.side([Log(logging.WARNING, "SetChargingProfile rejected: a date does not parse")])
        return {"status": "Rejected"}
    reason = st.smart.check(profile, st.settings, st.evses, replace_same_level=True)
    if reason is not None:
        st.side([Log(logging.WARNING, f"SetChargingProfile {profile.profile_id} rejected: {reason.value}")])
        return {"status": "Rejected"}
    st.side(st.smart.install(profile))
    return {"status": "Accepted"}


def clear_charging_profile(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.5: clear by id, or by every criterion given (connector, purpose, stack level); Unknown if none
    matched."""
    profile_id, connector, level = p.get("id"), p.get("connectorId"), p.get("stackLevel")
    purpose = p.get("chargingProfilePurpose")
    if isinstance(profile_id, int):
        found = st.smart.store.matching(profile_id=profile_id)
    else:
        found = st.smart.store.matching(
            evse_id=connector if isinstance(connector, int) else None,
            purpose=PURPOSES[purpose] if isinstance(purpose, str) else None,
            stack_level=level if isinstance(level, int) else None)
    if not found:
        return {"status": "Unknown"}
    st.side(st.smart.remove(found))
    return {"status": "Accepted"}


def get_composite_schedule(st: Station16, p: JsonObject, now: Now, _: str) -> JsonObject:
    """§5.7: the schedule the connector (0: the grid connection) will follow for ``duration`` seconds,
    from now, as the minimum of the profiles in force and the hardware limit (§3.13.4)."""
    connector, duration = p.get("connectorId"), p.get("duration")
    assert isinstance(connector, int) and isinstance(duration, int)
    unit_text = p.get("chargingRateUnit")
    unit = RateUnit(unit_text) if isinstance(unit_text, str) else RateUnit.AMPS
    if duration < 1:
        return {"status": "Rejected"}
    if connector == 0:
        limits = st.smart.station_limits(st.evses.values())
    elif connector in st.evses:
        limits = st.smart.evse_limits(st.evses[connector])
    else:
        return {"status": "Rejected"}
    start = st.time(now).replace(microsecond=0)
    schedule = composite(st.smart.store.profiles.values(), limits, start, duration, unit)
    return {
        "status": "Accepted",
        "connectorId": connector,
        "scheduleStart": format_timestamp(start),
        "chargingSchedule": {
            "duration": duration,
            "startSchedule": format_timestamp(start),
            "chargingRateUnit": schedule.unit.value,
            "chargingSchedulePeriod": [_period(period) for period in schedule.periods],
        },
    }


def _period(period: Period) -> JsonObject:
    out: JsonObject = {"startPeriod": period.start_s, "limit": period.limit}
    if period.phases is not None:
        out["numberPhases"] = period.phases
    return out


def remote_start_profile(st: Station16, raw: object, connector: int) -> bool:
    """§5.11: a RemoteStartTransaction may carry a TxProfile (no transactionId) for the transaction it
    starts; ``False`` if it is not acceptable (the request is then Rejected)."""
    profile = parse_profile(raw, connector)
    if profile is None or profile.purpose is not Purpose.TX:
        return False
    if st.smart.check_remote(profile, st.settings, st.evses) is not None:
        return False
    st.smart.await_session(profile)
    return True

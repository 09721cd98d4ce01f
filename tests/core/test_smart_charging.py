"""Smart charging through both adapters (OCPP 1.6 §3.13 / §5.5 / §5.7 / §5.16, OCPP 2.0.1 block K): the
profile a CSMS sends governs the pilot PWM to the second, GetCompositeSchedule says what will happen,
clearing restores the limit, profiles survive a restart, several EVSEs share the site limit."""

from __future__ import annotations

from typing import Any

import pytest

from chargepoint.core.actions import SetContactor, SetPilotCurrent
from chargepoint.core.events import ContactorChanged, ExternalLimitChanged, FaultCleared, FaultRaised
from hal.types import FaultCode
from tests.core.harness import Driver, Driver201

Json = dict[str, Any]


T0 = "2026-11-24T12:00:00Z"


def schedule16(periods: list[tuple[int, float]], *, unit: str = "A", start: str | None = T0,
               duration: int | None = None, phases: int | None = None) -> Json:
    extra = {"numberPhases": phases} if phases else {}
    sched: Json = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": lim, **extra} for s, lim in periods]}
    if start is not None:
        sched["startSchedule"] = start
    if duration is not None:
        sched["duration"] = duration
    return sched


def profile16(pid: int, purpose: str, periods: list[tuple[int, float]], *, level: int = 0,
              kind: str = "Absolute", tx: int | None = None, **kw: Any) -> Json:
    start = kw.pop("start", T0 if kind != "Relative" else None)
    out: Json = {"chargingProfileId": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
                 "chargingProfileKind": kind, "chargingSchedule": schedule16(periods, start=start, **kw)}
    if tx is not None:
        out["transactionId"] = tx
    return out


def profile201(pid: int, purpose: str, periods: list[tuple[int, float]], *, level: int = 0,
               kind: str = "Absolute", tx: str | None = None, **kw: Any) -> Json:
    start = kw.pop("start", T0 if kind != "Relative" else None)
    out: Json = {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
                 "chargingProfileKind": kind,
                 "chargingSchedule": [{"id": 1, **schedule16(periods, start=start, **kw)}]}
    if tx is not None:
        out["transactionId"] = tx
    return out


def offers(d: Driver, evse: int = 1) -> list[float]:
    return [a.current_a for a in d.actions if isinstance(a, SetPilotCurrent) and a.evse == evse]


def charge(d: Driver, token: str = "CARD-1", evse: int = 1) -> None:
    """A plugged EV that asks for power, with an authorised transaction and the contactor closed."""
    d.meter(evse)
    d.pilot("B", evse)
    d.tap(token)
    d.serve()
    d.pilot("C", evse)
    d.feed(ContactorChanged(evse, True))
    d.serve()


def connected(version: str, **info: Any) -> Driver:
    d = (Driver201 if version == "2.0.1" else Driver)(**info)
    d.connect()
    return d


def set_profile(d: Driver, evse: int, profile: Json, uid: str = "sp") -> Json:
    if d.version == "2.0.1":
        reply = d.csms_call("SetChargingProfile", {"evseId": evse, "chargingProfile": profile}, uid=uid)
    else:
        reply = d.csms_call("SetChargingProfile", {"connectorId": evse, "csChargingProfiles": profile},
                            uid=uid)
    assert reply[0] == 3, reply
    d.serve()
    result: Json = reply[2]
    return result


def tx_default(version: str, pid: int, periods: list[tuple[int, float]], **kw: Any) -> Json:
    make = profile201 if version == "2.0.1" else profile16
    return make(pid, "TxDefaultProfile", periods, **kw)


def composite(d: Driver, evse: int, duration: int, unit: str | None = None) -> Json:
    payload: Json = {"duration": duration, **({"chargingRateUnit": unit} if unit else {})}
    if d.version == "2.0.1":
        reply = d.csms_call("GetCompositeSchedule", {"evseId": evse, **payload}, uid="gcs")
        assert reply[2]["status"] == "Accepted", reply
        sched: Json = reply[2]["schedule"]
        return sched
    reply = d.csms_call("GetCompositeSchedule", {"connectorId": evse, **payload}, uid="gcs")
    assert reply[2]["status"] == "Accepted", reply
    sched = reply[2]["chargingSchedule"]
    return sched


VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


@VERSIONS
def test_tx_default_profile_lowers_the_offer_at_the_period_boundary(version: str) -> None:
    """1.6 §3.13.1 / K01: a TxDefaultProfile on 0 governs every connector; the limit changes to the
    second at the period's start."""
    d = connected(version)
    assert set_profile(d, 0, tx_default(version, 7, [(0, 16.0), (120, 10.0)]))["status"] == "Accepted"
    charge(d)
    assert offers(d)[-1] == 16.0
    d.advance(119 - (d.now.monotonic - 1000.0))
    assert offers(d)[-1] == 16.0
    d.advance(1.0)
    assert offers(d)[-1] == 10.0


@VERSIONS
def test_composite_schedule_matches_and_clear_restores_the_limit(version: str) -> None:
    """1.6 §5.7 / K08: the composite is the minimum of the profiles and the hardware limit (32 A);
    ClearChargingProfile (1.6 §5.5 / K10) restores the hardware limit at once."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 7, [(0, 16.0), (60, 10.0)], duration=180))
    sched = composite(d, 1, 300)
    periods = [(p["startPeriod"], p["limit"]) for p in sched["chargingSchedulePeriod"]]
    assert periods == [(0, 16.0), (60, 10.0), (180, 32.0)]
    assert sched["chargingRateUnit"] == "A" and sched["duration"] == 300
    charge(d)
    assert offers(d)[-1] == 16.0
    payload = {"chargingProfileId": 7} if version == "2.0.1" else {"id": 7}
    assert d.csms_call("ClearChargingProfile", payload, uid="clr")[2]["status"] == "Accepted"
    d.serve()
    assert offers(d)[-1] == 32.0
    assert d.csms_call("ClearChargingProfile", payload, uid="clr2")[2]["status"] == "Unknown"
    assert not [k for k in d.store if k[0] == "charging_profile"]


@VERSIONS
def test_profiles_survive_a_restart(version: str) -> None:
    """Profiles are rows on disk: after a restart (and with no CSMS) the last profiles still govern."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 3, [(0, 12.0)]))
    again = (Driver201 if version == "2.0.1" else Driver)(store=d.store, start=d.now.later(5))
    again.connect()
    charge(again)
    assert offers(again)[-1] == 12.0
    sched = composite(again, 1, 60)
    assert sched["chargingSchedulePeriod"][0]["limit"] == 12.0


@VERSIONS
def test_a_limit_below_6_a_pauses_the_ev(version: str) -> None:
    """IEC 61851-1: no PWM offer below 6 A; the EV pauses (contactor open, SuspendedEVSE) and resumes at
    the next period."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 1, [(0, 20.0), (60, 4.0), (120, 8.0)]))
    charge(d)
    assert offers(d)[-1] == 20.0
    d.advance(61 - (d.now.monotonic - 1000.0))
    assert offers(d)[-1] == 0.0
    assert SetContactor(1, False) in d.actions
    d.serve()
    status = d.statuses()[-1]
    assert status == ("SuspendedEVSE" if version == "1.6" else "Occupied")
    d.advance(60)
    assert offers(d)[-1] == 8.0


@VERSIONS
def test_watts_are_turned_into_amps_with_the_phases(version: str) -> None:
    """A schedule in W: 6900 W on 3 phases at 230 V is 10 A per phase; on 1 phase 30 A."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 1, [(0, 6900.0)], unit="W"))
    charge(d)
    assert offers(d)[-1] == 10.0
    set_profile(d, 0, tx_default(version, 1, [(0, 6900.0)], unit="W", phases=1), uid="sp2")
    assert offers(d)[-1] == 30.0
    sched = composite(d, 1, 60, unit="W")
    assert sched["chargingRateUnit"] == "W"
    assert sched["chargingSchedulePeriod"][0]["limit"] == pytest.approx(6900.0, abs=0.1)


@VERSIONS
def test_tx_profile_only_with_its_transaction_and_it_ends_with_it(version: str) -> None:
    """1.6 §3.13.3 / K01.FR.09: a TxProfile without a running transaction is rejected; with one it
    overrides the TxDefaultProfile, and it is gone when the transaction ends."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 1, [(0, 20.0)]))
    if version == "2.0.1":
        early = profile201(9, "TxProfile", [(0, 8.0)], tx="nope")
    else:
        early = profile16(9, "TxProfile", [(0, 8.0)], tx=12345)
    assert set_profile(d, 1, early)["status"] == "Rejected"
    charge(d)
    if isinstance(d, Driver201):
        tx_id = d.events("Started")[0]["transactionInfo"]["transactionId"]
        late = profile201(9, "TxProfile", [(0, 8.0)], tx=tx_id)
    else:
        assert d.calls("StartTransaction")
        late = profile16(9, "TxProfile", [(0, 8.0)], tx=d.tx_counter)  # the id the CSMS gave
    assert set_profile(d, 1, late)["status"] == "Accepted"
    assert offers(d)[-1] == 8.0
    assert ("charging_profile", "9") in d.store
    d.tap("CARD-1")  # the same card stops it
    d.serve()
    assert ("charging_profile", "9") not in d.store and ("charging_profile", "1") in d.store


@VERSIONS
def test_invalid_profiles_are_rejected_whole(version: str) -> None:
    """Never half-installed: a station maximum on one EVSE, a schedule not starting at 0, a stack level
    above the maximum, an unknown EVSE — each refused, nothing stored."""
    d = connected(version)
    make = profile201 if version == "2.0.1" else profile16
    station_max = "ChargingStationMaxProfile" if version == "2.0.1" else "ChargePointMaxProfile"
    bad = [
        (1, make(1, station_max, [(0, 16.0)])),
        (0, make(2, "TxDefaultProfile", [(10, 16.0)])),
        (0, make(3, "TxDefaultProfile", [(0, 16.0), (0, 10.0)])),
        (0, make(4, "TxDefaultProfile", [(0, 16.0)], level=99)),
        (7, make(5, "TxDefaultProfile", [(0, 16.0)])),
        (0, make(6, "TxDefaultProfile", [(0, 16.0)], kind="Recurring")),
    ]
    for n, (evse, profile) in enumerate(bad):
        result = set_profile(d, evse, profile, uid=f"bad{n}")
        assert result["status"] == "Rejected", (n, result)
        if version == "2.0.1":
            assert result["statusInfo"]["reasonCode"]
    assert not [k for k in d.store if k[0] == "charging_profile"]


@VERSIONS
def test_station_maximum_caps_every_evse(version: str) -> None:
    """A ChargePointMaxProfile / ChargingStationMaxProfile on 0 caps the station: the lower of it and the
    TxDefaultProfile governs (1.6 §3.13.4 / K08 composite)."""
    d = connected(version)
    station_max = "ChargingStationMaxProfile" if version == "2.0.1" else "ChargePointMaxProfile"
    make = profile201 if version == "2.0.1" else profile16
    set_profile(d, 0, make(1, station_max, [(0, 14.0)]))
    set_profile(d, 0, tx_default(version, 2, [(0, 20.0)]), uid="sp2")
    charge(d)
    assert offers(d)[-1] == 14.0
    assert composite(d, 0, 60)["chargingSchedulePeriod"][0]["limit"] == 14.0


@VERSIONS
def test_remote_start_with_a_tx_profile(version: str) -> None:
    """1.6 §5.11 / F01.FR.08: the TxProfile inside the remote start governs the transaction it starts;
    another purpose is refused with the whole request."""
    d = connected(version)
    d.meter()
    d.pilot("B")
    if version == "2.0.1":
        bad = d.csms_call("RequestStartTransaction", {
            "idToken": {"idToken": "REMOTE", "type": "Central"}, "remoteStartId": 1, "evseId": 1,
            "chargingProfile": profile201(4, "TxDefaultProfile", [(0, 9.0)], kind="Relative")}, uid="r0")
        ok = d.csms_call("RequestStartTransaction", {
            "idToken": {"idToken": "REMOTE", "type": "Central"}, "remoteStartId": 2, "evseId": 1,
            "chargingProfile": profile201(4, "TxProfile", [(0, 9.0)], kind="Relative")}, uid="r1")
    else:
        bad = d.csms_call("RemoteStartTransaction", {
            "idTag": "REMOTE", "connectorId": 1,
            "chargingProfile": profile16(4, "TxDefaultProfile", [(0, 9.0)], kind="Relative")}, uid="r0")
        ok = d.csms_call("RemoteStartTransaction", {
            "idTag": "REMOTE", "connectorId": 1,
            "chargingProfile": profile16(4, "TxProfile", [(0, 9.0)], kind="Relative")}, uid="r1")
    assert bad[2]["status"] == "Rejected" and ok[2]["status"] == "Accepted"
    d.serve()
    d.pilot("C")
    d.feed(ContactorChanged(1, True))
    d.serve()
    assert offers(d)[-1] == 9.0
    assert ("charging_profile", "4") in d.store


@VERSIONS
def test_site_limit_is_shared_between_charging_evses(version: str) -> None:
    """Local load sharing: 32 A for the site; one EV gets 32, two get 16 each, and when one stops the other
    gets 32 again. The sum never exceeds the site limit."""
    d = connected(version, evses=2, site_max_current_a=32.0)
    charge(d, "CARD-1", 1)
    assert offers(d, 1)[-1] == 32.0
    charge(d, "CARD-2", 2)
    assert offers(d, 1)[-1] == 16.0 and offers(d, 2)[-1] == 16.0
    d.tap("CARD-1")
    d.serve()
    assert offers(d, 1)[-1] == 0.0 and offers(d, 2)[-1] == 32.0
    # Every moment on the way: the offers in force never add up to more than 32 A.
    current = {1: 0.0, 2: 0.0}
    for action in d.actions:
        if isinstance(action, SetPilotCurrent):
            current[action.evse] = action.current_a
            assert sum(current.values()) <= 32.0


@VERSIONS
def test_external_limit_governs(version: str) -> None:
    """An energy manager's limit (2.0.1 ChargingStationExternalConstraints) caps the EVSE; in 2.0.1 the
    CSMS hears of it (K12 NotifyChargingLimit, K13 ClearedChargingLimit) and cannot clear it."""
    d = connected(version)
    charge(d)
    d.feed(ExternalLimitChanged(1, 11.0))
    d.serve()
    assert offers(d)[-1] == 11.0
    if version == "2.0.1":
        note = d.calls("NotifyChargingLimit")[-1][3]
        assert note["chargingLimit"]["chargingLimitSource"] == "EMS" and note["evseId"] == 1
        reply = d.csms_call("ClearChargingProfile", {"chargingProfileCriteria": {
            "chargingProfilePurpose": "ChargingStationExternalConstraints"}}, uid="clr")
        assert reply[2]["status"] == "Unknown"
    d.feed(ExternalLimitChanged(1, None))
    d.serve()
    assert offers(d)[-1] == 32.0
    if version == "2.0.1":
        assert d.calls("ClearedChargingLimit")


def test_201_duplicate_stack_level_is_refused_and_profiles_are_reported() -> None:
    """K01.FR.06: another profile with the same purpose and stack level on the EVSE is refused;
    K09: GetChargingProfiles answers with ReportChargingProfiles."""
    d = connected("2.0.1")
    assert set_profile(d, 1, profile201(1, "TxDefaultProfile", [(0, 16.0)]))["status"] == "Accepted"
    second = set_profile(d, 1, profile201(2, "TxDefaultProfile", [(0, 10.0)]), uid="sp2")
    assert second == {"status": "Rejected", "statusInfo": {"reasonCode": "DuplicateProfile"}}
    third = set_profile(d, 1, profile201(1, "TxDefaultProfile", [(0, 12.0)]), uid="sp3")
    assert third["status"] == "Accepted"
    reply = d.csms_call("GetChargingProfiles", {"requestId": 5, "chargingProfile": {
        "chargingProfilePurpose": "TxDefaultProfile"}}, uid="gcp")
    assert reply[2]["status"] == "Accepted"
    d.serve()
    report = d.calls("ReportChargingProfiles")[-1][3]
    assert report["requestId"] == 5 and report["evseId"] == 1 and report["chargingLimitSource"] == "CSMS"
    assert [p["id"] for p in report["chargingProfile"]] == [1]
    assert report["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 12.0
    none = d.csms_call("GetChargingProfiles", {"requestId": 6, "chargingProfile": {"stackLevel": 7}},
                       uid="g2")
    assert none[2]["status"] == "NoProfiles"


def test_16_same_purpose_and_level_replaces() -> None:
    """1.6 §3.13.2: a profile with the same purpose and stack level on the connector replaces the old one."""
    d = connected("1.6")
    set_profile(d, 1, profile16(1, "TxDefaultProfile", [(0, 16.0)]))
    second = set_profile(d, 1, profile16(2, "TxDefaultProfile", [(0, 10.0)]), uid="sp2")
    assert second["status"] == "Accepted"
    assert ("charging_profile", "1") not in d.store and ("charging_profile", "2") in d.store
    assert composite(d, 1, 60)["chargingSchedulePeriod"][0]["limit"] == 10.0


@VERSIONS
def test_the_limit_is_sent_again_when_the_controller_comes_back(version: str) -> None:
    """An EVSE controller that was lost (reported as an InternalError fault by the shell) gets the limit in
    force again as soon as it is back: nothing assumes it kept the old PWM."""
    d = connected(version)
    set_profile(d, 0, tx_default(version, 1, [(0, 13.0)]))
    charge(d)
    assert offers(d)[-1] == 13.0
    d.feed(FaultRaised(1, FaultCode.INTERNAL_ERROR, "controller not answering"))
    assert offers(d)[-1] == 0.0
    d.feed(FaultCleared(1, FaultCode.INTERNAL_ERROR))
    assert offers(d)[-1] == 13.0


@VERSIONS
def test_a_composite_schedule_for_no_time_or_an_unknown_evse_is_rejected(version: str) -> None:
    """Bad input gets a clear answer and changes nothing: duration 0 or an EVSE that does not exist."""
    d = connected(version)
    key = "evseId" if version == "2.0.1" else "connectorId"
    assert d.csms_call("GetCompositeSchedule", {key: 1, "duration": 0}, uid="g0")[2]["status"] == "Rejected"
    assert d.csms_call("GetCompositeSchedule", {key: 9, "duration": 60}, uid="g9")[2]["status"] == "Rejected"
    periods = composite(d, 1, 60)["chargingSchedulePeriod"]
    assert [(p["startPeriod"], p["limit"]) for p in periods] == [(0, 32.0)]

"""The OCPP 1.6J charge point as a pure object: events and ``now`` in, actions and a deadline out.

This file owns the state and the connection-level behaviour: restoring from disk, BootNotification
(OCPP 1.6 §4.2, Accepted / Pending / Rejected), Heartbeat and the clock offset (§4.6), StatusNotification with
MinimumStatusDuration (§4.9), hardware events, and timer dispatch. Sessions and transactions live in
``transactions.py``, incoming CSMS calls in ``calls.py``; both are functions over this object.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from chargepoint.core.actions import (
    Action,
    ConfigureConnection,
    Log,
    Persist,
    SetEvseEnabled,
    SetPilotCurrent,
    SetSystemClock,
)
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain import charging
from chargepoint.core.domain.auth import AuthorizationCache, LocalList
from chargepoint.core.domain.evse import Evse, Reservation, Session
from chargepoint.core.domain.info import StationInfo
from chargepoint.core.domain.maintenance import Maintenance
from chargepoint.core.domain.security import SecurityState
from chargepoint.core.domain.setting_specs import SPECS, station_overrides
from chargepoint.core.domain.settings import Settings
from chargepoint.core.domain.smart import ROWS as PROFILE_ROWS
from chargepoint.core.domain.smart import SmartCharging
from chargepoint.core.events import (
    ContactorChanged,
    Event,
    ExternalLimitChanged,
    FaultCleared,
    FaultRaised,
    JobProgress,
    LockResult,
    MeterReadFailed,
    MeterSampled,
    PilotChanged,
    PkiResult,
    Restored,
    SystemClockSet,
    TextReceived,
    TokenPresented,
    TransportClosed,
    TransportOpened,
)
from chargepoint.core.ocpp16 import calls, firmware, security, transactions
from chargepoint.core.ocpp16.status import connector_status, station_status
from chargepoint.core.rpc.endpoint import DEFERRED, Deferred, Endpoint, JsonObject, Outgoing
from chargepoint.core.rpc.framing import Call, CallError, Dialect
from chargepoint.core.rpc.validation import SchemaSet
from chargepoint.core.timers import Timers
from hal.types import FaultCode

META = "meta"
BOOT_RETRY_S = 30.0  # when the CSMS gives interval 0 with Pending/Rejected, or the call fails
METER_FAULT_AFTER = 3  # consecutive failed reads before PowerMeterFailure


class Station16:
    """An OCPP 1.6J charge point."""

    def __init__(self, info: StationInfo) -> None:
        self.info = info
        self.timers = Timers()
        self.settings = Settings(
            SPECS, {**station_overrides(len(info.evses)), "WebSocketPingInterval": info.ping_interval_s,
                    "SecurityProfile": info.security_profile}
        )
        self.evses: dict[int, Evse] = {
            s.evse_id: Evse(s.evse_id, s.max_current_a, s.phases) for s in info.evses
        }
        self.station_faults: dict[FaultCode, str] = {}
        self.station_operative = True
        self.station_reservation: Reservation | None = None
        self.cache = AuthorizationCache()
        self.local_list = LocalList()
        self.endpoint = Endpoint(
            SchemaSet("1.6", enabled=info.validate),
            Dialect.V16,
            self,
            self.timers,
            call_timeout_s=info.call_timeout_s,
        )
        self.boot_status: str | None = None  # None until answered; then Accepted / Pending / Rejected
        self.boot_count = 0
        self.tx_seq = 0
        self.tx_ids: dict[int, int] = {}  # local transaction id -> CSMS transactionId
        self.offset = timedelta(0)  # CSMS time minus board time
        self.synced = False
        self.last_known: datetime | None = None
        self.restored_at = 0.0
        self.reported: dict[int, tuple[str, str, str | None]] = {}
        self.power_loss: dict[int, Session] = {}
        self.pending_auth: tuple[str, str | None, float] | None = None  # token, parent, deadline
        self.unlock_waiting: dict[int, str] = {}  # evse -> unique id of the UnlockConnector call
        self.reboot_pending: str | None = None
        self._side: list[Action] = []
        self.smart = SmartCharging(info, self.transaction_id)
        self.registered = False  # this boot's BootNotification was Accepted
        self.security_state = SecurityState()  # certificates and security events (security.py)
        self.maintenance = Maintenance()  # firmware and log jobs (firmware.py)

    # -- the core's three entry points -------------------------------------------------------------

    def handle(self, event: Event, now: Now) -> list[Action]:
        """Feed one event; returns the actions to execute in order."""
        self.smart.moment = self.time(now)
        actions = self._dispatch(event, now)
        return self._finish(actions, now)

    def handle_timer(self, now: Now) -> list[Action]:
        """Run every timer that is due."""
        self.smart.moment = self.time(now)
        actions: list[Action] = []
        for name in self.timers.pop_due(now.monotonic):
            actions += self._on_timer(name, now)
        return self._finish(actions, now)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def _finish(self, actions: list[Action], now: Now) -> list[Action]:
        actions += self._side
        self._side = []
        actions += charging.rebalance(self, now)
        actions += self.sync_status(now)
        actions += firmware.when_idle(self, now)
        actions += self._side
        self._side = []
        return actions

    def side(self, actions: Sequence[Action]) -> None:
        """Queue actions produced inside a call handler (run after the handler's answer is sent)."""
        self._side += actions

    # -- the charging rules' Host protocol (chargepoint.core.domain.charging) ----------------------

    def online(self) -> bool:
        return self.endpoint.connected and self.boot_status == "Accepted"

    def send_authorize(self, token: str, evse_id: int, now: Now, stop_for: int | None = None) -> list[Action]:
        """1.6 §4.1 Authorize.req."""
        meta: JsonObject = {"token": token, "evse": evse_id}
        if stop_for is not None:
            meta["stop_for"] = stop_for
        return self.enqueue("Authorize", {"idTag": token}, now, meta=meta)

    def start_tx(self, evse: Evse, now: Now) -> list[Action]:
        return transactions.start_tx(self, evse, now)

    def stop_tx(self, evse: Evse, reason: str, now: Now, id_tag: str | None = None) -> list[Action]:
        return transactions.stop_tx(self, evse, reason, now, id_tag)

    def transaction_id(self, evse: Evse) -> str | None:
        """The CSMS's transactionId of the EVSE's transaction, as text (1.6 TxProfile targets)."""
        session = evse.transaction
        return str(session.csms_id) if session is not None and session.csms_id is not None else None

    def on_authorized(self, evse: Evse, now: Now) -> list[Action]:
        return []  # 1.6 §4.8: the transaction starts only once the cable is in too

    # -- time --------------------------------------------------------------------------------------

    def time(self, now: Now) -> datetime:
        """Station time: the board clock corrected by the CSMS offset, never before the last known time."""
        moment = now.utc + self.offset
        if not self.synced and self.last_known is not None and moment < self.last_known:
            moment = self.last_known + timedelta(seconds=max(0.0, now.monotonic - self.restored_at))
        return moment

    def timestamp(self, now: Now) -> str:
        return format_timestamp(self.time(now))

    def sync_clock(self, csms_time: object, now: Now) -> list[Action]:
        """Adopt the CSMS time (1.6 §4.2 currentTime, §4.6 Heartbeat) and fix queued timestamps."""
        if not isinstance(csms_time, str):
            return []
        moment = parse_timestamp(csms_time)
        if moment is None:
            return []
        before = self.time(now)
        self.offset = moment - now.utc
        first = not self.synced
        self.synced = True
        after = self.time(now)
        actions: list[Action] = [Persist(META, "last_time", format_timestamp(after))]
        if first and abs((after - before).total_seconds()) > 1:
            actions += charging.correct_unsynced(self, after - before)
        if self.info.set_system_clock and abs(self.offset.total_seconds()) > 1:
            actions.append(SetSystemClock(after))
        return actions

    # -- events ------------------------------------------------------------------------------------

    def _dispatch(self, event: Event, now: Now) -> list[Action]:
        match event:
            case TextReceived(text):
                return self.endpoint.receive(text, now)
            case PilotChanged(evse_id, state):
                evse = self.evses.get(evse_id)
                return charging.on_pilot(self, evse, state, now) if evse else []
            case TokenPresented(_, token):
                return charging.on_token(self, token, now)
            case MeterSampled(evse_id, sample):
                return self._on_sample(evse_id, now, sample)
            case MeterReadFailed(evse_id, reason):
                return self._on_meter_failed(evse_id, reason, now)
            case ContactorChanged(evse_id, closed):
                if evse_id in self.evses:
                    self.evses[evse_id].contactor_closed = closed
                return []
            case FaultRaised(evse_id, code, info):
                return self._on_fault(evse_id, code, info, now)
            case FaultCleared(evse_id, code):
                return self._on_fault_cleared(evse_id, code, now)
            case LockResult(evse_id, locked, ok):
                return calls.on_lock_result(self, evse_id, locked, ok)
            case TransportOpened():
                return self._on_open(now)
            case TransportClosed(reason):
                return [Log(logging.INFO, f"offline: {reason}"), *self.endpoint.closed(now),
                        *security.on_connection_failed(self, reason, now)]
            case Restored(records):
                return self._restore(records, now)
            case SystemClockSet(shift_s):
                # The board clock now carries (part of) the offset: keep station time where it was.
                self.offset -= timedelta(seconds=shift_s)
                return [Log(logging.INFO, f"board clock set from the CSMS time ({shift_s:+.1f} s)"),
                        *security.on_clock_set(self, shift_s, now)]
            case ExternalLimitChanged(evse_id, limit_a):
                # 1.6 has no external-constraint profile: the limit governs, the CSMS sees it only in the
                # composite schedule.
                return self.smart.set_external(evse_id, limit_a, "EMS") if evse_id in self.evses else []
            case PkiResult():
                return security.on_pki_result(self, event, now)
            case JobProgress():
                return firmware.on_progress(self, event, now)
        return []  # pragma: no cover - the match is exhaustive over Event

    def _restore(self, records: tuple[object, ...], now: Now) -> list[Action]:
        rows: dict[str, list[tuple[str, object]]] = {}
        for record in records:
            kind, key, value = record.kind, record.key, record.value  # type: ignore[attr-defined]
            rows.setdefault(kind, []).append((key, value))
        meta = dict(rows.get(META, []))
        self.settings.restore(rows.get("settings", []))
        self.cache.restore(rows.get("auth_cache", []))
        self.local_list.restore(rows.get("local_list", []))
        restored = self.smart.restore(rows.get(PROFILE_ROWS, []))
        boot_count = meta.get("boot_count", 0)
        self.boot_count = (boot_count if isinstance(boot_count, int) else 0) + 1
        tx_seq = meta.get("tx_seq", 0)
        self.tx_seq = tx_seq if isinstance(tx_seq, int) else 0
        last = meta.get("last_time")
        self.last_known = parse_timestamp(last) if isinstance(last, str) else None
        self.restored_at = now.monotonic
        for key, value in rows.get("txmap", []):
            if key.isdigit() and isinstance(value, int):
                self.tx_ids[int(key)] = value
        for key, value in rows.get("availability", []):
            if key.isdigit() and int(key) in self.evses and isinstance(value, bool):
                self.evses[int(key)].operative = value
            if key == "0" and isinstance(value, bool):
                self.station_operative = value
        self.endpoint.restore(rows.get("outbox", []), self.boot_count)
        actions: list[Action] = [
            Persist(META, "boot_count", self.boot_count),
            Log(logging.INFO, f"boot {self.boot_count}: {len(self.endpoint.durable_messages())} "
                "transaction messages waiting"),
        ]
        for evse in self.evses.values():
            enabled = evse.operative and self.station_operative
            actions += [SetPilotCurrent(evse.evse_id, 0.0), SetEvseEnabled(evse.evse_id, enabled)]
        actions.append(self.connection_settings())
        actions += restored
        actions += security.restore(self, rows, now)
        actions += firmware.restore(self, rows, now)
        actions += transactions.restore_sessions(self, rows.get("session", []), now)
        self.timers.set("lasttime", now.monotonic + 60)
        return actions

    def _on_sample(self, evse_id: int, now: Now, sample: object) -> list[Action]:
        evse = self.evses.get(evse_id)
        if evse is None:
            return []
        evse.last_sample = sample  # type: ignore[assignment]
        evse.sample_at = self.smart.moment
        actions: list[Action] = []
        if evse.meter_failures >= METER_FAULT_AFTER:
            actions += self._on_fault_cleared(evse_id, FaultCode.POWER_METER_FAILURE, now)
        evse.meter_failures = 0
        if evse_id in self.power_loss:
            actions += transactions.finish_power_loss(self, evse_id, now)
        return actions

    def _on_meter_failed(self, evse_id: int, reason: str, now: Now) -> list[Action]:
        evse = self.evses.get(evse_id)
        if evse is None:
            return []
        evse.meter_failures += 1
        if evse.meter_failures == METER_FAULT_AFTER:
            return self._on_fault(evse_id, FaultCode.POWER_METER_FAILURE, f"meter: {reason}", now)
        return []

    def _on_fault(self, evse_id: int, code: FaultCode, info: str, now: Now) -> list[Action]:
        if evse_id == 0:
            if code in self.station_faults:
                return []
            self.station_faults[code] = info
            return [Log(logging.WARNING, f"station fault {code.value}: {info}")]
        evse = self.evses.get(evse_id)
        if evse is None or code in evse.faults:
            return []
        evse.faults[code] = info
        # A fault suspends energy (the controller keeps the EV safe; we stop offering power).
        return [
            Log(logging.WARNING, f"EVSE {evse_id} fault {code.value}: {info}"),
            *charging.apply_energy(self, evse),
        ]

    def _on_fault_cleared(self, evse_id: int, code: FaultCode, now: Now) -> list[Action]:
        if evse_id == 0:
            if self.station_faults.pop(code, None) is None:
                return []
            return [Log(logging.INFO, f"station fault {code.value} cleared")]
        evse = self.evses.get(evse_id)
        if evse is None or evse.faults.pop(code, None) is None:
            return []
        return [Log(logging.INFO, f"EVSE {evse_id} fault {code.value} cleared"),
                *charging.apply_energy(self, evse)]

    # -- connection and boot -----------------------------------------------------------------------

    def _on_open(self, now: Now) -> list[Action]:
        actions: list[Action] = [Log(logging.INFO, "connected to the CSMS")]
        if self.boot_status != "Accepted":
            self.timers.cancel("boot")
            actions += self.send_boot(now)
        else:
            self.reported.clear()  # replay every status after an outage
        actions += self.endpoint.opened(now)
        actions += security.on_connected(self, now)
        return actions

    def send_boot(self, now: Now, triggered: bool = False) -> list[Action]:
        info = self.info
        payload: JsonObject = {"chargePointVendor": info.vendor, "chargePointModel": info.model}
        if info.serial_number:
            payload["chargePointSerialNumber"] = info.serial_number
            payload["chargeBoxSerialNumber"] = info.serial_number
        if info.firmware_version:
            payload["firmwareVersion"] = info.firmware_version
        meta: JsonObject = {"triggered": True} if triggered else {}
        if any(m.action == "BootNotification" for m in self.endpoint.queued()):
            return []
        return self.endpoint.enqueue(Outgoing("BootNotification", payload, meta=meta), now, first=True)

    def connection_settings(self) -> ConfigureConnection:
        """The CSMS-managed connection settings; an AuthorizationKey the CSMS set replaces the installer's
        password (OCPP 1.6 security whitepaper §2.3)."""
        key = self.settings.str("AuthorizationKey")
        profile = self.settings.int("SecurityProfile")
        # §2.4: a profile the CSMS raised (and that connected) stays in force after a restart.
        endpoint = ("", profile) if profile > self.info.security_profile else None
        return ConfigureConnection(float(self.settings.int("WebSocketPingInterval")), key or None,
                                   endpoint=endpoint)

    def enqueue(self, action: str, payload: JsonObject, now: Now, *, durable: bool = False,
                meta: JsonObject | None = None) -> list[Action]:
        return self.endpoint.enqueue(Outgoing(action, payload, meta=meta or {}), now, durable=durable)

    # EndpointListener ----------------------------------------------------------------------------

    def may_send(self, msg: Outgoing) -> bool:
        if self.boot_status == "Accepted" or msg.action == "BootNotification":
            return True
        # 1.6 §4.2: while Pending, only messages the CSMS asked for through TriggerMessage.
        return self.boot_status == "Pending" and msg.meta.get("triggered") is True

    def prepare(self, msg: Outgoing) -> JsonObject | None:
        return transactions.prepare(self, msg)

    def retry_policy(self) -> tuple[int, float]:
        return (
            self.settings.int("TransactionMessageAttempts"),
            float(self.settings.int("TransactionMessageRetryInterval")),
        )

    def on_result(self, msg: Outgoing, payload: JsonObject, now: Now) -> list[Action]:
        if msg.action == "BootNotification":
            return self._on_boot_result(payload, now)
        if msg.action == "Heartbeat":
            return self.sync_clock(payload.get("currentTime"), now)
        if msg.action == "SignCertificate":
            return security.on_sign_certificate_answer(self, payload, now)
        return transactions.on_result(self, msg, payload, now)

    def on_failure(self, msg: Outgoing, error: CallError | None, now: Now) -> list[Action]:
        if msg.action == "BootNotification" and self.boot_status != "Accepted":
            self.timers.set("boot", now.monotonic + BOOT_RETRY_S)
            return []
        if msg.action == "StatusNotification" and error is None:
            # A status dropped with the connection was never reported: send it after reconnecting.
            connector = msg.payload.get("connectorId")
            if isinstance(connector, int) and connector in self.reported:
                del self.reported[connector]
            return []
        return transactions.on_failure(self, msg, error, now)

    def on_call(self, call: Call, now: Now) -> JsonObject | Deferred:
        answer = calls.dispatch(self, call, now)
        return DEFERRED if answer is None else answer

    def _on_boot_result(self, payload: JsonObject, now: Now) -> list[Action]:
        status = payload.get("status")
        interval = payload.get("interval")
        interval_s = interval if isinstance(interval, int) and interval > 0 else 0
        actions = self.sync_clock(payload.get("currentTime"), now)
        self.boot_status = status if isinstance(status, str) else "Rejected"
        actions.append(Log(logging.INFO, f"BootNotification {self.boot_status}"))
        if self.boot_status == "Accepted":
            # 1.6 §4.2: the interval of an Accepted answer is the heartbeat interval.
            if interval_s:
                actions += self.settings.set("HeartbeatInterval", interval_s)
            self.arm_heartbeat(now)
            if not self.registered:
                self.registered = True
                actions += security.on_registered(self, now)
                actions += firmware.on_registered(self, now)
            self.timers.set("aligned", charging.next_aligned(self, now))
            self.reported.clear()
        else:
            # 1.6 §4.2: Pending / Rejected: retry after the given interval.
            self.timers.set("boot", now.monotonic + (interval_s or BOOT_RETRY_S))
        return actions

    def arm_heartbeat(self, now: Now) -> None:
        interval = self.settings.int("HeartbeatInterval")
        if interval > 0:
            self.timers.set("heartbeat", now.monotonic + interval)
        else:
            self.timers.cancel("heartbeat")

    # -- status ------------------------------------------------------------------------------------

    def sync_status(self, now: Now) -> list[Action]:
        """Send StatusNotification for every connector whose status changed (1.6 §4.9)."""
        if self.boot_status != "Accepted":
            return []
        actions: list[Action] = []
        minimum = self.settings.int("MinimumStatusDuration")
        for connector_id, current in self.statuses():
            if self.reported.get(connector_id) == current:
                self.timers.cancel(f"status.{connector_id}")
                continue
            if minimum > 0 and connector_id in self.reported:
                # 1.6 §9.1 MinimumStatusDuration: report only a status that lasted this long.
                if not self.timers.armed(f"status.{connector_id}"):
                    self.timers.set(f"status.{connector_id}", now.monotonic + minimum)
                continue
            actions += self.report_status(connector_id, current, now)
        return actions

    def statuses(self) -> list[tuple[int, tuple[str, str, str | None]]]:
        evses = list(self.evses.values())
        out = [(0, station_status(evses, self.station_faults, self.station_operative))]
        out += [(e.evse_id, connector_status(e)) for e in evses]
        return out

    def report_status(
        self, connector_id: int, current: tuple[str, str, str | None], now: Now, triggered: bool = False
    ) -> list[Action]:
        self.reported[connector_id] = current
        status, error_code, info = current
        payload: JsonObject = {
            "connectorId": connector_id,
            "errorCode": error_code,
            "status": status,
            "timestamp": self.timestamp(now),
        }
        if info:
            payload["info"] = info
        meta: JsonObject = {"triggered": True} if triggered else {}
        return [Log(logging.INFO, f"connector {connector_id}: {status} ({error_code})"),
                *self.enqueue("StatusNotification", payload, now, meta=meta)]

    # -- timers ------------------------------------------------------------------------------------

    def _on_timer(self, name: str, now: Now) -> list[Action]:
        if name.startswith("rpc."):
            return self.endpoint.on_timer(name, now)
        if name == "boot":
            return self.send_boot(now)
        if name == "heartbeat":
            self.arm_heartbeat(now)
            return self.enqueue("Heartbeat", {}, now)
        if name == "lasttime":
            self.timers.set("lasttime", now.monotonic + 60)
            return [Persist(META, "last_time", self.timestamp(now))]
        if name.startswith("status."):
            connector_id = int(name.split(".")[1])
            current = dict(self.statuses()).get(connector_id)
            if current is not None and self.reported.get(connector_id) != current:
                return self.report_status(connector_id, current, now)
            return []
        if name == "reboot":
            return calls.reboot_now(self)
        if name == "smart":
            return []  # a period boundary: _finish re-applies the limits
        if name.startswith("sec."):
            return security.on_timer(self, name, now)
        if name.startswith(("fw.", "log.")):
            return firmware.on_timer(self, name, now)
        return transactions.on_timer(self, name, now)

    # -- read-only view for `chargepoint sim status` / `chargepoint status` ----------------------

    def snapshot(self) -> dict[str, object]:
        evses: list[dict[str, object]] = []
        for evse in self.evses.values():
            session = evse.session
            tx = evse.transaction
            evses.append(
                {
                    "evse": evse.evse_id,
                    "status": connector_status(evse)[0],
                    "error_code": connector_status(evse)[1],
                    "relay_closed": evse.contactor_closed,
                    "current_limit_a": evse.offered_a,
                    **self.smart.describe(evse),
                    "energy_wh": round(evse.energy_wh, 1),
                    "transaction_id": (self.tx_ids.get(tx.local_id) if tx else None),
                    "local_transaction_id": tx.local_id if tx else None,
                    "id_tag": session.id_tag[:4] + "…" if session else None,
                    "operative": evse.operative,
                    "faults": {code.value: info for code, info in evse.faults.items()},
                }
            )
        return {
            "station_id": self.info.station_id,
            "ocpp_version": "1.6",
            "station_faults": {code.value: info for code, info in self.station_faults.items()},
            "connected": self.endpoint.connected,
            "registration": self.boot_status,
            "queued_transaction_messages": len(self.endpoint.durable_messages()),
            "evses": evses,
        }

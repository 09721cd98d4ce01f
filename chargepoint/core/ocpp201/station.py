"""The OCPP 2.0.1 charging station as a pure object: events and ``now`` in, actions and a deadline out.

This file owns the state and the connection-level behaviour: restoring from disk, B01-B04
BootNotification (Accepted / Pending / Rejected, with the boot reason), Heartbeat and the clock offset, and
event and timer dispatch. Transactions live in ``transactions.py`` (block E, J), incoming CSMS calls in
``calls.py``, G01 StatusNotification in ``status.py``, hardware faults as N07 NotifyEvent in ``faults.py``,
the B09/B10 network profiles in ``network.py`` and the device model's live values in ``live.py``.
The charging rules themselves are the domain's (``chargepoint.core.domain.charging``), shared with 1.6.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from chargepoint.core.actions import Action, ConfigureConnection, Log, Persist, SetEvseEnabled, SetSystemClock
from chargepoint.core.clock import Now, format_timestamp, parse_timestamp
from chargepoint.core.domain import charging
from chargepoint.core.domain.auth import AuthorizationCache, LocalList
from chargepoint.core.domain.evse import Evse, Reservation
from chargepoint.core.domain.info import StationInfo
from chargepoint.core.domain.maintenance import Maintenance
from chargepoint.core.domain.security import SecurityState
from chargepoint.core.domain.setting_specs import SPECS
from chargepoint.core.domain.setting_specs import station_overrides as neutral_overrides
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
from chargepoint.core.ocpp201 import calls, faults, firmware, live, network, security, smart, transactions
from chargepoint.core.ocpp201 import status as connectors
from chargepoint.core.ocpp201.device_model import DeviceModel
from chargepoint.core.ocpp201.faults import FAULT_COMPONENT as FAULT_COMPONENT  # re-exported for the tests
from chargepoint.core.ocpp201.variables import evse_layout, extra_specs
from chargepoint.core.ocpp201.variables import station_overrides as model_overrides
from chargepoint.core.rpc.endpoint import DEFERRED, Deferred, Endpoint, JsonObject, Outgoing
from chargepoint.core.rpc.framing import Call, CallError, Dialect
from chargepoint.core.rpc.validation import SchemaSet
from chargepoint.core.timers import Timers
from hal.types import FaultCode

META = "meta"
BOOT_RETRY_S = 30.0  # when the CSMS gives no interval with Pending/Rejected, or the call fails
BOOT_REASONS = frozenset({"ApplicationReset", "FirmwareUpdate", "LocalReset", "PowerUp", "RemoteReset",
                          "ScheduledReset", "Triggered", "Unknown", "Watchdog"})


class Station201:
    """An OCPP 2.0.1 charging station (one connector per EVSE)."""

    def __init__(self, info: StationInfo) -> None:
        self.info = info
        self.timers = Timers()
        layout = evse_layout(len(info.evses))
        phases = max((e.phases for e in info.evses), default=3)
        max_power = max((e.max_current_a * e.phases * 230 for e in info.evses), default=22000.0)
        self.settings = Settings(
            (*SPECS, *extra_specs(layout)),
            {
                **neutral_overrides(len(info.evses)),
                **model_overrides(layout, identity=info.station_id, supply_phases=phases,
                                  max_power_w=max_power),
                "WebSocketPingInterval": info.ping_interval_s,
                "SecurityProfile": info.security_profile,
            },
        )
        self.model = DeviceModel(self.settings, layout, lambda ref: live.value(self, ref))
        self.evses: dict[int, Evse] = {
            s.evse_id: Evse(s.evse_id, s.max_current_a, s.phases) for s in info.evses
        }
        self.station_faults: dict[FaultCode, str] = {}
        self.station_operative = True
        self.station_reservation: Reservation | None = None
        self.cache = AuthorizationCache()
        self.local_list = LocalList()
        self.endpoint = Endpoint(
            SchemaSet("2.0.1", enabled=info.validate),
            Dialect.V201,
            self,
            self.timers,
            call_timeout_s=info.call_timeout_s,
        )
        self.boot_status: str | None = None
        self.boot_reason = "PowerUp"
        self.boot_count = 0
        self.tx_seq = 0
        self.offset = timedelta(0)  # CSMS time minus board time
        self.synced = False
        self.last_known: datetime | None = None
        self.restored_at = 0.0
        self.reported: dict[int, str] = {}
        self.pending_auth: tuple[str, str | None, float] | None = None
        self.unlock_waiting: dict[int, str] = {}
        self.reset_pending: tuple[str, int | None] | None = None  # (OnIdle reset kind, evse id or None)
        self.event_seq = 0  # NotifyEvent eventId
        self.report_seq = 0
        self.offline_since: float | None = None
        self.txs: dict[int, transactions.Tx] = {}  # evse id -> its 2.0.1 transaction
        self.power_loss: dict[int, transactions.Tx] = {}
        self.network_profiles: dict[str, JsonObject] = {}  # B09: configurationSlot -> connection data
        self.slot_index = 0  # position in NetworkConfigurationPriority of the profile in use
        self.connect_failures = 0
        self.remote_starts: dict[int, int] = {}
        # evse id -> remoteStartId of a RequestStartTransaction; IdTokenType.type of tokens the CSMS sent
        self.token_types: dict[str, str] = {}
        self.last_timestamp: str | None = None  # station time of the call being handled (ClockCtrlr.DateTime)
        self._side: list[Action] = []
        self.smart = SmartCharging(info, self.transaction_id)
        self.registered = False  # this boot's BootNotification was Accepted
        self.security_state = SecurityState()  # certificates and security events (security.py)
        self.maintenance = Maintenance()  # firmware and log jobs (firmware.py)

    # -- the core's entry points ---------------------------------------------------------------------

    def handle(self, event: Event, now: Now) -> list[Action]:
        self.smart.moment = self.time(now)
        return self._finish(self._dispatch(event, now), now)

    def handle_timer(self, now: Now) -> list[Action]:
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
        actions += charging.rebalance(self, now)  # first: the charging state reported is the real one
        actions += transactions.sync(self, now)
        actions += self.sync_status(now)
        actions += calls.reset_when_idle(self, now)
        actions += firmware.when_idle(self, now)
        actions += self._side
        self._side = []
        return actions

    def side(self, actions: Sequence[Action]) -> None:
        """Queue actions produced inside a call handler (run after the handler's answer is sent)."""
        self._side += actions

    # -- the charging rules' Host protocol -----------------------------------------------------------

    def online(self) -> bool:
        return self.endpoint.connected and self.boot_status == "Accepted"

    def send_authorize(self, token: str, evse_id: int, now: Now, stop_for: int | None = None) -> list[Action]:
        """C01 AuthorizeRequest for a presented card."""
        kind = self.token_types.get(token, transactions.CARD)
        payload: JsonObject = {"idToken": transactions.id_token(token, kind)}
        meta: JsonObject = {"token": token, "evse": evse_id}
        if stop_for is not None:
            meta["stop_for"] = stop_for
        return self.enqueue("Authorize", payload, now, meta=meta)

    def start_tx(self, evse: Evse, now: Now) -> list[Action]:
        return transactions.session_ready(self, evse, now)

    def stop_tx(self, evse: Evse, reason: str, now: Now, id_tag: str | None = None) -> list[Action]:
        return transactions.session_stopped(self, evse, reason, now, id_tag)

    def transaction_id(self, evse: Evse) -> str | None:
        """The station-generated transactionId of the EVSE's transaction (2.0.1 TxProfile targets)."""
        tx = self.txs.get(evse.evse_id)
        return tx.transaction_id if tx is not None and evse.transaction is not None else None

    def on_authorized(self, evse: Evse, now: Now) -> list[Action]:
        return transactions.on_authorized(self, evse, now)

    # -- time ------------------------------------------------------------------------------------------

    def time(self, now: Now) -> datetime:
        """Station time: the board clock corrected by the CSMS offset, never before the last known time."""
        moment = now.utc + self.offset
        if not self.synced and self.last_known is not None and moment < self.last_known:
            moment = self.last_known + timedelta(seconds=max(0.0, now.monotonic - self.restored_at))
        return moment

    def timestamp(self, now: Now) -> str:
        return format_timestamp(self.time(now))

    def sync_clock(self, csms_time: object, now: Now) -> list[Action]:
        """B01.FR.06 / G02: adopt the CSMS time from BootNotification and Heartbeat responses."""
        moment = parse_timestamp(csms_time) if isinstance(csms_time, str) else None
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

    # -- events ----------------------------------------------------------------------------------------

    def _dispatch(self, event: Event, now: Now) -> list[Action]:
        match event:
            case TextReceived(text):
                return self.endpoint.receive(text, now)
            case PilotChanged(evse_id, state):
                evse = self.evses.get(evse_id)
                if evse is None:
                    return []
                return transactions.on_pilot(self, evse, state, now)
            case TokenPresented(_, token):
                return charging.on_token(self, token, now)
            case MeterSampled(evse_id, sample):
                return self._on_sample(evse_id, sample, now)
            case MeterReadFailed(evse_id, reason):
                return faults.meter_read_failed(self, evse_id, reason, now)
            case ContactorChanged(evse_id, closed):
                evse = self.evses.get(evse_id)
                if evse is None:
                    return []
                evse.contactor_closed = closed
                return transactions.on_contactor(self, evse, now)
            case FaultRaised(evse_id, code, info):
                return faults.on_fault(self, evse_id, code, info, now)
            case FaultCleared(evse_id, code):
                return faults.on_fault_cleared(self, evse_id, code, now)
            case LockResult(evse_id, locked, ok):
                return calls.on_lock_result(self, evse_id, locked, ok)
            case TransportOpened():
                return self._on_open(now)
            case TransportClosed(reason):
                was_open = self.endpoint.connected
                if was_open:
                    self.offline_since = now.monotonic
                actions: list[Action] = [Log(logging.INFO, f"offline: {reason}"), *self.endpoint.closed(now),
                                         *security.on_connection_failed(self, reason, now)]
                return actions if was_open else actions + network.next_profile_if_failing(self)
            case Restored(records):
                return self._restore(records, now)
            case SystemClockSet(shift_s):
                self.offset -= timedelta(seconds=shift_s)
                return [Log(logging.INFO, f"board clock set from the CSMS time ({shift_s:+.1f} s)"),
                        *security.on_clock_set(self, shift_s, now)]
            case ExternalLimitChanged(evse_id, limit_a):
                return smart.external_limit(self, evse_id, limit_a, now) if evse_id in self.evses else []
            case PkiResult():
                return security.on_pki_result(self, event, now)
            case JobProgress():
                return firmware.on_progress(self, event, now)
        return []  # pragma: no cover - the match is exhaustive over Event

    def _on_sample(self, evse_id: int, sample: object, now: Now) -> list[Action]:
        evse = self.evses.get(evse_id)
        if evse is None:
            return []
        evse.last_sample = sample  # type: ignore[assignment]
        evse.sample_at = self.smart.moment
        actions = faults.meter_read_ok(self, evse, now)
        if evse_id in self.power_loss:
            actions += transactions.finish_power_loss(self, evse_id, now)
        return actions

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
        event_seq = meta.get("event_seq", 0)  # NotifyEvent eventIds keep counting across restarts
        self.event_seq = event_seq if isinstance(event_seq, int) else 0
        reason = meta.get("boot_reason")
        self.boot_reason = reason if isinstance(reason, str) and reason in BOOT_REASONS else "PowerUp"
        last = meta.get("last_time")
        self.last_known = parse_timestamp(last) if isinstance(last, str) else None
        self.restored_at = now.monotonic
        for key, value in rows.get("availability", []):
            if key.isdigit() and int(key) in self.evses and isinstance(value, bool):
                self.evses[int(key)].operative = value
            if key == "0" and isinstance(value, bool):
                self.station_operative = value
        self.endpoint.restore(rows.get("outbox", []), self.boot_count)
        network.restore(self, rows.get("network_profile", []))
        actions: list[Action] = [
            Persist(META, "boot_count", self.boot_count),
            Persist(META, "boot_reason", "PowerUp"),  # B01: the next boot is a power-up unless told otherwise
            Log(logging.INFO, f"boot {self.boot_count} ({self.boot_reason}): "
                f"{len(self.endpoint.durable_messages())} transaction messages waiting"),
        ]
        for evse in self.evses.values():
            if not (evse.operative and self.station_operative):
                actions.append(SetEvseEnabled(evse.evse_id, False))
        actions.append(self.connection_settings())
        actions += restored
        actions += security.restore(self, rows, now)
        actions += firmware.restore(self, rows, now)
        actions += transactions.restore(self, rows.get(transactions.KIND, []), now)
        self.timers.set("lasttime", now.monotonic + 60)
        return actions

    # -- connection and boot ---------------------------------------------------------------------------

    def _on_open(self, now: Now) -> list[Action]:
        self.connect_failures = 0
        actions: list[Action] = [Log(logging.INFO, f"connected to the CSMS (network profile {self.slot()})")]
        if self.boot_status != "Accepted":
            self.timers.cancel("boot")
            actions += self.send_boot(now)
        else:
            connectors.reconnected(self, now)
        self.offline_since = None
        actions += self.endpoint.opened(now)
        return actions

    def send_boot(self, now: Now, triggered: bool = False) -> list[Action]:
        """B01: BootNotificationRequest with the reason of this boot."""
        info = self.info
        station: JsonObject = {"model": info.model, "vendorName": info.vendor}
        if info.serial_number:
            station["serialNumber"] = info.serial_number
        if info.firmware_version:
            station["firmwareVersion"] = info.firmware_version
        reason = "Triggered" if triggered else self.boot_reason
        if any(m.action == "BootNotification" for m in self.endpoint.queued()):
            return []
        meta: JsonObject = {"triggered": True} if triggered else {}
        return self.endpoint.enqueue(
            Outgoing("BootNotification", {"reason": reason, "chargingStation": station}, meta=meta), now,
            first=True,
        )

    # -- network profiles (B09, B10) ------------------------------------------------------------------

    def slot(self) -> str:
        """The configurationSlot of the network profile in use (``network.py``)."""
        return network.slot(self)

    def connection_settings(self) -> ConfigureConnection:
        """The shell's connection settings for the profile in use (``network.py``)."""
        return network.connection_settings(self)

    def enqueue(self, action: str, payload: JsonObject, now: Now, *, durable: bool = False,
                meta: JsonObject | None = None) -> list[Action]:
        return self.endpoint.enqueue(Outgoing(action, payload, meta=meta or {}), now, durable=durable)

    # EndpointListener ------------------------------------------------------------------------------------

    def may_send(self, msg: Outgoing) -> bool:
        if self.boot_status == "Accepted" or msg.action == "BootNotification":
            return True
        # B02.FR.02 / B03.FR.02: while Pending or Rejected nothing but BootNotification and, while
        # Pending, the messages the CSMS asked for (TriggerMessage, NotifyReport of a GetBaseReport).
        return self.boot_status == "Pending" and msg.meta.get("triggered") is True

    def prepare(self, msg: Outgoing) -> JsonObject | None:
        return transactions.prepare(self, msg)

    def retry_policy(self) -> tuple[int, float]:
        # E13.FR: MessageAttemptsTransactionEvent / MessageAttemptIntervalTransactionEvent.
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
            connectors.dropped(self, msg)  # B04.FR.02: sent again after reconnecting
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
            # B01.FR.04: the interval of an Accepted answer is the heartbeat interval.
            if interval_s:
                actions += self.settings.set("HeartbeatInterval", interval_s)
            self.arm_heartbeat(now)
            if not self.registered:
                self.registered = True
                actions += security.on_registered(self, now)
                actions += firmware.on_registered(self, now)
            charging.arm_aligned(self, now)
            self.reported.clear()
        else:
            # B02.FR.01 / B03.FR.01: Pending / Rejected: try again after the interval.
            self.timers.set("boot", now.monotonic + (interval_s or BOOT_RETRY_S))
        return actions

    def arm_heartbeat(self, now: Now) -> None:
        interval = self.settings.int("HeartbeatInterval")
        if interval > 0:
            self.timers.set("heartbeat", now.monotonic + interval)
        else:
            self.timers.cancel("heartbeat")

    # -- status (G01) ----------------------------------------------------------------------------------

    def connector_status(self, evse: Evse) -> str:
        return connectors.connector_status(self, evse)

    def sync_status(self, now: Now) -> list[Action]:
        """G01.FR.01: report every connector whose status changed (``status.py``)."""
        return connectors.sync_status(self, now)

    def report_status(self, evse: Evse, status: str, now: Now, triggered: bool = False) -> list[Action]:
        return connectors.report_status(self, evse, status, now, triggered)

    # -- timers ----------------------------------------------------------------------------------------

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
        if name == "reboot":
            return calls.reboot_now(self)
        if name == "smart":
            return []  # a period boundary: _finish re-applies the limits
        if name.startswith("sec."):
            return security.on_timer(self, name, now)
        if name.startswith(("fw.", "log.")):
            return firmware.on_timer(self, name, now)
        return transactions.on_timer(self, name, now)

    # -- read-only view for `chargepoint status` -------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        evses: list[dict[str, object]] = []
        for evse in self.evses.values():
            session = evse.session
            tx = self.txs.get(evse.evse_id)
            evses.append(
                {
                    "evse": evse.evse_id,
                    "status": self.connector_status(evse),
                    "charging_state": transactions.charging_state(evse),
                    "relay_closed": evse.contactor_closed,
                    "current_limit_a": evse.offered_a,
                    **self.smart.describe(evse),
                    "energy_wh": round(evse.energy_wh, 1),
                    "transaction_id": tx.transaction_id if tx else None,
                    "id_tag": session.id_tag[:4] + "…" if session and session.id_tag else None,
                    "operative": evse.operative,
                    "faults": {code.value: info for code, info in evse.faults.items()},
                }
            )
        return {
            "station_id": self.info.station_id,
            "ocpp_version": "2.0.1",
            "station_faults": {code.value: info for code, info in self.station_faults.items()},
            "connected": self.endpoint.connected,
            "registration": self.boot_status,
            "queued_transaction_messages": len(self.endpoint.durable_messages()),
            "evses": evses,
        }

"""The OCPP 2.0.1 side of the small test and demo CSMS (``csms.py``): one station's session.

Built on the ``ocpp`` library's v201 server side, which validates every station message against the
official 2.0.1 schemas; this class also checks timestamps (UTC, ``Z``, at most milliseconds) and that every
transaction's seqNo runs 0, 1, 2... without a gap or a repeat, and records each transaction's events.
Security and maintenance messages are recorded on the ``Csms`` as in 1.6 (see ``csms.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

if TYPE_CHECKING:
    from chargepoint.service.csms import Csms, _RecordingConnection


class StationSession201(OcppChargePoint):  # type: ignore[misc]
    """The CSMS's side of one OCPP 2.0.1 station's connection."""

    def __init__(self, station_id: str, connection: _RecordingConnection, csms: Csms) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.csms = csms

    def _token_info(self, token: dict[str, Any] | None) -> dict[str, str]:
        rejected = token is not None and token.get("id_token") in self.csms.policy.rejected_tokens
        return {"status": "Invalid" if rejected else "Accepted"}

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    async def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        await self.csms.delay()
        return call_result.BootNotification(current_time=self.csms.now(),
                                            interval=self.csms.policy.heartbeat_interval,
                                            status=self.csms.policy.boot_status)

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=self.csms.now())

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def on_status(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int) -> Any:
        self.csms.check_ts("StatusNotification", timestamp)
        return call_result.StatusNotification()

    @on(Action.authorize)  # type: ignore[untyped-decorator]
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        await self.csms.delay()
        return call_result.Authorize(id_token_info=self._token_info(id_token))

    @on(Action.transaction_event)  # type: ignore[untyped-decorator]
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                                   transaction_info: dict[str, Any], **kw: Any) -> Any:
        await self.csms.delay()
        self.csms.check_ts("TransactionEvent", timestamp)
        tx_id = transaction_info["transaction_id"]
        record = self.csms.transactions.setdefault(tx_id, {"events": [], "seq": []})
        if seq_no in record["seq"]:
            self.csms.violations.append(f"TransactionEvent {tx_id}: seqNo {seq_no} repeated")
        elif record["seq"] and seq_no != max(record["seq"]) + 1:
            last = max(record["seq"])
            self.csms.violations.append(f"TransactionEvent {tx_id}: seqNo {seq_no} after {last}")
        record["seq"].append(seq_no)
        record["events"].append({"event_type": event_type, "trigger_reason": trigger_reason, "seq_no": seq_no,
                                 "transaction_info": transaction_info, **kw})
        if "evse" in kw:
            record["evse"] = kw["evse"]["id"]
        for mv in kw.get("meter_value", []):
            for sv in mv["sampled_value"]:
                if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
                    key = {"Transaction.Begin": "meter_start", "Transaction.End": "meter_stop"}.get(
                        sv.get("context", ""))
                    if key:
                        record[key] = sv["value"]
        record.setdefault("start", timestamp)
        if event_type == "Ended":
            record["reason"] = transaction_info.get("stopped_reason")
            record["stop"] = timestamp
        token = kw.get("id_token")
        if token is not None:
            record.setdefault("id_token", token["id_token"])
            return call_result.TransactionEvent(id_token_info=self._token_info(token))
        return call_result.TransactionEvent()

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]]) -> Any:
        for mv in meter_value:
            self.csms.check_ts("MeterValues", mv.get("timestamp"))
        return call_result.MeterValues()

    @on(Action.notify_report)  # type: ignore[untyped-decorator]
    def on_notify_report(self, request_id: int, generated_at: str, seq_no: int, **kw: Any) -> Any:
        self.csms.check_ts("NotifyReport", generated_at)
        self.csms.reports.setdefault(request_id, []).append({"seq_no": seq_no, **kw})
        return call_result.NotifyReport()

    @on(Action.notify_event)  # type: ignore[untyped-decorator]
    def on_notify_event(self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]],
                        **_: Any) -> Any:
        self.csms.check_ts("NotifyEvent", generated_at)
        self.csms.events.extend(event_data)
        return call_result.NotifyEvent()

    @on(Action.reservation_status_update)  # type: ignore[untyped-decorator]
    def on_reservation_status(self, reservation_id: int, reservation_update_status: str) -> Any:
        return call_result.ReservationStatusUpdate()

    @on(Action.data_transfer)  # type: ignore[untyped-decorator]
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.firmware_status_notification)  # type: ignore[untyped-decorator]
    def on_firmware(self, status: str, **kw: Any) -> Any:
        self.csms.record_status(self.csms.firmware_statuses, "FirmwareStatusNotification", status,
                                kw.get("request_id"))
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)  # type: ignore[untyped-decorator]
    def on_log(self, status: str, **kw: Any) -> Any:
        self.csms.record_status(self.csms.log_statuses, "LogStatusNotification", status, kw.get("request_id"))
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)  # type: ignore[untyped-decorator]
    def on_security_event(self, timestamp: str, **kw: Any) -> Any:  # "type" would shadow the builtin
        self.csms.check_ts("SecurityEventNotification", timestamp)
        self.csms.record_security_event(kw["type"], timestamp, kw.get("tech_info"))
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)  # type: ignore[untyped-decorator]
    def on_sign_certificate(self, csr: str, **_: Any) -> Any:
        return call_result.SignCertificate(status=self.csms.accept_csr(csr))

    @after(Action.sign_certificate)  # type: ignore[untyped-decorator]
    def after_sign_certificate(self, csr: str, **kw: Any) -> None:
        kind = kw.get("certificate_type") or "ChargingStationCertificate"

        async def certificate_signed(chain: str) -> str:
            result = await self.call(call.CertificateSigned(certificate_chain=chain, certificate_type=kind))
            return str(result.status)

        self.csms.send_signed(csr, certificate_signed)

    @on(Action.notify_charging_limit)  # type: ignore[untyped-decorator]
    def on_notify_charging_limit(self, charging_limit: dict[str, Any], **kw: Any) -> Any:
        self.csms.limits.append(("NotifyChargingLimit", {"charging_limit": charging_limit, **kw}))
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)  # type: ignore[untyped-decorator]
    def on_cleared_charging_limit(self, charging_limit_source: str, **kw: Any) -> Any:
        self.csms.limits.append(("ClearedChargingLimit",
                                 {"charging_limit_source": charging_limit_source, **kw}))
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)  # type: ignore[untyped-decorator]
    def on_report_charging_profiles(self, request_id: int, charging_limit_source: str,
                                    charging_profile: list[dict[str, Any]], evse_id: int, **kw: Any) -> Any:
        self.csms.limits.append(("ReportChargingProfiles", {
            "request_id": request_id, "charging_limit_source": charging_limit_source,
            "charging_profile": charging_profile, "evse_id": evse_id, **kw}))
        return call_result.ReportChargingProfiles()

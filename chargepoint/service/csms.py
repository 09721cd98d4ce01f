"""A small OCPP 1.6J and 2.0.1 central system on loopback, built on the ``ocpp`` library's server side.

``chargepoint demo`` runs the station against it, and the pair tests use it as their CSMS. It is strict:
the ``ocpp`` library validates every message against the official schemas, and this class also checks what
the library does not (timestamps in UTC with ``Z`` and at most millisecond precision). Every frame is
recorded, so a test or the demo can show the exchange.

Security and maintenance (issue 7): given a ``SigningCa``, it answers SignCertificate and, shortly after,
sends CertificateSigned with the station's CSR signed by that CA (``CsmsPolicy.sign_certificate_status``,
``certificate_signed_delay_s``); it records SecurityEventNotification (``security_events``), the firmware
statuses (``firmware_statuses``: FirmwareStatusNotification, SignedFirmwareStatusNotification) and the log
statuses (``log_statuses``: DiagnosticsStatusNotification, LogStatusNotification), each with its requestId,
and the TLS client certificate of each connection (``peer_certificates``), so a system test can assert on
them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

STRICT_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")


@dataclass(slots=True)
class Frame:
    """One frame on the wire, as the CSMS saw it. ``direction`` is ``"<"`` from the station."""

    station_id: str
    direction: str
    text: str


@dataclass
class CsmsPolicy:
    """How the CSMS answers; tests change these between steps."""

    boot_status: str = "Accepted"
    heartbeat_interval: int = 300
    rejected_tokens: set[str] = field(default_factory=set)
    password: str | None = None  # basic auth expected from stations (profiles 1-2)
    answer_delay_s: float = 0.0
    sign_certificate_status: str = "Accepted"  # the answer to SignCertificate (Rejected without a CA)
    certificate_signed_delay_s: float | None = 0.05  # then CertificateSigned after this; None: never


@dataclass(frozen=True)
class SigningCa:
    """The CA a test CSMS signs stations' CSRs with (2.0.1 A02 / A03, the 1.6 security whitepaper's
    SignCertificate / CertificateSigned). Install ``pem`` on the station as its CentralSystemRootCertificate
    so that the certificate it signs chains to an installed root."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    leaf_validity: timedelta = timedelta(days=30)

    @classmethod
    def generate(cls, name: str = "Test CSMS Root CA", validity: timedelta = timedelta(days=365),
                 leaf_validity: timedelta = timedelta(days=30)) -> SigningCa:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + validity)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(cert, key, leaf_validity)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def sign(self, csr_pem: str) -> str:
        """The certificate chain (leaf, then this CA) for a CSR; the subject is the CSR's, as is."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature does not verify")
        now = datetime.now(UTC)
        leaf = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.certificate.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=1))
                .not_valid_after(min(now + self.leaf_validity, self.certificate.not_valid_after_utc))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                       for c in (leaf, self.certificate))


class _RecordingConnection:
    """Wraps a server connection so every frame in and out is recorded."""

    def __init__(self, ws: ServerConnection, station_id: str, frames: list[Frame],
                 notify: Callable[[], None]) -> None:
        self._ws = ws
        self._id = station_id
        self._frames = frames
        self._notify = notify

    async def recv(self) -> str:
        text = await self._ws.recv()
        assert isinstance(text, str)
        self._frames.append(Frame(self._id, "<", text))
        self._notify()
        return text

    async def send(self, text: str) -> None:
        self._frames.append(Frame(self._id, ">", text))
        self._notify()
        await self._ws.send(text)


class StationSession(OcppChargePoint):  # type: ignore[misc]
    """The CSMS's side of one station's connection."""

    def __init__(self, station_id: str, connection: _RecordingConnection, csms: Csms) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.csms = csms

    def _now(self) -> str:
        return self.csms.now()

    def _check_ts(self, action: str, *values: Any) -> None:
        self.csms.check_ts(action, *values)

    async def _delay(self) -> None:
        await self.csms.delay()

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    async def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        await self._delay()
        return call_result.BootNotification(
            current_time=self._now(),
            interval=self.csms.policy.heartbeat_interval,
            status=RegistrationStatus(self.csms.policy.boot_status),
        )

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=self._now())

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def on_status(self, connector_id: int, error_code: str, status: str, **kw: Any) -> Any:
        self._check_ts("StatusNotification", kw.get("timestamp"))
        return call_result.StatusNotification()

    def _id_tag_info(self, id_tag: str) -> dict[str, str]:
        rejected = id_tag in self.csms.policy.rejected_tokens
        status = AuthorizationStatus.invalid if rejected else AuthorizationStatus.accepted
        return {"status": status.value}

    @on(Action.authorize)  # type: ignore[untyped-decorator]
    async def on_authorize(self, id_tag: str) -> Any:
        await self._delay()
        return call_result.Authorize(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.start_transaction)  # type: ignore[untyped-decorator]
    async def on_start(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                       **_: Any) -> Any:
        await self._delay()
        self._check_ts("StartTransaction", timestamp)
        tx_id = next(self.csms.tx_ids)
        self.csms.transactions[tx_id] = {"connector": connector_id, "id_tag": id_tag,
                                         "meter_start": meter_start, "start": timestamp}
        return call_result.StartTransaction(transaction_id=tx_id, id_tag_info=self._id_tag_info(id_tag))

    @on(Action.stop_transaction)  # type: ignore[untyped-decorator]
    async def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any) -> Any:
        await self._delay()
        self._check_ts("StopTransaction", timestamp)
        record = self.csms.transactions.setdefault(transaction_id, {})
        record.update({"meter_stop": meter_stop, "stop": timestamp, "reason": kw.get("reason")})
        return call_result.StopTransaction()

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        for mv in meter_value:
            self._check_ts("MeterValues", mv.get("timestamp"))
        return call_result.MeterValues()

    @on(Action.data_transfer)  # type: ignore[untyped-decorator]
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)  # type: ignore[untyped-decorator]
    def on_diag(self, status: str) -> Any:
        self.csms.record_status(self.csms.log_statuses, "DiagnosticsStatusNotification", status, None)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)  # type: ignore[untyped-decorator]
    def on_firmware(self, status: str) -> Any:
        self.csms.record_status(self.csms.firmware_statuses, "FirmwareStatusNotification", status, None)
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)  # type: ignore[untyped-decorator]
    def on_signed_firmware(self, status: str, request_id: int | None = None) -> Any:
        self.csms.record_status(self.csms.firmware_statuses, "SignedFirmwareStatusNotification", status,
                                request_id)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)  # type: ignore[untyped-decorator]
    def on_log(self, status: str, request_id: int | None = None) -> Any:
        self.csms.record_status(self.csms.log_statuses, "LogStatusNotification", status, request_id)
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)  # type: ignore[untyped-decorator]
    def on_security_event(self, timestamp: str, **kw: Any) -> Any:  # "type" would shadow the builtin
        self._check_ts("SecurityEventNotification", timestamp)
        self.csms.record_security_event(kw["type"], timestamp, kw.get("tech_info"))
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)  # type: ignore[untyped-decorator]
    def on_sign_certificate(self, csr: str) -> Any:
        return call_result.SignCertificate(status=self.csms.accept_csr(csr))

    @after(Action.sign_certificate)  # type: ignore[untyped-decorator]
    def after_sign_certificate(self, csr: str) -> None:
        async def certificate_signed(chain: str) -> str:
            result = await self.call(call.CertificateSigned(certificate_chain=chain))
            return str(result.status)

        self.csms.send_signed(csr, certificate_signed)


class Csms:
    """The central system: a websockets server plus the sessions of connected stations."""

    def __init__(self, policy: CsmsPolicy | None = None, ssl_context: ssl.SSLContext | None = None,
                 ca: SigningCa | None = None) -> None:
        self.policy = policy or CsmsPolicy()
        self.ssl_context = ssl_context
        self.frames: list[Frame] = []
        self.violations: list[str] = []
        self.sessions: dict[str, Any] = {}  # station id -> StationSession / StationSession201
        self.transactions: dict[Any, dict[str, Any]] = {}  # 1.6: int ids we gave; 2.0.1: the station's ids
        self.reports: dict[int, list[dict[str, Any]]] = {}  # 2.0.1 NotifyReport parts per requestId
        self.events: list[dict[str, Any]] = []  # 2.0.1 NotifyEvent eventData
        self.limits: list[tuple[str, dict[str, Any]]] = []  # 2.0.1 (action, payload) of K09/K12/K13 messages
        self.tx_ids = itertools.count(1001)
        self.auth_failures = 0
        self.ca = ca
        self.csrs: list[str] = []  # every CSR a station sent (SignCertificate)
        self.certificates_signed: list[str] = []  # the station's answers to our CertificateSigned
        self.security_events: list[dict[str, Any]] = []  # {"type", "timestamp", "tech_info"}
        self.firmware_statuses: list[dict[str, Any]] = []  # {"action", "status", "request_id"}
        self.log_statuses: list[dict[str, Any]] = []  # {"action", "status", "request_id"}
        # (station id, DER of the TLS client certificate or None) of every connection, in order: which
        # certificate a station presented (security profile 3, A02.FR.08 "used from the next connection").
        self.peer_certificates: list[tuple[str, bytes | None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/ocpp"

    async def start(self, port: int = 0) -> str:
        self._server = await serve(
            self._handler, "127.0.0.1", port, subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            ssl=self.ssl_context, process_request=self._check_auth,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.policy.password is None:
            return None
        station_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        expected = base64.b64encode(f"{station_id}:{self.policy.password}".encode()).decode()
        if request.headers.get("Authorization") == f"Basic {expected}":
            return None
        self.auth_failures += 1
        return Response(HTTPStatus.UNAUTHORIZED, "Unauthorized", Headers(), b"")

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else "/"
        station_id = path.rstrip("/").rsplit("/", 1)[-1]
        connection = _RecordingConnection(ws, station_id, self.frames, self._notify)
        ssl_object = ws.transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
        self.peer_certificates.append((station_id, peer))
        session: Any
        if ws.subprotocol == "ocpp2.0.1":
            from chargepoint.service.csms201 import StationSession201

            session = StationSession201(station_id, connection, self)
        else:
            session = StationSession(station_id, connection, self)
        self.sessions[station_id] = session
        self._notify()  # a waiter for the session wakes now, not at the station's first frame
        with contextlib.suppress(Exception):
            await session.start()
        if self.sessions.get(station_id) is session:
            del self.sessions[station_id]
        self._notify()

    def now(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def check_ts(self, action: str, *values: Any) -> None:
        """Strict CSMSs reject anything but UTC with Z and at most milliseconds."""
        for value in values:
            if isinstance(value, str) and not STRICT_TS.match(value):
                self.violations.append(f"{action}: timestamp {value!r} is not UTC/Z/ms")

    async def delay(self) -> None:
        if self.policy.answer_delay_s:
            await asyncio.sleep(self.policy.answer_delay_s)

    def _notify(self) -> None:
        self._changed.set()

    # -- security and maintenance (both versions' sessions call these) ---------------------------------

    def record_status(self, into: list[dict[str, Any]], action: str, status: str, request_id: int | None,
                      ) -> None:
        into.append({"action": action, "status": status, "request_id": request_id})
        self._notify()

    def record_security_event(self, kind: str, timestamp: str, tech_info: str | None) -> None:
        self.security_events.append({"type": kind, "timestamp": timestamp, "tech_info": tech_info})
        self._notify()

    def accept_csr(self, csr: str) -> str:
        """The SignCertificate status: the policy's, or Rejected when there is no CA to sign with."""
        self.csrs.append(csr)
        self._notify()
        return self.policy.sign_certificate_status if self.ca is not None else "Rejected"

    def send_signed(self, csr: str, certificate_signed: Callable[[str], Awaitable[str]]) -> None:
        """After an accepted SignCertificate: sign the CSR and send CertificateSigned after the policy's
        delay (the station must not get it before its SignCertificate has been answered)."""
        delay = self.policy.certificate_signed_delay_s
        if self.ca is None or delay is None or self.policy.sign_certificate_status != "Accepted":
            return
        ca = self.ca

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                chain = ca.sign(csr)
            except ValueError as err:
                self.violations.append(f"SignCertificate: unusable CSR ({err})")
                return
            self.certificates_signed.append(await certificate_signed(chain))
            self._notify()

        task = asyncio.create_task(later(), name="csms-certificate-signed")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked after every frame)."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def received(self, action: str) -> list[list[Any]]:
        """Every CALL of ``action`` the stations sent, decoded."""
        import json

        out = []
        for frame in self.frames:
            if frame.direction == "<":
                msg = json.loads(frame.text)
                if msg[0] == 2 and msg[2] == action:
                    out.append(msg)
        return out

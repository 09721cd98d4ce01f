"""The OCPP-J WebSocket client: security profiles 0-3, subprotocol check, pings, reconnect forever.

OCPP-J 1.6 §3 / OCPP 2.0.1 part 4 §3 (connection), the OCPP 1.6 security whitepaper / 2.0.1 A00 (profiles:
1 basic auth over ws, 2 TLS + basic auth, 3 mutual TLS). A missed pong or a half-open TCP connection shows as
a closed connection (websockets' keepalive), after which we reconnect with exponential back-off and jitter.

Why a connection failed reaches the core as ``TransportClosed.reason``: it starts with
``invalid-csms-certificate`` when the CSMS's TLS certificate did not verify (1.6 security whitepaper
InvalidCentralSystemCertificate, 2.0.1 InvalidCsmsCertificate) and with ``authentication-failed``
when the CSMS answered the upgrade with HTTP 401 (wrong Basic-auth password or client certificate).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

log = logging.getLogger(__name__)


class TransportError(Exception):
    """Root of the transport's errors."""


class ProfileViolation(TransportError):
    """The settings contradict the security profile (e.g. profile 2 over ws://); we refuse to connect."""


class NotConnected(TransportError):
    """There is no open connection to send on."""


@dataclass(frozen=True, slots=True)
class TransportSettings:
    url: str
    station_id: str
    subprotocol: str
    security_profile: int = 0
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ping_interval_s: float | None = 30.0
    open_timeout_s: float = 10.0
    backoff: tuple[float, float, int] | None = None  # OCPP 2.0.1 B10 (wait minimum, random range, repeats)
    # The CSMS roots installed through InstallCertificate (1.6 CentralSystemRootCertificate, 2.0.1
    # CSMSRootCertificate), one PEM bundle: trusted besides ca_file (M05: the CSMS may move to a new root).
    csms_roots: Path | None = None


def station_url(settings: TransportSettings) -> str:
    """The CSMS URL with the station id as the last path segment (OCPP-J 1.6 §3.1.1)."""
    return settings.url.rstrip("/") + "/" + quote(settings.station_id, safe="")


def basic_auth_header(station_id: str, password: str) -> str:
    """HTTP Basic authentication with the station id as user name (security whitepaper §2.3)."""
    return "Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode()


def check_profile(settings: TransportSettings) -> None:
    profile, secure = settings.security_profile, settings.url.startswith("wss://")
    if profile in (2, 3) and not secure:
        raise ProfileViolation(f"security profile {profile} needs a wss:// URL")
    if profile in (1, 2) and not settings.password:
        raise ProfileViolation(f"security profile {profile} needs a password")
    if profile == 3 and not (settings.client_cert and settings.client_key):
        raise ProfileViolation("security profile 3 needs a client certificate and key")


def build_ssl_context(settings: TransportSettings) -> ssl.SSLContext | None:
    if not settings.url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.csms_roots is not None:
        try:
            context.load_verify_locations(cafile=str(settings.csms_roots))
        except (OSError, ssl.SSLError) as err:
            # Deleted or damaged since it was handed over: ca_file (or the system store) still applies.
            log.warning("installed CSMS roots %s not used: %s", settings.csms_roots, err)
    if settings.security_profile == 3 and settings.client_cert and settings.client_key:
        context.load_cert_chain(str(settings.client_cert), str(settings.client_key))
    return context


INVALID_CSMS_CERTIFICATE = "invalid-csms-certificate"
AUTHENTICATION_FAILED = "authentication-failed"


def failure_reason(err: BaseException) -> str:
    """The ``TransportClosed`` reason for a failed connection: a fixed prefix for the failures the core
    turns into security events, then the exception for the log."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"{INVALID_CSMS_CERTIFICATE}: {text}"
    if isinstance(err, InvalidStatus) and err.response.status_code == 401:
        return f"{AUTHENTICATION_FAILED}: {text}"
    return text


def ocpp_backoff(wait_min_s: float, random_range_s: float, repeat_times: int,
                 rng: random.Random | None = None) -> Iterator[float]:
    """OCPP 2.0.1 B10.FR.03-05: the first retry after the wait minimum plus a random part of the range; the
    wait doubles on each retry up to RetryBackOffRepeatTimes doublings, then stays."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    attempt = 0
    while True:
        yield wait_min_s * 2 ** min(attempt, repeat_times) + rng.uniform(0, random_range_s)
        attempt += 1


def backoff(
    min_s: float = 1.0, max_s: float = 60.0, factor: float = 2.0, jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Exponential back-off delays with +/- ``jitter`` (a fraction) randomisation, capped at ``max_s``."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    delay = min_s
    while True:
        yield max(0.0, delay * (1 + rng.uniform(-jitter, jitter)))
        delay = min(max_s, delay * factor)


class TransportHandler(Protocol):
    def on_open(self, subprotocol: str) -> None: ...

    def on_text(self, text: str) -> None: ...

    def on_close(self, reason: str) -> None: ...


class Transport:
    """One WebSocket to the CSMS, reopened forever until ``stop``."""

    def __init__(self, settings: TransportSettings, handler: TransportHandler, *,
                 backoff_factory: Callable[[], Iterator[float]] = backoff) -> None:
        check_profile(settings)
        self._settings = settings
        self._handler = handler
        self._backoff_factory = backoff_factory
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._reconnect = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def _delays(self) -> Iterator[float]:
        configured = self._settings.backoff
        return ocpp_backoff(*configured) if configured is not None else self._backoff_factory()

    def update_settings(self, settings: TransportSettings) -> None:
        check_profile(settings)
        self._settings = settings

    def reconnect(self, reason: str) -> None:
        log.info("reconnecting: %s", reason)
        self._reconnect.set()

    async def send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise NotConnected("not connected to the CSMS")
        try:
            await ws.send(text)
        except ConnectionClosed as err:
            raise NotConnected("the connection closed") from err

    async def stop(self) -> None:
        self._stopping = True
        self._reconnect.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "station stopping")

    async def run(self) -> None:
        delays = self._delays()
        while not self._stopping:
            # Cleared before the settings are read, never after the handshake: a reconnect asked for while
            # a handshake runs (a new client certificate, new settings) or a stop then is not lost.
            self._reconnect.clear()
            settings = self._settings
            url = station_url(settings)
            headers = {}
            if settings.security_profile in (1, 2) and settings.password:
                headers["Authorization"] = basic_auth_header(settings.station_id, settings.password)
            reason = "closed"
            try:
                async with connect(
                    url,
                    subprotocols=[settings.subprotocol],  # type: ignore[list-item]
                    ssl=build_ssl_context(settings),
                    additional_headers=headers,
                    ping_interval=settings.ping_interval_s or None,
                    ping_timeout=settings.ping_interval_s or None,
                    open_timeout=settings.open_timeout_s,
                    close_timeout=2.0,  # a CSMS that never answers our close must not hold up a shutdown
                    max_size=2**20,
                ) as ws:
                    if ws.subprotocol != settings.subprotocol:
                        # OCPP-J 1.6 §3.1.2: without the agreed subprotocol there is no OCPP session.
                        await ws.close(1002, "subprotocol not agreed")
                        raise TransportError(f"the CSMS did not accept subprotocol {settings.subprotocol}")
                    if self._stopping:  # stop() came during the handshake, with no connection to close
                        await ws.close(1000, "station stopping")
                        return
                    log.info("connected to %s (%s)", url, ws.subprotocol)
                    delays = self._delays()
                    self._ws = ws
                    self._handler.on_open(str(ws.subprotocol))
                    reason = await self._receive(ws)
            except (OSError, TimeoutError, TransportError, ConnectionClosed, ssl.SSLError) as err:
                reason = failure_reason(err)
            except Exception as err:  # any other handshake failure (e.g. HTTP 401): retry, never crash
                reason = failure_reason(err)
            finally:
                if self._ws is not None:
                    self._ws = None
                    self._handler.on_close(reason)
                else:
                    self._handler.on_close(reason)
            if self._stopping:
                return
            delay = next(delays)
            log.info("connection to %s lost (%s); retrying in %.1f s", url, reason, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._reconnect.wait()

    async def _receive(self, ws: ClientConnection) -> str:
        receiver = asyncio.ensure_future(self._recv_loop(ws))
        waiter = asyncio.ensure_future(self._reconnect.wait())
        done, _ = await asyncio.wait({receiver, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done:
            receiver.cancel()
            with contextlib.suppress(Exception):
                await ws.close(1000, "reconnecting")
            return "reconnect requested"
        waiter.cancel()
        return receiver.result()

    async def _recv_loop(self, ws: ClientConnection) -> str:
        try:
            async for message in ws:
                if isinstance(message, str):
                    self._handler.on_text(message)
                else:
                    log.warning("dropped a binary frame from the CSMS (OCPP-J uses text frames)")
        except ConnectionClosed as err:
            return f"closed ({err.rcvd.code if err.rcvd else 'no close frame'})"
        return "closed by the CSMS"



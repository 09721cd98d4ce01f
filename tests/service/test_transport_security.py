"""The transport against a real CSMS on loopback: security profiles 1-3 with certificates made in the test,
refusals that never crash the station, back-off, and no password in any log line."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

from chargepoint.service.csms import Csms, CsmsPolicy
from chargepoint.service.transport import (
    NotConnected,
    ProfileViolation,
    Transport,
    TransportSettings,
    backoff,
    basic_auth_header,
    station_url,
)
from tests.service.pki import Pki, make_pki

PASSWORD = "s3cret-Passw0rd-123456"


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()

    def on_open(self, subprotocol: str) -> None:
        self.events.append(f"open {subprotocol}")
        self.opened.set()

    def on_text(self, text: str) -> None:
        self.events.append(text)

    def on_close(self, reason: str) -> None:
        self.events.append(f"close {reason}")
        self.closed.set()


def fast() -> object:
    return backoff(0.05, 0.2)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", client_cn="CP-TLS")


async def run_until_open(settings: TransportSettings, timeout: float = 5) -> tuple[Transport, Recorder,
                                                                                    asyncio.Task[None]]:
    recorder = Recorder()
    transport = Transport(settings, recorder, backoff_factory=fast)  # type: ignore[arg-type]
    task = asyncio.create_task(transport.run())
    async with asyncio.timeout(timeout):
        await recorder.opened.wait()
    return transport, recorder, task


async def stop(transport: Transport, task: asyncio.Task[None]) -> None:
    await transport.stop()
    async with asyncio.timeout(5):
        await task


def test_url_and_basic_auth_header() -> None:
    settings = TransportSettings("wss://h/ocpp/", "CP 1", "ocpp1.6")
    assert station_url(settings) == "wss://h/ocpp/CP%201"
    assert basic_auth_header("CP1", "pw") == "Basic Q1AxOnB3"
    assert PASSWORD not in repr(TransportSettings("ws://h", "CP1", "ocpp1.6", 1, PASSWORD))


@pytest.mark.parametrize(("url", "profile", "extra"), [
    ("ws://127.0.0.1:1/ocpp", 2, {"password": PASSWORD}),
    ("ws://127.0.0.1:1/ocpp", 3, {}),
    ("wss://127.0.0.1:1/ocpp", 3, {}),
    ("ws://127.0.0.1:1/ocpp", 1, {}),
])
def test_profile_violations_refuse_to_run(url: str, profile: int, extra: dict[str, object]) -> None:
    with pytest.raises(ProfileViolation):
        Transport(TransportSettings(url, "CP1", "ocpp1.6", profile, **extra), Recorder())  # type: ignore[arg-type]


def test_backoff_grows_caps_and_jitters() -> None:
    delays = backoff(1.0, 8.0, rng=random.Random(1))
    values = [next(delays) for _ in range(8)]
    assert all(0.5 <= values[0] <= 1.5 for _ in [0])
    assert max(values) <= 8.0 * 1.5 and values[5] >= 4.0
    assert len({round(v, 6) for v in values}) == len(values)  # jittered, not a fixed ladder


async def test_profile_1_basic_auth_and_wrong_password_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csms = Csms(CsmsPolicy(password=PASSWORD))
    url = await csms.start()
    try:
        wrong = TransportSettings(url, "CP-TLS", "ocpp1.6", 1, "wrong-password-1234")
        recorder = Recorder()
        transport = Transport(wrong, recorder, backoff_factory=fast)  # type: ignore[arg-type]
        task = asyncio.create_task(transport.run())
        async with asyncio.timeout(5):
            while csms.auth_failures < 2:
                await asyncio.sleep(0.02)
        assert not transport.connected
        with pytest.raises(NotConnected):
            await transport.send("[]")
        transport.update_settings(TransportSettings(url, "CP-TLS", "ocpp1.6", 1, PASSWORD))
        async with asyncio.timeout(5):
            await recorder.opened.wait()
        await stop(transport, task)
    finally:
        await csms.close()
    assert PASSWORD not in caplog.text and "wrong-password-1234" not in caplog.text


async def test_profile_2_tls_with_the_configured_ca(pki: Pki) -> None:
    csms = Csms(CsmsPolicy(password=PASSWORD), ssl_context=pki.server_context())
    url = await csms.start()
    try:
        transport, recorder, task = await run_until_open(
            TransportSettings(url, "CP-TLS", "ocpp1.6", 2, PASSWORD, ca_file=pki.ca_file))
        assert recorder.events[0] == "open ocpp1.6"
        await stop(transport, task)
    finally:
        await csms.close()


async def test_profile_2_untrusted_server_is_refused_and_retried(pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    csms = Csms(ssl_context=pki.server_context())
    url = await csms.start()
    try:
        recorder = Recorder()
        transport = Transport(TransportSettings(url, "CP-TLS", "ocpp1.6", 2, PASSWORD, ca_file=other.ca_file),
                              recorder, backoff_factory=fast)  # type: ignore[arg-type]
        task = asyncio.create_task(transport.run())
        async with asyncio.timeout(5):
            while sum(e.startswith("close") for e in recorder.events) < 2:
                await asyncio.sleep(0.02)
        assert not recorder.opened.is_set()
        assert any("CERTIFICATE_VERIFY_FAILED" in e or "SSL" in e for e in recorder.events)
        await stop(transport, task)
    finally:
        await csms.close()


async def test_profile_3_mutual_tls(pki: Pki) -> None:
    csms = Csms(ssl_context=pki.server_context(require_client_cert=True))
    url = await csms.start()
    try:
        settings = TransportSettings(url, "CP-TLS", "ocpp1.6", 3, ca_file=pki.ca_file,
                                     client_cert=pki.client_cert, client_key=pki.client_key)
        transport, _, task = await run_until_open(settings)
        await stop(transport, task)
        # A station without a valid client certificate is not let in.
        other = make_pki(pki.ca_file.parent.parent / "rogue")
        rogue = TransportSettings(url, "CP-TLS", "ocpp1.6", 3, ca_file=pki.ca_file,
                                  client_cert=other.client_cert, client_key=other.client_key)
        recorder = Recorder()
        transport = Transport(rogue, recorder, backoff_factory=fast)  # type: ignore[arg-type]
        task = asyncio.create_task(transport.run())
        async with asyncio.timeout(5):
            await recorder.closed.wait()
        await asyncio.sleep(0.2)
        assert not recorder.opened.is_set()
        await stop(transport, task)
    finally:
        await csms.close()


async def test_reconnects_after_the_server_drops_the_connection() -> None:
    csms = Csms()
    url = await csms.start()
    try:
        transport, recorder, task = await run_until_open(TransportSettings(url, "CP-1", "ocpp1.6", 0))
        recorder.opened.clear()
        for session in list(csms.sessions.values()):
            await session._connection._ws.close()
        async with asyncio.timeout(5):
            await recorder.opened.wait()
        kinds = [e.split()[0] for e in recorder.events]
        assert kinds[:3] == ["open", "close", "open"]
        await stop(transport, task)
    finally:
        await csms.close()


async def test_missed_pong_is_noticed_and_the_station_reconnects() -> None:
    """A half-open connection (the CSMS stops reading: no pong comes back) is closed by the ping timeout
    (WebSocketPingInterval) and the station connects again."""
    from websockets.asyncio.server import ServerConnection, serve

    connections: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        if len(connections) == 1:
            ws.transport.pause_reading()  # frozen peer: pings are never read, so never answered
            await asyncio.sleep(3)
        else:
            await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                         close_timeout=0.2)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = TransportSettings(f"ws://127.0.0.1:{port}/ocpp", "CP-1", "ocpp1.6", 0, ping_interval_s=0.2)
        transport, recorder, task = await run_until_open(settings)
        recorder.opened.clear()
        async with asyncio.timeout(5):
            await recorder.opened.wait()  # a second connection after the missed pong
        assert len(connections) == 2
        assert any(e.startswith("close") for e in recorder.events)
        await stop(transport, task)
    finally:
        server.close()

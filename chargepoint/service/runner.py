"""The runner: the one task that owns the core, executes its actions and arms its one timer.

Everything else is a producer of events (transport, pilot, readers, meter polling, control socket) feeding
one queue. Order rules: store writes (``Persist``/``Forget``) are batched and awaited before any later
action runs, so a transaction message is on disk before it is sent. Device commands go to one worker per
EVSE so a slow or dead device never stalls the core; their outcomes come back as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from chargepoint.core.actions import (
    Action,
    CancelJob,
    ConfigureConnection,
    Forget,
    Log,
    Persist,
    PkiCommand,
    Reboot,
    RebootKind,
    Reconnect,
    RecordSecurityEvent,
    SendText,
    SetContactor,
    SetEvseEnabled,
    SetLock,
    SetPilotCurrent,
    SetSystemClock,
    StartJob,
)
from chargepoint.core.clock import Now
from chargepoint.core.events import (
    ContactorChanged,
    Event,
    FaultCleared,
    FaultRaised,
    LockResult,
    MeterReadFailed,
    MeterSampled,
    PilotChanged,
    Restored,
    SystemClockSet,
    TextReceived,
    TokenPresented,
    TransportClosed,
    TransportOpened,
)
from chargepoint.core.station import Core
from chargepoint.service.hardware import close_devices
from chargepoint.service.logs import redact
from chargepoint.service.maintenance import Maintenance
from chargepoint.service.persistence import AsyncStore
from chargepoint.service.systemd import Notifier, watchdog_interval_s
from chargepoint.service.transport import NotConnected, ProfileViolation, Transport, TransportSettings
from hal.errors import DeviceFault, HalError
from hal.station import EvseHardware, StationHardware
from hal.token_reader import TokenReader
from hal.types import FaultCode

log = logging.getLogger(__name__)
frames = logging.getLogger("chargepoint.frames")

METER_POLL_S = 1.0
DEVICE_RETRY_S = 5.0
READER_RECOVERED_S = 2.0

DeviceCommand = SetContactor | SetPilotCurrent | SetEvseEnabled | SetLock
# Executed in order behind the store writes before them: a firmware install (whose hook may reboot the
# board) starts only once the state that says "installing" is on disk.
ORDERED = (SendText, Reconnect, Reboot, PkiCommand, StartJob, CancelJob, RecordSecurityEvent)


def wall_now() -> Now:
    """Read both clocks: the only place the station reads the time."""
    return Now(time.monotonic(), datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class RunResult:
    """Why ``run`` returned: a reset the CSMS asked for, or a plain stop."""

    reboot: RebootKind | None = None


class _TransportEvents:
    """Turns transport callbacks into core events without ever blocking the receive loop."""

    def __init__(self, queue: asyncio.Queue[Event]) -> None:
        self._queue = queue

    def on_open(self, subprotocol: str) -> None:
        self._queue.put_nowait(TransportOpened(subprotocol))

    def on_text(self, text: str) -> None:
        if frames.isEnabledFor(logging.DEBUG):
            frames.debug("< %s", redact(text))
        self._queue.put_nowait(TextReceived(text))

    def on_close(self, reason: str) -> None:
        self._queue.put_nowait(TransportClosed(reason))


class Runner:
    """Wires one core to its store, its transport and its devices, and runs them."""

    def __init__(
        self,
        core: Core,
        store: AsyncStore,
        transport_settings: TransportSettings,
        hardware: StationHardware,
        *,
        clock: Callable[[], Now] = wall_now,
        meter_poll_s: float = METER_POLL_S,
        on_ready: Callable[[], None] | None = None,
        notifier: Notifier | None = None,
        maintenance: Maintenance | None = None,
    ) -> None:
        self.core = core
        self.store = store
        self.hardware = hardware
        self.clock = clock
        self.meter_poll_s = meter_poll_s
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.transport_settings = transport_settings
        self._installed = transport_settings  # the config file's connection (network profile slot 1)
        self.transport = Transport(transport_settings, _TransportEvents(self.events))
        self._device_queues: dict[int, asyncio.Queue[DeviceCommand]] = {
            e.evse_id: asyncio.Queue() for e in hardware.evses
        }
        self._evse_hw = {e.evse_id: e for e in hardware.evses}
        self._stop = asyncio.Event()
        self._io: asyncio.Queue[tuple[list[Persist | Forget], Action | None]] = asyncio.Queue()
        self._result = RunResult()
        self._on_ready = on_ready
        self.notifier = notifier or Notifier(address="")
        self._alive = 0.0  # monotonic time of the core loop's last turn (the watchdog's proof of progress)
        self.maintenance = maintenance
        if maintenance is not None:
            maintenance.attach(self.events.put_nowait, self.use_client_certificate, self.use_csms_roots)

    # -- public ------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to return (SIGTERM / SIGINT)."""
        self._stop.set()

    def snapshot(self) -> dict[str, object]:
        return self.core.snapshot()

    async def run(self) -> RunResult:
        records = await self.store.load()
        await self._execute(self.core.handle(Restored(tuple(records)), self.clock()))
        io = asyncio.create_task(self._io_task(), name="io")
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self.transport.run(), name="transport"),
                    group.create_task(self._core_loop(), name="core"),
                ]
                for evse in self.hardware.evses:
                    tasks.append(group.create_task(self._pilot_task(evse), name=f"pilot-{evse.evse_id}"))
                    tasks.append(group.create_task(self._meter_task(evse), name=f"meter-{evse.evse_id}"))
                    tasks.append(group.create_task(self._device_worker(evse), name=f"dev-{evse.evse_id}"))
                for reader in self.hardware.readers:
                    tasks.append(group.create_task(self._reader_task(reader), name=f"rfid-{reader.name}"))
                tasks.append(group.create_task(self._systemd_task(), name="systemd"))
                # READY once the state is loaded and the devices run; the CSMS may well be unreachable.
                self.notifier.notify("READY=1", f"STATUS={self._status_line()}")
                if self._on_ready is not None:
                    self._on_ready()
                await self._stop.wait()
                self.notifier.notify("STOPPING=1", "STATUS=stopping")
                for task in tasks:
                    if task.get_name() != "transport":
                        task.cancel()
                await self._drain_io()  # the last StopTransaction may still go out
                await self.transport.stop()
        finally:
            await self._drain_io()
            io.cancel()
            await self.transport.stop()
            if self.maintenance is not None:
                await self.maintenance.close()  # jobs stop; the security log is flushed
            await close_devices(self.hardware)  # the contactors open; ports are released
        return self._result

    # -- the core loop -----------------------------------------------------------------------------

    async def _core_loop(self) -> None:
        while True:
            self._alive = time.monotonic()
            deadline = self.core.next_deadline()
            # Wake at least every second, so the watchdog sees a live loop even when nothing happens.
            timeout = 1.0 if deadline is None else min(1.0, max(0.0, deadline - self.clock().monotonic))
            event: Event | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    event = await self.events.get()
            now = self.clock()
            if event is not None:
                await self._execute(self.core.handle(event, now))
            deadline = self.core.next_deadline()
            if deadline is not None and deadline <= now.monotonic:
                await self._execute(self.core.handle_timer(now))

    async def _execute(self, actions: list[Action]) -> None:
        """Run the core's actions without ever waiting for the disk in the core loop.

        Device commands and log lines run at once. Store writes and the sends, reconnects and reboots
        that follow them go, in order, to the one I/O task: it makes each batch durable before the action
        behind it, so a transaction message is on disk before it is sent and the order is kept.
        """
        batch: list[Persist | Forget] = []
        for action in actions:
            if isinstance(action, Persist | Forget):
                batch.append(action)
            elif isinstance(action, ORDERED):
                self._io.put_nowait((batch, action))
                batch = []
            elif isinstance(action, SetSystemClock):
                # Fed back at once, before any other event, so no timestamp sees the offset twice.
                shift = set_system_clock(action.utc)
                if shift is not None:
                    await self._execute(self.core.handle(SystemClockSet(shift), self.clock()))
            else:
                await self._run_action(action)  # queued to a device worker: returns at once
        if batch:
            self._io.put_nowait((batch, None))

    async def _io_task(self) -> None:
        while True:
            batch, action = await self._io.get()
            try:
                if batch:
                    await self.store.apply(batch)
                if action is not None:
                    await self._run_action(action)
            finally:
                self._io.task_done()

    async def _drain_io(self, timeout_s: float = 5.0) -> None:
        """Finish writing what is in flight (SIGTERM, reset): nothing the core persisted is dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._io.join()

    async def _run_action(self, action: Action) -> None:
        match action:
            case SendText(text):
                if frames.isEnabledFor(logging.DEBUG):
                    frames.debug("> %s", redact(text))
                with contextlib.suppress(NotConnected):
                    await self.transport.send(text)
            case SetContactor() | SetPilotCurrent() | SetEvseEnabled() | SetLock():
                queue = self._device_queues.get(action.evse)
                if queue is not None:
                    queue.put_nowait(action)
            case Log(level, message):
                log.log(level, "%s", message)
            case ConfigureConnection(ping_interval_s, password, backoff, endpoint):
                settings = self._connection(ping_interval_s, password)
                if backoff is not None:
                    settings = replace(settings, backoff=backoff)
                if endpoint is not None:
                    settings = self._endpoint(settings, *endpoint)
                try:
                    self.transport.update_settings(settings)
                except ProfileViolation as err:
                    log.error("connection settings refused: %s", err)
                    if endpoint is not None:  # the core is trying a profile: tell it that one cannot work
                        self.events.put_nowait(TransportClosed(f"profile-refused: {err}"))
                else:
                    self.transport_settings = settings
            case Reconnect(reason):
                self.transport.reconnect(reason)
            case Reboot(kind):
                self._result = RunResult(reboot=kind)
                self._stop.set()
            case PkiCommand() | StartJob() | CancelJob() | RecordSecurityEvent():
                if self.maintenance is not None:
                    self.maintenance.submit(action)  # returns at once; results come back as events
                else:
                    log.warning("%s dropped: this runner has no maintenance executor", type(action).__name__)

    def use_client_certificate(self, cert: Path, key: Path) -> None:
        """A newly accepted client certificate (CertificateSigned): presented from the next connection
        on (security profile 3), without a restart."""
        settings = replace(self.transport_settings, client_cert=cert, client_key=key)
        try:
            self.transport.update_settings(settings)
        except ProfileViolation as err:
            log.error("client certificate not taken: %s", err)
            return
        self.transport_settings = settings
        log.info("TLS client certificate %s used from the next connection", cert)

    def use_csms_roots(self, bundle: Path | None) -> None:
        """The CSMS roots installed through InstallCertificate changed (M05 / M04): trusted, besides the
        config's ``csms.ca_file``, from the next connection on."""
        settings = replace(self.transport_settings, csms_roots=bundle)
        try:
            self.transport.update_settings(settings)
        except ProfileViolation as err:  # pragma: no cover - the roots take no part in the profile checks
            log.error("CSMS roots not taken: %s", err)
            return
        self.transport_settings = settings
        self._installed = replace(self._installed, csms_roots=bundle)
        log.info("CSMS root certificates %s trusted from the next connection", bundle or "(none installed)")

    def _endpoint(self, settings: TransportSettings, url: str, profile: int) -> TransportSettings:
        """ConfigureConnection.endpoint: a network profile's URL and security profile; ``("", N)`` the
        installer's URL with security profile N (1.6 security whitepaper §2.4: profiles 2 and 3 need
        wss); ``("", 0)`` the installer's own connection."""
        installed = self._installed
        if url:
            return replace(settings, url=url, security_profile=profile)
        if profile:
            base = installed.url
            if profile >= 2 and base.startswith("ws://"):
                base = "wss://" + base[len("ws://"):]
            return replace(settings, url=base, security_profile=profile)
        return replace(settings, url=installed.url, security_profile=installed.security_profile)

    def _connection(self, ping_interval_s: float | None, password: str | None) -> TransportSettings:
        settings = self.transport_settings
        if ping_interval_s is not None:
            settings = replace(settings, ping_interval_s=ping_interval_s or None)
        if password is not None and settings.security_profile in (1, 2):
            settings = replace(settings, password=password)
        self.transport_settings = settings
        return settings

    # -- systemd -----------------------------------------------------------------------------------

    def _status_line(self) -> str:
        snap = self.core.snapshot()
        evses = snap.get("evses")
        items = evses if isinstance(evses, list) else []
        running = len([e for e in items if isinstance(e, dict) and e.get("local_transaction_id")])
        link = "connected to the CSMS" if snap.get("connected") else "offline"
        queued = snap.get("queued_transaction_messages", 0)
        return f"{link}; {running} transaction(s) running; {queued} message(s) queued"

    async def _systemd_task(self) -> None:
        """WATCHDOG=1 only while the core loop turns; a STATUS= line when it changes."""
        interval = watchdog_interval_s()
        period = min(interval, 5.0) if interval else 5.0
        last_status = ""
        while True:
            await asyncio.sleep(period)
            if interval and time.monotonic() - self._alive < max(2 * interval, 2.0):
                self.notifier.notify("WATCHDOG=1")
            status = self._status_line()
            if status != last_status:
                self.notifier.notify(f"STATUS={status}")
                last_status = status

    # -- devices -----------------------------------------------------------------------------------

    async def _device_worker(self, evse: EvseHardware) -> None:
        queue = self._device_queues[evse.evse_id]
        while True:
            command = await queue.get()
            await self._device_command(evse, command)

    async def _device_command(self, evse: EvseHardware, command: DeviceCommand) -> None:
        put = self.events.put_nowait
        try:
            match command:
                case SetContactor(_, closed):
                    await evse.contactor.set_closed(closed)
                    put(ContactorChanged(evse.evse_id, await evse.contactor.is_closed()))
                case SetPilotCurrent(_, current_a):
                    await evse.pilot.set_current_limit(current_a)
                case SetEvseEnabled(_, enabled):
                    await evse.pilot.set_enabled(enabled)
                case SetLock(_, locked):
                    if evse.lock is None:
                        put(LockResult(evse.evse_id, locked, ok=False))
                    else:
                        await evse.lock.set_locked(locked)
                        put(LockResult(evse.evse_id, locked, ok=True))
        except DeviceFault as err:
            code = FaultCode.POWER_SWITCH_FAILURE
            if isinstance(command, SetLock):
                code = FaultCode.CONNECTOR_LOCK_FAILURE
                put(LockResult(evse.evse_id, command.locked, ok=False))
            put(FaultRaised(evse.evse_id, code, str(err)))
        except HalError as err:
            log.warning("EVSE %s: %s failed: %s", evse.evse_id, type(command).__name__, err)
            if isinstance(command, SetLock):
                put(LockResult(evse.evse_id, command.locked, ok=False))

    async def _pilot_task(self, evse: EvseHardware) -> None:
        fault: FaultCode | None = None
        unreachable = DeviceOutage(self.events, evse.evse_id, FaultCode.INTERNAL_ERROR, "EVSE controller")
        while True:
            try:
                async for status in evse.pilot.status_updates():
                    unreachable.ended()
                    if status.fault != fault:
                        if fault is not None:
                            self.events.put_nowait(FaultCleared(evse.evse_id, fault))
                        if status.fault is not None:
                            self.events.put_nowait(FaultRaised(evse.evse_id, status.fault, "EVSE controller"))
                        fault = status.fault
                    self.events.put_nowait(PilotChanged(evse.evse_id, status.state))
            except HalError as err:
                unreachable.began(err)
            await asyncio.sleep(DEVICE_RETRY_S)

    async def _meter_task(self, evse: EvseHardware) -> None:
        while True:
            try:
                sample = await evse.meter.read()
            except HalError as err:
                self.events.put_nowait(MeterReadFailed(evse.evse_id, str(err) or type(err).__name__))
            else:
                self.events.put_nowait(MeterSampled(evse.evse_id, sample))
            await asyncio.sleep(self.meter_poll_s)

    async def _reader_task(self, reader: TokenReader) -> None:
        # A reader is station-wide: its fault goes on connector 0 (OCPP 1.6 ReaderFailure).
        outage = DeviceOutage(self.events, 0, FaultCode.READER_FAILURE, f"card reader {reader.name}")
        while True:
            # The reader counts as back once it has run for a while without failing (it may see no card).
            recovered = asyncio.get_running_loop().call_later(READER_RECOVERED_S, outage.ended)
            try:
                async for token in reader.tokens():
                    outage.ended()
                    self.events.put_nowait(TokenPresented(reader.name, token))
            except HalError as err:
                outage.began(err)
            finally:
                recovered.cancel()
            await asyncio.sleep(DEVICE_RETRY_S)


def set_system_clock(utc: datetime) -> float | None:
    """Set CLOCK_REALTIME (needs CAP_SYS_TIME); the shift in seconds, or ``None`` when not permitted."""
    before = time.clock_gettime(time.CLOCK_REALTIME)
    try:
        time.clock_settime(time.CLOCK_REALTIME, utc.timestamp())
    except OSError as err:
        log.warning("cannot set the board clock (station.set_system_clock): %s; keeping an offset", err)
        return None
    return utc.timestamp() - before


class DeviceOutage:
    """A device that stopped answering: one fault event when it begins and one when it ends (the core logs
    each once, and reports the fault in StatusNotification)."""

    def __init__(self, events: asyncio.Queue[Event], evse_id: int, code: FaultCode, what: str) -> None:
        self.events = events
        self.evse_id = evse_id
        self.code = code
        self.what = what
        self.active = False

    def began(self, err: HalError) -> None:
        if self.active:
            return
        self.active = True
        self.events.put_nowait(FaultRaised(self.evse_id, self.code, f"{self.what} unavailable: {err}"))

    def ended(self) -> None:
        if not self.active:
            return
        self.active = False
        self.events.put_nowait(FaultCleared(self.evse_id, self.code))


async def open_store(state_dir: Path) -> AsyncStore:
    return await AsyncStore.open(state_dir / "chargepoint.db")


ControlHandler = Callable[[list[str]], Awaitable[dict[str, object]]]

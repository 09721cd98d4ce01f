"""The composition root: turn a loaded config into a running station (core, store, transport, devices).

``serve`` runs until SIGTERM/SIGINT or an OCPP reset; with the simulated HAL it also opens the tester's
control socket (``chargepoint sim ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chargepoint.core.events import ExternalLimitChanged
from chargepoint.core.station import EvseSpec, StationInfo, build_core
from chargepoint.service.config import Config
from chargepoint.service.control import ControlServer
from chargepoint.service.hardware import DeviceConfigError, build_devices
from chargepoint.service.logs import add_file_log, remove_file_log
from chargepoint.service.maintenance import LOG_DIR, Maintenance
from chargepoint.service.pki import KeyType, Pki
from chargepoint.service.runner import Runner, RunResult, open_store
from chargepoint.service.systemd import Notifier
from chargepoint.service.transport import TransportSettings
from hal.sim import SimStation, build_sim_station
from hal.station import StationHardware

log = logging.getLogger(__name__)

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


class HardwareNotAvailable(RuntimeError):
    """The configured HAL driver cannot be built in this installation."""


def station_info(config: Config) -> StationInfo:
    s = config.station
    return StationInfo(
        station_id=s.id,
        vendor=s.vendor,
        model=s.model,
        serial_number=s.serial_number,
        firmware_version=s.firmware_version,
        evses=tuple(EvseSpec(e.id, float(e.max_current_a), e.phases) for e in config.evses),
        call_timeout_s=config.csms.call_timeout_s,
        ping_interval_s=round(config.csms.ping_interval_s),
        set_system_clock=s.set_system_clock,
        security_profile=config.csms.security_profile,
        site_max_current_a=s.site_max_current_a,
        voltage_v=s.voltage_v,
    )


def transport_settings(config: Config, client_files: tuple[Path, Path] | None = None, *,
                       csms_roots: Path | None = None) -> TransportSettings:
    """The connection of the config file; ``client_files`` (the certificate the CSMS signed, from the
    station's PKI) replace the config's client certificate and key with security profile 3; ``csms_roots``
    (the CSMS roots installed through InstallCertificate) are trusted besides ``csms.ca_file``."""
    c = config.csms
    client_cert, client_key = c.client_cert, c.client_key
    if client_files is not None and c.security_profile == 3:
        client_cert, client_key = client_files
    return TransportSettings(
        url=c.url,
        station_id=config.station.id,
        subprotocol=SUBPROTOCOL[config.station.ocpp_version],
        security_profile=c.security_profile,
        password=c.password,
        ca_file=c.ca_file,
        client_cert=client_cert,
        client_key=client_key,
        ping_interval_s=c.ping_interval_s or None,
        csms_roots=csms_roots,
    )


def build_hardware(config: Config, sim_clock: Callable[[], float] | None = None) -> tuple[
    StationHardware, SimStation | None
]:
    if config.hal.driver == "sim":
        specs = [(e.id, float(e.max_current_a), e.phases) for e in config.evses]
        sim = build_sim_station(specs, clock=sim_clock) if sim_clock else build_sim_station(specs)
        return sim.hardware, sim
    try:
        return build_devices(config), None
    except DeviceConfigError as err:
        raise HardwareNotAvailable(str(err)) from err


@dataclass
class Station:
    """A built station, ready to ``run``."""

    config: Config
    runner: Runner
    sim: SimStation | None

    async def control(self, argv: list[str]) -> dict[str, object]:
        """The control-socket handler: device commands to the simulator, ``status`` merged with the core."""
        if argv[:1] == ["status"]:
            core = self.runner.snapshot()
            devices = self.sim.snapshot() if self.sim else {}
            return {"ok": True, **merge_status(core, devices)}
        if argv[:1] == ["limit"]:
            return self._limit(argv[1:])
        if self.sim is None:
            return {"ok": False, "error": "no simulated devices in this station"}
        return await self.sim.command(argv)


    def _limit(self, args: list[str]) -> dict[str, object]:
        """``limit EVSE AMPS`` / ``limit EVSE off``: the local energy manager's limit (an external
        constraint, OCPP 2.0.1 K12), for any HAL: an EMS on the board talks to this socket too."""
        evse_ids = {e.id for e in self.config.evses}
        try:
            evse = int(args[0])
            amps = None if args[1] == "off" else float(args[1])
        except (IndexError, ValueError):
            return {"ok": False, "error": "usage: limit EVSE AMPS|off"}
        if len(args) != 2 or evse not in evse_ids:
            return {"ok": False, "error": f"limit: no EVSE {args[0]}" if len(args) == 2 else
                    "usage: limit EVSE AMPS|off"}
        if amps is not None and not 0 <= amps <= 1000:
            return {"ok": False, "error": "limit: AMPS must be within 0..1000"}
        self.runner.events.put_nowait(ExternalLimitChanged(evse, amps))
        return {"ok": True}


def merge_status(core: dict[str, object], devices: dict[str, object]) -> dict[str, object]:
    """Per EVSE: what the core says (status, transaction) and what the devices measure."""
    by_id: dict[object, dict[str, object]] = {}
    dev_evses = devices.get("evses", [])
    for item in dev_evses if isinstance(dev_evses, list) else []:
        if isinstance(item, dict):
            by_id[item.get("evse", item.get("id"))] = item
    evses = []
    core_evses = core.get("evses", [])
    for item in core_evses if isinstance(core_evses, list) else []:
        if not isinstance(item, dict):
            continue
        merged = dict(item)
        dev = by_id.get(item.get("evse"), {})
        for key in ("plugged", "ev_state", "pilot", "current_a", "power_w"):
            if key in dev:
                merged[key] = dev[key]
        if "faults" in dev:
            merged["simulated_faults"] = dev["faults"]  # what the tester injected; "faults" is the core's
        if "energy_wh" in dev:
            merged["meter_energy_wh"] = dev["energy_wh"]
        evses.append(merged)
    return {**core, "evses": evses}


def build_pki(config: Config) -> Pki:
    """The station's certificate store under ``<storage.dir>/pki`` (blocking: creates folders)."""
    s = config.station
    # CSR O= is the CPO's name (A02.FR.13); the core passes the CSMS-set one when it has it.
    organization = s.organization or s.vendor
    return Pki(config.storage.dir / "pki", s.id, organization, KeyType(config.security.key_type))


async def build_station(config: Config, sim_clock: Callable[[], float] | None = None) -> Station:
    core = build_core(station_info(config), config.station.ocpp_version)  # first: it may refuse the version
    hardware, sim = build_hardware(config, sim_clock)
    store = await open_store(config.storage.dir)
    pki = await asyncio.to_thread(build_pki, config)
    client_files = await asyncio.to_thread(pki.client_files)
    csms_roots = await asyncio.to_thread(pki.ca_bundle)
    maintenance = Maintenance(config.storage.dir, pki, install_hook=config.firmware.install_hook,
                              ca_file=config.firmware.ca_file)
    runner = Runner(core, store, transport_settings(config, client_files, csms_roots=csms_roots), hardware,
                    notifier=Notifier(), maintenance=maintenance)
    return Station(config, runner, sim)


async def serve(config: Config, *, sim_clock: Callable[[], float] | None = None,
                on_station: Callable[[Station], None] | None = None) -> RunResult:
    """Run the station until a signal or a reset."""
    station = await build_station(config, sim_clock)
    control: ControlServer | None = None
    if config.hal.control_socket is not None:
        control = ControlServer(config.hal.control_socket, station.control)
        await control.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, station.runner.stop)
    try:
        # The file a diagnostics upload takes (GetDiagnostics / GetLog); the journal keeps its own copy.
        file_log: logging.Handler | None = add_file_log(config.storage.dir / LOG_DIR)
    except OSError as err:
        log.warning("no log file in %s: %s", config.storage.dir / LOG_DIR, err.strerror or err)
        file_log = None
    if on_station is not None:
        on_station(station)
    try:
        result = await station.runner.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if control is not None:
            await control.close()
        await station.runner.store.close()
        if file_log is not None:
            remove_file_log(file_log)
    return result

"""What a loaded config is: one frozen dataclass per TOML section, plus ``Problem`` and ``ConfigError``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

OcppVersion = Literal["1.6", "2.0.1"]
HalDriver = Literal["sim", "hardware"]
Phases = Literal[1, 3]

OCPP_VERSIONS: dict[str, OcppVersion] = {"1.6": "1.6", "2.0.1": "2.0.1"}
HAL_DRIVERS: dict[str, HalDriver] = {"sim": "sim", "hardware": "hardware"}
PHASES: dict[int, Phases] = {1: 1, 3: 3}
KeyType = Literal["ec-p256", "rsa-2048"]
KEY_TYPES: dict[str, KeyType] = {"ec-p256": "ec-p256", "rsa-2048": "rsa-2048"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the config: ``key`` is the dotted key path ("" for the file as a whole)."""

    key: str
    message: str


class ConfigError(Exception):
    """The config file cannot be used: missing, unreadable, not TOML, or invalid. Lists every problem."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {p.key}: {p.message}" if p.key else f"{path}: {p.message}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class StationConfig:
    """``[station]``: who the station is (BootNotification fields and the OCPP identity)."""

    id: str
    """The OCPP identity: appended to the CSMS URL and the Basic-auth user name."""
    vendor: str
    model: str
    serial_number: str = ""
    firmware_version: str = ""
    ocpp_version: OcppVersion = "1.6"
    organization: str = ""
    """Organisation name for certificate signing requests (OCPP 2.0.1 SecurityCtrlr.OrganizationName)."""
    hard_reset_hook: Path | None = None
    """An executable run after a Hard reset has stopped the station cleanly, e.g. one that reboots the
    board; without it (or when it fails) a Hard reset restarts the process like a Soft one."""
    set_system_clock: bool = False
    """Set the board's clock from the CSMS time (needs CAP_SYS_TIME); by default the station only keeps
    its own offset and never touches the system clock."""
    site_max_current_a: float | None = None
    """The grid connection's limit in A per phase, shared fairly between the EVSEs that charge (local load
    sharing); without it each EVSE is limited only by its own max_current_a and the CSMS's profiles."""
    voltage_v: float = 230.0
    """Phase-to-neutral voltage, to turn charging schedules in W into the A the pilot offers."""


@dataclass(frozen=True, slots=True, repr=False)
class CsmsConfig:
    """``[csms]``: where and how to connect (OCPP 1.6 Security Whitepaper / 2.0.1 Part 2 A: profiles 0-3)."""

    url: str
    """``ws://`` or ``wss://`` URL; the station id is appended as the last path segment."""
    security_profile: int
    """0: no auth; 1: Basic auth; 2: TLS + Basic auth; 3: TLS + client certificate."""
    password: str | None = None
    """Basic-auth password (profiles 1 and 2). Never shown by ``repr``."""
    ca_file: Path | None = None
    """CA bundle to verify the CSMS certificate (``wss://`` only); the system store when absent."""
    client_cert: Path | None = None
    """Client certificate, PEM (profile 3)."""
    client_key: Path | None = None
    """Private key of ``client_cert``, PEM (profile 3)."""
    ping_interval_s: float = 30.0
    """WebSocket ping interval; 0 disables pings."""
    call_timeout_s: float = 30.0
    """How long to wait for the CSMS to answer a CALL."""

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = "<hidden>" if f.name == "password" and value is not None else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"CsmsConfig({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``[storage]``: the state directory (SQLite database: outbox, transactions, settings)."""

    dir: Path


@dataclass(frozen=True, slots=True)
class HalConfig:
    """``[hal]``: simulated or real devices."""

    driver: HalDriver
    control_socket: Path | None = None
    """The local control socket: ``chargepoint status`` (and with the simulator ``chargepoint sim``).
    ``<storage.dir>/sim.sock`` with the simulator, ``<storage.dir>/control.sock`` with real hardware."""


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device table (an EVSE's ``meter``/``pilot``/``contactor``/``lock``, or one ``[[rfid]]``).

    ``options`` is the whole table as written (including the name key), read-only, with relative
    ``PATH_OPTIONS`` resolved; the driver validates its own options.
    """

    driver: str
    """The driver name: the ``model`` key for a meter, the ``driver`` key otherwise."""
    options: Mapping[str, object]
    key: str = ""
    """Where the table is in the file (``evse[1].meter``), for the driver's error messages."""


@dataclass(frozen=True, slots=True)
class EvseConfig:
    """One ``[[evse]]``: an EVSE with its connectors and (with real hardware) its devices."""

    id: int
    """1..N, unique, consecutive (OCPP 2.0.1 EVSE id; OCPP 1.6 connector id when ``connectors`` is 1)."""
    max_current_a: float
    """Per-phase limit of this EVSE's supply, 6..80 A (IEC 61851-1)."""
    phases: Phases
    connectors: int = 1
    meter: DeviceConfig | None = None
    pilot: DeviceConfig | None = None
    contactor: DeviceConfig | None = None
    lock: DeviceConfig | None = None


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """``[logging]`` (optional)."""

    level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR; ``chargepoint run --log-level`` overrides it."""


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """``[security]`` (optional): the station's own key pair (OCPP 1.6 security whitepaper, 2.0.1 A02)."""

    key_type: KeyType = "ec-p256"
    """The key generated for each certificate signing request: "ec-p256" (default) or "rsa-2048"
    (2.0.1 A00.FR.502: RSA keys of at least 2048 bits)."""


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    """``[firmware]`` (optional): how a downloaded firmware image is installed (1.6 §5.19, 2.0.1 L01)."""

    install_hook: Path | None = None
    """An executable run with the image's path as its one argument. Exit 0 and the word "installed"
    on a line of its output: installed in place; exit 0 otherwise: staged, the station restarts into it;
    any other exit status: the installation failed. Without it every installation fails."""
    ca_file: Path | None = None
    """CA bundle (PEM) that verifies the HTTPS / FTPS servers of firmware downloads and log uploads
    (GetDiagnostics / GetLog); the system's CA store when absent."""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file. ``evses`` are sorted by id; ``source`` is the absolute path of the file."""

    station: StationConfig
    csms: CsmsConfig
    storage: StorageConfig
    hal: HalConfig
    evses: tuple[EvseConfig, ...]
    rfid: tuple[DeviceConfig, ...] = ()
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path = Path()
    security: SecurityConfig = field(default_factory=SecurityConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)


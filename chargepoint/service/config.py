"""The station's static wiring: one TOML file read once into frozen dataclasses; errors name key and file.

``load_config(path)`` parses and validates the file and raises one ``ConfigError`` listing *every* problem,
each as ``<file>: <key>: <message>``. ``check_config(path)`` also checks what needs the machine (certificate
files, device ports, the storage directory), so a config can be loaded on a laptop without the hardware.

Key paths are dotted (``csms.security_profile``). Array tables are indexed from 1 in file order:
``evse[1]`` is the first ``[[evse]]`` table of the file, ``rfid[2].port`` the port of the second ``[[rfid]]``.
Relative paths are resolved against the directory of the config file, not the working directory.

OCPP-managed settings (HeartbeatInterval, the local list...) are not here: the core owns and persists them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

OcppVersion = Literal["1.6", "2.0.1"]
HalDriver = Literal["sim", "hardware"]
Phases = Literal[1, 3]

OCPP_VERSIONS: dict[str, OcppVersion] = {"1.6": "1.6", "2.0.1": "2.0.1"}
HAL_DRIVERS: dict[str, HalDriver] = {"sim": "sim", "hardware": "hardware"}
PHASES: dict[int, Phases] = {1: 1, 3: 3}
KeyType = Literal["ec-p256", "rsa-2048"]
KEY_TYPES: dict[str, KeyType] = {"ec-p256": "ec-p256", "rsa-2048": "rsa-2048"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# IEC 61851-1 Annex A: the pilot PWM can signal 6 A to 80 A.
MIN_CURRENT_A, MAX_CURRENT_A = 6.0, 80.0
MAX_SITE_CURRENT_A = 2000.0  # a generous bound: only catches a typo (kW or mA instead of A)
# The identity is the last path segment of the CSMS URL (OCPP-J 1.6 §3.1.1); OCPP 2.0.1 Part 4 caps it at 48.
MAX_STATION_ID = 48
# BootNotification maxLength (1.6 BootNotification.req CiString20/25/50; 2.0.1 ChargingStationType):
# a longer value fails schema validation and the station could never boot.
BOOT_FIELD_LIMITS: dict[OcppVersion, dict[str, int]] = {
    "1.6": {"vendor": 20, "model": 20, "serial_number": 25, "firmware_version": 50},
    "2.0.1": {"vendor": 50, "model": 20, "serial_number": 25, "firmware_version": 50},
}
# pyserial URL handlers (serial.urlhandler.protocol_*) plus Modbus TCP, which drivers/modbus accepts as port.
PORT_URL_SCHEMES = frozenset({"socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110", "tcp"})
# Device option values that are paths; resolved against the config file's directory like every other path.
PATH_OPTIONS = ("port", "register_map", "chip", "path")
DEVICE_NODE_OPTIONS = {"port": "dialout", "chip": "gpio", "path": "input"}
"""Options that name a device node, with the group that usually owns such nodes on a board."""
DEVICE_SLOTS = ("meter", "pilot", "contactor", "lock")
REQUIRED_HARDWARE = ("meter", "pilot", "contactor")


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


def load_config(path: Path) -> Config:
    """Read and validate ``path``. Raises ``ConfigError`` with every problem found."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        message = f"cannot read the config file: {err.strerror or err}"
        raise ConfigError(path, [Problem("", message)]) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(path, [Problem("", f"not UTF-8 text (byte {err.start})")]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, [Problem("", _syntax_message(str(err)))]) from None
    problems: list[Problem] = []
    source = Path(os.path.abspath(path))
    config = _parse(_Table(doc, "", problems, source.parent), source)
    if problems or config is None:
        raise ConfigError(path, problems or [Problem("", "invalid config")])
    return config


def check_config(
    path: Path,
    *,
    check_devices: Callable[[Config], list[Problem]] | None = None,
    user: str | None = None,
) -> list[Problem]:
    """``load_config`` (raises ``ConfigError``), then what needs this machine; ``[]`` when all is well.

    Checks certificate files, the hooks (present and executable), each device node a device names
    (``port``, GPIO ``chip``, input ``path``: exists, readable and writable by ``user``, default the
    current user) and the storage directory (writable, or creatable in a writable parent).
    ``check_devices`` is the hook for driver-specific checks, such as names known to the HAL registry and
    each driver's options.
    """
    config = load_config(path)
    csms = config.csms
    problems: list[Problem] = []
    for key, file in (("ca_file", csms.ca_file), ("client_cert", csms.client_cert),
                      ("client_key", csms.client_key)):
        if file is not None:
            problems.extend(_check_file(f"csms.{key}", file))
    if config.firmware.ca_file is not None:
        problems.extend(_check_file("firmware.ca_file", config.firmware.ca_file))
    for key, hook in (("station.hard_reset_hook", config.station.hard_reset_hook),
                      ("firmware.install_hook", config.firmware.install_hook)):
        if hook is not None:
            problems.extend(_check_file(key, hook))
            if hook.is_file() and not os.access(hook, os.X_OK):
                problems.append(Problem(key, f"{hook}: not executable"))
    access = Access.of(user)
    devices = [d for e in config.evses for d in (e.meter, e.pilot, e.contactor, e.lock) if d]
    for device in [*devices, *config.rfid]:
        for option, group in DEVICE_NODE_OPTIONS.items():
            node = device.options.get(option)
            if isinstance(node, str) and "://" not in node:
                problems.extend(_check_node(f"{device.key}.{option}", Path(node), access, group))
    problems.extend(_check_storage("storage.dir", config.storage.dir))
    if check_devices is not None:
        problems.extend(check_devices(config))
    return problems


# --- reading typed values, recording problems instead of raising -------------------------------------

_TOML_TYPES = {str: "a string", int: "an integer", float: "a float", bool: "a boolean", dict: "a table",
               list: "an array"}  # the rest are TOML dates and times


def _type_name(value: object) -> str:
    return _TOML_TYPES.get(type(value), f"a {type(value).__name__}")


class _Table:
    """One TOML table being read: typed getters that record a ``Problem`` under the dotted key and
    return ``None`` for a missing or invalid value. Values are never echoed in type errors (secrets)."""

    def __init__(self, data: Mapping[str, object], prefix: str, problems: list[Problem], base: Path) -> None:
        self.data = data
        self.prefix = prefix
        self.problems = problems
        self.base = base
        self._start = len(problems)

    @property
    def ok(self) -> bool:
        """No problem recorded since this table was opened (including in its sub-tables)."""
        return len(self.problems) == self._start

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.key(name), message))

    def check_keys(self, known: Iterable[str]) -> None:
        known = list(known)
        for name in self.data:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                self.problem(name, f"unknown key{hint}")

    def _get(self, name: str, types: tuple[type, ...], expected: str, required: bool) -> object | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing (required{' table' if expected == 'a table' else ''})")
            return None
        # bool is a subclass of int in Python, but `phases = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, types):
            self.problem(name, f"expected {expected}, got {_type_name(value)}")
            return None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, (str,), "a string", required)
        return value if isinstance(value, str) else None

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._get(name, (int,), "an integer", required)
        return value if isinstance(value, int) else None

    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._get(name, (float, int), "a number", required)
        if not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            self.problem(name, "must be a finite number")
            return None
        return float(value)

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(name, f"expected true or false, got {_type_name(value)}")
            return None
        return value

    def path(self, name: str, *, required: bool = False) -> Path | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not value:
            self.problem(name, "must not be empty")
            return None
        return self.resolve(value)

    def resolve(self, value: str) -> Path:
        return Path(os.path.normpath(self.base / value))

    def table(self, name: str, *, required: bool = False) -> _Table | None:
        value = self._get(name, (dict,), "a table", required)
        if not isinstance(value, dict):
            return None
        return _Table(value, self.key(name), self.problems, self.base)

    def array(self, name: str) -> list[_Table] | None:
        """An array of tables (``[[name]]``); items are keyed ``name[1]``, ``name[2]``... in file order."""
        value = self._get(name, (list,), f"an array of tables ([[{name}]])", False)
        if not isinstance(value, list):
            return None
        items = []
        for index, item in enumerate(value, start=1):
            if isinstance(item, dict):
                items.append(_Table(item, self.key(f"{name}[{index}]"), self.problems, self.base))
            else:
                self.problem(f"{name}[{index}]", f"expected a table, got {_type_name(item)}")
        return items


def _raw(doc: _Table, table: str, name: str) -> object:
    """A value as written, for rules that span two tables (each table reports its own type problems)."""
    section = doc.data.get(table)
    return section.get(name) if isinstance(section, dict) else None


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _syntax_message(message: str) -> str:
    match = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", message)
    if match is None:
        return f"invalid TOML: {message}"
    return f"invalid TOML at {match.group(2)}: {match.group(1)}"


def _choice(table: _Table, name: str, value: str | None, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value is not None and value not in choices:
        close = difflib.get_close_matches(value.lower(), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        table.problem(name, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}{hint}")


# --- the sections ---------------------------------------------------------------------------------------

_TOP_LEVEL = ("station", "csms", "storage", "hal", "evse", "rfid", "logging", "security", "firmware")


def _parse(doc: _Table, source: Path) -> Config | None:
    doc.check_keys(_TOP_LEVEL)
    station = _station(doc)
    csms = _csms(doc)
    storage_table = doc.table("storage", required=True)
    storage_dir = None
    if storage_table is not None:
        storage_table.check_keys(_fields(StorageConfig))
        storage_dir = storage_table.path("dir", required=True)
    driver, hal = _hal(doc, storage_dir)
    evses = _evses(doc, driver)
    rfid = tuple(_device(t, "driver") for t in doc.array("rfid") or [])
    if driver == "sim":
        for index, _ in enumerate(rfid, start=1):
            doc.problem(f"rfid[{index}]", _SIM_DEVICE)
    logging = LoggingConfig()
    log_table = doc.table("logging")
    if log_table is not None:
        log_table.check_keys(_fields(LoggingConfig))
        level = log_table.text("level")
        if level is not None and level.upper() not in LOG_LEVELS:
            log_table.problem("level", f"must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        logging = LoggingConfig(level.upper() if level else "INFO")
    security, firmware = _security(doc), _firmware(doc)
    ident, profile = _raw(doc, "station", "id"), _raw(doc, "csms", "security_profile")
    if isinstance(ident, str) and ":" in ident and profile in (1, 2) and not isinstance(profile, bool):
        # RFC 7617 §2: the Basic-auth user-id (our identity, OCPP 1.6 Security Whitepaper) cannot hold ':'.
        doc.problem("station.id", "must not contain ':' with Basic auth (security_profile 1 or 2)")
    if not doc.ok or station is None or csms is None or storage_dir is None or hal is None or evses is None:
        return None
    devices = tuple(d for d in rfid if d is not None)
    return Config(station, csms, StorageConfig(storage_dir), hal, evses, devices, logging, source,
                  security, firmware)


def _security(doc: _Table) -> SecurityConfig:
    t = doc.table("security")
    if t is None:
        return SecurityConfig()
    t.check_keys(_fields(SecurityConfig))
    name = t.text("key_type")
    _choice(t, "key_type", name, KEY_TYPES)
    return SecurityConfig(KEY_TYPES.get(name or "", "ec-p256"))


def _firmware(doc: _Table) -> FirmwareConfig:
    t = doc.table("firmware")
    if t is None:
        return FirmwareConfig()
    t.check_keys(_fields(FirmwareConfig))
    return FirmwareConfig(t.path("install_hook"), t.path("ca_file"))


def _station(doc: _Table) -> StationConfig | None:
    t = doc.table("station", required=True)
    if t is None:
        return None
    t.check_keys(_fields(StationConfig))
    ident = t.text("id", required=True)
    if ident is not None:
        if not ident.strip():
            t.problem("id", "must not be empty")
        elif "/" in ident:
            t.problem("id", "must not contain '/' (it is the last path segment of the CSMS URL)")
        elif len(ident) > MAX_STATION_ID:
            t.problem("id", f"at most {MAX_STATION_ID} characters (got {len(ident)})")
    raw_version = t.data.get("ocpp_version")
    if isinstance(raw_version, float):
        t.problem("ocpp_version", f'expected a string: write it in quotes, "{raw_version}"')
        version_text = None
    else:
        version_text = t.text("ocpp_version")
        _choice(t, "ocpp_version", version_text, OCPP_VERSIONS)
    version = OCPP_VERSIONS.get(version_text or "1.6", "1.6")
    values = {name: t.text(name, required=name in ("vendor", "model")) for name in
              ("vendor", "model", "serial_number", "firmware_version", "organization")}
    for name in ("vendor", "model"):
        if values[name] == "":
            t.problem(name, "must not be empty")
    for name, limit in BOOT_FIELD_LIMITS[version].items():
        value = values[name]
        if value is not None and len(value) > limit:
            t.problem(name, f"at most {limit} characters in an OCPP {version} BootNotification "
                      f"(got {len(value)})")
    hook = t.path("hard_reset_hook")
    set_clock = t.boolean("set_system_clock")
    site = t.number("site_max_current_a")
    if site is not None and not MIN_CURRENT_A <= site <= MAX_SITE_CURRENT_A:
        t.problem("site_max_current_a",
                  f"must be within {MIN_CURRENT_A:g}..{MAX_SITE_CURRENT_A:g} A (got {site:g})")
    voltage = t.number("voltage_v")
    if voltage is not None and not 100 <= voltage <= 480:
        t.problem("voltage_v", f"must be within 100..480 V (got {voltage:g})")
    if not t.ok or ident is None:
        return None
    return StationConfig(ident, values["vendor"] or "", values["model"] or "", values["serial_number"] or "",
                         values["firmware_version"] or "", version, values["organization"] or "", hook,
                         bool(set_clock), site, voltage if voltage is not None else 230.0)


def _csms(doc: _Table) -> CsmsConfig | None:
    t = doc.table("csms", required=True)
    if t is None:
        return None
    t.check_keys(_fields(CsmsConfig))
    url = t.text("url", required=True)
    scheme = _check_url(t, url) if url is not None else None
    profile = t.integer("security_profile", required=True)
    password = t.text("password")
    files = {name: t.path(name) for name in ("ca_file", "client_cert", "client_key")}
    ping = t.number("ping_interval_s")
    timeout = t.number("call_timeout_s")
    if ping is not None and ping < 0:
        t.problem("ping_interval_s", "must be >= 0 (0 disables pings)")
    if timeout is not None and timeout <= 0:
        t.problem("call_timeout_s", "must be > 0")
    if profile is not None and not 0 <= profile <= 3:
        t.problem("security_profile", f"must be 0, 1, 2 or 3, got {profile}")
    elif profile is not None:
        _check_profile(t, profile, scheme, password)
    if scheme == "ws" and "ca_file" in t.data:
        t.problem("ca_file", "only used with a wss:// URL (TLS)")
    if not t.ok or url is None or profile is None:
        return None
    return CsmsConfig(url, profile, password, files["ca_file"], files["client_cert"], files["client_key"],
                      30.0 if ping is None else ping, 30.0 if timeout is None else timeout)


def _check_url(t: _Table, url: str) -> str | None:
    """The URL's scheme if usable. The URL itself is never echoed: it could hold credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        t.problem("url", f"not a valid URL ({err})")
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        t.problem("url", f"must be a ws:// or wss:// URL (OCPP-J is WebSocket), not {scheme or 'none'}")
        return None
    if not parts.hostname:
        t.problem("url", "names no host")
    if parts.username is not None or parts.password is not None:
        t.problem("url", "must not hold credentials: the user is station.id, the password csms.password")
    if parts.query or parts.fragment:
        t.problem("url", "must not have a query or fragment: the station id is appended to the path")
    return scheme


def _check_profile(t: _Table, profile: int, scheme: str | None, password: str | None) -> None:
    # What each security profile needs: OCPP 1.6 Security Whitepaper "Security Profiles", 2.0.1 Part 2 A00.
    basic_auth = profile in (1, 2)
    if basic_auth and "password" not in t.data:
        t.problem("password", f"required with security_profile {profile} (HTTP Basic auth)")
    elif basic_auth and password == "":
        t.problem("password", "must not be empty")
    elif not basic_auth and "password" in t.data:
        t.problem("password", f"not used with security_profile {profile}, which sends no Basic-auth "
                  "password; remove it or use profile 1 or 2")
    if profile >= 2 and scheme == "ws":
        t.problem("url", f"security_profile {profile} needs a wss:// URL (TLS)")
    for name in ("client_cert", "client_key"):
        if profile == 3 and name not in t.data:
            t.problem(name, "required with security_profile 3 (TLS client certificate)")
        elif profile != 3 and name in t.data:
            t.problem(name, f"only used with security_profile 3, not {profile}")


def _hal(doc: _Table, storage_dir: Path | None) -> tuple[HalDriver | None, HalConfig | None]:
    """The driver (for the device rules, even when ``[hal]`` has other problems) and the section."""
    t = doc.table("hal", required=True)
    if t is None:
        return None, None
    t.check_keys(_fields(HalConfig))
    name = t.text("driver", required=True)
    _choice(t, "driver", name, HAL_DRIVERS)
    socket = t.path("control_socket")
    driver = HAL_DRIVERS.get(name or "")
    if not t.ok or driver is None:
        return driver, None
    if socket is None and storage_dir is not None:
        socket = storage_dir / ("sim.sock" if driver == "sim" else "control.sock")
    return driver, HalConfig(driver, socket)


_SIM_DEVICE = 'not used with hal.driver = "sim" (every device is simulated); remove it or use "hardware"'


def _evses(doc: _Table, hal: HalDriver | None) -> tuple[EvseConfig, ...] | None:
    tables = doc.array("evse")
    if not tables:
        if tables is not None or "evse" not in doc.data:
            doc.problem("evse", "at least one [[evse]] table is required")
        return None
    evses = [_evse(t, hal) for t in tables]
    first_index: dict[int, int] = {}
    for index, t in enumerate(tables, start=1):
        ident = t.data.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
            continue  # reported by _evse
        if ident in first_index:
            t.problem("id", f"duplicate EVSE id {ident} (also evse[{first_index[ident]}])")
        else:
            first_index[ident] = index
    ids = sorted(first_index)
    if len(ids) == len(tables) and ids != list(range(1, len(ids) + 1)):
        # OCPP 1.6 §3.8 / OCPP 2.0.1 Part 1 §7.1: connector (EVSE) ids are numbered 1..N, none skipped.
        gap = next(i for i, e in enumerate(ids, start=1) if e != i)
        doc.problem(f"evse[{first_index[ids[gap - 1]]}].id",
                    f"EVSE ids must be consecutive from 1 (got {', '.join(map(str, ids))})")
    return tuple(sorted((e for e in evses if e is not None), key=lambda e: e.id))


def _evse(t: _Table, hal: HalDriver | None) -> EvseConfig | None:
    t.check_keys(_fields(EvseConfig))
    ident = t.integer("id", required=True)
    if ident is not None and ident < 1:
        t.problem("id", f"must be >= 1, got {ident}")
    current = t.number("max_current_a", required=True)
    if current is not None and not MIN_CURRENT_A <= current <= MAX_CURRENT_A:
        t.problem("max_current_a", f"must be within {MIN_CURRENT_A:g}..{MAX_CURRENT_A:g} A "
                  f"(IEC 61851-1 pilot range), got {current:g}")
    phase_count = t.integer("phases", required=True)
    if phase_count is not None and phase_count not in PHASES:
        t.problem("phases", f"must be 1 or 3, got {phase_count}")
    connectors = t.integer("connectors")
    if connectors is not None and connectors < 1:
        t.problem("connectors", f"must be >= 1, got {connectors}")
    devices: dict[str, DeviceConfig | None] = {}
    for slot in DEVICE_SLOTS:
        table = t.table(slot)
        devices[slot] = _device(table, "model" if slot == "meter" else "driver") if table else None
        if hal == "sim" and slot in t.data:
            t.problem(slot, _SIM_DEVICE)
        elif hal == "hardware" and slot in REQUIRED_HARDWARE and slot not in t.data:
            t.problem(slot, 'required with hal.driver = "hardware"')
    phases = PHASES.get(phase_count or 0)
    if not t.ok or ident is None or current is None or phases is None:
        return None
    return EvseConfig(ident, current, phases, connectors or 1, devices["meter"], devices["pilot"],
                      devices["contactor"], devices["lock"])


def _device(t: _Table, name_key: str) -> DeviceConfig | None:
    """A device table: its driver name and its options; only generic facts are checked here."""
    name = t.text(name_key, required=True)
    if name is not None and not name.strip():
        t.problem(name_key, "must not be empty")
    options = dict(t.data)
    for key in PATH_OPTIONS:
        value = t.text(key)
        if value is None:
            continue
        if not value.strip():
            t.problem(key, "must not be empty")
        elif "://" in value:
            if key == "port":
                _check_port_url(t, value)
        else:
            options[key] = str(t.resolve(value))
    if not t.ok or name is None:
        return None
    return DeviceConfig(name, _frozen_table(options), t.prefix)


def _check_port_url(t: _Table, port: str) -> None:
    scheme = port.partition("://")[0].lower()
    if scheme not in PORT_URL_SCHEMES:
        t.problem("port", f"unknown URL scheme {scheme!r}: use a device path or one of "
                  f"{', '.join(s + '://' for s in sorted(PORT_URL_SCHEMES))}")
    elif scheme in ("socket", "rfc2217", "tcp"):
        try:
            parts = urlsplit(port)
            needs_port = scheme != "tcp"  # Modbus TCP defaults to 502
            if not parts.hostname or (needs_port and parts.port is None):
                t.problem("port", f"expected {scheme}://host{':port' if needs_port else '[:port]'}")
        except ValueError as err:
            t.problem("port", f"not a valid URL ({err})")


def _frozen_table(table: Mapping[str, object]) -> Mapping[str, object]:
    """A read-only copy, nested tables and arrays included, so a frozen config stays frozen."""
    return MappingProxyType({key: _frozen(value) for key, value in table.items()})


def _frozen(value: object) -> object:
    if isinstance(value, dict):
        return _frozen_table(value)
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


# --- checks that need this machine (check_config) --------------------------------------------------------


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def _check_file(key: str, path: Path) -> list[Problem]:
    if not path.exists():
        return [Problem(key, f"{path}: no such file")]
    if not path.is_file():
        return [Problem(key, f"{path}: not a regular file")]
    if not os.access(path, os.R_OK):
        return [Problem(key, f"{path}: not readable by {_user()}")]
    return []


@dataclass(frozen=True, slots=True)
class Access:
    """Who must be able to open the device nodes: a user name, uid and the groups it belongs to."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def of(cls, user: str | None) -> Access:
        """``user`` (the service user, e.g. ``chargepoint``), or the current user when ``None``."""
        if user is None:
            return cls(_user(), os.geteuid(), frozenset([os.getegid(), *os.getgroups()]))
        import grp
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise LookupError(f"no such user {user!r} on this machine") from None
        gids = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
        return cls(user, entry.pw_uid, frozenset(gids))

    def can_read_write(self, path: Path) -> bool:
        if self.uid == os.geteuid():
            return os.access(path, os.R_OK | os.W_OK)
        if self.uid == 0:
            return True
        st = path.stat()
        if st.st_uid == self.uid:
            return st.st_mode & 0o600 == 0o600
        if st.st_gid in self.gids:
            return st.st_mode & 0o060 == 0o060
        return st.st_mode & 0o006 == 0o006


def _check_node(key: str, path: Path, access: Access, group: str) -> list[Problem]:
    if not path.exists():
        return [Problem(key, f"{path}: no such device")]
    if path.is_dir():
        return [Problem(key, f"{path}: is a directory, not a device")]
    if not access.can_read_write(path):
        return [Problem(key, f"{path}: not readable and writable by {access.name} (add the user to the "
                        f"group that owns it, usually '{group}')")]
    return []


def _check_storage(key: str, path: Path) -> list[Problem]:
    if path.exists():
        if not path.is_dir():
            return [Problem(key, f"{path}: not a directory")]
        if not os.access(path, os.W_OK | os.X_OK):
            return [Problem(key, f"{path}: not writable by {_user()}")]
        return []
    parent = path.parent
    if not parent.is_dir():
        return [Problem(key, f"{path}: does not exist, and neither does its parent {parent}")]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [Problem(key, f"{path}: does not exist and {_user()} cannot create it in {parent}")]
    return []

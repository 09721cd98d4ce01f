"""Each section's rules (``[station]``, ``[csms]``, ``[[evse]]``...): a TOML table in, a dataclass out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from chargepoint.service.config_model import (
    HAL_DRIVERS,
    KEY_TYPES,
    OCPP_VERSIONS,
    PHASES,
    Config,
    CsmsConfig,
    DeviceConfig,
    EvseConfig,
    FirmwareConfig,
    HalConfig,
    HalDriver,
    LoggingConfig,
    OcppVersion,
    SecurityConfig,
    StationConfig,
    StorageConfig,
)
from chargepoint.service.config_parse import _choice, _fields, _raw, _Table

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
DEVICE_SLOTS = ("meter", "pilot", "contactor", "lock")
REQUIRED_HARDWARE = ("meter", "pilot", "contactor")

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

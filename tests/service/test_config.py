"""The TOML config: installers' files load as written; every rule reports its key path and the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from chargepoint.service.config import (
    Config,
    ConfigError,
    DeviceConfig,
    Problem,
    check_config,
    load_config,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Exactly what the installation guide shows (README "The config file").
PROFILES = "# 0: ws, no auth; 1: ws + basic auth; 2: wss + basic auth; 3: wss + client cert"
INSTALLER = f"""\
[station]
id = "CP-0001"
vendor = "Acme"
model = "AC22"
serial_number = "SN-0001"
firmware_version = "0.1.0"
ocpp_version = "1.6"                 # "1.6" or "2.0.1"

[csms]
url = "wss://csms.example.net/ocpp"  # the station id is appended as the last path segment
security_profile = 2                 {PROFILES}
password = "secret"                  # basic auth (profiles 1 and 2)
ca_file = "/etc/chargepoint/csms-ca.pem"
# client_cert = "/etc/chargepoint/cp.pem" and client_key = "/etc/chargepoint/cp.key" for profile 3

[storage]
dir = "/var/lib/chargepoint"

[hal]
driver = "sim"                       # every device simulated
control_socket = "/run/chargepoint/sim.sock"

[[evse]]
id = 1
max_current_a = 32
phases = 3
"""

HARDWARE_PART = """\
[hal]
driver = "hardware"

[[evse]]
id = 1
max_current_a = 32
phases = 3
meter = { model = "eastron_sdm630", port = "/dev/ttyUSB0", baudrate = 9600, parity = "N", unit = 1 }
pilot = { driver = "openevse", port = "/dev/ttyS1" }
contactor = { driver = "gpio", chip = "/dev/gpiochip0", line = 17, feedback_line = 18 }

[[rfid]]
driver = "pn532"
port = "/dev/ttyS2"
"""
HARDWARE = INSTALLER.split("[hal]")[0] + HARDWARE_PART

SECOND_EVSE = "\n[[evse]]\nid = {id}\nmax_current_a = 16\nphases = 1\n"
EVSE_BLOCK = "[[evse]]\nid = 1\nmax_current_a = 32\nphases = 3\n"

CA, STORAGE = '"/etc/chargepoint/csms-ca.pem"', '"/var/lib/chargepoint"'

Edits = Sequence[tuple[str, str]]


def edit(text: str, edits: Edits) -> str:
    for old, new in edits:
        assert old in text, f"test bug: {old!r} is not in the config"
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a config into tmp_path, with csms.ca_file pointing at a real file there."""
    ca = tmp_path / "csms-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    def write(text: str = INSTALLER, edits: Edits = ()) -> Path:
        path = tmp_path / "chargepoint.toml"
        path.write_text(edit(text, edits).replace(CA, f'"{ca}"'))
        return path

    return write


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == path
    return info.value


# --- configs that load ------------------------------------------------------------------------------------


def test_installer_config_loads_as_written(write: Callable[..., Path], tmp_path: Path) -> None:
    path = write()
    config = load_config(path)
    assert config.source == path
    assert (config.station.id, config.station.vendor, config.station.model) == ("CP-0001", "Acme", "AC22")
    assert (config.station.serial_number, config.station.firmware_version) == ("SN-0001", "0.1.0")
    assert config.station.ocpp_version == "1.6"
    assert config.csms.url == "wss://csms.example.net/ocpp"
    assert (config.csms.security_profile, config.csms.password) == (2, "secret")
    assert config.csms.ca_file == tmp_path / "csms-ca.pem"
    assert (config.csms.client_cert, config.csms.client_key) == (None, None)
    assert (config.csms.ping_interval_s, config.csms.call_timeout_s) == (30.0, 30.0)
    assert config.storage.dir == Path("/var/lib/chargepoint")
    assert (config.hal.driver, config.hal.control_socket) == ("sim", Path("/run/chargepoint/sim.sock"))
    [evse] = config.evses
    assert (evse.id, evse.max_current_a, evse.phases, evse.connectors) == (1, 32.0, 3, 1)
    assert (evse.meter, evse.pilot, evse.contactor, evse.lock) == (None, None, None, None)
    assert (config.rfid, config.logging.level) == ((), "INFO")


def test_hardware_config_loads_without_the_ports(write: Callable[..., Path]) -> None:
    config = load_config(write(HARDWARE))  # /dev/ttyUSB0 etc. need not exist to load
    [evse] = config.evses
    assert evse.meter == DeviceConfig(
        "eastron_sdm630",
        {"model": "eastron_sdm630", "port": "/dev/ttyUSB0", "baudrate": 9600, "parity": "N", "unit": 1},
        "evse[1].meter",
    )
    assert evse.pilot is not None and evse.pilot.driver == "openevse"
    assert evse.contactor is not None and evse.contactor.driver == "gpio"
    assert evse.contactor.options["feedback_line"] == 18
    assert config.rfid == (DeviceConfig("pn532", {"driver": "pn532", "port": "/dev/ttyS2"}, "rfid[1]"),)
    assert config.hal.driver == "hardware"
    assert config.hal.control_socket == Path("/var/lib/chargepoint/control.sock")  # chargepoint status
    with pytest.raises(TypeError):
        evse.meter.options["port"] = "/dev/other"  # type: ignore[index]


SITE_LIMIT = "site_max_current_a = 40\nvoltage_v = 220"


@pytest.mark.parametrize(
    ("text", "edits", "check"),
    [
        pytest.param(INSTALLER, [('control_socket = "/run/chargepoint/sim.sock"', "")],
                     lambda c: c.hal.control_socket == Path("/var/lib/chargepoint/sim.sock"),
                     id="socket-default"),
        pytest.param(INSTALLER, [('ocpp_version = "1.6"', 'ocpp_version = "2.0.1"')],
                     lambda c: c.station.ocpp_version == "2.0.1", id="ocpp-2.0.1"),
        pytest.param(INSTALLER, [("max_current_a = 32", "max_current_a = 6")],
                     lambda c: c.evses[0].max_current_a == 6.0, id="6A"),
        pytest.param(INSTALLER, [("max_current_a = 32", "max_current_a = 80.0")],
                     lambda c: c.evses[0].max_current_a == 80.0, id="80A"),
        pytest.param(INSTALLER, [("security_profile = 2", "security_profile = 1")],
                     lambda c: c.csms.security_profile == 1, id="profile-1-over-wss"),
        pytest.param(INSTALLER, [("[[evse]]\nid = 1", "[[evse]]\nid = 2"), ("phases = 3", "phases = 3\n"
                     + SECOND_EVSE.format(id=1))],
                     lambda c: [e.id for e in c.evses] == [1, 2], id="evse-ids-sorted"),
        pytest.param(INSTALLER, [('vendor = "Acme"', 'vendor = "Acme"\n' + SITE_LIMIT)],
                     lambda c: c.station.site_max_current_a == 40.0 and c.station.voltage_v == 220.0,
                     id="site-limit"),
        pytest.param(INSTALLER, [("phases = 3", "phases = 3\n\n[logging]\nlevel = \"debug\"")],
                     lambda c: c.logging.level == "DEBUG", id="level-any-case"),
        pytest.param(HARDWARE, [('"/dev/ttyS1"', '"socket://127.0.0.1:5000"'),
                                ('"/dev/ttyUSB0"', '"tcp://10.0.0.7"')],
                     lambda c: c.evses[0].pilot.options["port"] == "socket://127.0.0.1:5000", id="port-urls"),
    ],
)
def test_accepted(
    write: Callable[..., Path], text: str, edits: Edits, check: Callable[[Config], bool]
) -> None:
    assert check(load_config(write(text, edits)))


@pytest.mark.parametrize("path", sorted(DOCS.glob("chargepoint*.example.toml")), ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    config = load_config(path)
    if config.hal.driver == "sim":
        assert (config.csms.url, config.csms.security_profile) == ("ws://127.0.0.1:9000/ocpp", 0)
        assert check_config(path) == []
    else:
        assert all(e.meter and e.pilot and e.contactor for e in config.evses)


def test_both_examples_exist() -> None:
    assert {p.name for p in DOCS.glob("chargepoint*.example.toml")} == {
        "chargepoint.example.toml", "chargepoint.hardware.example.toml"}


# --- one rule, one row: the key path and the file appear in the error --------------------------------------

WS0 = [("wss://csms.example.net", "ws://csms.example.net"), ("security_profile = 2", "security_profile = 0"),
       ('password = "secret"', ""), ('ca_file = "/etc/chargepoint/csms-ca.pem"', "")]
NO_PASSWORD = ('password = "secret"', "")
PROFILE_1 = ("security_profile = 2", "security_profile = 1")
PROFILE_3 = ("security_profile = 2", "security_profile = 3")
CERT = 'client_cert = "cp.pem"\nclient_key = "cp.key"\n'
WS = ("wss://", "ws://")
EVSE_1, AMPS, PHASES = "[[evse]]\nid = 1", "max_current_a = 32", "phases = 3"
SIM, HARD = 'driver = "sim"', 'driver = "hardware"'


def before(anchor: str, lines: str) -> tuple[str, str]:
    return anchor, f"{lines}\n{anchor}"


def after(anchor: str, lines: str) -> tuple[str, str]:
    return anchor, f"{anchor}\n{lines}"


def rule(name: str, key: str, fragment: str, *edits: tuple[str, str], base: str = INSTALLER) -> object:
    return pytest.param(base, edits, key, fragment, id=name)


RULES = [
    # smart charging
    rule("site-limit-range", "station.site_max_current_a", "must be within 6..2000 A",
         after('vendor = "Acme"', "site_max_current_a = 4")),
    rule("voltage-range", "station.voltage_v", "must be within 100..480 V",
         after('vendor = "Acme"', "voltage_v = 23")),
    # unknown keys, with a suggestion when one is close
    rule("unknown-key", "station.vendr", "did you mean 'vendor'", after('vendor = "Acme"', 'vendr = "A"')),
    rule("unknown-table", "storge", "did you mean 'storage'", before("[storage]", "[storge]")),
    rule("unknown-evse-key", "evse[1].max_current", "did you mean 'max_current_a'",
         after(PHASES, "max_current = 16")),
    # types (a TOML boolean is not an integer)
    rule("bool-phases", "evse[1].phases", "expected an integer, got a boolean", (PHASES, "phases = true")),
    rule("bool-profile", "csms.security_profile", "got a boolean", ("profile = 2", "profile = true")),
    rule("string-current", "evse[1].max_current_a", "expected a number, got a string",
         (AMPS, 'max_current_a = "32"')),
    rule("float-id", "evse[1].id", "expected an integer", (EVSE_1, EVSE_1 + ".0")),
    rule("table-station", "station", "expected a table", ("[station]\n", 'station = "x"\n[x]\n')),
    # required keys
    rule("no-station-id", "station.id", "missing", ('id = "CP-0001"', "")),
    rule("no-vendor", "station.vendor", "missing", ('vendor = "Acme"', "")),
    rule("no-model", "station.model", "missing", ('model = "AC22"', "")),
    rule("no-url", "csms.url", "missing", ('url = "wss://csms.example.net/ocpp"', "")),
    rule("no-profile", "csms.security_profile", "missing", ("security_profile = 2", "")),
    rule("no-storage-dir", "storage.dir", "missing", ('dir = "/var/lib/chargepoint"', "")),
    rule("no-storage", "storage", "missing", ('[storage]\ndir = "/var/lib/chargepoint"', "")),
    rule("no-hal-driver", "hal.driver", "missing", (SIM, "")),
    rule("no-evse", "evse", "at least one [[evse]]", (EVSE_BLOCK, "")),
    # station
    rule("ocpp-version", "station.ocpp_version", "'1.6', '2.0.1'", ('"1.6"  ', '"1.5"  ')),
    rule("ocpp-version-number", "station.ocpp_version", "in quotes", ('"1.6"  ', "1.6  ")),
    rule("empty-id", "station.id", "must not be empty", ('"CP-0001"', '""')),
    rule("slash-id", "station.id", "'/'", ('"CP-0001"', '"CP/0001"')),
    rule("long-id", "station.id", "at most 48", ('"CP-0001"', '"' + "C" * 49 + '"')),
    rule("colon-id-basic-auth", "station.id", "':'", ('"CP-0001"', '"CP:0001"')),
    rule("long-vendor", "station.vendor", "at most 20", ('"Acme"', '"' + "A" * 21 + '"')),
    # csms
    rule("http-url", "csms.url", "ws:// or wss://", ("wss://csms", "https://csms")),
    rule("no-host", "csms.url", "no host", ("wss://csms.example.net/ocpp", "wss:///ocpp")),
    rule("url-credentials", "csms.url", "credentials", ("wss://csms", "wss://cp:pw@csms")),
    rule("url-query", "csms.url", "query", ("/ocpp", "/ocpp?x=1")),
    rule("profile-4", "csms.security_profile", "0, 1, 2 or 3", ("profile = 2", "profile = 4")),
    rule("profile-0-password", "csms.password", "not used with security_profile 0", *WS0[:2], WS0[3]),
    rule("profile-1-no-password", "csms.password", "required with security_profile 1",
         PROFILE_1, NO_PASSWORD),
    rule("profile-2-no-password", "csms.password", "required with security_profile 2", NO_PASSWORD),
    rule("profile-2-empty-password", "csms.password", "must not be empty", ('"secret"', '""')),
    rule("profile-2-ws", "csms.url", "security_profile 2 needs a wss://", WS),
    rule("profile-3-ws", "csms.url", "security_profile 3 needs a wss://", WS, PROFILE_3, NO_PASSWORD),
    rule("profile-3-no-cert", "csms.client_cert", "required with security_profile 3", PROFILE_3, NO_PASSWORD),
    rule("profile-3-no-key", "csms.client_key", "required with security_profile 3", PROFILE_3, NO_PASSWORD,
         before("[storage]", 'client_cert = "cp.pem"')),
    rule("profile-3-password", "csms.password", "not used", PROFILE_3, before("[storage]", CERT)),
    rule("cert-with-profile-2", "csms.client_cert", "only used", before("[storage]", CERT)),
    rule("ca-file-with-ws", "csms.ca_file", "only used with a wss://", WS, PROFILE_1),
    rule("negative-ping", "csms.ping_interval_s", ">= 0", before("[storage]", "ping_interval_s = -1")),
    # evse
    rule("duplicate-evse", "evse[2].id", "duplicate EVSE id 1", after(PHASES, SECOND_EVSE.format(id=1))),
    rule("evse-gap", "evse[2].id", "consecutive from 1", after(PHASES, SECOND_EVSE.format(id=3))),
    rule("evse-from-2", "evse[1].id", "consecutive from 1", (EVSE_1, "[[evse]]\nid = 2")),
    rule("evse-id-0", "evse[1].id", ">= 1", (EVSE_1, "[[evse]]\nid = 0")),
    rule("current-5.9", "evse[1].max_current_a", "6..80", (AMPS, "max_current_a = 5.9")),
    rule("current-81", "evse[1].max_current_a", "6..80", (AMPS, "max_current_a = 81")),
    rule("current-nan", "evse[1].max_current_a", "finite", (AMPS, "max_current_a = nan")),
    rule("phases-2", "evse[1].phases", "1 or 3", (PHASES, "phases = 2")),
    rule("connectors-0", "evse[1].connectors", ">= 1", after(PHASES, "connectors = 0")),
    rule("evse-not-array", "evse", "array of tables", ("[[evse]]", "[evse]")),
    # hal and devices
    rule("hal-driver", "hal.driver", "did you mean 'sim'", (SIM, 'driver = "Sim"')),
    rule("hardware-no-meter", "evse[1].meter", "required", (SIM, HARD)),
    rule("hardware-no-pilot", "evse[1].pilot", "required", ("pilot = {", "# pilot = {"), base=HARDWARE),
    rule("hardware-no-contactor", "evse[1].contactor", "required", ("contactor =", "# c ="), base=HARDWARE),
    rule("sim-meter", "evse[1].meter", 'not used with hal.driver = "sim"',
         after(PHASES, 'meter = { model = "eastron_sdm630", port = "/dev/x" }')),
    rule("sim-rfid", "rfid[1]", 'not used with hal.driver = "sim"',
         after(PHASES, '[[rfid]]\ndriver = "pn532"')),
    rule("meter-no-model", "evse[1].meter.model", "missing", ("{ model", "{ driver"), base=HARDWARE),
    rule("pilot-no-driver", "evse[1].pilot.driver", "missing", ('driver = "openevse",', ""), base=HARDWARE),
    rule("port-type", "rfid[1].port", "expected a string", ('"/dev/ttyS2"', "2"), base=HARDWARE),
    rule("port-scheme", "evse[1].pilot.port", "unknown URL scheme", ('"/dev/ttyS1"', '"http://10.0.0.7"'),
         base=HARDWARE),
    rule("port-socket-no-port", "evse[1].pilot.port", "socket://host:port", ('"/dev/ttyS1"', '"socket://h"'),
         base=HARDWARE),
    # logging
    rule("log-level", "logging.level", "one of DEBUG, INFO", after(PHASES, '[logging]\nlevel = "X"')),
    rule("logging-unknown", "logging.levl", "did you mean 'level'", after(PHASES, '[logging]\nlevl = "X"')),
]


@pytest.mark.parametrize(("text", "edits", "key", "fragment"), RULES)
def test_rule(write: Callable[..., Path], text: str, edits: Edits, key: str, fragment: str) -> None:
    path = write(text, edits)
    err = load_error(path)
    assert any(p.key == key and fragment in p.message for p in err.problems), err.problems
    assert f"{path}: {key}: " in str(err)


def test_every_problem_is_reported_at_once(write: Callable[..., Path]) -> None:
    path = write(edits=[('vendor = "Acme"', 'vendr = ""'), WS, (PHASES, "phases = 2"), (SIM, 'driver = "x"')])
    err = load_error(path)
    keys = {p.key for p in err.problems}
    assert keys >= {"station.vendr", "station.vendor", "csms.url", "csms.ca_file", "evse[1].phases",
                    "hal.driver"}
    lines = str(err).splitlines()
    assert len(lines) == len(err.problems)
    assert all(line.startswith(f"{path}: ") for line in lines)


# --- the file itself ---------------------------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(write: Callable[..., Path]) -> None:
    path = write(edits=[('model = "AC22"', "model = AC22")])
    err = load_error(path)
    assert [p.key for p in err.problems] == [""]
    assert str(err).startswith(f"{path}: invalid TOML at line 4, column 9")


@pytest.mark.parametrize("make", [
    pytest.param(lambda p: None, id="missing"),
    pytest.param(lambda p: p.mkdir(), id="directory"),
    pytest.param(lambda p: p.write_bytes(b'[station]\nid = "\xff"\n'), id="not-utf8"),
])
def test_unusable_file_is_a_config_error(tmp_path: Path, make: Callable[[Path], object]) -> None:
    path = tmp_path / "chargepoint.toml"
    make(path)
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")


# --- secrets ------------------------------------------------------------------------------------------------

SECRET = "Zs3cr3t-Pa55w0rd-Zq"


def test_password_never_in_repr_or_str(write: Callable[..., Path]) -> None:
    config = load_config(write(edits=[('"secret"', f'"{SECRET}"')]))
    assert config.csms.password == SECRET
    for shown in (repr(config), str(config), repr(config.csms), str(config.csms)):
        assert SECRET not in shown
    assert "password=<hidden>" in repr(config.csms)


@pytest.mark.parametrize("edits", [
    pytest.param([('"secret"', f'"{SECRET}"'), *WS0[:2]], id="profile-0"),
    pytest.param([("wss://csms", f"wss://cp:{SECRET}@csms")], id="in-url"),
    pytest.param([('"secret"', f'"{SECRET}"'), ("wss://", "ws://")], id="other-errors"),
    pytest.param([('password = "secret"', "password = 1234567890123456")], id="wrong-type"),
])
def test_password_never_in_errors(write: Callable[..., Path], edits: Edits) -> None:
    err = load_error(write(edits=edits))
    for secret in (SECRET, "1234567890123456"):
        assert secret not in str(err)


# --- paths -------------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.chdir(tmp_path)  # not the config's directory
    sim = etc / "sim.toml"
    sim.write_text(edit(INSTALLER, [PROFILE_3, NO_PASSWORD, (CA, '"certs/ca.pem"'), before("[storage]", CERT),
                                    (STORAGE, '"../state"'), ('control_socket = "/run/', '# "/run/')]))
    config = load_config(Path("etc/sim.toml"))
    assert config.source == sim
    assert (config.csms.ca_file, config.csms.client_cert, config.csms.client_key) == (
        etc / "certs" / "ca.pem", etc / "cp.pem", etc / "cp.key")
    assert config.storage.dir == tmp_path / "state"
    assert config.hal.control_socket == tmp_path / "state" / "sim.sock"

    hardware = etc / "hw.toml"
    hardware.write_text(edit(HARDWARE, [('"/dev/ttyS2"', '"serial/rfid"'), ('"/dev/ttyS1"', '"spy://h:1"')]))
    loaded = load_config(hardware)
    assert loaded.rfid[0].options["port"] == str(etc / "serial" / "rfid")
    assert loaded.evses[0].pilot is not None and loaded.evses[0].pilot.options["port"] == "spy://h:1"


# --- check_config: what needs the machine ------------------------------------------------------------------


@pytest.fixture
def machine(write: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """A hardware config whose ports are files in tmp_path and whose storage dir is creatable."""
    for name in ("ttyUSB0", "ttyS1", "ttyS2", "gpiochip0"):
        (tmp_path / name).write_bytes(b"")

    def make(edits: Edits = ()) -> Path:
        text = edit(HARDWARE, edits).replace('"/dev/tty', '"tty').replace('"/dev/gpiochip', '"gpiochip')
        return write(text.replace('"/var/lib/', '"'))

    return make


def test_check_config_passes_on_a_ready_machine(machine: Callable[..., Path]) -> None:
    assert check_config(machine()) == []


@pytest.mark.parametrize(("edits", "key", "fragment"), [
    pytest.param([(CA, '"missing-ca.pem"')], "csms.ca_file", "no such file", id="ca-missing"),
    pytest.param([(CA, '"."')], "csms.ca_file", "not a regular file", id="ca-directory"),
    pytest.param([("ttyS1", "ttyGONE")], "evse[1].pilot.port", "no such device", id="port-missing"),
    pytest.param([("gpiochip0", "gpiochip9")], "evse[1].contactor.chip", "no such device", id="chip-missing"),
    pytest.param([(STORAGE, '"no/such/dir"')], "storage.dir", "neither does its parent", id="storage"),
    pytest.param([(STORAGE, '"ttyS1"')], "storage.dir", "not a directory", id="storage-file"),
])
def test_check_config_finds(machine: Callable[..., Path], edits: Edits, key: str, fragment: str) -> None:
    problems = check_config(machine(edits))
    assert any(p.key == key and fragment in p.message for p in problems), problems


def test_check_config_skips_url_ports_and_calls_the_device_hook(machine: Callable[..., Path]) -> None:
    path = machine([('"/dev/ttyS1"', '"socket://127.0.0.1:1"')])  # nothing listens there: not checked
    unknown = Problem("evse[1].pilot.driver", "no pilot driver named 'openevse'")
    seen: list[Config] = []

    def hook(config: Config) -> list[Problem]:
        seen.append(config)
        return [unknown]

    assert check_config(path, check_devices=hook) == [unknown]
    assert [c.source for c in seen] == [path]


_CHECK = """\
import json, sys
from pathlib import Path
from chargepoint.service.config import ConfigError, check_config
try:
    print(json.dumps({"problems": [[p.key, p.message] for p in check_config(Path(sys.argv[1]))]}))
except ConfigError as err:
    print(json.dumps({"error": str(err)}))
"""


def check_unprivileged(path: Path) -> tuple[list[Problem], str]:
    """check_config where file modes apply (root bypasses them, so there it runs without capabilities).

    Returns the problems, or the ConfigError text.
    """
    argv = [sys.executable, "-c", _CHECK, str(path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE to test file modes")
        argv = [setpriv, "--bounding-set=-all", "--inh-caps=-all", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 and done.stderr.startswith("setpriv"):
        pytest.skip(f"cannot drop capabilities here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return [Problem(key, message) for key, message in result.get("problems", [])], result.get("error", "")


@pytest.mark.parametrize("mode", [0o200, 0o400], ids=["write-only", "read-only"])
def test_check_config_finds_an_unreadable_port(
    machine: Callable[..., Path], tmp_path: Path, mode: int
) -> None:
    path = machine()
    port = tmp_path / "ttyS2"
    port.chmod(mode)
    [problem] = check_unprivileged(path)[0]
    assert problem.key == "rfid[1].port"
    assert problem.message.startswith(f"{port}: not readable and writable by ")


def test_unreadable_config_file_is_a_config_error(machine: Callable[..., Path]) -> None:
    path = machine()
    path.chmod(0)
    assert check_unprivileged(path)[1] == f"{path}: cannot read the config file: Permission denied"

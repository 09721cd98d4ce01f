"""The production service files: the unit (verify, security score, required keys), sysusers, install.sh."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "chargepoint.service"
SYSUSERS = ROOT / "systemd" / "chargepoint.sysusers"
INSTALL = ROOT / "systemd" / "install.sh"
DEFAULT_EXEC = "/opt/chargepoint/venv/bin/chargepoint"
CHECK_CONFIG = (
    "sudo -u chargepoint /opt/chargepoint/venv/bin/chargepoint check-config "
    "--config /etc/chargepoint/chargepoint.toml"
)
ENABLE = "sudo systemctl enable --now chargepoint"
# What install.sh needs from a checkout; the test installs from a copy so pip's in-tree build never
# writes into the working tree.
CHECKOUT_PARTS = ("pyproject.toml", "README.md", "chargepoint", "hal", "drivers", "systemd", "docs")

Unit = dict[str, dict[str, list[str]]]


def read_unit(text: str) -> Unit:
    """systemd's unit syntax: sections, Key=Value, # and ; comments, backslash continuations.

    Unlike configparser, a key may repeat and every value is kept in order (DeviceAllow=,
    SystemCallFilter=); keys keep their case and ':' is not a delimiter.
    """
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and section is not None, f"not a unit line: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def analyze_or_skip() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not installed (Debian: apt install systemd)")
    return path


def runnable_unit(tmp_path: Path, extra: str = "") -> Path:
    """The unit with ExecStart= pointing at an executable that exists here (verify checks it)."""
    executable = Path(sys.executable).with_name("chargepoint")
    assert executable.exists(), executable
    text = UNIT.read_text()
    assert f"ExecStart={DEFAULT_EXEC} " in text
    text = text.replace(f"ExecStart={DEFAULT_EXEC} ", f"ExecStart={executable} ")
    if extra:
        text = text.replace("\n[Service]\n", f"\n[Service]\n{extra}\n")
    copy = tmp_path / "chargepoint.service"
    copy.write_text(text)
    return copy


def verify(analyze: str, unit: Path) -> str:
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60,
                          cwd=unit.parent)
    return (done.stdout + done.stderr).strip()


# (1) systemd-analyze verify: it exits 0 even on unknown keys, so any output at all is a failure.


def test_verify_prints_nothing(tmp_path: Path) -> None:
    analyze = analyze_or_skip()
    assert verify(analyze, runnable_unit(tmp_path)) == ""


def test_verify_would_report_a_bad_key(tmp_path: Path) -> None:
    # The check above is only worth something if this set-up still reports the unit's own mistakes.
    analyze = analyze_or_skip()
    out = verify(analyze, runnable_unit(tmp_path, extra="ProtectSytem=strict"))
    assert "Unknown key" in out and "ProtectSytem" in out, out


# (2) systemd-analyze security, offline: the exposure score of the unit as written.


def test_security_exposure_below_2(tmp_path: Path) -> None:
    analyze = analyze_or_skip()
    done = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    match = re.search(r"Overall exposure level for chargepoint\.service: (\d+\.\d+)", done.stdout)
    assert match is not None, done.stdout + done.stderr
    assert float(match.group(1)) < 2.0, done.stdout


# (3) The keys the issue asks for.


REQUIRED: dict[str, str] = {
    "Type": "notify",
    "NotifyAccess": "main",
    "WatchdogSec": "30",
    "Restart": "on-failure",
    "User": "chargepoint",
    "Group": "chargepoint",
    "StateDirectory": "chargepoint",
    "ConfigurationDirectory": "chargepoint",
    "RuntimeDirectory": "chargepoint",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "DevicePolicy": "closed",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RemoveIPC": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
    "TimeoutStopSec": "20",
    "Environment": "PYTHONUNBUFFERED=1",
}


def test_unit_has_the_required_keys() -> None:
    unit = read_unit(UNIT.read_text())
    service = unit["Service"]
    for key, value in REQUIRED.items():
        assert service.get(key, [])[-1:] == [value], f"{key}= is {service.get(key)}, wants {value!r}"
    assert service["ExecStart"] == [f"{DEFAULT_EXEC} run --config /etc/chargepoint/chargepoint.toml"]
    assert "KillMode" in service
    # Serial ports, GPIO chips and input devices, each on its own DeviceAllow= line.
    allowed = {entry.split()[0]: entry.split()[1] for entry in service["DeviceAllow"]}
    for group in ("char-ttyS", "char-ttyUSB", "char-ttyACM", "char-gpiochip"):
        assert allowed.get(group) == "rw", allowed
    assert allowed.get("char-input", "").startswith("r"), allowed
    # PrivateDevices= would hide every serial port; PrivateUsers= would map the device groups away.
    assert "PrivateDevices" not in service
    assert "PrivateUsers" not in service
    filters = service["SystemCallFilter"]
    assert "@system-service" in filters
    assert any(f.startswith("~") and "@privileged" in f and "@resources" in f for f in filters), filters
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_every_service_block_says_why() -> None:
    # Each group of [Service] lines starts right after a comment explaining it.
    lines = UNIT.read_text().split("[Service]\n", 1)[1].split("\n[", 1)[0].splitlines()
    previous = ""
    for line in lines:
        if line and not line.startswith("#") and previous == "":
            pytest.fail(f"uncommented block starting at {line!r}")
        previous = line


def test_read_unit_keeps_repeated_keys() -> None:
    unit = read_unit("[Service]\nDeviceAllow=a r\n# c\nDeviceAllow=b \\\n  rw\nX=\n")
    assert unit == {"Service": {"DeviceAllow": ["a r", "b rw"], "X": [""]}}


# (4) sysusers.d(5).


SYSUSERS_FIELDS = {"u": (2, 6), "g": (2, 3), "m": (3, 3), "r": (3, 3)}


def sysusers_lines(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append(re.findall(r'"[^"]*"|\S+', line))
    return rows


def test_sysusers_lines_are_valid() -> None:
    rows = sysusers_lines(SYSUSERS.read_text())
    for row in rows:
        assert row[0] in SYSUSERS_FIELDS, row
        low, high = SYSUSERS_FIELDS[row[0]]
        assert low <= len(row) <= high, row
        assert all(re.fullmatch(r"[a-z_][a-z0-9_-]*", name) for name in row[1:3] if row[0] == "m"), row
    users = [row for row in rows if row[0] == "u"]
    assert users == [["u", "chargepoint", "-", '"Charge-point OCPP stack"', "/var/lib/chargepoint",
                      "/usr/sbin/nologin"]]
    assert ["g", "gpio", "-"] in rows
    members = {row[2] for row in rows if row[0] == "m" and row[1] == "chargepoint"}
    assert members == {"dialout", "gpio", "input"}


def test_sysusers_creates_the_user_and_groups(tmp_path: Path) -> None:
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers not installed (Debian: apt install systemd)")
    (tmp_path / "etc").mkdir()
    done = subprocess.run([tool, f"--root={tmp_path}", "-"], input=SYSUSERS.read_text(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    user = r"^chargepoint:x:\d+:\d+:Charge-point OCPP stack:/var/lib/chargepoint:/usr/sbin/nologin$"
    assert re.search(user, passwd, re.M), passwd
    group_lines = (tmp_path / "etc" / "group").read_text().split()
    groups = {line.split(":")[0]: line.split(":")[3] for line in group_lines}
    assert groups["chargepoint"] == ""
    for group in ("dialout", "gpio", "input"):
        assert groups[group] == "chargepoint", groups


# (5) install.sh into a staging root.


def checkout_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for part in CHECKOUT_PARTS:
        origin = ROOT / part
        if origin.is_dir():
            shutil.copytree(origin, src / part, ignore=ignore)
        else:
            shutil.copy2(origin, src / part)
    return src


def run_install(src: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(src / "systemd" / "install.sh")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_install_sh_is_posix_sh() -> None:
    done = subprocess.run(["sh", "-n", str(INSTALL)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert INSTALL.read_text().startswith("#!/bin/sh\n")
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian: apt install shellcheck); sh -n passed")
    done = subprocess.run([shellcheck, "-s", "sh", str(INSTALL)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_install_into_destdir(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path)
    dest = tmp_path / "root"
    # --no-deps: the dependencies are not needed to check the installation (and the dev venv has them,
    # for --help below); pip still builds the package with its isolated build backend.
    env = {"DESTDIR": str(dest), "PYTHON": sys.executable, "INSTALL_PIP_ARGS": "--no-deps", "VENV_ARGS": ""}
    first = run_install(src, env)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[-2:] == [f"  {CHECK_CONFIG}", f"  {ENABLE}"], first.stdout

    venv = dest / "opt" / "chargepoint" / "venv"
    unit = dest / "etc" / "systemd" / "system" / "chargepoint.service"
    sysusers = dest / "usr" / "lib" / "sysusers.d" / "chargepoint.conf"
    config = dest / "etc" / "chargepoint" / "chargepoint.toml"
    readme = dest / "opt" / "chargepoint" / "README.md"
    assert unit.read_text() == UNIT.read_text()  # the default PREFIX: nothing to rewrite
    assert sysusers.read_text() == SYSUSERS.read_text()
    rules = dest / "etc" / "udev" / "rules.d" / "60-chargepoint-gpio.rules"
    assert 'GROUP="gpio"' in rules.read_text()
    assert config.read_text() == (ROOT / "docs" / "chargepoint.hardware.example.toml").read_text()
    assert config.stat().st_mode & 0o777 == 0o640
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert not (src / "build").exists() and not (src / "chargepoint.egg-info").exists()

    # The installed package is the one in the new venv (run away from the checkout, whose directory would
    # come first on sys.path), and its command runs.
    code = "import chargepoint; print(chargepoint.__file__)"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    helped = subprocess.run([str(venv / "bin" / "chargepoint"), "--help"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "check-config" in helped.stdout, helped.stderr

    # A second run (an update) never replaces the installer's config.
    config.write_text(config.read_text() + "# edited on the board\n")
    edited = config.read_text()
    second = run_install(src, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert config.read_text() == edited
    assert "keeping the existing" in second.stdout
    assert second.stdout.splitlines()[-2:] == [f"  {CHECK_CONFIG}", f"  {ENABLE}"]


def test_install_with_another_prefix_rewrites_the_unit(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path)
    dest = tmp_path / "root"
    env = {"DESTDIR": str(dest), "PREFIX": "/srv/cp", "PYTHON": sys.executable,
           "INSTALL_PIP_ARGS": "--no-deps"}
    done = run_install(src, env)
    assert done.returncode == 0, done.stdout + done.stderr
    service = read_unit((dest / "etc" / "systemd" / "system" / "chargepoint.service").read_text())
    assert service["Service"]["ExecStart"] == [
        "/srv/cp/venv/bin/chargepoint run --config /etc/chargepoint/chargepoint.toml"]
    assert service["Unit"]["Documentation"] == ["file:///srv/cp/README.md"]
    assert (dest / "srv" / "cp" / "venv" / "bin" / "chargepoint").exists()
    assert f"  {CHECK_CONFIG.replace('/opt/chargepoint/', '/srv/cp/')}" in done.stdout.splitlines()


def fake_python(tmp_path: Path, body: str) -> Path:
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    return fake


def test_install_refuses_an_old_python(tmp_path: Path) -> None:
    # Answers like Python 3.9 would: the version test fails, the version print says 3.9.2.
    fake = fake_python(tmp_path, 'case "$2" in *version_info*) exit 1;; *) echo 3.9.2;; esac')
    dest = tmp_path / "root"
    done = run_install(ROOT, {"DESTDIR": str(dest), "PYTHON": str(fake)})
    assert done.returncode != 0
    assert "3.9.2 is too old: chargepoint needs Python 3.11 or later" in done.stderr
    assert not dest.exists()


def test_install_refuses_a_python_without_venv(tmp_path: Path) -> None:
    # Debian's python3 without python3-venv: `import ensurepip` fails.
    fake = fake_python(tmp_path, f'case "$2" in *ensurepip*) exit 1;; *) exec {sys.executable} "$@";; esac')
    dest = tmp_path / "root"
    done = run_install(ROOT, {"DESTDIR": str(dest), "PYTHON": str(fake)})
    assert done.returncode != 0
    assert "apt install python3-venv" in done.stderr
    assert not dest.exists()


# (6) A real boot under systemd-nspawn, where the machine allows it.


PROBE = """\
[Unit]
Description=Records chargepoint.service's state once it is up, then powers the container off
Wants=chargepoint.service
After=chargepoint.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'systemctl show chargepoint -p ActiveState -p SubState -p NRestarts -p StatusText \
-p WatchdogUSec > /probe.txt; ps -o user= -p "$(systemctl show chargepoint -p MainPID --value)" >> /probe.txt'
ExecStartPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
"""

SIM_CONFIG = """\
[station]
id = "NSPAWN-1"
vendor = "Acme"
model = "AC22"

[csms]
url = "ws://127.0.0.1:9/ocpp"
security_profile = 0

[storage]
dir = "/var/lib/chargepoint"

[hal]
driver = "sim"

[[evse]]
id = 1
max_current_a = 32
phases = 3
"""


def nspawn_unavailable() -> str | None:
    """Why this machine cannot boot the unit in a container, or None when it can."""
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn not installed (Debian: apt install systemd-container)"
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    pid1 = Path("/proc/1/comm").read_text().strip()
    if pid1 != "systemd":
        return f"PID 1 is not systemd (it is {pid1!r})"
    rootfs = os.environ.get("CHARGEPOINT_NSPAWN_ROOTFS")
    if not rootfs:
        return ("no container root file system: set CHARGEPOINT_NSPAWN_ROOTFS to a Debian 12 tree with "
                "systemd, python3 and python3-venv "
                "(debootstrap --include=systemd,python3-venv,procps bookworm DIR)")
    for need in ("usr/lib/systemd/systemd", "usr/bin/python3", "usr/bin/ps"):
        if not (Path(rootfs) / need).exists():
            return f"CHARGEPOINT_NSPAWN_ROOTFS={rootfs} has no /{need}"
    return None


def test_boots_under_systemd_nspawn(tmp_path: Path) -> None:
    reason = nspawn_unavailable()
    if reason is not None:
        pytest.skip(reason)
    rootfs = os.environ["CHARGEPOINT_NSPAWN_ROOTFS"]
    src = checkout_copy(tmp_path)
    machine = tmp_path / "machine"
    nspawn = ["systemd-nspawn", "--quiet", "--register=no", "-D", str(machine)]
    # Install as on a board (the real installer, no DESTDIR) into a copy of the root file system.
    pip_args = os.environ.get("CHARGEPOINT_NSPAWN_PIP_ARGS", "")
    done = subprocess.run([*nspawn[:-2], f"--template={rootfs}", "-D", str(machine), f"--bind={src}:/src",
                           f"--setenv=INSTALL_PIP_ARGS={pip_args}", "/bin/sh", "/src/systemd/install.sh"],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    config = machine / "etc" / "chargepoint" / "chargepoint.toml"
    config.write_text(SIM_CONFIG)  # keeps the installer's mode and group
    system = machine / "etc" / "systemd" / "system"
    (system / "multi-user.target.wants").mkdir(exist_ok=True)
    (system / "multi-user.target.wants" / "chargepoint.service").symlink_to(
        "/etc/systemd/system/chargepoint.service")
    (system / "cp-probe.service").write_text(PROBE)
    (system / "multi-user.target.wants" / "cp-probe.service").symlink_to(
        "/etc/systemd/system/cp-probe.service")
    booted = subprocess.run([*nspawn, "--console=passive", "--boot"], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    probe = machine / "probe.txt"
    assert probe.exists(), booted.stdout + booted.stderr
    state = probe.read_text()
    assert "ActiveState=active" in state and "SubState=running" in state, state
    assert "NRestarts=0" in state and "WatchdogUSec=30s" in state, state
    assert state.splitlines()[-1].strip() == "chargepoint", state

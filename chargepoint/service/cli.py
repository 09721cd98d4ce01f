"""The ``chargepoint`` command line: run, check-config, status, probe, sim and demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/chargepoint/chargepoint.toml")
SERVICE_USER = "chargepoint"  # systemd/chargepoint.service User=

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the station or the control socket is not there


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargepoint", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the station in the foreground (what systemd starts)")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (overrides [logging] level)")

    check = sub.add_parser("check-config", help="validate a config file without running")
    check.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    check.add_argument("--user", help="check device access for this user (default: the service user "
                       "'chargepoint' when run as root and it exists, else yourself)")

    sim = sub.add_parser(
        "sim",
        help="drive a running station's simulated devices",
        description="Commands: plug EVSE | unplug EVSE | tap TOKEN | ev EVSE charge|pause|resume | "
        "fault EVSE CODE | clear EVSE | power EVSE WATTS | limit EVSE AMPS|off (an energy manager's "
        "limit) | status",
    )
    where = sim.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="find the control socket from this config")
    where.add_argument("--socket", type=Path, help="the control socket path")
    sim.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND")

    status = sub.add_parser("status", help="what the running station is doing (any HAL)")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="find the control socket from this config")
    where.add_argument("--socket", type=Path, help="the control socket path")
    status.add_argument("--json", action="store_true", help="the raw status as JSON")

    probe = sub.add_parser("probe", help="talk to one device once (commissioning)")
    kinds = probe.add_subparsers(dest="kind", required=True)
    option_help = "any other driver option, as in the config table (repeatable)"
    meter = kinds.add_parser("meter", help="read a meter once and print every measurand")
    meter.add_argument("--model", required=True, help="e.g. eastron_sdm630, abb_b23, generic")
    meter.add_argument("--phases", type=int, choices=[1, 3], default=3)
    for kind in (meter,):
        kind.add_argument("--port", required=True, help="device path or pyserial URL (socket://host:port)")
        kind.add_argument("--baudrate", type=int)
        kind.add_argument("--parity", choices=["N", "E", "O"])
        kind.add_argument("--unit", type=int, help="Modbus slave id")
    rfid = kinds.add_parser("rfid", help="wait for a card and print its UID")
    rfid.add_argument("--driver", required=True, help="pn532, rdm6300 or wedge")
    rfid.add_argument("--port", help="serial port (pn532, rdm6300)")
    rfid.add_argument("--path", help="input event device (wedge)")
    rfid.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a card")
    pilot = kinds.add_parser("pilot", help="show the control-pilot state and its changes")
    pilot.add_argument("--driver", required=True, help="openevse or gpio")
    pilot.add_argument("--port", help="serial port (openevse)")
    pilot.add_argument("--chip", help="GPIO chip (gpio)")
    pilot.add_argument("--watch", type=float, default=0.0, help="keep printing changes for this many seconds")
    contactor = kinds.add_parser("contactor", help="show the contactor state, or switch it")
    contactor.add_argument("--driver", required=True, help="gpio or modbus_relay")
    contactor.add_argument("--port", help="serial port (modbus_relay)")
    contactor.add_argument("--chip", help="GPIO chip (gpio)")
    contactor.add_argument("--line", type=int, help="GPIO line (gpio)")
    contactor.add_argument("--feedback-line", type=int, help="GPIO line of the mirror contact (gpio)")
    switch = contactor.add_mutually_exclusive_group()
    switch.add_argument("--close", action="store_true", help="close it (asks first; opens again on Enter)")
    switch.add_argument("--open", action="store_true", help="open it (asks first)")
    contactor.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for kind in (meter, rfid, pilot, contactor):
        kind.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help=option_help)

    demo = sub.add_parser("demo", help="one complete charging session against a local CSMS")
    demo.add_argument("--ocpp", default="1.6", choices=["1.6", "2.0.1"])
    demo.add_argument("--seconds", type=float, default=8.0, help="how long the EV charges")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args.config, args.log_level)
    if args.command == "check-config":
        return _check(args.config, args.user)
    if args.command == "sim":
        return _sim(args.config, args.socket, args.argv)
    if args.command == "status":
        return _status(args.config, args.socket, args.json)
    if args.command == "probe":
        return _probe(args)
    if args.command == "demo":
        from chargepoint.service.demo import run_demo

        return asyncio.run(run_demo(args.ocpp, args.seconds))
    return EXIT_CONFIG  # pragma: no cover - argparse requires a command


def _run(path: Path, log_level: str | None) -> int:
    from chargepoint.core.station import UnsupportedVersion
    from chargepoint.service.app import HardwareNotAvailable, serve
    from chargepoint.service.config import ConfigError, load_config
    from chargepoint.service.logs import setup_logging
    from chargepoint.service.persistence import StoreError

    try:
        config = load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(log_level or config.logging.level)
    try:
        result = asyncio.run(serve(config))
    except UnsupportedVersion as err:
        print(f"{config.source}: station.ocpp_version: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (HardwareNotAvailable, StoreError) as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    if result.reboot is not None:
        if result.reboot.value == "Hard" and config.station.hard_reset_hook is not None:
            _run_hard_reset_hook(config.station.hard_reset_hook)
        # OCPP Reset: start afresh as a new process image (same PID, so systemd keeps tracking it).
        # After a hook that reboots the board this process is stopped by the shutdown anyway.
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "chargepoint", *sys.argv[1:]])  # noqa: S606
    return EXIT_OK


def _run_hard_reset_hook(hook: Path) -> None:
    """OCPP 1.6 §5.14 Hard reset: the integrator's executable (e.g. a board reboot), bounded in time."""
    import logging
    import subprocess

    log = logging.getLogger("chargepoint.reset")
    try:
        done = subprocess.run([str(hook)], timeout=60, check=False, capture_output=True)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as err:
        log.error("hard reset hook %s failed: %s; restarting the process instead", hook, err)
        return
    if done.returncode != 0:
        log.error("hard reset hook %s exited %s: %s", hook, done.returncode,
                  done.stderr.decode(errors="replace").strip()[-200:])
    else:
        log.info("hard reset hook %s ran", hook)


def _check(path: Path, user: str | None) -> int:
    from chargepoint.service.config import ConfigError, check_config
    from chargepoint.service.hardware import check_devices

    if user is None and os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam(SERVICE_USER).pw_name
        except KeyError:
            user = None
    try:
        problems = check_config(path, check_devices=check_devices, user=user)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    except LookupError as err:
        print(f"chargepoint check-config: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if problems:
        for problem in problems:
            print(f"{path}: {problem.key}: {problem.message}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{path}: OK" + (f" (device access checked for {user})" if user else ""))
    return EXIT_OK


def _probe(args: argparse.Namespace) -> int:
    from chargepoint.service import probe

    try:
        options = probe.parse_options(args.option)
        for key in ("model", "driver", "port", "baudrate", "parity", "unit", "path", "chip", "line"):
            value = getattr(args, key, None)
            if value is not None:
                options[key] = value
        if getattr(args, "feedback_line", None) is not None:
            options["feedback_line"] = args.feedback_line
        if args.kind == "meter":
            return asyncio.run(probe.probe_meter(options, args.phases))
        if args.kind == "rfid":
            return asyncio.run(probe.probe_rfid(options, args.timeout))
        if args.kind == "pilot":
            return asyncio.run(probe.probe_pilot(options, args.watch))
        closed = True if args.close else False if args.open else None
        return asyncio.run(probe.probe_contactor(options, closed, _confirm(args.yes), _wait_for_enter))
    except probe.ProbeError as err:
        print(f"chargepoint probe {args.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def _confirm(yes: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        if yes:
            return True
        try:
            return input(question).strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return ask


async def _wait_for_enter() -> None:
    print("press Enter to open the contactor again", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


def _control_socket(config: Path | None, socket: Path | None) -> Path | int:
    """The control socket given, or the one the config names; an exit code when there is none."""
    if socket is not None:
        return socket
    from chargepoint.service.config import ConfigError, load_config

    try:
        loaded = load_config(config or DEFAULT_CONFIG)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    if loaded.hal.control_socket is None:
        print(f"{loaded.source}: hal.control_socket: not set", file=sys.stderr)
        return EXIT_CONFIG
    return loaded.hal.control_socket


def _sim(config: Path | None, socket: Path | None, argv: list[str]) -> int:
    from chargepoint.service.control import ControlError, send_command

    if not argv:
        print("chargepoint sim: give a command (plug, unplug, tap, ev, fault, clear, power, limit, status)",
              file=sys.stderr)
        return EXIT_CONFIG
    path = _control_socket(config, socket)
    if isinstance(path, int):
        return path
    try:
        reply = asyncio.run(send_command(path, argv))
    except ControlError as err:
        print(f"chargepoint sim: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(json.dumps(reply, indent=2))
    return EXIT_OK if reply.get("ok", True) else 1


def _status(config: Path | None, socket: Path | None, as_json: bool) -> int:
    from chargepoint.service.control import ControlError, send_command

    path = _control_socket(config, socket)
    if isinstance(path, int):
        return path
    try:
        reply = asyncio.run(send_command(path, ["status"]))
    except ControlError as err:
        print(f"chargepoint status: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(json.dumps(reply, indent=2) if as_json else format_status(reply))
    return EXIT_OK


def format_status(status: dict[str, object]) -> str:
    """The status a person reads: the connection, then one block per EVSE."""
    connected = "connected" if status.get("connected") else "OFFLINE"
    lines = [f"{status.get('station_id', '?')}  OCPP {status.get('ocpp_version', '?')}  {connected}, "
             f"registration {status.get('registration', '?')}, "
             f"{status.get('queued_transaction_messages', 0)} transaction message(s) queued"]
    station_faults = status.get("station_faults")
    if isinstance(station_faults, dict):
        lines += [f"  station fault {code}: {info}" for code, info in station_faults.items()]
    evses = status.get("evses")
    for evse in evses if isinstance(evses, list) else []:
        if not isinstance(evse, dict):
            continue
        tx = evse.get("transaction_id") or evse.get("local_transaction_id")
        parts = [f"EVSE {evse.get('evse')}: {evse.get('status')}"]
        if tx is not None:
            parts.append(f"transaction {tx} ({evse.get('id_tag')})")
        parts.append(f"energy {evse.get('energy_wh', 0)} Wh")
        parts.append(f"limit {evse.get('current_limit_a', 0)} A")
        parts.append("relay closed" if evse.get("relay_closed") else "relay open")
        lines.append("  ".join(parts))
        faults = evse.get("faults")
        if isinstance(faults, dict):
            lines += [f"    fault {code}: {info}" for code, info in faults.items()]
    return "\n".join(lines)

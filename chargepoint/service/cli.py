"""The ``chargepoint`` command line: run, check-config, sim and demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/chargepoint/chargepoint.toml")

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

    sim = sub.add_parser(
        "sim",
        help="drive a running station's simulated devices",
        description="Commands: plug EVSE | unplug EVSE | tap TOKEN | ev EVSE charge|pause|resume | "
        "fault EVSE CODE | clear EVSE | power EVSE WATTS | status",
    )
    where = sim.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="find the control socket from this config")
    where.add_argument("--socket", type=Path, help="the control socket path")
    sim.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND")

    demo = sub.add_parser("demo", help="one complete charging session against a local CSMS")
    demo.add_argument("--ocpp", default="1.6", choices=["1.6", "2.0.1"])
    demo.add_argument("--seconds", type=float, default=8.0, help="how long the EV charges")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args.config, args.log_level)
    if args.command == "check-config":
        return _check(args.config)
    if args.command == "sim":
        return _sim(args.config, args.socket, args.argv)
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
        # OCPP Reset: start afresh as a new process image (same PID, so systemd keeps tracking it).
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "chargepoint", *sys.argv[1:]])  # noqa: S606
    return EXIT_OK


def _check(path: Path) -> int:
    from chargepoint.service.config import ConfigError, check_config

    try:
        problems = check_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_CONFIG
    if problems:
        for problem in problems:
            print(f"{path}: {problem.key}: {problem.message}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{path}: OK")
    return EXIT_OK


def _sim(config: Path | None, socket: Path | None, argv: list[str]) -> int:
    from chargepoint.service.control import ControlError, send_command

    if not argv:
        print("chargepoint sim: give a command (plug, unplug, tap, ev, fault, clear, power, status)",
              file=sys.stderr)
        return EXIT_CONFIG
    if socket is None:
        from chargepoint.service.config import ConfigError, load_config

        try:
            loaded = load_config(config or DEFAULT_CONFIG)
        except ConfigError as err:
            print(err, file=sys.stderr)
            return EXIT_CONFIG
        if loaded.hal.control_socket is None:
            print(f"{loaded.source}: hal.control_socket: not set (is hal.driver \"sim\"?)", file=sys.stderr)
            return EXIT_CONFIG
        socket = loaded.hal.control_socket
    try:
        reply = asyncio.run(send_command(socket, argv))
    except ControlError as err:
        print(f"chargepoint sim: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(json.dumps(reply, indent=2))
    return EXIT_OK if reply.get("ok", True) else 1

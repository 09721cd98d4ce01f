"""sd_notify with a real process: READY=1 without a CSMS, WATCHDOG=1 while the loop turns, STATUS= lines,
STOPPING=1 and exit 0 on SIGTERM. The datagram socket stands in for systemd's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from chargepoint.service.systemd import Notifier

CONFIG = """\
[station]
id = "SD-1"
vendor = "Acme"
model = "AC22"
[csms]
url = "ws://127.0.0.1:9/ocpp"
security_profile = 0
[storage]
dir = "{state}"
[hal]
driver = "sim"
[[evse]]
id = 1
max_current_a = 32
phases = 3
"""


def receive(sock: socket.socket, until: str, timeout_s: float = 15.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got += sock.recv(4096).decode().split("\n")
        except TimeoutError:
            break
        if until in got:
            return got
    raise AssertionError(f"no {until} in {got}")


def test_ready_watchdog_status_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state"))
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = receive(sock, "READY=1")
        assert any(line.startswith("STATUS=offline") for line in first)  # ready although no CSMS answers
        beats = receive(sock, "WATCHDOG=1")
        assert "WATCHDOG=1" in beats
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in receive(sock, "STOPPING=1")
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_no_watchdog_when_the_loop_is_stuck() -> None:
    """The watchdog proof is the core loop's last turn, not the timer task: a stale loop sends nothing."""
    import asyncio

    from chargepoint.service import runner as runner_module

    class Stub:
        _alive = 0.0

    sent: list[str] = []

    class Recorder(Notifier):
        def notify(self, *fields: str) -> bool:
            sent.extend(fields)
            return True

    stub = Stub()
    stub.notifier = Recorder(address="")  # type: ignore[attr-defined]
    stub._status_line = lambda: "offline"  # type: ignore[attr-defined]
    os.environ["WATCHDOG_USEC"] = "200000"
    try:
        async def run_briefly() -> None:
            task = asyncio.create_task(runner_module.Runner._systemd_task(stub))  # type: ignore[arg-type]
            await asyncio.sleep(0.5)
            task.cancel()

        asyncio.run(run_briefly())
    finally:
        del os.environ["WATCHDOG_USEC"]
    assert "WATCHDOG=1" not in sent and "STATUS=offline" in sent


def test_abstract_namespace_socket() -> None:
    name = f"@chargepoint-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    try:
        assert Notifier(name).notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()
    assert not Notifier("").notify("READY=1")

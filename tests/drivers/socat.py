"""A socat pseudo-terminal pair for serial-driver tests: the driver opens one end, a device peer the other.

``unplug()`` kills socat (both ends see the line go away, like a USB adapter pulled out) and ``replug()``
starts it again under the same link names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path
from types import TracebackType

SOCAT = "/usr/bin/socat"
BOUND_S = 5.0


class SocatPair:
    """Two linked pseudo-terminals: ``driver_path`` for the driver, ``peer_path`` for the peer."""

    def __init__(self, directory: Path, name: str = "dev") -> None:
        self.driver_path = str(directory / f"{name}-tty")
        self.peer_path = str(directory / f"{name}-peer-tty")
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        for link in (self.driver_path, self.peer_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)  # a stale link from a killed socat
        self._proc = proc = await asyncio.create_subprocess_exec(
            SOCAT,
            f"pty,raw,echo=0,link={self.driver_path}",
            f"pty,raw,echo=0,link={self.peer_path}",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(BOUND_S):
            while not (os.path.exists(self.driver_path) and os.path.exists(self.peer_path)):
                if proc.returncode is not None:
                    raise RuntimeError(f"socat exited with {proc.returncode}")
                await asyncio.sleep(0.01)

    async def unplug(self) -> None:
        """Kill socat: the line is gone for both ends (a USB adapter pulled out)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(BOUND_S):
                await proc.wait()

    async def replug(self) -> None:
        """Start socat again with the same link names (new ptys behind them)."""
        await self.start()

    async def close(self) -> None:
        await self.unplug()
        for link in (self.driver_path, self.peer_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)

    async def __aenter__(self) -> SocatPair:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

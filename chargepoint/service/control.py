"""The tester's control socket: JSON lines over a Unix stream socket (``chargepoint sim ...``).

Request: ``{"argv": ["plug", "1"]}``; response: one JSON object per line. Malformed requests get
``{"ok": false, "error": ...}`` and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)

Handler = Callable[[list[str]], Awaitable[dict[str, object]]]
MAX_LINE = 64 * 1024


class ControlError(Exception):
    """No station answers on the control socket."""


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket from a process that died
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_LINE)
        os.chmod(self.path, 0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self._answer(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, object]:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"ok": False, "error": "request is not JSON"}
        argv = request.get("argv") if isinstance(request, dict) else None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not argv:
            return {"ok": False, "error": 'expected {"argv": ["command", ...]}'}
        try:
            return await self._handler(argv)
        except Exception as err:  # a handler bug must not take the socket down
            log.exception("control command %s failed", argv[0])
            return {"ok": False, "error": f"{type(err).__name__}: {err}"}


async def send_command(path: Path, argv: list[str], timeout_s: float = 5.0) -> dict[str, object]:
    """Send one command to a running station and return its answer."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
            try:
                writer.write(json.dumps({"argv": argv}).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise ControlError(f"no station listens on {path} (is `chargepoint run` running?)") from err
    except TimeoutError as err:
        raise ControlError(f"the station on {path} did not answer in {timeout_s:g} s") from err
    if not line:
        raise ControlError(f"the station on {path} closed the connection")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ControlError("unexpected answer")
    return reply

"""The tester's control socket: JSON lines over a Unix socket; bad requests get an error, not a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chargepoint.service.control import ControlError, ControlServer, send_command


async def echo(argv: list[str]) -> dict[str, object]:
    if argv[0] == "boom":
        raise RuntimeError("handler bug")
    return {"ok": True, "argv": argv}


async def test_round_trip_stale_socket_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "run" / "sim.sock"
    path.parent.mkdir()
    path.write_text("stale")  # left behind by a process that died
    server = ControlServer(path, echo)
    await server.start()
    try:
        assert await send_command(path, ["plug", "1"]) == {"ok": True, "argv": ["plug", "1"]}
        assert (await send_command(path, ["boom"]))["ok"] is False
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"not json\n{\"argv\": 5}\n")
        await writer.drain()
        assert b'"ok": false' in await reader.readline()
        assert b'"ok": false' in await reader.readline()
        writer.close()
        replies = await asyncio.gather(*(send_command(path, ["n", str(i)]) for i in range(10)))
        assert [r["argv"] for r in replies] == [["n", str(i)] for i in range(10)]
    finally:
        await server.close()
    assert not path.exists()


async def test_no_station_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="chargepoint run"):
        await send_command(tmp_path / "nobody.sock", ["status"])

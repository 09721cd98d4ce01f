"""The CSMS rotates the basic-auth key (ChangeConfiguration AuthorizationKey, security whitepaper §2.3):
the station reconnects with the new key at once, and keeps it after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp.v16 import call

from chargepoint.service.app import Station, serve
from chargepoint.service.config import load_config
from chargepoint.service.csms import Csms, CsmsPolicy

OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"

CONFIG = """\
[station]
id = "KEY-CP"
vendor = "Acme"
model = "AC22"
[csms]
url = "{url}"
security_profile = 1
password = "{password}"
[storage]
dir = "{state}"
[hal]
driver = "sim"
control_socket = "{state}/sim.sock"
[[evse]]
id = 1
max_current_a = 32
phases = 3
"""


async def start(path: Path) -> tuple[asyncio.Task[object], list[Station]]:
    holder: list[Station] = []
    task: asyncio.Task[object] = asyncio.create_task(serve(load_config(path), on_station=holder.append))
    return task, holder


async def test_authorization_key_rotation(tmp_path: Path) -> None:
    csms = Csms(CsmsPolicy(password=OLD))
    url = await csms.start()
    path = tmp_path / "station.toml"
    path.write_text(CONFIG.format(url=url, password=OLD, state=tmp_path / "state"))
    task, holder = await start(path)
    try:
        await csms.wait_for(lambda: "KEY-CP" in csms.sessions and bool(csms.received("StatusNotification")))
        boots = len(csms.received("BootNotification"))
        statuses = len(csms.received("StatusNotification"))
        # The CSMS expects the new key from now on (it is checked at the handshake only, so the open
        # connection stays); the station reconnects with it as soon as it has answered.
        csms.policy.password = NEW
        change = call.ChangeConfiguration(key="AuthorizationKey", value=NEW)
        reply = await csms.sessions["KEY-CP"].call(change)
        assert reply.status == "Accepted"
        # A reconnect replays every connector's status; it must have logged in with the new key.
        await csms.wait_for(lambda: len(csms.received("StatusNotification")) >= statuses + 2, 30)
        assert "KEY-CP" in csms.sessions and csms.auth_failures == 0
        assert len(csms.received("BootNotification")) == boots  # a reconnect, not a reboot
        holder[0].runner.stop()
        await task
        # Restarted with the old password in the file: the key the CSMS set is the one used.
        task, holder = await start(path)
        await csms.wait_for(lambda: len(csms.received("BootNotification")) == boots + 1, 30)
        assert csms.auth_failures == 0
    finally:
        if holder:
            holder[0].runner.stop()
        await asyncio.wait_for(task, 30)
        await csms.close()

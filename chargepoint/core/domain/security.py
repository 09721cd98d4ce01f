"""Version-neutral security events: the local security log and SecurityEventNotification.

1.6 security whitepaper §2.7 / OCPP 2.0.1 A04: every security event goes to the station's own security log
(``RecordSecurityEvent``, kept by the shell); the critical ones are also sent to the CSMS as
SecurityEventNotification, durably (queued while offline and kept across restarts, A04.FR.02). Both
versions use the same payload (type, timestamp, techInfo); each adapter passes its own event names
(1.6 InvalidCentralSystemCertificate vs. 2.0.1 InvalidCsmsCertificate, ...).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from chargepoint.core.actions import Action, Log, RecordSecurityEvent
from chargepoint.core.clock import Now
from chargepoint.core.rpc.endpoint import JsonObject

TECH_INFO_MAX = 255  # SecurityEventNotification.techInfo maxLength in both schemas


class SecurityHost(Protocol):
    def time(self, now: Now) -> datetime: ...

    def timestamp(self, now: Now) -> str: ...

    def enqueue(self, action: str, payload: JsonObject, now: Now, *, durable: bool = False,
                meta: JsonObject | None = None) -> list[Action]: ...


def security_event(st: SecurityHost, kind: str, info: str, now: Now, *,
                   critical: bool = True) -> list[Action]:
    """Record ``kind`` locally and, when ``critical``, tell the CSMS (durable). ``info`` must hold no
    secret (it is logged and sent)."""
    actions: list[Action] = [RecordSecurityEvent(kind, info, st.time(now)),
                             Log(logging.WARNING, f"security event {kind}" + (f": {info}" if info else ""))]
    if critical:
        payload: JsonObject = {"type": kind, "timestamp": st.timestamp(now)}
        if info:
            payload["techInfo"] = info[:TECH_INFO_MAX]
        actions += st.enqueue("SecurityEventNotification", payload, now, durable=True)
    return actions

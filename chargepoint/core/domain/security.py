"""Version-neutral security events and certificate bookkeeping: the security log, the PKI round trips.

1.6 security whitepaper §2.7 / OCPP 2.0.1 A04: every security event goes to the station's own security log
(``RecordSecurityEvent``, kept by the shell); the critical ones are also sent to the CSMS as
SecurityEventNotification, durably (queued while offline and kept across restarts, A04.FR.02). Both
versions use the same payload (type, timestamp, techInfo); each adapter passes its own event names
(1.6 InvalidCentralSystemCertificate vs. 2.0.1 InvalidCsmsCertificate, ...).

The core does no cryptography: it asks the shell's certificate store through ``PkiCommand`` and gets a
``PkiResult`` back. ``ask`` / ``take`` / ``expire`` keep the table of questions in flight (with a deadline
each, a ``sec.wait.<ref>`` timer), so an adapter can answer a CSMS call later (deferred) or give up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chargepoint.core.actions import Action, Log, PkiCommand, RecordSecurityEvent
from chargepoint.core.clock import Now, parse_timestamp
from chargepoint.core.events import PkiResult
from chargepoint.core.rpc.endpoint import Endpoint, JsonObject
from chargepoint.core.timers import Timers

TECH_INFO_MAX = 255  # SecurityEventNotification.techInfo maxLength in both schemas

# Security events the CSMS is told about. The critical ones of the 1.6 whitepaper §8 and the 2.0.1 part 2
# appendix "Security events" (the two lists agree, with each version's names) ...
CRITICAL = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared",
    "MemoryExhaustion", "TamperDetectionActivated", "MaintenanceLoginAccepted", "MaintenanceLoginFailed",
})
# ... and the invalid-certificate events, listed as not critical there, but which the use cases require
# the station to report ("trigger an InvalidChargePointCertificate security event", A02.FR.07 / A03.FR.07)
# and the conformance tests expect on the wire (1.6 OCTT TC_077_CS, TC_078_CS; 2.0.1 TC_A_14).
REPORTED = frozenset({
    "InvalidChargePointCertificate", "InvalidCentralSystemCertificate",
    "InvalidChargingStationCertificate", "InvalidCsmsCertificate",
})

RENEWAL_MARGIN = timedelta(days=30)  # A03.FR.02: renew when the certificate "will expire in one month"
RENEW_CHECK_S = 86400.0  # how often the station looks at its certificate's expiry
REPLY_WAIT_S = 5.0  # a deferred CSMS call is answered with a failure if the store says nothing by then
CSR_WAIT_S = 60.0  # key generation may take a while on a small board (RSA)
CHARGE_POINT_USE = "ChargePointCertificate"  # the 1.6 name; PkiCommand speaks 1.6 names
HASH_FIELDS = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
WAIT_TIMER = "sec.wait."


class SecurityHost(Protocol):
    security_state: SecurityState

    def time(self, now: Now) -> datetime: ...

    def timestamp(self, now: Now) -> str: ...

    def enqueue(self, action: str, payload: JsonObject, now: Now, *, durable: bool = False,
                meta: JsonObject | None = None) -> list[Action]: ...


class PkiHost(SecurityHost, Protocol):
    timers: Timers
    endpoint: Endpoint


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


def report(st: SecurityHost, kind: str, info: str, now: Now) -> list[Action]:
    """A security event, sent to the CSMS when the tables above say so, else only in the local log."""
    return security_event(st, kind, info, now, critical=kind in CRITICAL or kind in REPORTED)


# -- state ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PkiRequest:
    """A question to the certificate store in flight; ``unique_id`` and ``action`` name the CSMS call
    that waits for it (a deferred answer), ``context`` what the adapter needs to build that answer."""

    op: str
    unique_id: str | None = None
    action: str | None = None
    context: JsonObject = field(default_factory=dict)


@dataclass(slots=True)
class SecurityState:
    """What the adapters remember between events (in memory: after a restart the store is asked again)."""

    seq: int = 0
    requests: dict[str, PkiRequest] = field(default_factory=dict)
    csr_ref: str | None = None  # the CSR whose SignCertificate we will send (a newer one replaces it)
    sign_triggered: bool = False  # the signing was asked for by the CSMS (may go out while Pending)
    sign_attempts: int = 0  # 2.0.1 A02.FR.17: SignCertificate repeats without a CertificateSigned
    expires: datetime | None = None  # the station certificate's notAfter, when the store told us
    certificates: int | None = None  # installed root/CA certificates (CertificateEntries)
    started: bool = False  # StartupOfTheDevice reported for this boot
    failing: str | None = None  # the connection-failure event of the current run of failures
    profile_trial: tuple[int, int] | None = None  # (old, new) security profile being tried (1.6 §2.4)
    trial_failures: int = 0  # connection attempts that failed with the new profile


def state_of(st: SecurityHost) -> SecurityState:
    """The security state the station object holds."""
    return st.security_state


def reset_state(st: SecurityHost) -> SecurityState:
    """A fresh state, at start-up."""
    st.security_state = SecurityState()
    return st.security_state


# -- questions to the certificate store ----------------------------------------------------------------


def ask(st: PkiHost, op: str, args: dict[str, object], now: Now, *, wait_s: float = REPLY_WAIT_S,
        unique_id: str | None = None, action: str | None = None,
        context: JsonObject | None = None) -> PkiCommand:
    """A ``PkiCommand`` with a fresh ref, remembered until its result or its deadline."""
    state = state_of(st)
    state.seq += 1
    ref = f"sec-{state.seq}"
    state.requests[ref] = PkiRequest(op, unique_id, action, context or {})
    st.timers.set(WAIT_TIMER + ref, now.monotonic + wait_s)
    return PkiCommand(ref, op, args)


def take(st: PkiHost, event: PkiResult) -> PkiRequest | None:
    """The request ``event`` answers, no longer in flight; ``None`` for an unknown or expired ref."""
    state = state_of(st)
    request = state.requests.get(event.ref)
    if request is None or request.op != event.op:
        return None
    del state.requests[event.ref]
    st.timers.cancel(WAIT_TIMER + event.ref)
    return request


def expire(st: PkiHost, timer: str) -> tuple[str, PkiRequest] | None:
    """The request whose ``sec.wait.<ref>`` timer fired: given up (a late result is then ignored)."""
    ref = timer.removeprefix(WAIT_TIMER)
    request = state_of(st).requests.pop(ref, None)
    return None if request is None else (ref, request)


def on_wait_timer(st: PkiHost, timer: str, timeout_answers: dict[str, JsonObject]) -> list[Action]:
    """A ``sec.wait.<ref>`` deadline passed: a waiting CSMS call gets its failure answer from
    ``timeout_answers`` (a CALLERROR GenericError for an action missing there); a CSR given up clears
    ``csr_ref``."""
    expired = expire(st, timer)
    if expired is None:
        return []
    ref, request = expired
    if request.unique_id is not None and request.action is not None:
        log = Log(logging.WARNING, f"certificate store did not answer {request.action} in time")
        answer = timeout_answers.get(request.action)
        if answer is None:
            return [log, *st.endpoint.reply_error(request.unique_id, "GenericError",
                                                  "the certificate store did not answer")]
        return [log, *st.endpoint.reply(request.unique_id, request.action, answer)]
    state = state_of(st)
    if ref == state.csr_ref:
        state.csr_ref = None
        return [Log(logging.ERROR, "the certificate store made no CSR in time")]
    return [Log(logging.INFO, f"certificate store did not answer {request.op} ({ref})")]


def reason_of(event: PkiResult) -> str:
    """The store's reason for a refusal (PkiReason values, at most 20 characters)."""
    reason = event.result.get("reason")
    return str(reason) if reason else "Unknown"


# -- certificates --------------------------------------------------------------------------------------


def csr_args(organization: str) -> dict[str, object]:
    """``csr`` arguments: the CSR's O RDN is CpoName / SecurityCtrlr.OrganizationName (A02.FR.13 /
    A03.FR.13; the store uses the installer's organization when the CSMS set none)."""
    args: dict[str, object] = {"use": CHARGE_POINT_USE}
    if organization:
        args["organization"] = organization
    return args


def expiry(result: dict[str, object]) -> datetime | None:
    """The ``expires`` of a ``status`` or ``accept_signed`` result."""
    value = result.get("expires")
    return parse_timestamp(value) if isinstance(value, str) else None


def renewal_due(expires: datetime | None, moment: datetime, margin: timedelta = RENEWAL_MARGIN) -> bool:
    """A03.FR.02: a station certificate that exists and expires within ``margin`` is renewed."""
    return expires is not None and moment >= expires - margin


def hash_data(value: object) -> JsonObject | None:
    """CertificateHashDataType from the store's ``hash``: exactly its four fields, as text."""
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in HASH_FIELDS):
        return None
    return {k: str(value[k]) for k in HASH_FIELDS}


def listed(result: dict[str, object], uses: frozenset[str]) -> list[tuple[str, JsonObject]]:
    """(use, hash data) of each certificate in a ``list`` result whose use is one of ``uses``."""
    found: list[tuple[str, JsonObject]] = []
    certificates = result.get("certificates")
    for item in certificates if isinstance(certificates, list) else []:
        if not isinstance(item, dict):
            continue
        use, data = item.get("use"), hash_data(item.get("hash"))
        if isinstance(use, str) and use in uses and data is not None:
            found.append((use, data))
    return found


# -- connection failures -------------------------------------------------------------------------------


def connection_failed(st: SecurityHost, reason: str, invalid_certificate: str, authentication: str,
                      now: Now) -> list[Action]:
    """A connection attempt failed because the CSMS certificate did not verify, or the CSMS refused our
    credentials: one security event per run of equal failures (the transport retries with back-off; the
    log gets the failure when it starts, not at every attempt). Any other close ends the run."""
    state = state_of(st)
    if reason.startswith("invalid-csms-certificate"):
        kind = invalid_certificate
    elif reason.startswith("authentication-failed"):
        kind = authentication
    else:
        state.failing = None
        return []
    if state.failing == kind:
        return []
    state.failing = kind
    return report(st, kind, _detail(reason), now)


def _detail(reason: str) -> str:
    """What follows the reason's keyword (e.g. the TLS verification error), for techInfo."""
    _, _, rest = reason.partition(":")
    return rest.strip()[:TECH_INFO_MAX]

"""OCPP 2.0.1 blocks A and M: certificates and security events on the charging-station side.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
Messages: SignCertificate (A02 / A03, certificateType ChargingStationCertificate), CertificateSigned,
InstallCertificate (M05), DeleteCertificate (M04), GetInstalledCertificateIds (M03), TriggerMessage
SignChargingStationCertificate (F06 / A02), SecurityEventNotification (A04). The cryptography is the shell's:
every certificate question is a ``PkiCommand`` (which speaks the 1.6 certificate-use names, mapped here);
a CSMS call that needs its answer is answered when the ``PkiResult`` arrives (deferred), or with a failure
after a few seconds. ISO 15118 certificates (V2GCertificate, V2GCertificateChain) are not built.

Certificate renewal (A03.FR.02): at registration and then daily the station asks for its certificate's
expiry and starts a SignCertificate when it expires within a month. A02.FR.17 / A02.FR.18 (OCTT TC_A_23_CS):
a SignCertificate not followed by a CertificateSigned within CertSigningWaitMinimum is sent again with a new
CSR, the wait doubling each time, at most CertSigningRepeatTimes times.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, Log, Reconnect
from chargepoint.core.clock import Now
from chargepoint.core.domain import security as sec
from chargepoint.core.events import PkiResult
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.calls import Handler
    from chargepoint.core.ocpp201.station import Station201

Rows = dict[str, list[tuple[str, object]]]

RENEW_TIMER = "sec.renew"
SIGNED_TIMER = "sec.signed"  # A02.FR.17: waiting for the CertificateSigned of our SignCertificate
# SecurityCtrlr.CertSigningWaitMinimum / CertSigningRepeatTimes: read from these settings once the device
# model has them; until then the defaults below.
WAIT_SETTING, WAIT_DEFAULT_S = "SecurityCtrlr.CertSigningWaitMinimum", 60
REPEAT_SETTING, REPEAT_DEFAULT = "SecurityCtrlr.CertSigningRepeatTimes", 3
OWN_CERTIFICATE = "ChargingStationCertificate"
# 2.0.1 certificate types <-> the store's (1.6) use names; V2GCertificateChain has no counterpart here.
TO_STORE = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
    "V2GRootCertificate": "V2GRootCertificate",
    "MORootCertificate": "MORootCertificate",
}
FROM_STORE = {store: wire for wire, store in TO_STORE.items()}
ROOT_USES = frozenset(TO_STORE.values())
# Security event names of part 2, appendix "Security events" (2.0.1 spelling).
STARTUP = "StartupOfTheDevice"
RESET = "ResetOrReboot"
CLOCK = "SettingSystemTime"
RECONFIGURED = "ReconfigurationOfSecurityParameters"
INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
AUTHENTICATION_FAILED = "FailedToAuthenticateAtCsms"
INVALID_OWN_CERTIFICATE = "InvalidChargingStationCertificate"
# Settings whose change is a ReconfigurationOfSecurityParameters: the security profile, BasicAuthPassword
# (setting AuthorizationKey) and which network profile (with its security profile) is used.
SECURITY_SETTINGS = {
    "SecurityProfile": "SecurityProfile",
    "AuthorizationKey": "BasicAuthPassword",
    "OCPPCommCtrlr.NetworkConfigurationPriority": "NetworkConfigurationPriority",
}
TRIGGERED: JsonObject = {"triggered": True}


def restore(st: Station201, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind: forget what the last run knew, count the certificates."""
    sec.reset_state(st)
    return [sec.ask(st, "list", {"uses": []}, now)]


def on_registered(st: Station201, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot): StartupOfTheDevice, and look at the
    station certificate's expiry (A03.FR.02), then daily."""
    state = sec.state_of(st)
    actions: list[Action] = []
    if not state.started:
        state.started = True
        actions += sec.report(st, STARTUP, f"boot {st.boot_count} ({st.boot_reason})", now)
    return actions + _check_renewal(st, now)


def _check_renewal(st: Station201, now: Now) -> list[Action]:
    st.timers.set(RENEW_TIMER, now.monotonic + sec.RENEW_CHECK_S)
    return [sec.ask(st, "status", {}, now)]


def certificate_entries(st: Station201) -> int | None:
    """SecurityCtrlr.CertificateEntries: installed root/CA certificates as the store last said (``None``
    before it answered)."""
    return sec.state_of(st).certificates


def _setting(st: Station201, name: str, default: int) -> int:
    return st.settings.int(name) if st.settings.spec(name) is not None else default


def _status(status: str, reason: str | None = None) -> JsonObject:
    """A status with, when there is one, StatusInfoType.reasonCode (at most 20 characters)."""
    answer: JsonObject = {"status": status}
    if reason:
        answer["statusInfo"] = {"reasonCode": reason[:20]}
    return answer


# -- the PKI round trips ---------------------------------------------------------------------------------


def on_pki_result(st: Station201, event: PkiResult, now: Now) -> list[Action]:
    """The certificate store answered: a deferred CSMS call gets its answer, a CSR becomes a
    SignCertificate, a status may start a renewal, a list updates the certificate count."""
    request = sec.take(st, event)
    if request is None:
        return [Log(logging.INFO, f"ignored a late or unknown {event.op} result ({event.ref})")]
    if request.unique_id is not None and request.action is not None:
        answer, extra = _answer(st, request.action, event, request.context, now)
        return [*st.endpoint.reply(request.unique_id, request.action, answer), *extra]
    if event.op == "csr":
        return _on_csr(st, event, now)
    if event.op == "status":
        return _on_status(st, event, now)
    if event.op == "list" and event.ok:
        sec.state_of(st).certificates = len(sec.listed(event.result, ROOT_USES))
    return []


def _answer(st: Station201, action: str, event: PkiResult, context: JsonObject,
            now: Now) -> tuple[JsonObject, list[Action]]:
    """The deferred answer to ``action`` from the store's result, and what else follows from it."""
    if action == "CertificateSigned":
        return _signed(st, event, now)
    if action == "InstallCertificate":
        return _installed(st, event, context, now)
    if action == "DeleteCertificate":
        if not event.ok:
            return _status("Failed", sec.reason_of(event)), []
        status = event.result.get("status")
        status = status if status in ("Accepted", "Failed", "NotFound") else "Failed"  # M04.FR.02-04
        return _status(str(status)), _recount(st, now) if status == "Accepted" else []
    uses = context.get("uses")
    wanted = frozenset(str(u) for u in uses) if isinstance(uses, list) and uses else ROOT_USES
    found = sec.listed(event.result, wanted) if event.ok else []
    if not found:
        return _status("NotFound"), []  # M03.FR.02
    chain: list[object] = [{"certificateType": FROM_STORE[use], "certificateHashData": data}
                           for use, data in found]
    return {"status": "Accepted", "certificateHashDataChain": chain}, []  # M03.FR.03 / M03.FR.04


def _recount(st: Station201, now: Now) -> list[Action]:
    return [sec.ask(st, "list", {"uses": []}, now)]


def _signed(st: Station201, event: PkiResult, now: Now) -> tuple[JsonObject, list[Action]]:
    """A02.FR.06-08: Accepted when the store took the chain as our certificate; else Rejected, discarded
    and an InvalidChargingStationCertificate security event (A02.FR.07)."""
    state = sec.state_of(st)
    if not event.ok:
        reason = sec.reason_of(event)
        return _status("Rejected", reason), sec.report(st, INVALID_OWN_CERTIFICATE, reason, now)
    state.expires = sec.expiry(event.result)
    actions: list[Action] = [Log(logging.INFO, "new charging station certificate installed"
                                 + (f" (valid until {state.expires:%Y-%m-%d})" if state.expires else ""))]
    if st.settings.int("SecurityProfile") == 3:
        # A02.FR.08: the new certificate is used at once; the TLS client certificate only changes with a
        # new connection.
        actions.append(Reconnect("new charging station certificate"))
    return {"status": "Accepted"}, actions


def _installed(st: Station201, event: PkiResult, context: JsonObject,
               now: Now) -> tuple[JsonObject, list[Action]]:
    """M05.FR.02-06: Accepted; Failed when a valid certificate could not be stored; Rejected when invalid
    or when the store is full (M05.FR.03); the store's reason as reasonCode."""
    if event.ok:
        return {"status": "Accepted"}, _recount(st, now)
    reason = sec.reason_of(event)
    log = Log(logging.WARNING, f"InstallCertificate {context.get('type')} rejected: {reason}")
    return _status("Failed" if reason == "WriteFailed" else "Rejected", reason), [log]


# Answers when the store says nothing in time; the reasonCode says it was our failure
# (GetInstalledCertificateIds has no failure status: NotFound with that reasonCode).
TIMEOUT_ANSWER: dict[str, JsonObject] = {
    "CertificateSigned": _status("Rejected", "InternalError"),
    "InstallCertificate": _status("Failed", "InternalError"),
    "DeleteCertificate": _status("Failed", "InternalError"),
    "GetInstalledCertificateIds": _status("NotFound", "InternalError"),
}


def _deferred(st: Station201, unique_id: str, action: str, op: str, args: dict[str, object], now: Now,
              context: JsonObject | None = None) -> None:
    """Ask the store; the CSMS call is answered with its result (the handler returns ``None``)."""
    st.side([sec.ask(st, op, args, now, unique_id=unique_id, action=action, context=context)])


def certificate_signed(st: Station201, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """CertificateSignedRequest: the chain goes to the store, which checks it (A02.FR.06) and its size
    (SecurityCtrlr.MaxCertificateChainSize; the schema already caps it at 10000 characters)."""
    chain, kind = p.get("certificateChain"), p.get("certificateType", OWN_CERTIFICATE)
    assert isinstance(chain, str)
    # A02.FR.17: a CertificateSigned came, whatever it holds: the SignCertificate is not repeated.
    st.timers.cancel(SIGNED_TIMER)
    sec.state_of(st).sign_attempts = 0
    if kind != OWN_CERTIFICATE:
        return _status("Rejected", "NotSupported")  # no ISO 15118 (V2GCertificate) here
    _deferred(st, unique_id, "CertificateSigned", "accept_signed", {"chain": chain}, now)
    return None


def install_certificate(st: Station201, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """InstallCertificateRequest (M05): a CSMS, Manufacturer, V2G or MO root."""
    kind, pem = p.get("certificateType"), p.get("certificate")
    assert isinstance(kind, str) and isinstance(pem, str)
    use = TO_STORE.get(kind)
    if use is None:  # pragma: no cover - the schema allows only the four root types
        return _status("Rejected", "NotSupported")
    _deferred(st, unique_id, "InstallCertificate", "install_root", {"use": use, "pem": pem}, now,
              {"type": kind})
    return None


def delete_certificate(st: Station201, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """DeleteCertificateRequest (M04); the store never deletes the station's own certificate."""
    data = sec.hash_data(p.get("certificateHashData"))
    if data is None:  # pragma: no cover - the schema requires the four fields
        raise CallRefused("FormatViolation", "certificateHashData")
    _deferred(st, unique_id, "DeleteCertificate", "delete", {"hash": data}, now)
    return None


def get_installed_certificate_ids(st: Station201, p: JsonObject, now: Now,
                                  unique_id: str) -> JsonObject | None:
    """GetInstalledCertificateIdsRequest (M03): every installed root, or those of the types asked for."""
    types = p.get("certificateType")
    asked = [str(t) for t in types] if isinstance(types, list) else []
    uses = [TO_STORE[t] for t in asked if t in TO_STORE]
    if asked and not uses:
        return _status("NotFound")  # only V2GCertificateChain asked for: none here (M03.FR.02)
    args: dict[str, object] = {"uses": list(uses)}
    _deferred(st, unique_id, "GetInstalledCertificateIds", "list", args, now, {"uses": list(uses)})
    return None


HANDLERS: dict[str, Handler] = {
    "CertificateSigned": certificate_signed,
    "InstallCertificate": install_certificate,
    "DeleteCertificate": delete_certificate,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
}


# -- signing (A02 / A03) ---------------------------------------------------------------------------------


def start_signing(st: Station201, now: Now, *, triggered: bool, retry: bool = False) -> list[Action]:
    """A02.FR.02 / A03.FR.02: a new key pair and CSR (the store keeps the key, A02.FR.05); the CSR then goes
    out as SignCertificate. A newer request replaces one still waiting for its CSR."""
    state = sec.state_of(st)
    if not retry:
        state.sign_attempts = 0
        st.timers.cancel(SIGNED_TIMER)
    command = sec.ask(st, "csr", sec.csr_args(st.settings.str("CpoName")), now, wait_s=sec.CSR_WAIT_S)
    state.csr_ref = command.ref
    state.sign_triggered = triggered
    why = ("no CertificateSigned came" if retry else "asked by the CSMS" if triggered
           else "the certificate expires soon")
    return [Log(logging.INFO, f"new charging station key and CSR ({why})"), command]


def _on_csr(st: Station201, event: PkiResult, now: Now) -> list[Action]:
    state = sec.state_of(st)
    if event.ref != state.csr_ref:
        return []  # replaced by a newer request
    state.csr_ref = None
    csr = event.result.get("csr")
    if not event.ok or not isinstance(csr, str) or not csr:
        return [Log(logging.ERROR, f"no CSR from the certificate store: {sec.reason_of(event)}")]
    # A02.FR.17 / A02.FR.18: wait CertSigningWaitMinimum, doubled at each repeat, for the CertificateSigned.
    wait = _setting(st, WAIT_SETTING, WAIT_DEFAULT_S) * 2 ** state.sign_attempts
    st.timers.set(SIGNED_TIMER, now.monotonic + wait)
    payload: JsonObject = {"csr": csr, "certificateType": OWN_CERTIFICATE}
    # B02.FR.02: while Pending it may go out only when the CSMS asked for it.
    return st.enqueue("SignCertificate", payload, now, meta=TRIGGERED if state.sign_triggered else None)


def on_sign_certificate_answer(st: Station201, payload: JsonObject, now: Now) -> list[Action]:
    """The CSMS answered our SignCertificateRequest (for the station's ``on_result``). A02.FR.17 repeats
    only what the CSMS Accepted; a Rejected one is not sent again (TC_A_15_CS: the CSMS cannot process it)."""
    status = payload.get("status")
    if status == "Accepted":
        return []
    st.timers.cancel(SIGNED_TIMER)
    sec.state_of(st).sign_attempts = 0
    return [Log(logging.WARNING, f"SignCertificate {status} by the CSMS")]


def _on_status(st: Station201, event: PkiResult, now: Now) -> list[Action]:
    state = sec.state_of(st)
    if not event.ok:
        return [Log(logging.WARNING, f"certificate status unknown: {sec.reason_of(event)}")]
    state.expires = sec.expiry(event.result)
    busy = state.csr_ref is not None or st.timers.armed(SIGNED_TIMER)
    # A03.FR.02: only a certificate that exists is renewed.
    if not busy and sec.renewal_due(state.expires, st.time(now)):
        return start_signing(st, now, triggered=False)
    return []


def _signing_timed_out(st: Station201, now: Now) -> list[Action]:
    """A02.FR.17 / A02.FR.18: no CertificateSigned in time: a new CSR, up to CertSigningRepeatTimes."""
    state = sec.state_of(st)
    if state.sign_attempts >= _setting(st, REPEAT_SETTING, REPEAT_DEFAULT):
        state.sign_attempts = 0
        return [Log(logging.WARNING, "no CertificateSigned for the SignCertificate requests: gave up")]
    state.sign_attempts += 1
    return start_signing(st, now, triggered=state.sign_triggered, retry=True)


# -- timers, connection, settings, resets ------------------------------------------------------------------


def on_timer(st: Station201, name: str, now: Now) -> list[Action]:
    """Timers named ``sec.*``."""
    if name == RENEW_TIMER:
        return _check_renewal(st, now)
    if name == SIGNED_TIMER:
        return _signing_timed_out(st, now)
    if name.startswith(sec.WAIT_TIMER):
        return sec.on_wait_timer(st, name, TIMEOUT_ANSWER)
    return []


def on_connection_failed(st: Station201, reason: str, now: Now) -> list[Action]:
    """The transport closed or could not connect; ``reason`` starts with ``invalid-csms-certificate``
    or ``authentication-failed`` when that is why."""
    return sec.connection_failed(st, reason, INVALID_CSMS_CERTIFICATE, AUTHENTICATION_FAILED, now)


def on_setting_changed(st: Station201, key: str, now: Now) -> list[Action]:
    """A setting changed by the CSMS (its 1.6 key name): ReconfigurationOfSecurityParameters for the
    security parameters (A01: the password itself never reaches a log)."""
    variable = SECURITY_SETTINGS.get(key)
    if variable is None:
        return []
    info = f"{variable} changed" if key == "AuthorizationKey" else (
        f"{variable} set to {st.settings.to_wire(key)}")
    return sec.report(st, RECONFIGURED, info, now)


def on_network_profile_stored(st: Station201, slot: int, security_profile: int, now: Now) -> list[Action]:
    """B09 SetNetworkProfile stored a connection profile (for ``calls.set_network_profile``): a change of
    security parameters (part 2 appendix: "keys or the security profile used")."""
    info = f"network profile {slot} stored (security profile {security_profile})"
    return sec.report(st, RECONFIGURED, info, now)


def trigger(st: Station201, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    if what == "SignChargingStationCertificate":
        return start_signing(st, now, triggered=True)  # A02.FR.02: after the trigger's answer (F06)
    return None


def on_clock_set(st: Station201, shift_s: float, now: Now) -> list[Action]:
    """The board clock was set from the CSMS time (SettingSystemTime)."""
    return sec.report(st, CLOCK, f"clock moved {shift_s:+.1f} s to the CSMS time", now)


def on_reset(st: Station201, kind: str, now: Now) -> list[Action]:
    """The CSMS asked for a reset (``kind``: 1.6 Soft / Hard, 2.0.1 Immediate / OnIdle)."""
    return sec.report(st, RESET, f"{kind} reset requested by the CSMS", now)

"""OCPP 1.6 security extension ("Improved security for OCPP 1.6-J", ed. 3): certificates, security events.

Entry points the station calls; each returns the actions to run. Incoming CSMS calls are in HANDLERS.
Messages: SignCertificate (A02 / A03), CertificateSigned, InstallCertificate (M05), DeleteCertificate (M04),
GetInstalledCertificateIds (M03), ExtendedTriggerMessage (§5.5), SecurityEventNotification (A04). The
cryptography is the shell's: every certificate question is a ``PkiCommand``; a CSMS call that needs its
answer is answered when the ``PkiResult`` arrives (deferred), or with a failure after a few seconds.

Certificate renewal (A03): at registration and then daily the station asks for its certificate's expiry and
starts a SignCertificate when it expires within a month. A SignCertificate the CSMS never answers with a
CertificateSigned is not repeated within minutes or hours: the whitepaper (A02/A03 "Error handling") calls
that NOT RECOMMENDED, as a CSR the CA refuses will not get better by itself; the daily check asks again
while the certificate is still due.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, ConfigureConnection, Log, Reconnect
from chargepoint.core.clock import Now
from chargepoint.core.domain import security as sec
from chargepoint.core.events import PkiResult
from chargepoint.core.rpc.endpoint import CallRefused, JsonObject

if TYPE_CHECKING:
    from chargepoint.core.ocpp16.calls import Handler
    from chargepoint.core.ocpp16.station import Station16

Rows = dict[str, list[tuple[str, object]]]

RENEW_TIMER = "sec.renew"
ROOT_USES = frozenset({"CentralSystemRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
                       "MORootCertificate"})
# Security event names of the whitepaper §8 (1.6 spelling).
STARTUP = "StartupOfTheDevice"
RESET = "ResetOrReboot"
CLOCK = "SettingSystemTime"
RECONFIGURED = "ReconfigurationOfSecurityParameters"
INVALID_CSMS_CERTIFICATE = "InvalidCentralSystemCertificate"
AUTHENTICATION_FAILED = "FailedToAuthenticateAtCentralSystem"
INVALID_OWN_CERTIFICATE = "InvalidChargePointCertificate"
TRIAL_ATTEMPTS = 3  # failed connections with a new security profile before falling back (§2.4)
SECURITY_SETTINGS = frozenset({"SecurityProfile", "AuthorizationKey"})  # §8 "keys or the security profile"
TRIGGERED: JsonObject = {"triggered": True}


def restore(st: Station16, rows: Rows, now: Now) -> list[Action]:
    """Start-up, with every persisted row by kind: forget what the last run knew, count the certificates."""
    sec.reset_state(st)
    return [sec.ask(st, "list", {"uses": []}, now)]


def on_registered(st: Station16, now: Now) -> list[Action]:
    """The CSMS accepted this boot's BootNotification (once per boot): StartupOfTheDevice, and look at the
    station certificate's expiry (A03.FR.02), then daily."""
    state = sec.state_of(st)
    actions: list[Action] = []
    if not state.started:
        state.started = True
        actions += sec.report(st, STARTUP, f"boot {st.boot_count}", now)
    return actions + _check_renewal(st, now)


def _check_renewal(st: Station16, now: Now) -> list[Action]:
    st.timers.set(RENEW_TIMER, now.monotonic + sec.RENEW_CHECK_S)
    return [sec.ask(st, "status", {}, now)]


def certificate_entries(st: Station16) -> int | None:
    """Installed root/CA certificates, as the store last said (``None`` before it answered)."""
    return sec.state_of(st).certificates


# -- the PKI round trips ---------------------------------------------------------------------------------


def on_pki_result(st: Station16, event: PkiResult, now: Now) -> list[Action]:
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


def _answer(st: Station16, action: str, event: PkiResult, context: JsonObject,
            now: Now) -> tuple[JsonObject, list[Action]]:
    """The deferred answer to ``action`` from the store's result, and what else follows from it."""
    if action == "CertificateSigned":
        return _signed(st, event, now)
    if action == "InstallCertificate":
        return _installed(st, event, context, now)
    if action == "DeleteCertificate":
        status = event.result.get("status") if event.ok else "Failed"
        status = status if status in ("Accepted", "Failed", "NotFound") else "Failed"  # M04.FR.02-04
        return {"status": str(status)}, _recount(st, now) if status == "Accepted" else []
    wanted = context.get("use")
    found = sec.listed(event.result, frozenset({str(wanted)})) if event.ok else []
    if not found:
        return {"status": "NotFound"}, []  # M03.FR.02
    return {"status": "Accepted", "certificateHashData": [data for _, data in found]}, []  # M03.FR.03/04


def _recount(st: Station16, now: Now) -> list[Action]:
    return [sec.ask(st, "list", {"uses": []}, now)]


def _signed(st: Station16, event: PkiResult, now: Now) -> tuple[JsonObject, list[Action]]:
    """A02.FR.06-08: Accepted when the store took the chain as our certificate; else Rejected, discarded
    and an InvalidChargePointCertificate security event (A02.FR.07)."""
    state = sec.state_of(st)
    if not event.ok:
        return {"status": "Rejected"}, sec.report(st, INVALID_OWN_CERTIFICATE, sec.reason_of(event), now)
    state.expires = sec.expiry(event.result)
    actions: list[Action] = [Log(logging.INFO, "new charge point certificate installed"
                                 + (f" (valid until {state.expires:%Y-%m-%d})" if state.expires else ""))]
    if st.settings.int("SecurityProfile") == 3:
        # A02.FR.08: the new certificate is used at once; the TLS client certificate only changes with a new
        # connection (OCTT TC_074_CS step 7: disconnect and reconnect with the new certificate).
        actions.append(Reconnect("new charge point certificate"))
    return {"status": "Accepted"}, actions


def _installed(st: Station16, event: PkiResult, context: JsonObject,
               now: Now) -> tuple[JsonObject, list[Action]]:
    """M05.FR.02-06: Accepted; Failed when a valid certificate could not be stored; Rejected when invalid
    or when the store is full (CertificateStoreMaxLength, M05.FR.03)."""
    if event.ok:
        return {"status": "Accepted"}, _recount(st, now)
    reason = sec.reason_of(event)
    if reason == "WriteFailed":
        return {"status": "Failed"}, []
    use = context.get("use")
    actions: list[Action] = [Log(logging.WARNING, f"InstallCertificate {use} rejected: {reason}")]
    if use == "CentralSystemRootCertificate" and reason != "CertificateStoreFull":
        # OCTT TC_078_CSMS: a Central System root the station refuses is reported as this event.
        actions += sec.report(st, INVALID_CSMS_CERTIFICATE, f"InstallCertificate: {reason}", now)
    return {"status": "Rejected"}, actions


# Answers when the store says nothing in time (REPLY_WAIT_S). GetInstalledCertificateIds has no failure
# status: NotFound (a CALLERROR would call a valid request faulty; the warning says what happened).
TIMEOUT_ANSWER: dict[str, JsonObject] = {
    "CertificateSigned": {"status": "Rejected"},
    "InstallCertificate": {"status": "Failed"},
    "DeleteCertificate": {"status": "Failed"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
}


def _deferred(st: Station16, unique_id: str, action: str, op: str, args: dict[str, object], now: Now,
              context: JsonObject | None = None) -> None:
    """Ask the store; the CSMS call is answered with its result (the handler returns ``None``)."""
    st.side([sec.ask(st, op, args, now, unique_id=unique_id, action=action, context=context)])


def certificate_signed(st: Station16, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """CertificateSigned.req (§5.1): the chain goes to the store, which checks it (A02.FR.06) and its size
    (CertificateSignedMaxChainSize, §7.3; the schema already caps it at 10000 characters)."""
    chain = p.get("certificateChain")
    assert isinstance(chain, str)
    _deferred(st, unique_id, "CertificateSigned", "accept_signed", {"chain": chain}, now)
    return None


def install_certificate(st: Station16, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """InstallCertificate.req (M05): a Central System or Manufacturer root."""
    use, pem = p.get("certificateType"), p.get("certificate")
    assert isinstance(use, str) and isinstance(pem, str)
    _deferred(st, unique_id, "InstallCertificate", "install_root", {"use": use, "pem": pem}, now,
              {"use": use})
    return None


def delete_certificate(st: Station16, p: JsonObject, now: Now, unique_id: str) -> JsonObject | None:
    """DeleteCertificate.req (M04); the store never deletes the station's own certificate (M04.FR.05)."""
    data = sec.hash_data(p.get("certificateHashData"))
    if data is None:  # pragma: no cover - the schema requires the four fields
        raise CallRefused("FormationViolation", "certificateHashData")
    _deferred(st, unique_id, "DeleteCertificate", "delete", {"hash": data}, now)
    return None


def get_installed_certificate_ids(st: Station16, p: JsonObject, now: Now,
                                  unique_id: str) -> JsonObject | None:
    """GetInstalledCertificateIds.req (M03): the hash data of every installed root of one type."""
    use = p.get("certificateType")
    assert isinstance(use, str)
    _deferred(st, unique_id, "GetInstalledCertificateIds", "list", {"uses": [use]}, now, {"use": use})
    return None


def extended_trigger_message(st: Station16, p: JsonObject, now: Now, unique_id: str) -> JsonObject:
    """ExtendedTriggerMessage.req (§5.5): the 1.6 TriggerMessage rules, plus SignChargePointCertificate
    (A02) and the whitepaper's status messages: FirmwareStatusNotification triggers a
    SignedFirmwareStatusNotification (§6.16), LogStatusNotification a LogStatusNotification; Idle unless
    the firmware module has a job (L01.FR.28/29, N01.FR.12: then without requestId)."""
    # Imported here: calls imports this module to merge HANDLERS.
    from chargepoint.core.ocpp16 import calls, firmware

    what = p.get("requestedMessage")
    connector = p.get("connectorId")
    if isinstance(connector, int) and connector != 0 and connector not in st.evses:
        return {"status": "Rejected"}
    status_message = {"FirmwareStatusNotification": "SignedFirmwareStatusNotification",
                      "LogStatusNotification": "LogStatusNotification"}.get(str(what))
    if status_message is not None:
        own = firmware.trigger(st, status_message, now)
        idle: JsonObject = {"status": "Idle"}
        st.side(own if own is not None else st.enqueue(status_message, idle, now, meta=TRIGGERED))
        return {"status": "Accepted"}
    return calls.trigger_message(st, p, now, unique_id)


HANDLERS: dict[str, Handler] = {
    "CertificateSigned": certificate_signed,
    "InstallCertificate": install_certificate,
    "DeleteCertificate": delete_certificate,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
    "ExtendedTriggerMessage": extended_trigger_message,
}


# -- signing (A02 / A03) ---------------------------------------------------------------------------------


def start_signing(st: Station16, now: Now, *, triggered: bool) -> list[Action]:
    """A02.FR.02 / A03.FR.02: a new key pair and CSR (the store keeps the key, A02.FR.05); the CSR then goes
    out as SignCertificate. A newer request replaces one still waiting for its CSR."""
    state = sec.state_of(st)
    command = sec.ask(st, "csr", sec.csr_args(st.settings.str("CpoName")), now, wait_s=sec.CSR_WAIT_S)
    state.csr_ref = command.ref
    state.sign_triggered = triggered
    why = "asked by the Central System" if triggered else "the certificate expires soon"
    return [Log(logging.INFO, f"new charge point key and CSR ({why})"), command]


def _on_csr(st: Station16, event: PkiResult, now: Now) -> list[Action]:
    state = sec.state_of(st)
    if event.ref != state.csr_ref:
        return []  # replaced by a newer request
    state.csr_ref = None
    csr = event.result.get("csr")
    if not event.ok or not isinstance(csr, str) or not csr:
        return [Log(logging.ERROR, f"no CSR from the certificate store: {sec.reason_of(event)}")]
    # §5.17 SignCertificate.req; while Pending it may go out only when the Central System asked for it.
    meta = TRIGGERED if state.sign_triggered else None
    return st.enqueue("SignCertificate", {"csr": csr}, now, meta=meta)


def on_sign_certificate_answer(st: Station16, payload: JsonObject, now: Now) -> list[Action]:
    """The Central System answered our SignCertificate.req (for the station's ``on_result``): a Rejected
    one (A02.FR.12, it cannot process the request) is worth a log line; nothing is retried here."""
    status = payload.get("status")
    if status == "Accepted":
        return []
    return [Log(logging.WARNING, f"SignCertificate {status} by the Central System")]


def _on_status(st: Station16, event: PkiResult, now: Now) -> list[Action]:
    state = sec.state_of(st)
    if not event.ok:
        return [Log(logging.WARNING, f"certificate status unknown: {sec.reason_of(event)}")]
    state.expires = sec.expiry(event.result)
    # A03.FR.02: only a certificate that exists is renewed (without one, profile 3 cannot be in use).
    if state.csr_ref is None and sec.renewal_due(state.expires, st.time(now)):
        return start_signing(st, now, triggered=False)
    return []


# -- timers, connection, settings, resets ------------------------------------------------------------------


def on_timer(st: Station16, name: str, now: Now) -> list[Action]:
    """Timers named ``sec.*``."""
    if name == RENEW_TIMER:
        return _check_renewal(st, now)
    if name.startswith(sec.WAIT_TIMER):
        return sec.on_wait_timer(st, name, TIMEOUT_ANSWER)
    return []


def on_connection_failed(st: Station16, reason: str, now: Now) -> list[Action]:
    """The transport closed or could not connect; ``reason`` starts with ``invalid-csms-certificate``
    or ``authentication-failed`` when that is why."""
    return [*sec.connection_failed(st, reason, INVALID_CSMS_CERTIFICATE, AUTHENTICATION_FAILED, now),
            *_trial_failed(st, reason, now)]


def on_setting_changed(st: Station16, key: str, now: Now) -> list[Action]:
    """A setting changed by the CSMS (its 1.6 key name): ReconfigurationOfSecurityParameters for the
    security profile and the password (A01.FR.11; the key itself never reaches a log, A01.FR.12)."""
    if key not in SECURITY_SETTINGS:
        return []
    info = "AuthorizationKey changed" if key == "AuthorizationKey" else (
        f"{key} set to {st.settings.to_wire(key)}")
    return sec.report(st, RECONFIGURED, info, now)


def may_change_profile(st: Station16, value: str) -> bool:
    """Security whitepaper §2.4: the security profile may only go up (and never below the installer's)."""
    state = sec.state_of(st)
    current = state.profile_trial[0] if state.profile_trial else st.settings.int("SecurityProfile")
    return value.isdigit() and int(value) >= max(current, st.info.security_profile)


def try_profile(st: Station16, old: int, now: Now) -> list[Action]:
    """§2.4: connect with the new profile at once; ``on_connected`` keeps it, ``TRIAL_ATTEMPTS`` failed
    attempts fall back to ``old``."""
    new = st.settings.int("SecurityProfile")
    if new == old:
        return []
    state = sec.state_of(st)
    state.profile_trial = (state.profile_trial[0] if state.profile_trial else old, new)
    state.trial_failures = -1  # the first close is the reconnect we ask for
    return [ConfigureConnection(endpoint=("", new)), Reconnect(f"security profile {old} -> {new}"),
            Log(logging.WARNING, f"trying security profile {new} (from {old})")]


def on_connected(st: Station16, now: Now) -> list[Action]:
    """The connection opened: a profile being tried is kept."""
    state = sec.state_of(st)
    if state.profile_trial is None:
        return []
    old, new = state.profile_trial
    state.profile_trial = None
    return [Log(logging.WARNING, f"security profile {new} in use (was {old})")]


def _trial_failed(st: Station16, reason: str, now: Now) -> list[Action]:
    state = sec.state_of(st)
    if state.profile_trial is None:
        return []
    state.trial_failures += 1
    if state.trial_failures < TRIAL_ATTEMPTS and not reason.startswith("profile-refused"):
        return []
    old, new = state.profile_trial
    state.profile_trial = None
    back = 0 if old == st.info.security_profile else old  # 0: the installer's own connection
    return [*st.settings.set("SecurityProfile", old), ConfigureConnection(endpoint=("", back)),
            *sec.report(st, RECONFIGURED, f"security profile {new} failed to connect ({reason}); "
                        f"back to {old}", now)]


def trigger(st: Station16, what: str, now: Now) -> list[Action] | None:
    """TriggerMessage for a message of this module, or ``None`` if ``what`` is not one."""
    if what == "SignChargePointCertificate":
        return start_signing(st, now, triggered=True)  # A02.FR.02: after the trigger's answer
    return None


def on_clock_set(st: Station16, shift_s: float, now: Now) -> list[Action]:
    """The board clock was set from the CSMS time (SettingSystemTime)."""
    return sec.report(st, CLOCK, f"clock moved {shift_s:+.1f} s to the Central System time", now)


def on_reset(st: Station16, kind: str, now: Now) -> list[Action]:
    """The CSMS asked for a reset (``kind``: 1.6 Soft / Hard, 2.0.1 Immediate / OnIdle)."""
    return sec.report(st, RESET, f"{kind} reset requested by the Central System", now)

"""Issue 7 end to end, both OCPP versions: the station (``serve``, simulated HAL) against the test CSMS over
real WebSockets and real TLS on 127.0.0.1, certificates made here: CSR -> signed certificate -> the next
mutual-TLS connection presents it; refused certificates; installed CSMS roots trusted by the transport; no
secret in a log line. Firmware updates and diagnostics uploads are in ``test_firmware_e2e.py``, which
shares the ``Rig`` of this module."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.http11 import Request

from chargepoint.service.app import Station, serve
from chargepoint.service.config import load_config
from chargepoint.service.csms import Csms, CsmsPolicy, SigningCa
from chargepoint.service.runner import Runner, RunResult
from chargepoint.service.transport import Transport, TransportSettings
from tests.service.pki import Pki, make_pki

pytestmark = pytest.mark.timeout(120)

SID = "E2E-CP-7"
VERSIONS = ["1.6", "2.0.1"]
WAIT_S = 30.0
PASSWORD = "e2e-Basic-Auth-pw-7731"  # the Basic-auth password of the profile 2 test
# Security event names: 1.6 security whitepaper §8 / 2.0.1 part 2 appendix "Security events".
INVALID_OWN = {"1.6": "InvalidChargePointCertificate", "2.0.1": "InvalidChargingStationCertificate"}
INVALID_CSMS = {"1.6": "InvalidCentralSystemCertificate", "2.0.1": "InvalidCsmsCertificate"}
CSMS_ROOT = {"1.6": "CentralSystemRootCertificate", "2.0.1": "CSMSRootCertificate"}
# The loggers of the test's own servers (the CSMS's ``ocpp`` library, its websockets server, the FTP
# server), kept at WARNING: they log what the CSMS sends verbatim, which is not the station's logging.
HARNESS_LOGGERS = ("ocpp", "websockets.server", "pyftpdlib")

CONFIG = """\
[station]
id = "{sid}"
vendor = "Acme"
model = "AC22"
firmware_version = "1.0.0"
ocpp_version = "{version}"
organization = "E2E CPO"

[csms]
url = "{url}"
security_profile = {profile}
call_timeout_s = 5
{csms_extra}
[storage]
dir = "{state}"

[hal]
driver = "sim"

[[evse]]
id = 1
max_current_a = 32
phases = 3
{extra}"""

Json = dict[str, Any]


async def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` (state outside the CSMS: log records, files), bounded."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Rig:
    """One station run in this event loop (``serve``, simulated HAL) against one test CSMS, with the
    requests of both versions under one name each."""

    def __init__(self, tmp_path: Path, version: str, csms: Csms, caplog: pytest.LogCaptureFixture, *,
                 profile: int = 0, csms_extra: str = "", extra: str = "") -> None:
        self.version = version
        self.csms = csms
        self.caplog = caplog
        self.profile = profile
        self.csms_extra = csms_extra
        self.extra = extra
        self.state = tmp_path / "state"
        self.path = tmp_path / "station.toml"
        self.task: asyncio.Task[RunResult] | None = None
        self.holder: list[Station] = []

    # -- life cycle ------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the CSMS, write the config, start the station; every log record from now on is kept."""
        for name in HARNESS_LOGGERS:
            self.caplog.set_level(logging.WARNING, logger=name)
        # Last: set_level also sets the capturing handler's level. Every line of the station from here on,
        # the frame log (chargepoint.frames) included.
        self.caplog.set_level(logging.DEBUG)
        url = await self.csms.start()
        self.path.write_text(CONFIG.format(sid=SID, version=self.version, url=url, profile=self.profile,
                                           csms_extra=self.csms_extra, state=self.state, extra=self.extra))
        await self.start()

    async def start(self) -> None:
        """Start the station on its state dir; returns once its BootNotification was Accepted."""
        boots = len(self.calls("BootNotification"))
        self.holder = []
        self.task = asyncio.create_task(serve(load_config(self.path), on_station=self.holder.append))
        await self.wait(lambda: SID in self.csms.sessions and len(self.calls("BootNotification")) > boots)
        async with asyncio.timeout(WAIT_S):
            while not self.holder or self.runner.snapshot().get("registration") != "Accepted":
                assert not self.task.done(), self.task
                await asyncio.sleep(0.05)

    async def stop(self) -> RunResult | None:
        if self.task is None:
            return None
        if self.holder:
            self.runner.stop()
        async with asyncio.timeout(WAIT_S):
            result = await self.task
        self.task = None
        return result

    async def ended(self) -> RunResult:
        """Wait for the station to end by itself (a reboot it asked for)."""
        assert self.task is not None
        async with asyncio.timeout(WAIT_S):
            result = await self.task
        self.task = None
        return result

    async def close(self) -> None:
        try:
            await self.stop()
        finally:
            await self.csms.close()

    async def restart_csms(self, context: ssl.SSLContext | None) -> None:
        """The CSMS goes down (every connection drops) and comes back on the same port with ``context``."""
        await self.csms.close()
        self.csms.ssl_context = context
        await self.csms.start(self.csms.port)

    async def fast_reconnect(self) -> None:
        """2.0.1 B10: a 1 s reconnect back-off without randomness (the default waits 3 s plus up to 10 s),
        in force from the next start; 1.6 already retries after about a second."""
        if self.version != "2.0.1":
            return
        fast = (("RetryBackOffWaitMinimum", "1"), ("RetryBackOffRandomRange", "0"),
                ("RetryBackOffRepeatTimes", "0"))
        items = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name},
                  "attribute_value": value} for name, value in fast]
        reply = await self.call(call201.SetVariables(set_variable_data=items))
        assert [r["attribute_status"] for r in reply.set_variable_result] == ["Accepted"] * 3
        await self.stop()
        await self.start()

    # -- what the CSMS saw -----------------------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        return self.holder[0].runner

    def calls(self, action: str) -> list[Json]:
        """The payloads of the ``action`` CALLs the station sent, as on the wire (camelCase)."""
        out: list[Json] = []
        for frame in self.csms.frames:
            if frame.direction == "<":
                message = json.loads(frame.text)
                if message[0] == 2 and message[2] == action:
                    out.append(message[3])
        return out

    def events(self, kind: str) -> list[Json]:
        return [e for e in self.csms.security_events if e["type"] == kind]

    def statuses(self, records: list[Json], request_id: int | None) -> list[str]:
        return [r["status"] for r in records if r["request_id"] == request_id]

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        await self.csms.wait_for(predicate, timeout_s)

    async def call(self, request: Any) -> Any:
        return await self.csms.sessions[SID].call(request, suppress=False)

    # -- requests of both versions -----------------------------------------------------------------------

    async def install_root(self, kind: str, pem: str) -> str:
        """InstallCertificate (M05) of a CSMS root (``kind`` "csms") or a manufacturer root."""
        use = CSMS_ROOT[self.version] if kind == "csms" else "ManufacturerRootCertificate"
        module = call16 if self.version == "1.6" else call201
        reply = await self.call(module.InstallCertificate(certificate_type=use, certificate=pem))
        return str(reply.status)

    async def delete_csms_root(self) -> str:
        """GetInstalledCertificateIds (M03) for the CSMS roots, then DeleteCertificate (M04) of the one."""
        if self.version == "1.6":
            listed = await self.call(call16.GetInstalledCertificateIds(certificate_type=CSMS_ROOT["1.6"]))
            assert listed.status == "Accepted" and len(listed.certificate_hash_data) == 1
            data = listed.certificate_hash_data[0]
            reply = await self.call(call16.DeleteCertificate(certificate_hash_data=data))
        else:
            listed = await self.call(call201.GetInstalledCertificateIds(
                certificate_type=[CSMS_ROOT["2.0.1"]]))
            assert listed.status == "Accepted" and len(listed.certificate_hash_data_chain) == 1
            data = listed.certificate_hash_data_chain[0]["certificate_hash_data"]
            reply = await self.call(call201.DeleteCertificate(certificate_hash_data=data))
        return str(reply.status)

    async def trigger_sign(self) -> str:
        """1.6 ExtendedTriggerMessage SignChargePointCertificate / 2.0.1 TriggerMessage
        SignChargingStationCertificate (A02.FR.01)."""
        if self.version == "1.6":
            request: Any = call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
        else:
            request = call201.TriggerMessage(requested_message="SignChargingStationCertificate")
        return str((await self.call(request)).status)

    async def trigger_firmware_status(self) -> str:
        """The status of the update under way (1.6 ExtendedTriggerMessage: SignedFirmwareStatusNotification;
        2.0.1 TriggerMessage: FirmwareStatusNotification)."""
        if self.version == "1.6":
            request: Any = call16.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification")
        else:
            request = call201.TriggerMessage(requested_message="FirmwareStatusNotification")
        return str((await self.call(request)).status)

    async def certificate_signed(self, chain: str) -> Any:
        if self.version == "1.6":
            return await self.call(call16.CertificateSigned(certificate_chain=chain))
        return await self.call(call201.CertificateSigned(certificate_chain=chain,
                                                         certificate_type="ChargingStationCertificate"))

    async def update_firmware(self, request_id: int, url: str, certificate: str, signature: str,
                              retries: int = 2, retry_interval: int = 1) -> str:
        """A signed update: 1.6 SignedUpdateFirmware / 2.0.1 UpdateFirmware (L01), due at once."""
        firmware = {"location": url, "retrieve_date_time": stamp(datetime.now(UTC) - timedelta(seconds=5)),
                    "signing_certificate": certificate, "signature": signature}
        module = call16.SignedUpdateFirmware if self.version == "1.6" else call201.UpdateFirmware
        reply = await self.call(module(request_id=request_id, firmware=firmware, retries=retries,
                                       retry_interval=retry_interval))
        return str(reply.status)

    async def get_log(self, request_id: int, url: str, retries: int = 2, retry_interval: int = 1) -> Any:
        """GetLog DiagnosticsLog (1.6 security extension / 2.0.1 N01)."""
        module = call16 if self.version == "1.6" else call201
        return await self.call(module.GetLog(log={"remote_location": url}, log_type="DiagnosticsLog",
                                             request_id=request_id, retries=retries,
                                             retry_interval=retry_interval))


# -- certificates made in the test ------------------------------------------------------------------------


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def leaf_of(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def chain_with_cn(ca: SigningCa, csr_pem: str, common_name: str) -> str:
    """A certificate for the CSR's key, signed by ``ca``, but naming another identity."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.now(UTC)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.certificate.subject).public_key(csr.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca.key, hashes.SHA256()))
    return pem(leaf) + ca.pem


def server_tls(folder: Path, ca: SigningCa) -> tuple[ssl.SSLContext, Path]:
    """A CSMS TLS server context whose certificate (127.0.0.1) ``ca`` issued; and its key file."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_text(pem(cert))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, key_file


# -- no secret in a log line --------------------------------------------------------------------------------


def key_marks(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> list[str]:
    """What of a private key's secret could show in a log: the secret number (EC private value, RSA d) in
    decimal and hex, and in base64 at every alignment (a PEM or DER dump of the key holds one of these
    16-character runs). The public parts (also inside a PKCS#8 file) are no secret: certificates and CSRs
    carry them, so they are not looked for."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        secret = key.private_numbers().private_value
    else:
        secret = key.private_numbers().d
    raw = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
    marks = [format(secret, "x"), format(secret, "X"), str(secret)]
    marks += [base64.b64encode(raw[i:i + 12]).decode("ascii") for i in range(len(raw) - 11)]
    return marks


def file_key_marks(path: Path) -> list[str]:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key_marks(key)


def assert_no_secrets(caplog: pytest.LogCaptureFixture, rig: Rig, *key_files: Path,
                      passwords: list[str] | None = None, extra: list[str] | None = None,
                      more: dict[str, str] | None = None) -> None:
    """Every log record of the run (DEBUG, frames included), the station's own log file and ``more`` (what
    else left the station, e.g. an uploaded archive): no PEM private key, no password, no byte of the
    secret of any key in ``key_files`` or the station's own key store, nor any ``extra`` mark (1.6 security
    whitepaper / 2.0.1 A00: secrets never leave the station, and a log leaves it in a diagnostics upload)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [r for r in caplog.records if not r.name.startswith(HARNESS_LOGGERS)]
    assert any(r.name == "chargepoint.frames" for r in records)  # the frame log was captured
    texts = {"log records": "\n".join(formatter.format(r) for r in records)}
    for path in sorted((rig.state / "logs").glob("chargepoint.log*")):
        texts[str(path)] = path.read_text(errors="replace")
    texts.update(more or {})
    station_keys = sorted((rig.state / "pki").glob("*.key*"))
    marks = [m for path in (*key_files, *station_keys) if path.exists() for m in file_key_marks(path)]
    marks += [*(extra or []), *(passwords or [])]
    for where, text in texts.items():
        assert "PRIVATE KEY" not in text, where
        for mark in marks:
            assert mark not in text, f"{where}: secret material in a log line"


# -- the tests --------------------------------------------------------------------------------------------


def mutual_tls(files: Pki, *trusted: str) -> ssl.SSLContext:
    """The CSMS's TLS server: its certificate from ``files``, client certificates verified against the
    installer CA of ``files`` and the PEM roots in ``trusted`` (security profile 3)."""
    context = files.server_context(require_client_cert=True)
    for pem in trusted:
        context.load_verify_locations(cadata=pem)
    return context


def profile3(files: Pki) -> str:
    return (f'ca_file = "{files.ca_file}"\nclient_cert = "{files.client_cert}"\n'
            f'client_key = "{files.client_key}"\n')


def peer(csms: Csms, index: int) -> x509.Certificate:
    station, der = csms.peer_certificates[index]
    assert station == SID and der is not None, "the CSMS saw no client certificate"
    return x509.load_der_x509_certificate(der)


@pytest.mark.parametrize("version", VERSIONS)
async def test_renewed_certificate_is_presented_on_the_next_connection(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A02 / 1.6 security whitepaper "Certificate installation": the CSMS triggers the renewal, signs the
    CSR and sends CertificateSigned; the station answers Accepted and its next TLS connection (same process)
    presents the new certificate (A02.FR.08); the new key is stored 0600."""
    files = make_pki(tmp_path / "installer", client_cn=SID)
    ca = SigningCa.generate("E2E CSMS Root")
    csms = Csms(ssl_context=mutual_tls(files, ca.pem), ca=ca)
    rig = Rig(tmp_path, version, csms, caplog, profile=3, csms_extra=profile3(files))
    await rig.open()
    try:
        installer = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
        assert peer(csms, 0) == installer  # the first connection: the installer's certificate
        assert await rig.install_root("csms", ca.pem) == "Accepted"  # the root the new one chains to
        assert await rig.trigger_sign() == "Accepted"
        await rig.wait(lambda: csms.certificates_signed == ["Accepted"])
        await rig.wait(lambda: len(csms.peer_certificates) >= 2 and SID in csms.sessions)
        cert_path, key_path = rig.state / "pki" / "client.pem", rig.state / "pki" / "client.key"
        leaf = leaf_of(cert_path)
        new = peer(csms, -1)
        assert new == leaf and new.serial_number != installer.serial_number
        assert new.issuer == ca.certificate.subject
        assert new.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SID
        csr = x509.load_pem_x509_csr(csms.csrs[-1].encode())
        assert csr.public_key() == new.public_key()  # the key of the station's CSR, never sent itself
        assert key_path.stat().st_mode & 0o777 == 0o600
        assert not (rig.state / "pki" / "pending.key").exists()
        assert rig.task is not None and not rig.task.done()  # no restart: the same process reconnected
        assert len(rig.holder) == 1 and rig.runner.transport_settings.client_cert == cert_path
        assert csms.violations == []
        await rig.stop()
        assert_no_secrets(caplog, rig, files.client_key, files.server_key, key_path, extra=key_marks(ca.key))
    finally:
        await rig.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_wrong_cn_and_untrusted_ca_are_refused_and_the_old_certificate_stays(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A02.FR.06 / A02.FR.07: a certificate for another identity (A00.FR.511) and one from a CA the station
    does not trust are Rejected, each with InvalidChargePointCertificate (1.6) / InvalidChargingStation-
    Certificate (2.0.1) on the wire; the station keeps presenting its old certificate."""
    files = make_pki(tmp_path / "installer", client_cn=SID)
    ca, rogue = SigningCa.generate("E2E CSMS Root"), SigningCa.generate("Rogue Root")
    csms = Csms(CsmsPolicy(certificate_signed_delay_s=None), ssl_context=mutual_tls(files, ca.pem), ca=ca)
    rig = Rig(tmp_path, version, csms, caplog, profile=3, csms_extra=profile3(files))
    await rig.open()
    try:
        await rig.fast_reconnect()
        installer = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
        assert await rig.install_root("csms", ca.pem) == "Accepted"
        assert await rig.trigger_sign() == "Accepted"
        await rig.wait(lambda: len(csms.csrs) == 1)
        events = INVALID_OWN[version]
        for chain, reason in ((chain_with_cn(ca, csms.csrs[0], "SOMEONE-ELSE"), "InvalidCN"),
                              (rogue.sign(csms.csrs[0]), "InvalidCertChain")):
            before = rig.events(events)
            reply = await rig.certificate_signed(chain)
            assert reply.status == "Rejected"
            if version == "2.0.1":
                assert reply.status_info["reason_code"] == reason
            await rig.wait(lambda before=before: len(rig.events(events)) == len(before) + 1)  # type: ignore[misc]
            assert rig.events(events)[-1]["tech_info"] == reason
        assert not (rig.state / "pki" / "client.pem").exists()
        pending = rig.state / "pki" / "pending.key"  # kept for a CertificateSigned that fits it
        assert pending.stat().st_mode & 0o777 == 0o600
        assert rig.runner.transport_settings.client_cert == files.client_cert
        connections = len(csms.peer_certificates)
        await rig.restart_csms(csms.ssl_context)  # the station reconnects, in the same process
        await rig.wait(lambda: len(csms.peer_certificates) > connections and SID in csms.sessions)
        assert peer(csms, -1) == installer
        assert csms.violations == []
        await rig.stop()
        assert_no_secrets(caplog, rig, files.client_key, files.server_key,
                          extra=key_marks(ca.key) + key_marks(rogue.key))
    finally:
        await rig.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_installed_csms_root_is_trusted_and_a_deleted_one_no_longer(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """M05 / M04 with wss (security profile 2): a CSMS root installed through InstallCertificate
    (CentralSystemRootCertificate / CSMSRootCertificate) is trusted besides ``csms.ca_file`` from the next
    connection on; once deleted, a CSMS certificate under it is refused again (InvalidCentralSystemCertificate
    / InvalidCsmsCertificate, sent once the station is back)."""
    old = make_pki(tmp_path / "old")
    new_root = SigningCa.generate("New CSMS Root")  # a name of its own: OpenSSL finds issuers by name
    new_tls, new_key = server_tls(tmp_path / "new", new_root)
    csms = Csms(CsmsPolicy(password=PASSWORD), ssl_context=old.server_context())
    extra = f'password = "{PASSWORD}"\nca_file = "{old.ca_file}"\n'
    rig = Rig(tmp_path, version, csms, caplog, profile=2, csms_extra=extra)
    await rig.open()
    try:
        await rig.fast_reconnect()
        assert rig.runner.transport_settings.csms_roots is None
        assert await rig.install_root("csms", new_root.pem) == "Accepted"
        assert rig.runner.transport_settings.csms_roots is not None
        connections = len(csms.peer_certificates)
        await rig.restart_csms(new_tls)  # the CSMS moves to a certificate under the new root
        await rig.wait(lambda: len(csms.peer_certificates) > connections and SID in csms.sessions)
        assert await rig.delete_csms_root() == "Accepted"
        assert rig.runner.transport_settings.csms_roots is None
        mark = len(caplog.records)
        await rig.restart_csms(new_tls)
        await wait_until(lambda: any("invalid-csms-certificate" in r.getMessage()
                                     for r in caplog.records[mark:] if r.name.startswith("chargepoint")))
        assert SID not in csms.sessions
        await rig.restart_csms(old.server_context())  # back under the configured ca_file
        await rig.wait(lambda: SID in csms.sessions and bool(rig.events(INVALID_CSMS[version])))
        assert "CERTIFICATE_VERIFY_FAILED" in (rig.events(INVALID_CSMS[version])[0]["tech_info"] or "")
        assert csms.violations == []
        await rig.stop()
        assert_no_secrets(caplog, rig, old.server_key, new_key, passwords=[PASSWORD],
                          extra=key_marks(new_root.key))
    finally:
        await rig.close()


class Opens:
    """A transport handler counting the connections that opened."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[str] = []

    def on_open(self, subprotocol: str) -> None:
        self.opened += 1

    def on_text(self, text: str) -> None:
        pass

    def on_close(self, reason: str) -> None:
        self.closed.append(reason)


async def test_a_reconnect_or_a_stop_during_the_handshake_is_not_lost() -> None:
    """The transport bug the renewal test found: a reconnect asked for while a handshake runs (A02.FR.08:
    the new certificate from the next connection) or a stop (SIGTERM) then was cleared once the handshake
    completed; the station kept the old connection, or never stopped."""
    release, arrived = asyncio.Event(), asyncio.Event()

    async def hold(connection: ServerConnection, request: Request) -> None:
        arrived.set()
        await release.wait()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with ws_serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                        process_request=hold) as server:
        port = server.sockets[0].getsockname()[1]
        opens = Opens()
        transport = Transport(TransportSettings(f"ws://127.0.0.1:{port}/ocpp", SID, "ocpp1.6"), opens)
        task = asyncio.create_task(transport.run())
        try:
            async with asyncio.timeout(WAIT_S):
                await arrived.wait()
            transport.reconnect("new client certificate")  # during the first handshake
            release.set()
            await wait_until(lambda: opens.opened == 2)  # the request was honoured after the handshake
            release.clear()
            arrived.clear()
            transport.reconnect("once more")
            async with asyncio.timeout(WAIT_S):
                await arrived.wait()
            await transport.stop()  # during the third handshake: nothing to close yet
            release.set()
            async with asyncio.timeout(WAIT_S):
                await task
            assert opens.opened == 2
        finally:
            task.cancel()

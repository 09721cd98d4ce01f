"""The shell side of issue 7 with real parts: the certificate store in tmp_path with CAs made here, firmware
downloads and log uploads against real HTTPS and pyftpdlib servers on loopback, a real install hook, the
security log and the rotating log file on disk, the config keys, the transport's failure reasons, the test
CSMS's security handlers, and the wiring through ``serve``."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import logging
import logging.handlers
import os
import re
import stat
import tarfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from websockets.asyncio.client import connect

from chargepoint.core.actions import CancelJob, PkiCommand, RecordSecurityEvent, StartJob
from chargepoint.core.events import Event, JobProgress, PkiResult
from chargepoint.service.app import Station, serve, transport_settings
from chargepoint.service.config import ConfigError, check_config, load_config
from chargepoint.service.csms import Csms, CsmsPolicy, SigningCa
from chargepoint.service.logs import add_file_log, remove_file_log
from chargepoint.service.maintenance import Maintenance
from chargepoint.service.pki import CertificateUse, Pki
from chargepoint.service.transport import Transport, TransportSettings, backoff
from tests.service.pki import make_pki
from tests.service.test_transfer import DATA, PASSWORD, USER, Served
from tests.service.test_transfer import serve as serve_files

STATION = "CP-MAINT-1"
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
ISO_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")
END_DOWNLOAD = {"Downloaded", "DownloadFailed"}
END_SIGNED = {"SignatureVerified", "InvalidSignature", "InvalidCertificate", "DownloadFailed"}
END_INSTALL = {"Installed", "InstallRebooting", "InstallationFailed"}
END_UPLOAD = {"Uploaded", "UploadFailed", "PermissionDenied", "BadMessage"}


# ---------------------------------------------------------------- certificates made in the test


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Manufacturer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
           issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Manufacturer:
    """A manufacturer root and a firmware signing certificate under it (L01.FR.12 / L01.FR.23)."""

    root_pem: str
    signer_pem: str
    signer_key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls) -> Manufacturer:
        root_key = ec.generate_private_key(ec.SECP256R1())
        signer_key = ec.generate_private_key(ec.SECP256R1())
        root = _issue(_name("Manufacturer Root"), root_key, _name("Manufacturer Root"), root_key, ca=True)
        signer = _issue(_name("Firmware Signer"), signer_key, root.subject, root_key, ca=False)
        return cls(_pem(root), _pem(signer), signer_key)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.signer_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


# ---------------------------------------------------------------- the executor under test


@dataclass
class Sink:
    """Collects what the executor emits (the runner's event queue in production)."""

    events: list[Event] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def statuses(self, job: str) -> list[tuple[str, str]]:
        return [(e.status, e.detail) for e in self.events if isinstance(e, JobProgress) and e.job == job]

    async def job(self, job: str, end: set[str]) -> list[tuple[str, str]]:
        await self.wait(lambda: any(status in end for status, _ in self.statuses(job)))
        return self.statuses(job)

    async def pki(self, ref: str) -> PkiResult:
        def found() -> list[PkiResult]:
            return [e for e in self.events if isinstance(e, PkiResult) and e.ref == ref]
        await self.wait(lambda: bool(found()))
        return found()[0]


@dataclass
class Rig:
    maintenance: Maintenance
    sink: Sink
    state: Path
    tls_ca: Path
    tls: Any
    switched: list[tuple[Path, Path]]
    refs: int = 0

    async def pki(self, op: str, **args: object) -> PkiResult:
        self.refs += 1
        ref = f"r{self.refs}"
        self.maintenance.submit(PkiCommand(ref, op, dict(args)))
        return await self.sink.pki(ref)

    def hook(self, body: str) -> Path:
        path = self.state.parent / "hook.sh"
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        self.maintenance.install_hook = path
        return path


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    tls = make_pki(tmp_path / "tls")
    state = tmp_path / "state"
    state.mkdir()
    pki = Pki(state / "pki", STATION, "Example CPO")
    sink = Sink()
    switched: list[tuple[Path, Path]] = []
    maintenance = Maintenance(state, pki, ca_file=tls.ca_file, emit=sink, transfer_timeout_s=5,
                              use_client_files=lambda cert, key: switched.append((cert, key)))
    yield Rig(maintenance, sink, state, tls.ca_file, tls, switched)
    await maintenance.close()


async def bounded_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


# ---------------------------------------------------------------- certificates (A02 / A03 / M03-M05)


async def test_csr_signed_accepted_listed_deleted(rig: Rig) -> None:
    ca = SigningCa.generate()
    assert (await rig.pki("install_root", use="CentralSystemRootCertificate", pem=ca.pem)).result == {
        "status": "Accepted"}
    csr = await rig.pki("csr", use="ChargePointCertificate")
    assert csr.ok and str(csr.result["csr"]).startswith("-----BEGIN CERTIFICATE REQUEST-----")
    request = x509.load_pem_x509_csr(str(csr.result["csr"]).encode())
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION  # A00.FR.511

    assert (await rig.pki("status")).result == {"expires": None}
    accepted = await rig.pki("accept_signed", chain=ca.sign(str(csr.result["csr"])))
    assert accepted.ok, accepted.result
    expires = dt.datetime.fromisoformat(str(accepted.result["expires"]))
    assert NOW + 29 * DAY < expires <= NOW + 31 * DAY
    files = rig.maintenance.pki.client_files()
    assert files is not None and rig.switched == [files]  # the transport gets the new pair at once
    assert (await rig.pki("status")).result == accepted.result

    listed = await rig.pki("list", uses=[])
    roots = listed.result["certificates"]
    assert isinstance(roots, list) and [c["use"] for c in roots] == ["CentralSystemRootCertificate"]
    root_hash = roots[0]["hash"]
    assert set(root_hash) == {"hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"}
    own = await rig.pki("list", uses=["ChargingStationCertificate", "V2GCertificateChain"])
    own_list = own.result["certificates"]
    assert isinstance(own_list, list) and [c["use"] for c in own_list] == ["ChargePointCertificate"]

    # M04.FR.06: the station's own certificate is never deleted; a root is, once.
    assert (await rig.pki("delete", hash=own_list[0]["hash"])).result == {"status": "Failed"}
    assert (await rig.pki("delete", hash=root_hash)).result == {"status": "Accepted"}
    assert (await rig.pki("delete", hash=root_hash)).result == {"status": "NotFound"}
    assert (await rig.pki("delete", hash={**root_hash, "hashAlgorithm": "MD5"})).result == {
        "status": "NotFound"}
    assert (await rig.pki("list", uses=[])).result == {"certificates": []}


@pytest.mark.parametrize(("op", "args", "reason"), [
    ("accept_signed", {"chain": "not a certificate"}, "InvalidCertificate"),
    ("install_root", {"use": "CentralSystemRootCertificate", "pem": "garbage"}, "InvalidCertificate"),
    ("install_root", {"use": "NoSuchUse", "pem": "x"}, "InvalidCertificate"),
    ("install_root", {"use": "ChargePointCertificate", "pem": "x"}, "InvalidCertificate"),
    ("csr", {"use": "V2GCertificate"}, "InvalidCertificate"),
    ("verify_firmware_certificate", {"pem": "garbage"}, "InvalidCertificate"),
    ("no_such_op", {}, "InvalidCertificate"),
])
async def test_refusals_carry_a_reason(rig: Rig, op: str, args: dict[str, object], reason: str) -> None:
    result = await rig.pki(op, **args)
    assert not result.ok and result.op == op
    assert result.result["reason"] == reason


async def test_certificate_of_another_ca_and_non_ca_root_are_refused(rig: Rig) -> None:
    ours, theirs = SigningCa.generate(), SigningCa.generate("Rogue CA")
    await rig.pki("install_root", use="CentralSystemRootCertificate", pem=ours.pem)
    csr = await rig.pki("csr")
    refused = await rig.pki("accept_signed", chain=theirs.sign(str(csr.result["csr"])))
    assert not refused.ok and refused.result["reason"] == "InvalidCertChain"  # A02.FR.06
    assert rig.switched == [] and rig.maintenance.pki.client_files() is None
    leaf_only = theirs.sign(str(csr.result["csr"])).split("-----END CERTIFICATE-----")[0]
    not_ca = await rig.pki("install_root", use="ManufacturerRootCertificate",
                           pem=leaf_only + "-----END CERTIFICATE-----\n")
    assert not not_ca.ok and not_ca.result["reason"] == "NotCACertificate"


async def test_firmware_signing_certificate_check(rig: Rig) -> None:
    maker, other = Manufacturer.make(), Manufacturer.make()
    await rig.pki("install_root", use="ManufacturerRootCertificate", pem=maker.root_pem)
    assert (await rig.pki("verify_firmware_certificate", pem=maker.signer_pem)).ok
    refused = await rig.pki("verify_firmware_certificate", pem=other.signer_pem)
    assert not refused.ok and refused.result["reason"] == "InvalidCertificate"  # L01.FR.24


# ---------------------------------------------------------------- firmware download (L01, 1.6 §5.19)


def _download(rig: Rig, job: str, url: str, **args: object) -> None:
    rig.maintenance.submit(StartJob(job, "firmware_download", {
        "url": url, "retries": 0, "retry_interval_s": 0, "signing_certificate": None, "signature": None,
        **args}))


@pytest.fixture
def https(rig: Rig, tmp_path: Path) -> Any:
    with serve_files("https", tmp_path / "https", rig.tls) as served:
        yield served


@pytest.fixture
def ftp(rig: Rig, tmp_path: Path) -> Any:
    with serve_files("ftp", tmp_path / "ftp", rig.tls) as served:
        yield served


async def test_unsigned_download_over_https(rig: Rig, https: Served) -> None:
    https.put("fw-1.2.bin", DATA)
    _download(rig, "j1", https.url("fw-1.2.bin"))
    assert await rig.sink.job("j1", END_DOWNLOAD) == [("Downloading", ""), ("Downloaded", "")]
    image = rig.maintenance.current_image()
    assert image is not None and image.parent == rig.state / "firmware"
    assert image.name.endswith("fw-1.2.bin")
    assert image.read_bytes() == DATA


async def test_signed_download_verified(rig: Rig, https: Served) -> None:
    maker = Manufacturer.make()
    await rig.pki("install_root", use="ManufacturerRootCertificate", pem=maker.root_pem)
    https.put("fw.bin", DATA)
    _download(rig, "j1", https.url("fw.bin"), signing_certificate=maker.signer_pem,
              signature=maker.sign(DATA))
    assert [s for s, _ in await rig.sink.job("j1", END_SIGNED)] == [
        "Downloading", "Downloaded", "SignatureVerified"]
    assert rig.maintenance.current_image() is not None


@pytest.mark.parametrize("wrong", ["signature", "certificate"])
async def test_signed_download_refused_and_removed(rig: Rig, https: Served, wrong: str) -> None:
    maker, other = Manufacturer.make(), Manufacturer.make()
    await rig.pki("install_root", use="ManufacturerRootCertificate", pem=maker.root_pem)
    https.put("fw.bin", DATA)
    signer = other.signer_pem if wrong == "certificate" else maker.signer_pem
    signature = maker.sign(DATA[:-1] + b"x") if wrong == "signature" else other.sign(DATA)
    _download(rig, "j1", https.url("fw.bin"), signing_certificate=signer, signature=signature)
    statuses = await rig.sink.job("j1", END_SIGNED)
    expected = "InvalidSignature" if wrong == "signature" else "InvalidCertificate"
    assert [s for s, _ in statuses] == ["Downloading", "Downloaded", expected]
    assert statuses[-1][1]  # the detail says why
    assert rig.maintenance.current_image() is None  # L01: a refused image is never installed


async def test_download_failures_name_the_reason(rig: Rig, https: Served) -> None:
    _download(rig, "missing", https.url("nothing.bin"), retries=1)
    # L01.FR.30: Downloading at every attempt, DownloadFailed after the last one.
    assert await rig.sink.job("missing", END_DOWNLOAD) == [
        ("Downloading", ""), ("Downloading", ""), ("DownloadFailed", "NotFound")]
    https.put("big.bin", DATA)
    rig.maintenance.min_free_bytes = 1 << 62
    _download(rig, "full", https.url("big.bin"))
    assert (await rig.sink.job("full", END_DOWNLOAD))[-1] == ("DownloadFailed", "NoSpace")
    assert list((rig.state / "firmware").iterdir()) == []  # nothing written before the space check


async def test_broken_ftp_download_resumes_on_retry(rig: Rig, ftp: Served) -> None:
    ftp.put("fw.bin", DATA)
    ftp.cut("fw.bin", 100_000)
    _download(rig, "j1", ftp.url("fw.bin", credentials=True), retries=2)
    assert [s for s, _ in await rig.sink.job("j1", END_DOWNLOAD)] == [
        "Downloading", "Downloading", "Downloaded"]
    image = rig.maintenance.current_image()
    assert image is not None and image.read_bytes() == DATA
    points = ftp.resume_points()
    assert len(points) == 1 and 0 < points[0] <= 100_000  # continued, not started over
    assert PASSWORD not in image.name and USER not in image.name
    # The same URL always lands on the same file: a download cut by a restart continues there.
    assert rig.maintenance.image_path(ftp.url("fw.bin", credentials=True)) == image


async def test_a_new_download_replaces_the_old_image(rig: Rig, https: Served) -> None:
    https.put("a.bin", DATA)
    https.put("b.bin", DATA[::-1])
    _download(rig, "a", https.url("a.bin"))
    await rig.sink.job("a", END_DOWNLOAD)
    _download(rig, "b", https.url("b.bin"))
    await rig.sink.job("b", END_DOWNLOAD)
    assert [p.name.split("-", 1)[1] for p in (rig.state / "firmware").iterdir()] == ["b.bin"]


# ---------------------------------------------------------------- firmware install (the integrator's hook)


def _install(rig: Rig, job: str) -> None:
    rig.maintenance.submit(StartJob(job, "firmware_install", {}))


async def _image(rig: Rig, https: Served) -> Path:
    https.put("fw.bin", DATA)
    _download(rig, "dl", https.url("fw.bin"))
    await rig.sink.job("dl", END_DOWNLOAD)
    image = rig.maintenance.current_image()
    assert image is not None
    return image


async def test_hook_that_installs_in_place(rig: Rig, https: Served) -> None:
    image = await _image(rig, https)
    seen = rig.state.parent / "hook-arg"
    rig.hook(f'echo "$1" > "{seen}"\necho "flashing..."\necho installed\n')
    _install(rig, "i1")
    assert await rig.sink.job("i1", END_INSTALL) == [("Installing", ""), ("Installed", "")]
    assert seen.read_text().strip() == str(image)
    assert not image.exists()  # spent


async def test_hook_that_stages_asks_for_a_reboot(rig: Rig, https: Served) -> None:
    image = await _image(rig, https)
    rig.hook("echo staged to slot B\nexit 0\n")
    _install(rig, "i1")
    assert [s for s, _ in await rig.sink.job("i1", END_INSTALL)] == ["Installing", "InstallRebooting"]
    assert image.exists()


async def test_failing_hook_missing_hook_missing_image(rig: Rig, https: Served) -> None:
    _install(rig, "no-hook")
    assert (await rig.sink.job("no-hook", END_INSTALL))[-1] == (
        "InstallationFailed", "no [firmware] install_hook configured")
    rig.hook("exit 0\n")
    _install(rig, "no-image")
    assert (await rig.sink.job("no-image", END_INSTALL))[-1] == (
        "InstallationFailed", "no downloaded firmware image")
    await _image(rig, https)
    rig.hook("echo 'flash write failed at 0x4000' >&2\nexit 3\n")
    _install(rig, "fails")
    status, detail = (await rig.sink.job("fails", END_INSTALL))[-1]
    assert status == "InstallationFailed"
    assert "status 3" in detail and "flash write failed at 0x4000" in detail
    hook = rig.hook("exit 0\n")
    hook.chmod(0o644)
    _install(rig, "not-executable")
    status, detail = (await rig.sink.job("not-executable", END_INSTALL))[-1]
    assert status == "InstallationFailed" and "cannot run install hook" in detail


@pytest.mark.parametrize("how", ["cancel", "shutdown"])
async def test_cancel_and_shutdown_kill_the_hook(rig: Rig, https: Served, how: str) -> None:
    await _image(rig, https)
    pid_file = rig.state.parent / "hook.pid"
    rig.hook(f'echo $$ > "{pid_file}"\nexec sleep 60\n')
    _install(rig, "slow")
    await bounded_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    pid = int(pid_file.read_text())
    assert rig.maintenance.running_jobs == ["slow"]
    if how == "cancel":
        rig.maintenance.submit(CancelJob("slow"))  # L01.FR.24: a new UpdateFirmware replaces this one
        await bounded_until(lambda: rig.maintenance.running_jobs == [])
    else:
        async with asyncio.timeout(10):
            await rig.maintenance.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert [s for s, _ in rig.sink.statuses("slow")] == ["Installing"]  # cancelled: no verdict


# ---------------------------------------------------------------- log upload (1.6 §5.9 GetDiagnostics, N01)


def _upload(rig: Rig, job: str, url: str, **args: object) -> None:
    rig.maintenance.submit(StartJob(job, "log_upload", {
        "url": url, "kind": "diagnostics", "since": None, "until": None, "retries": 0,
        "retry_interval_s": 0, "file_name": "diag.tar.gz", **args}))


def _members(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in archive.getmembers() if m.isfile()}


async def _logs(rig: Rig) -> None:
    logs = rig.state / "logs"
    logs.mkdir()
    (logs / "chargepoint.log").write_text(
        "2024-01-10T08:00:00.000Z INFO    chargepoint.runner: before the window\n"
        "2024-06-10T08:00:00.000Z WARNING chargepoint.runner: inside the window\n"
        "Traceback (most recent call last): belongs to the line above\n"
        "2024-09-10T08:00:00.000Z INFO    chargepoint.runner: after the window\n")
    for when, kind in ((dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "SettingSystemTime"),
                       (dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "FirmwareUpdated")):
        rig.maintenance.submit(RecordSecurityEvent(kind, "info", when))


async def test_diagnostics_of_a_period_over_ftp(rig: Rig, ftp: Served) -> None:
    await _logs(rig)
    _upload(rig, "u1", ftp.url("", credentials=True), file_name="diag-CP.tar.gz",
            since="2024-05-01T00:00:00Z", until="2024-07-01T00:00:00+00:00")
    assert await rig.sink.job("u1", END_UPLOAD) == [("Uploading", ""), ("Uploaded", "")]
    members = _members(ftp.uploaded("diag-CP.tar.gz"))
    log_text = members["diag-CP/logs/chargepoint.log"]
    assert "inside the window" in log_text and "belongs to the line above" in log_text
    assert "before the window" not in log_text and "after the window" not in log_text
    security = members["diag-CP/security/security.log"]
    assert "FirmwareUpdated" in security and "SettingSystemTime" not in security
    assert list((rig.state / "uploads").iterdir()) == []  # the archive is not kept


async def test_security_log_over_https_post(rig: Rig, https: Served) -> None:
    await _logs(rig)
    _upload(rig, "u1", https.url("upload"), kind="security", file_name="security-CP.tar.gz")
    assert [s for s, _ in await rig.sink.job("u1", END_UPLOAD)] == ["Uploading", "Uploaded"]
    assert https.site is not None and https.site.posted_names["/upload"] == "security-CP.tar.gz"
    members = _members(https.uploaded("upload"))
    assert set(members) == {"security-CP/security/security.log", "security-CP/README.txt"}
    assert members["security-CP/security/security.log"].count("\n") == 2


async def test_upload_failures(rig: Rig, ftp: Served) -> None:
    wrong = ftp.url("", credentials=True).replace(PASSWORD, "wrong")
    _upload(rig, "denied", wrong, retries=1)
    assert (await rig.sink.job("denied", END_UPLOAD))[-1] == ("PermissionDenied", "PermissionDenied")
    _upload(rig, "bad-url", "gopher://127.0.0.1/x")
    assert (await rig.sink.job("bad-url", END_UPLOAD))[-1][0] == "BadMessage"
    _upload(rig, "bad-time", ftp.url(""), since="yesterday")
    assert (await rig.sink.job("bad-time", END_UPLOAD))[-1][0] == "BadMessage"
    with_dir = ftp.url("", credentials=True)
    _upload(rig, "bad-name", with_dir, file_name="../../etc/passwd")
    assert (await rig.sink.job("bad-name", END_UPLOAD))[-1][0] == "BadMessage"


# ---------------------------------------------------------------- the security log (A04.FR.04)


async def test_security_events_are_appended_in_order(rig: Rig) -> None:
    when = dt.datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=dt.UTC)
    rig.maintenance.submit(RecordSecurityEvent("StartupOfTheDevice", "", when))
    rig.maintenance.submit(RecordSecurityEvent("InvalidCentralSystemCertificate", "line one\nforged 2", when))
    for n in range(20):
        rig.maintenance.submit(RecordSecurityEvent("SecurityLogWasCleared", f"n={n}", when + n * DAY))
    await rig.maintenance.close()  # flushes before it stops
    lines = (rig.state / "security.log").read_text().splitlines()
    assert lines[:2] == ["2025-03-04T05:06:07.890Z StartupOfTheDevice",
                         "2025-03-04T05:06:07.890Z InvalidCentralSystemCertificate line one forged 2"]
    assert [line.rsplit("=", 1)[1] for line in lines[2:]] == [str(n) for n in range(20)]
    assert all(ISO_LINE.match(line) for line in lines)
    rig.maintenance.submit(RecordSecurityEvent("Late", "", when))  # after close: refused, not raised
    assert len((rig.state / "security.log").read_text().splitlines()) == 22


# ---------------------------------------------------------------- the rotating log file


def test_log_file_rotates_and_lines_start_with_a_utc_timestamp(tmp_path: Path) -> None:
    handler = add_file_log(tmp_path / "logs", max_bytes=2000, backups=3)
    logger = logging.getLogger("chargepoint.test_rotation")
    logger.setLevel(logging.INFO)
    try:
        for n in range(200):
            logger.info("line %03d of a log that grows past its limit", n)
        logger.warning("the last one")
    finally:
        remove_file_log(handler)
    assert handler not in logging.getLogger().handlers
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["chargepoint.log", "chargepoint.log.1", "chargepoint.log.2", "chargepoint.log.3"]
    assert all(p.stat().st_size <= 2000 for p in (tmp_path / "logs").iterdir())
    lines = (tmp_path / "logs" / "chargepoint.log").read_text().splitlines()
    assert lines[-1].endswith("WARNING chargepoint.test_rotation: the last one")
    assert all(ISO_LINE.match(line) for line in lines)
    stamp = dt.datetime.fromisoformat(lines[-1].split()[0])
    assert abs(stamp - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


# ---------------------------------------------------------------- config keys


BASE = """\
[station]
id = "CP-1"
vendor = "Acme"
model = "AC22"

[csms]
url = "ws://127.0.0.1:9/ocpp"
security_profile = 0

[storage]
dir = "state"

[hal]
driver = "sim"

[[evse]]
id = 1
max_current_a = 32
phases = 3
"""


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "cp.toml"
    path.write_text(BASE + extra)
    return path


def test_defaults_without_the_sections(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, ""))
    assert config.security.key_type == "ec-p256" and config.firmware.install_hook is None


def test_keys_load_and_hook_path_is_relative_to_the_file(tmp_path: Path) -> None:
    hook = tmp_path / "hooks" / "install"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    path = _config(tmp_path, '\n[security]\nkey_type = "rsa-2048"\n\n'
                   '[firmware]\ninstall_hook = "hooks/install"\n')
    config = load_config(path)
    assert config.security.key_type == "rsa-2048" and config.firmware.install_hook == hook
    assert check_config(path) == []


@pytest.mark.parametrize(("extra", "key", "message"), [
    ('[security]\nkey_type = "rsa"\n', "security.key_type",
     "must be one of 'ec-p256', 'rsa-2048', got 'rsa'"),
    ("[security]\nkey_type = 256\n", "security.key_type", "expected a string, got an integer"),
    ('[security]\nkeytype = "ec-p256"\n', "security.keytype", "unknown key; did you mean 'key_type'?"),
    ('[firmware]\nhook = "x"\n', "firmware.hook", "unknown key"),
    ('[firmware]\ninstall_hook = ""\n', "firmware.install_hook", "must not be empty"),
    ("[firmware]\ninstall_hook = 5\n", "firmware.install_hook", "expected a string, got an integer"),
])
def test_bad_keys_name_the_key_and_the_file(tmp_path: Path, extra: str, key: str, message: str) -> None:
    path = _config(tmp_path, "\n" + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: {key}: {message}" in str(caught.value).splitlines()[0]


@pytest.mark.parametrize(("setup", "message"), [("missing", "no such file"),
                                                ("plain", "not executable")])
def test_check_config_checks_the_install_hook(tmp_path: Path, setup: str, message: str) -> None:
    hook = tmp_path / "install.sh"
    if setup == "plain":
        hook.write_text("#!/bin/sh\n")
        hook.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path = _config(tmp_path, '\n[firmware]\ninstall_hook = "install.sh"\n')
    problems = check_config(path)
    assert [(p.key, p.message) for p in problems] == [("firmware.install_hook", f"{hook}: {message}")]


def test_example_documents_the_keys() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "chargepoint.example.toml").read_text()
    assert "# [security]" in text and 'key_type = "ec-p256"' in text
    assert "# [firmware]" in text and "install_hook" in text


def test_pki_certificate_replaces_the_configured_one_with_profile_3(tmp_path: Path) -> None:
    for name in ("cp.pem", "cp.key"):
        (tmp_path / name).write_text("x")
    profile3 = BASE.replace('"ws://127.0.0.1:9/ocpp"', '"wss://127.0.0.1:9/ocpp"').replace(
        "security_profile = 0", 'security_profile = 3\nclient_cert = "cp.pem"\nclient_key = "cp.key"')
    (tmp_path / "p3.toml").write_text(profile3)
    config = load_config(tmp_path / "p3.toml")
    signed = (tmp_path / "pki" / "client.pem", tmp_path / "pki" / "client.key")
    assert transport_settings(config).client_cert == tmp_path / "cp.pem"  # the fallback
    settings = transport_settings(config, signed)
    assert (settings.client_cert, settings.client_key) == signed
    profile0 = transport_settings(load_config(_config(tmp_path, "")), signed)
    assert profile0.client_cert is None


# ---------------------------------------------------------------- transport failure reasons


class Closes:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def on_open(self, subprotocol: str) -> None:
        self.reasons.append("opened")

    def on_close(self, reason: str) -> None:
        self.reasons.append(reason)

    def on_text(self, text: str) -> None:
        pass


async def _first_failure(settings: TransportSettings) -> str:
    closes = Closes()
    transport = Transport(settings, closes, backoff_factory=lambda: backoff(0.05, 0.1))
    task = asyncio.create_task(transport.run())
    try:
        await bounded_until(lambda: bool(closes.reasons))
    finally:
        await transport.stop()
        async with asyncio.timeout(5):
            await task
    return closes.reasons[0]


async def test_untrusted_csms_certificate_reason(tmp_path: Path) -> None:
    server, other = make_pki(tmp_path / "server"), make_pki(tmp_path / "other")
    csms = Csms(ssl_context=server.server_context())
    url = await csms.start()
    try:
        reason = await _first_failure(TransportSettings(url, "CP-1", "ocpp1.6", 2, "password-1234567",
                                                        ca_file=other.ca_file))
    finally:
        await csms.close()
    assert reason.startswith("invalid-csms-certificate:") and "CERTIFICATE_VERIFY_FAILED" in reason


async def test_wrong_password_reason() -> None:
    csms = Csms(CsmsPolicy(password="right-password-123"))
    url = await csms.start()
    try:
        reason = await _first_failure(TransportSettings(url, "CP-1", "ocpp1.6", 1, "wrong-password-123"))
    finally:
        await csms.close()
    assert reason.startswith("authentication-failed:") and "401" in reason
    assert "wrong-password-123" not in reason


async def test_unreachable_csms_has_no_security_prefix() -> None:
    reason = await _first_failure(TransportSettings("ws://127.0.0.1:9/ocpp", "CP-1", "ocpp1.6", 0))
    assert not reason.startswith(("invalid-csms-certificate", "authentication-failed"))


# ---------------------------------------------------------------- the test CSMS's security handlers


async def _client(csms: Csms, version: str, pki: Pki) -> tuple[Any, list[str], asyncio.Task[None], Any]:
    chains: list[str] = []
    ws = await connect(f"{csms.url}/{STATION}", subprotocols=[f"ocpp{version}"])  # type: ignore[list-item]
    if version == "1.6":
        from ocpp.v16 import ChargePoint, call_result
        from ocpp.v16.enums import Action

        class Client16(ChargePoint):  # type: ignore[misc]
            @on(Action.certificate_signed)  # type: ignore[untyped-decorator]
            def on_signed(self, certificate_chain: str) -> Any:
                chains.append(certificate_chain)
                pki.accept_signed(certificate_chain, dt.datetime.now(dt.UTC))
                return call_result.CertificateSigned(status="Accepted")

        client: Any = Client16(STATION, ws)
    else:
        from ocpp.v201 import ChargePoint as ChargePoint201
        from ocpp.v201 import call_result as result201
        from ocpp.v201.enums import Action as Action201

        class Client201(ChargePoint201):  # type: ignore[misc]
            @on(Action201.certificate_signed)  # type: ignore[untyped-decorator]
            def on_signed(self, certificate_chain: str, certificate_type: str | None = None) -> Any:
                assert certificate_type == "ChargingStationCertificate"
                chains.append(certificate_chain)
                pki.accept_signed(certificate_chain, dt.datetime.now(dt.UTC))
                return result201.CertificateSigned(status="Accepted")

        client = Client201(STATION, ws)
    return client, chains, asyncio.create_task(client.start()), ws


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_csms_signs_and_records(tmp_path: Path, version: str) -> None:
    ca = SigningCa.generate()
    pki = Pki(tmp_path / "pki", STATION, "Example CPO")
    pki.install_root(CertificateUse.CENTRAL_SYSTEM_ROOT, ca.pem, dt.datetime.now(dt.UTC))
    csms = Csms(ca=ca)
    await csms.start()
    client, chains, task, ws = await _client(csms, version, pki)
    stamp = csms.now()
    try:
        if version == "1.6":
            from ocpp.v16 import call

            answer = await client.call(call.SignCertificate(csr=pki.csr()))
            for message in (call.SecurityEventNotification(type="FirmwareUpdated", timestamp=stamp,
                                                           tech_info="1.2"),
                            call.SignedFirmwareStatusNotification(status="Downloading", request_id=7),
                            call.FirmwareStatusNotification(status="Installed"),
                            call.LogStatusNotification(status="Uploaded", request_id=3),
                            call.DiagnosticsStatusNotification(status="Uploading")):
                await client.call(message)
            firmware = [("SignedFirmwareStatusNotification", "Downloading", 7),
                        ("FirmwareStatusNotification", "Installed", None)]
            logs = [("LogStatusNotification", "Uploaded", 3),
                    ("DiagnosticsStatusNotification", "Uploading", None)]
        else:
            from ocpp.v201 import call as call201

            answer = await client.call(call201.SignCertificate(csr=pki.csr(),
                                                               certificate_type="ChargingStationCertificate"))
            for message in (call201.SecurityEventNotification(type="FirmwareUpdated", timestamp=stamp,
                                                              tech_info="1.2"),
                            call201.FirmwareStatusNotification(status="Downloading", request_id=7),
                            call201.LogStatusNotification(status="Uploaded", request_id=3)):
                await client.call(message)
            firmware = [("FirmwareStatusNotification", "Downloading", 7)]
            logs = [("LogStatusNotification", "Uploaded", 3)]
        assert answer.status == "Accepted"
        await csms.wait_for(lambda: csms.certificates_signed == ["Accepted"])
        assert len(chains) == 1 and pki.client_files() is not None  # the chain verified on the station side
        assert len(csms.csrs) == 1
        assert csms.security_events == [{"type": "FirmwareUpdated", "timestamp": stamp, "tech_info": "1.2"}]
        assert [(s["action"], s["status"], s["request_id"]) for s in csms.firmware_statuses] == firmware
        assert [(s["action"], s["status"], s["request_id"]) for s in csms.log_statuses] == logs
        assert csms.violations == []
    finally:
        task.cancel()
        await ws.close()
        await csms.close()


async def test_csms_without_a_ca_rejects_csrs(tmp_path: Path) -> None:
    from ocpp.v16 import call

    csms = Csms(CsmsPolicy(certificate_signed_delay_s=None))
    await csms.start()
    client, _, task, ws = await _client(csms, "1.6", Pki(tmp_path / "pki", STATION, "CPO"))
    try:
        answer = await client.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"))
        assert answer.status == "Rejected"
    finally:
        task.cancel()
        await ws.close()
        await csms.close()


# ---------------------------------------------------------------- wired through serve (app + runner)


async def test_serve_routes_the_actions_and_switches_the_client_certificate(tmp_path: Path) -> None:
    csms = Csms()
    url = await csms.start()
    path = tmp_path / "cp.toml"
    path.write_text(BASE.replace("ws://127.0.0.1:9/ocpp", url).replace('id = "CP-1"', f'id = "{STATION}"'))
    holder: list[Station] = []
    task = asyncio.create_task(serve(load_config(path), on_station=holder.append))
    try:
        await bounded_until(lambda: bool(holder))
        runner = holder[0].runner
        maintenance = runner.maintenance
        assert maintenance is not None and maintenance.state_dir == tmp_path / "state"
        logging.getLogger("chargepoint.test_wiring").warning("into the station's log file")
        ca = SigningCa.generate()
        await runner._execute([
            RecordSecurityEvent("StartupOfTheDevice", "wired", dt.datetime.now(dt.UTC)),
            PkiCommand("w1", "install_root", {"use": "CentralSystemRootCertificate", "pem": ca.pem}),
        ])
        security_log = tmp_path / "state" / "security.log"
        await bounded_until(lambda: security_log.exists() and "wired" in security_log.read_text())
        await bounded_until(lambda: maintenance.pki.installed() != [])
        chain = ca.sign(await asyncio.to_thread(maintenance.pki.csr))
        await runner._execute([PkiCommand("w2", "accept_signed", {"chain": chain})])
        cert, key = tmp_path / "state" / "pki" / "client.pem", tmp_path / "state" / "pki" / "client.key"
        await bounded_until(lambda: runner.transport_settings.client_cert == cert)
        assert runner.transport_settings.client_key == key
        log_file = tmp_path / "state" / "logs" / "chargepoint.log"
        assert "into the station's log file" in log_file.read_text()
        assert all(ISO_LINE.match(line) for line in log_file.read_text().splitlines() if line[:1].isdigit())
    finally:
        if holder:
            holder[0].runner.stop()
        async with asyncio.timeout(15):
            await task
        await csms.close()
    assert not any(isinstance(h, logging.handlers.RotatingFileHandler)
                   for h in logging.getLogger().handlers)


def test_the_security_log_rotates_and_keeps_one_older_generation(tmp_path: Path) -> None:
    """Bounded flash: past the size limit the log becomes security.log.1 (the older one is dropped)."""
    from chargepoint.service.maintenance import _append_synced

    log_path = tmp_path / "security.log"
    for n in range(30):
        line = f"2026-12-02T10:00:{n:02d}.000Z StartupOfTheDevice boot {n}\n"
        _append_synced(log_path, line, max_bytes=400)
    older = tmp_path / "security.log.1"
    assert older.exists() and log_path.stat().st_size <= 400 and older.stat().st_size <= 400
    lines = older.read_text().splitlines() + log_path.read_text().splitlines()
    assert lines[-1].endswith("boot 29") and all("StartupOfTheDevice" in line for line in lines)
    numbers = [int(line.rsplit(" ", 1)[1]) for line in lines]
    # Nothing in between is lost: the two generations hold consecutive events.
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] == len(numbers) - 1

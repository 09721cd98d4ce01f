"""Issue 7 end to end, both OCPP versions: signed firmware updates from an HTTPS server and diagnostics
uploads to an FTP server, the station (``serve``, simulated HAL) against the test CSMS over real
WebSockets, with certificates, signatures and an install hook made here. Shares the ``Rig`` of
``test_security_e2e.py``."""

from __future__ import annotations

import base64
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.v16 import call as call16
from pyftpdlib.authorizers import DummyAuthorizer  # type: ignore[import-untyped]
from pyftpdlib.handlers import FTPHandler  # type: ignore[import-untyped]
from pyftpdlib.ioloop import IOLoop  # type: ignore[import-untyped]
from pyftpdlib.servers import FTPServer  # type: ignore[import-untyped]

from chargepoint.service.config import check_config, load_config
from chargepoint.service.csms import Csms, SigningCa
from tests.service.pki import make_pki
from tests.service.test_transfer import CUT_AT, DATA, PASSWORD, USER, Served
from tests.service.test_transfer import serve as serve_files
from tests.system.test_security_e2e import CONFIG, SID, VERSIONS, Rig, assert_no_secrets, key_marks, pem

pytestmark = pytest.mark.timeout(120)

# The message that carries a signed update's statuses: 1.6 security extension / 2.0.1 L01.
FIRMWARE_STATUS = {"1.6": "SignedFirmwareStatusNotification", "2.0.1": "FirmwareStatusNotification"}
IMAGE = "fw-2.0.bin"


@dataclass
class Manufacturer:
    """A ManufacturerRootCertificate and a firmware signing certificate under it (L01.FR.12 / L01.FR.23)."""

    root: SigningCa
    signer_pem: str
    signer_key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls) -> Manufacturer:
        root = SigningCa.generate("E2E Manufacturer Root")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        signer = (x509.CertificateBuilder()
                  .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "E2E Firmware Signer")]))
                  .issuer_name(root.certificate.subject).public_key(key.public_key())
                  .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                  .not_valid_after(now + timedelta(days=30))
                  .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                  .sign(root.key, hashes.SHA256()))
        return cls(root, pem(signer), key)

    def sign(self, data: bytes) -> str:
        """The Base64 signature over the image's SHA-256 (L01.FR.04), as UpdateFirmware carries it."""
        return base64.b64encode(self.signer_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode("ascii")

    def marks(self) -> list[str]:
        return key_marks(self.root.key) + key_marks(self.signer_key)


def install_hook(tmp_path: Path) -> tuple[Path, Path]:
    """A real install hook: copies the image it is given and leaves a marker, exits 0 without saying
    "installed" (staged: the station restarts into it, InstallRebooting). Returns (hook, output folder)."""
    out = tmp_path / "hook-out"
    out.mkdir()
    hook = tmp_path / "install-firmware.sh"
    hook.write_text(f'#!/bin/sh\nset -e\ncp "$1" "{out}/installed.bin"\nprintf "%s\\n" "$1" >> "{out}/ran"\n'
                    'echo "staged for the next boot"\n')
    hook.chmod(0o755)
    return hook, out


def firmware_section(hook: Path, ca_file: Path) -> str:
    return f'\n[firmware]\ninstall_hook = "{hook}"\nca_file = "{ca_file}"\n'


def test_firmware_ca_file_is_read_and_checked(tmp_path: Path) -> None:
    """``[firmware] ca_file``: relative to the config file, and ``check-config`` names it when missing."""
    path = tmp_path / "station.toml"
    path.write_text(CONFIG.format(sid=SID, version="1.6", url="ws://127.0.0.1:9/ocpp", profile=0,
                                  csms_extra="", state=tmp_path / "state",
                                  extra='\n[firmware]\nca_file = "ca.pem"\n'))
    assert load_config(path).firmware.ca_file == tmp_path / "ca.pem"
    assert [(p.key, p.message) for p in check_config(path)] == [
        ("firmware.ca_file", f"{tmp_path / 'ca.pem'}: no such file")]
    (tmp_path / "ca.pem").write_text(make_pki(tmp_path / "pki").ca_file.read_text())
    assert check_config(path) == []


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def statuses(rig: Rig, request_id: int) -> list[str]:
    records = [r for r in rig.csms.firmware_statuses if r["request_id"] == request_id]
    assert all(r["action"] == FIRMWARE_STATUS[rig.version] for r in records)
    return [r["status"] for r in records]


def connector_statuses(rig: Rig) -> list[str]:
    """The statuses of connector 1 (EVSE 1) the station reported, in order."""
    if rig.version == "1.6":
        return [p["status"] for p in rig.calls("StatusNotification") if p["connectorId"] == 1]
    return [p["connectorStatus"] for p in rig.calls("StatusNotification") if p["evseId"] == 1]


@contextmanager
def https_image(tmp_path: Path, data: bytes) -> Iterator[tuple[Served, Path]]:
    """An HTTPS server (Basic auth, its own CA) serving ``data`` as IMAGE; yields it and its CA file."""
    files = make_pki(tmp_path / "files-pki")
    with serve_files("https", tmp_path / "served", files) as served:
        assert served.site is not None
        served.site.auth = basic(USER, PASSWORD)
        served.put(IMAGE, data)
        yield served, files.ca_file


@pytest.mark.parametrize("version", VERSIONS)
async def test_signed_update_resumes_installs_and_restarts_into_the_new_firmware(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """L01 / 1.6 SignedUpdateFirmware: the manufacturer root first (M05); the download is cut mid-file and
    resumed on the retry (L01.FR.30: Downloading again), the image arrives byte-identical, its signature
    verifies, the hook stages it, the station ends with a reboot (L01.FR.15) and, started again on the same
    state, boots with reason FirmwareUpdate (2.0.1) and reports Installed (L01.FR.28) and FirmwareUpdated."""
    maker = Manufacturer.make()
    hook, out = install_hook(tmp_path)
    with https_image(tmp_path, DATA) as (served, ca_file):
        assert served.site is not None
        served.cut(IMAGE, CUT_AT)
        rig = Rig(tmp_path, version, Csms(), caplog, extra=firmware_section(hook, ca_file))
        await rig.open()
        try:
            assert await rig.install_root("manufacturer", maker.root.pem) == "Accepted"
            url = served.url(IMAGE, credentials=True)
            assert await rig.update_firmware(71, url, maker.signer_pem, maker.sign(DATA)) == "Accepted"
            result = await rig.ended()  # the station asked for the restart itself
            assert result.reboot is not None
            assert statuses(rig, 71) == ["Downloading", "Downloading", "Downloaded", "SignatureVerified",
                                         "Installing", "InstallRebooting"]
            assert "Unavailable" in connector_statuses(rig)  # held while installing (L01.FR.07, 1.6 §5.19)
            (resumed,) = served.resume_points()  # one Range request: the second attempt resumed
            assert 0 < resumed <= CUT_AT
            assert (out / "installed.bin").read_bytes() == DATA
            assert len((out / "ran").read_text().splitlines()) == 1
            await rig.start()  # the same state directory: the new firmware's first boot
            boots = rig.calls("BootNotification")
            assert len(boots) == 2
            if version == "2.0.1":
                assert [b["reason"] for b in boots] == ["PowerUp", "FirmwareUpdate"]
            await rig.wait(lambda: "Installed" in statuses(rig, 71) and bool(rig.events("FirmwareUpdated")))
            assert statuses(rig, 71)[6:] == ["Installed"]
            await rig.wait(lambda: connector_statuses(rig)[-1] == "Available")  # free again after the update
            assert rig.csms.violations == []
            await rig.stop()
            assert_no_secrets(caplog, rig, ca_file.with_name("server.key"), passwords=[PASSWORD],
                              extra=maker.marks())
        finally:
            await rig.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_signature_is_refused_and_the_hook_never_runs(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """L01.FR.03 / L01.FR.04: an image whose signature does not verify is InvalidSignature, with the
    InvalidFirmwareSignature security event on the wire; it is removed and never reaches the install hook."""
    maker = Manufacturer.make()
    hook, out = install_hook(tmp_path)
    with https_image(tmp_path, DATA) as (served, ca_file):
        rig = Rig(tmp_path, version, Csms(), caplog, extra=firmware_section(hook, ca_file))
        await rig.open()
        try:
            assert await rig.install_root("manufacturer", maker.root.pem) == "Accepted"
            url = served.url(IMAGE, credentials=True)
            signature = maker.sign(DATA + b"tampered")
            assert await rig.update_firmware(72, url, maker.signer_pem, signature) == "Accepted"
            await rig.wait(lambda: "InvalidSignature" in statuses(rig, 72)
                           and bool(rig.events("InvalidFirmwareSignature")))
            assert statuses(rig, 72) == ["Downloading", "Downloaded", "InvalidSignature"]
            # A round trip after the verdict: the update ended there (L01.FR.26, the last status again).
            assert await rig.trigger_firmware_status() == "Accepted"
            await rig.wait(lambda: len(statuses(rig, 72)) == 4)
            assert statuses(rig, 72)[3] == "InvalidSignature"
            assert not (out / "ran").exists() and not (out / "installed.bin").exists()
            assert [p for p in (rig.state / "firmware").iterdir() if p.is_file()] == []
            assert rig.task is not None and not rig.task.done()  # no restart either
            assert rig.csms.violations == []
            await rig.stop()
            assert_no_secrets(caplog, rig, ca_file.with_name("server.key"), passwords=[PASSWORD],
                              extra=maker.marks())
        finally:
            await rig.close()


# -- diagnostics -------------------------------------------------------------------------------------------


@dataclass
class FtpSite:
    """A pyftpdlib server on loopback that refuses the next ``failures`` uploads (451), then takes them."""

    root: Path
    port: int = 0
    failures: int = 0
    stores: int = 0

    def url(self, path: str) -> str:
        return f"ftp://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{path}"


@contextmanager
def ftp_server(root: Path) -> Iterator[FtpSite]:
    root.mkdir(parents=True)
    site = FtpSite(root)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")

    class Handler(FTPHandler):  # type: ignore[misc]
        auth_failed_timeout = 0.01

        def ftp_STOR(self, file: str, mode: str = "w") -> Any:
            site.stores += 1
            if site.failures > 0:
                site.failures -= 1
                # RFC 959 §4.2: a transient refusal ("local error in processing"): worth another attempt.
                self.respond("451 Requested action aborted: local error in processing.")
                return None
            return super().ftp_STOR(file, mode)

    Handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), Handler, ioloop=IOLoop())
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.02, blocking=False)
        server.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    site.port = server.address[1]
    try:
        yield site
    finally:
        stop.set()
        thread.join(5)


def members(archive: Path) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
        out: dict[str, str] = {}
        for member in tar.getmembers():
            file = tar.extractfile(member)
            if file is not None:
                out[member.name] = file.read().decode(errors="replace")
        return out


@pytest.mark.parametrize("version", VERSIONS)
async def test_diagnostics_upload_is_retried_and_holds_the_log_and_the_security_log(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """1.6 GetDiagnostics (§5.9) and GetLog, 2.0.1 GetLog (N01) to an FTP folder URL with credentials: the
    server refuses the first attempt, the retry (retryInterval 1 s) arrives; Uploading then Uploaded; the
    archive opens and holds the service log and the security log, and no secret."""
    with ftp_server(tmp_path / "ftp") as ftp:
        (ftp.root / "incoming").mkdir()
        rig = Rig(tmp_path, version, Csms(), caplog)
        await rig.open()
        try:
            url = ftp.url("incoming/")
            archives: dict[str, str] = {}
            for request in (["GetDiagnostics", "GetLog"] if version == "1.6" else ["GetLog"]):
                ftp.failures, stores, mark = 1, ftp.stores, len(rig.csms.log_statuses)
                if request == "GetDiagnostics":
                    reply = await rig.call(call16.GetDiagnostics(location=url, retries=2, retry_interval=1))
                    name, request_id, action = reply.file_name, None, "DiagnosticsStatusNotification"
                else:
                    reply = await rig.get_log(90, url)
                    assert reply.status == "Accepted"
                    name, request_id, action = reply.filename, 90, "LogStatusNotification"
                await rig.wait(lambda mark=mark: any(  # type: ignore[misc]
                    s["status"] != "Uploading" for s in rig.csms.log_statuses[mark:]))
                seen = [(s["action"], s["status"], s["request_id"]) for s in rig.csms.log_statuses[mark:]]
                assert seen == [(action, "Uploading", request_id), (action, "Uploaded", request_id)]
                assert ftp.stores == stores + 2  # the refused attempt, then the one that arrived
                stem = str(name).removesuffix(".tar.gz")
                content = members(ftp.root / "incoming" / str(name))
                service_log, security_log = f"{stem}/logs/chargepoint.log", f"{stem}/security/security.log"
                assert service_log in content and security_log in content
                assert "StartupOfTheDevice" in content[security_log]
                assert "chargepoint.service" in content[service_log]
                archives.update({f"{name}:{member}": text for member, text in content.items()})
            assert rig.csms.violations == []
            await rig.stop()
            assert_no_secrets(caplog, rig, passwords=[PASSWORD], more=archives)
        finally:
            await rig.close()

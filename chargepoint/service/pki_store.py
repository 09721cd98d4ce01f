"""The PKI's files: installed roots and their TLS bundles, the station's key and certificate pair, on disk.

Internal to ``pki``. Layout under ``directory`` (the state directory's ``pki/``, mode 0700), every file
written atomically (temporary file, fsync, rename, fsync of the directory):
  pending.key                 the key the next CSR carries (0600); kept until a certificate for it is accepted
  client.pem / client.key     the accepted certificate chain (leaf first, up to its root) and its key (0600)
  roots/<use>/<sha256>.pem    one installed root certificate per file
  <use>.bundle.pem            the roots of one use concatenated, for TLS verification (``Pki.ca_bundle``)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chargepoint.service.pki_types import CertificateUse, PrivateKey

__all__ = [
    "CLIENT_CERT",
    "CLIENT_KEY",
    "PENDING_KEY",
    "ROOTS",
    "PkiStore",
    "atomic_write",
    "key_pem",
    "load_key",
]

# One logger for the whole PKI (the name it had before the store got its own module).
logger = logging.getLogger("chargepoint.service.pki")

PENDING_KEY = "pending.key"
CLIENT_CERT = "client.pem"
CLIENT_KEY = "client.key"
ROOTS = "roots"


class PkiStore:
    """The files under ``directory``; creating one finishes a client certificate switch a crash cut short."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / ROOTS).mkdir(exist_ok=True, mode=0o700)
        self.recover()

    # -- installed roots ------------------------------------------------------------------------------------

    def roots(self, use: CertificateUse) -> list[tuple[Path, x509.Certificate]]:
        """(file, certificate) of each installed root of ``use``, oldest first; unreadable files skipped."""
        folder = self.directory / ROOTS / use.value
        found: list[tuple[Path, x509.Certificate]] = []
        for path in sorted(folder.glob("[!.]*.pem")) if folder.is_dir() else ():
            try:
                found.append((path, x509.load_pem_x509_certificate(path.read_bytes())))
            except ValueError:
                logger.error("pki: %s is not a certificate; ignored", path)
        found.sort(key=lambda item: (item[1].not_valid_before_utc, item[0].name))
        return found

    def root_certs(self, use: CertificateUse) -> list[x509.Certificate]:
        return [cert for _, cert in self.roots(use)]

    def root_count(self) -> int:
        """Installed roots of every use: what CertificateStoreMaxLength limits."""
        return sum(len(self.roots(u)) for u in CertificateUse if u.is_root)

    def root_path(self, use: CertificateUse, cert: x509.Certificate) -> Path:
        return self.directory / ROOTS / use.value / f"{cert.fingerprint(hashes.SHA256()).hex()}.pem"

    def add_root(self, use: CertificateUse, cert: x509.Certificate) -> None:
        """Store ``cert`` as a root of ``use`` and rewrite that use's bundle; raises OSError."""
        path = self.root_path(use, cert)
        path.parent.mkdir(exist_ok=True, mode=0o700)
        atomic_write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        self.write_bundle(use)

    def remove_root(self, use: CertificateUse, path: Path) -> None:
        """Delete the root file ``path`` of ``use`` and rewrite that use's bundle; raises OSError."""
        path.unlink()
        fsync_dir(path.parent)
        self.write_bundle(use)

    def bundle_path(self, use: CertificateUse) -> Path:
        return self.directory / f"{use.value}.bundle.pem"

    def write_bundle(self, use: CertificateUse) -> None:
        """Make the bundle of ``use`` match the installed roots: rewritten only when it differs, removed
        when there is no root."""
        path = self.bundle_path(use)
        certs = self.root_certs(use)
        if certs:
            data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
            if not path.exists() or path.read_bytes() != data:
                atomic_write(path, data, 0o644)
        elif path.exists():
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)

    # -- the station's certificate --------------------------------------------------------------------------

    def client_files(self) -> tuple[Path, Path] | None:
        """(certificate chain, key), or None before the first certificate was accepted."""
        cert, key = self.directory / CLIENT_CERT, self.directory / CLIENT_KEY
        return (cert, key) if cert.exists() and key.exists() else None

    def client_chain(self) -> list[x509.Certificate] | None:
        files = self.client_files()
        if files is None:
            return None
        try:
            return x509.load_pem_x509_certificates(files[0].read_bytes())
        except ValueError:
            logger.error("pki: %s is not a certificate chain", files[0])
            return None

    def switch_client(self, chain_pem: bytes, key_pem: bytes) -> None:
        """Replace client.pem and client.key together. client.key.new is the commit point: once it exists,
        both new files are complete and ``recover`` finishes the switch after a crash; before, drops it."""
        d = self.directory
        atomic_write(d / f"{CLIENT_CERT}.new", chain_pem, 0o644)
        atomic_write(d / f"{CLIENT_KEY}.new", key_pem, 0o600)
        self.recover()

    def recover(self) -> None:
        d = self.directory
        new_cert, new_key = d / f"{CLIENT_CERT}.new", d / f"{CLIENT_KEY}.new"
        if new_key.exists():
            if new_cert.exists():
                os.replace(new_cert, d / CLIENT_CERT)
            os.replace(new_key, d / CLIENT_KEY)
        elif new_cert.exists():
            new_cert.unlink()  # crashed before the commit point: the old pair stays
        pending, key = d / PENDING_KEY, d / CLIENT_KEY
        if pending.exists() and key.exists() and pending.read_bytes() == key.read_bytes():
            pending.unlink()  # certified now: the next CSR must carry a fresh key
        fsync_dir(d)


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: unsupported key type")
    return key


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content, even after a power cut."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The station's PKI: its key pair and client certificate, the installed roots, firmware signature checks.

Everything the OCPP security extension ("Improved security for OCPP 1.6-J", edition 3) and OCPP 2.0.1 blocks
A, L and M need from cryptography on the station side, without any OCPP JSON: the adapters ask for these
operations through actions and map ``PkiError.reason`` to a status and a security event.

Which roots validate what (security whitepaper §2.6.2 "Certificate Hierarchy"):
  * the station's own certificate (CertificateSigned, A02.FR.06 / A03.FR.06) must chain to an installed
    CentralSystemRootCertificate (2.0.1: CSMSRootCertificate): the CPO hierarchy holds the Central System and
    Charge Point certificates. A manufacturer root never validates it.
  * a firmware signing certificate (L01.FR.12, L01.FR.23) must chain to an installed
    ManufacturerRootCertificate: the manufacturer hierarchy holds only the firmware signing certificate.
    A CSMS root never validates it.
  * V2G / MO roots (2.0.1 M05, ISO 15118) are stored and listed only; nothing here validates against them.

Layout under ``directory`` (the state directory's ``pki/``, mode 0700), every file written atomically
(temporary file, fsync, rename, fsync of the directory):
  pending.key                 the key the next CSR carries (0600); kept until a certificate for it is accepted
  client.pem / client.key     the accepted certificate chain (leaf first, up to its root) and its key (0600)
  roots/<use>/<sha256>.pem    one installed root certificate per file
  <use>.bundle.pem            the roots of one use concatenated, for TLS verification (``ca_bundle``)

All methods block (file I/O, RSA key generation): call them from the event loop through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import ocsp, verification
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)

PENDING_KEY = "pending.key"
CLIENT_CERT = "client.pem"
CLIENT_KEY = "client.key"
ROOTS = "roots"
_CHUNK = 1 << 20  # firmware is hashed 1 MiB at a time: images can be larger than the station's free RAM

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyType(StrEnum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"  # A00.FR.502: RSA keys at least 2048 bits


class HashAlgorithm(StrEnum):
    """HashAlgorithmEnumType."""

    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


_HASHES: dict[HashAlgorithm, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    HashAlgorithm.SHA256: hashes.SHA256,
    HashAlgorithm.SHA384: hashes.SHA384,
    HashAlgorithm.SHA512: hashes.SHA512,
}


class CertificateUse(StrEnum):
    """What a certificate is for: the OCPP 1.6 security names (``ocpp201`` gives the 2.0.1 ones)."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    V2G_ROOT = "V2GRootCertificate"
    MO_ROOT = "MORootCertificate"
    CHARGE_POINT = "ChargePointCertificate"

    @property
    def ocpp201(self) -> str:
        return _OCPP201_NAMES.get(self, self.value)

    @property
    def is_root(self) -> bool:
        return self is not CertificateUse.CHARGE_POINT

    @classmethod
    def from_wire(cls, name: str) -> CertificateUse:
        """Either version's name: ``CSMSRootCertificate`` and ``CentralSystemRootCertificate`` alike."""
        for use, name201 in _OCPP201_NAMES.items():
            if name == name201:
                return use
        return cls(name)


_OCPP201_NAMES = {
    CertificateUse.CENTRAL_SYSTEM_ROOT: "CSMSRootCertificate",
    CertificateUse.CHARGE_POINT: "ChargingStationCertificate",
}


class PkiReason(StrEnum):
    """Why an operation was refused; at most 20 characters, so a 2.0.1 ``StatusInfo.reasonCode`` can carry it.

    Map to statuses: ``WRITE_FAILED`` is "Failed" (InstallCertificate M05.FR.04), everything else "Rejected"
    (M05.FR.03, M05.FR.06, CertificateSigned); firmware: ``INVALID_CERTIFICATE`` is the UpdateFirmware status
    InvalidCertificate (L01.FR.24), ``INVALID_SIGNATURE`` the firmware status InvalidSignature (L01.FR.03).
    """

    INVALID_CERTIFICATE = "InvalidCertificate"  # not PEM, not parseable, wrong shape, weak key or algorithm
    INVALID_CHAIN = "InvalidCertChain"  # does not chain to an installed root of the right use
    CHAIN_TOO_LONG = "ChainTooLong"  # more characters than CertificateSignedMaxChainSize
    INVALID_CN = "InvalidCN"  # A00.FR.511: the CN must be the station's identity
    KEY_MISMATCH = "KeyMismatch"  # not a certificate for the key of our last CSR
    EXPIRED = "Expired"
    NOT_YET_VALID = "NotYetValid"
    NOT_CA = "NotCACertificate"  # InstallCertificate installs root/CA certificates only
    STORE_FULL = "CertificateStoreFull"  # M05.FR.03: CertificateStoreMaxLength reached
    INVALID_SIGNATURE = "InvalidSignature"
    WRITE_FAILED = "WriteFailed"


class PkiError(Exception):
    """A certificate, chain or signature was refused; ``reason`` says why. The message holds no secret."""

    def __init__(self, reason: PkiReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class DeleteStatus(StrEnum):
    """DeleteCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class CertificateHash:
    """CertificateHashDataType (RFC 6960 CertID): lower-case hex, the serial without leading zeros."""

    hash_algorithm: HashAlgorithm
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def normalized(self) -> CertificateHash:
        """The fields are CiStrings (whitepaper §6.1): compare case-insensitively, without leading zeros."""
        return CertificateHash(HashAlgorithm(str(self.hash_algorithm).upper()), self.issuer_name_hash.lower(),
                               self.issuer_key_hash.lower(), self.serial_number.lower().lstrip("0") or "0")


def certificate_hash(cert: x509.Certificate, issuer: x509.Certificate,
                     algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> CertificateHash:
    """The CertID of ``cert``: hashes of the issuer's Name (DER) and of the issuer's subjectPublicKey bits.

    Built through the OCSP request builder, which hashes the raw BIT STRING value of the issuer certificate,
    exactly as RFC 6960 §4.1.1 (referenced by OCPP's CertificateHashDataType) defines it.
    """
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, _HASHES[algorithm]()).build()
    return CertificateHash(algorithm, request.issuer_name_hash.hex(), request.issuer_key_hash.hex(),
                           format(cert.serial_number, "x"))


class Pki:
    """The station's certificates and keys under one directory; a new instance on it sees the same state."""

    def __init__(self, directory: Path, station_id: str, organization: str,
                 key_type: KeyType = KeyType.EC_P256, max_certificates: int = 20,
                 max_chain_bytes: int = 10000) -> None:
        self.directory = directory
        self.station_id = station_id
        self.organization = organization  # CpoName (A02.FR.13); the service updates it when it changes
        self.key_type = key_type
        self.max_certificates = max_certificates  # CertificateStoreMaxLength
        self.max_chain_bytes = max_chain_bytes  # CertificateSignedMaxChainSize (at most 10000, §7.3)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / ROOTS).mkdir(exist_ok=True, mode=0o700)
        self._recover()

    # -- the station's key and certificate (A02 / A03) ------------------------------------------------------

    def ensure_key(self) -> None:
        """Make sure the key for the next CSR exists: generated once, 0600, reused across restarts until a
        certificate for it is accepted (then the next renewal gets a fresh pair, A02.FR.02 / A03.FR.02)."""
        path = self.directory / PENDING_KEY
        if path.exists():
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return
        key: PrivateKey
        if self.key_type is KeyType.RSA_2048:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        _atomic_write(path, _key_pem(key), 0o600)
        logger.info("pki: new %s key generated for the next certificate request", self.key_type)

    def csr(self, organization: str | None = None) -> str:
        """A PEM CSR (RFC 2986) for the pending key: CN = station id (A00.FR.511), O = CpoName (A02.FR.13).

        The private key never leaves the station (A02.FR.05): only this request is returned.
        """
        self.ensure_key()
        key = self._load_key(self.directory / PENDING_KEY)
        org = organization if organization is not None else self.organization
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                             x509.NameAttribute(NameOID.COMMON_NAME, self.station_id)])
        request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        logger.info("pki: certificate signing request created for CN=%s, O=%s", self.station_id, org)
        return request.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def accept_signed(self, pem_chain: str, now: datetime) -> CertificateHash:
        """CertificateSigned: check the chain (A02.FR.06), make it the client certificate, or raise PkiError.

        Checks, in order: size, PEM, key of our pending CSR, CN, validity period at ``now``, and a path to an
        installed CentralSystemRootCertificate through the sub-CAs given after the leaf. On success client.pem
        holds the verified chain (leaf to root) and client.key the pending key; the old pair is replaced.
        """
        try:
            return self._accept_signed(pem_chain, _utc(now))
        except PkiError as err:
            logger.warning("pki: signed certificate rejected: %s", err)
            raise

    def _accept_signed(self, pem_chain: str, now: datetime) -> CertificateHash:
        if len(pem_chain) > self.max_chain_bytes:
            raise PkiError(PkiReason.CHAIN_TOO_LONG, f"{len(pem_chain)} characters > {self.max_chain_bytes}")
        certs = _load_certs(pem_chain)
        leaf = certs[0]
        current = self._client_chain()
        if current is not None and current[0] == leaf:  # the CSMS repeated a CertificateSigned we took
            return certificate_hash(leaf, current[1] if len(current) > 1 else leaf)
        pending = self.directory / PENDING_KEY
        if not pending.exists() or _spki(leaf.public_key()) != _spki(self._load_key(pending).public_key()):
            raise PkiError(PkiReason.KEY_MISMATCH, "the certificate is not for the key of the last CSR")
        common_names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if common_names != [self.station_id]:
            raise PkiError(PkiReason.INVALID_CN, f"CN {common_names!r} is not the station identity")
        _check_period(leaf, now)
        if _is_ca(leaf):
            raise PkiError(PkiReason.INVALID_CERTIFICATE, "the station certificate must not be a CA")
        chain = _verify_chain(leaf, certs[1:], self._root_certs(CertificateUse.CENTRAL_SYSTEM_ROOT), now,
                              PkiReason.INVALID_CHAIN)
        try:
            self._switch_client(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
                                pending.read_bytes())
        except OSError as err:
            raise PkiError(PkiReason.WRITE_FAILED, f"{self.directory}: {err.strerror or err}") from err
        result = certificate_hash(leaf, chain[1] if len(chain) > 1 else leaf)
        logger.info("pki: client certificate installed (serial %s, valid until %s)", result.serial_number,
                    leaf.not_valid_after_utc.isoformat())
        return result

    def client_files(self) -> tuple[Path, Path] | None:
        """(certificate chain, key) for the TLS client (security profile 3), or None before the first one."""
        cert, key = self.directory / CLIENT_CERT, self.directory / CLIENT_KEY
        return (cert, key) if cert.exists() and key.exists() else None

    def renewal_due(self, now: datetime, margin: timedelta) -> bool:
        """True once the client certificate expires within ``margin`` (A03.FR.02: a month); False without."""
        chain = self._client_chain()
        return chain is not None and _utc(now) >= chain[0].not_valid_after_utc - margin

    # -- installed roots (M03 / M04 / M05) ------------------------------------------------------------------

    def install_root(self, use: CertificateUse, pem: str, now: datetime) -> CertificateHash:
        """InstallCertificate: store one self-signed CA certificate, valid at ``now``, or raise PkiError.

        Installing a certificate already installed for ``use`` succeeds again without taking another slot.
        """
        if not use.is_root:
            raise ValueError(f"{use} is not a root certificate use; see accept_signed")
        try:
            return self._install_root(use, pem, _utc(now))
        except PkiError as err:
            logger.warning("pki: %s not installed: %s", use, err)
            raise

    def _install_root(self, use: CertificateUse, pem: str, now: datetime) -> CertificateHash:
        certs = _load_certs(pem)
        if len(certs) != 1:
            raise PkiError(PkiReason.INVALID_CERTIFICATE, f"expected one certificate, got {len(certs)}")
        cert = certs[0]
        if not _is_ca(cert):
            raise PkiError(PkiReason.NOT_CA, "basicConstraints does not mark it as a CA")
        _check_self_signed(cert)
        _check_strength(cert)
        _check_period(cert, now)
        result = certificate_hash(cert, cert)
        path = self.directory / ROOTS / use.value / f"{cert.fingerprint(hashes.SHA256()).hex()}.pem"
        if path.exists():
            return result
        if sum(len(self._roots(u)) for u in CertificateUse if u.is_root) >= self.max_certificates:
            raise PkiError(PkiReason.STORE_FULL, f"{self.max_certificates} certificates installed")
        try:
            path.parent.mkdir(exist_ok=True, mode=0o700)
            _atomic_write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            self._write_bundle(use)
        except OSError as err:
            raise PkiError(PkiReason.WRITE_FAILED, f"{path}: {err.strerror or err}") from err
        logger.info("pki: %s installed (%s, serial %s)", use, cert.subject.rfc4514_string(),
                    result.serial_number)
        return result

    def delete(self, h: CertificateHash) -> DeleteStatus:
        """DeleteCertificate: remove every installed root matching ``h`` (hashed with ``h.hash_algorithm``).

        The station's own certificate is never deleted this way: "Failed" (1.6 M04.FR.05, 2.0.1 M04.FR.06).
        """
        try:
            wanted = h.normalized()
        except ValueError:
            return DeleteStatus.NOT_FOUND  # an algorithm outside HashAlgorithmEnumType matches nothing
        own = self._client_hash(wanted.hash_algorithm)
        if own is not None and own.normalized() == wanted:
            logger.warning("pki: refused to delete the station's own certificate (serial %s)",
                           own.serial_number)
            return DeleteStatus.FAILED
        status = DeleteStatus.NOT_FOUND
        for use in (u for u in CertificateUse if u.is_root):
            for path, cert in self._roots(use):
                if certificate_hash(cert, cert, wanted.hash_algorithm).normalized() != wanted:
                    continue
                try:
                    path.unlink()
                    _fsync_dir(path.parent)
                    self._write_bundle(use)
                except OSError as err:
                    logger.error("pki: cannot delete %s: %s", path, err.strerror or err)
                    return DeleteStatus.FAILED
                logger.info("pki: %s deleted (serial %s)", use, wanted.serial_number)
                status = DeleteStatus.ACCEPTED
        return status

    def installed(self, uses: Iterable[CertificateUse] | None = None,
                  ) -> list[tuple[CertificateUse, CertificateHash]]:
        """GetInstalledCertificateIds: (use, SHA-256 hash) of each certificate, roots by default.

        ``uses=None`` lists every root; the station certificate appears only when CHARGE_POINT is asked for.
        """
        selected = [u for u in CertificateUse if u.is_root] if uses is None else list(dict.fromkeys(uses))
        found: list[tuple[CertificateUse, CertificateHash]] = []
        for use in selected:
            if use.is_root:
                found.extend((use, certificate_hash(cert, cert)) for _, cert in self._roots(use))
            elif (own := self._client_hash(HashAlgorithm.SHA256)) is not None:
                found.append((use, own))
        return found

    def ca_bundle(self, use: CertificateUse = CertificateUse.CENTRAL_SYSTEM_ROOT) -> Path | None:
        """A PEM file of every installed root of ``use`` (the CSMS roots verify the CSMS in TLS), or None."""
        if not use.is_root:
            raise ValueError(f"{use} is not a root certificate use")
        self._write_bundle(use)  # rewritten only when it differs from the store (e.g. after a crash)
        path = self.directory / f"{use.value}.bundle.pem"
        return path if path.exists() else None

    # -- signed firmware (L01, 1.6 SignedUpdateFirmware) ----------------------------------------------------

    def verify_firmware_certificate(self, signing_cert_pem: str, now: datetime) -> None:
        """L01.FR.23: the signing certificate must chain to an installed ManufacturerRootCertificate and be
        valid at ``now``; else PkiError(INVALID_CERTIFICATE) (status InvalidCertificate, L01.FR.24)."""
        self._firmware_signer(signing_cert_pem, _utc(now))

    def verify_firmware(self, signing_cert_pem: str, signature_b64: str, firmware: Path,
                        now: datetime) -> None:
        """L01.FR.04 / L01.FR.12: check the signing certificate, then the signature over the file's SHA-256.

        RSA signatures are accepted with PKCS#1 v1.5 or PSS padding (L01.FR.04 names RSA-PSS; v1.5 is what
        deployed tooling such as ``openssl dgst -sign`` produces), EC ones as ECDSA (ECSchnorr has no standard
        encoding). The file is read in 1 MiB chunks. Raises PkiError (INVALID_CERTIFICATE or
        INVALID_SIGNATURE), or OSError when the file cannot be read.
        """
        try:
            cert = self._firmware_signer(signing_cert_pem, _utc(now))
            try:
                signature = base64.b64decode(signature_b64, validate=True)
            except (binascii.Error, ValueError) as err:
                raise PkiError(PkiReason.INVALID_SIGNATURE, "the signature is not Base64") from err
            if not signature:
                raise PkiError(PkiReason.INVALID_SIGNATURE, "no signature")
            digest = hashes.Hash(hashes.SHA256())
            with firmware.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
            if not _signature_ok(cert, signature, digest.finalize()):
                raise PkiError(PkiReason.INVALID_SIGNATURE, f"{firmware.name}: signature does not verify")
        except PkiError as err:
            logger.warning("pki: firmware rejected: %s", err)
            raise
        logger.info("pki: firmware %s signature verified", firmware.name)

    def _firmware_signer(self, pem: str, now: datetime) -> x509.Certificate:
        try:
            certs = _load_certs(pem)
            _check_period(certs[0], now)
            _check_strength(certs[0])
            _verify_chain(certs[0], certs[1:], self._root_certs(CertificateUse.MANUFACTURER_ROOT), now,
                          PkiReason.INVALID_CERTIFICATE)
        except PkiError as err:
            detail = f"firmware signing certificate: {err.detail}"
            raise PkiError(PkiReason.INVALID_CERTIFICATE, detail) from err
        return certs[0]

    # -- files ----------------------------------------------------------------------------------------------

    def _roots(self, use: CertificateUse) -> list[tuple[Path, x509.Certificate]]:
        folder = self.directory / ROOTS / use.value
        found: list[tuple[Path, x509.Certificate]] = []
        for path in sorted(folder.glob("[!.]*.pem")) if folder.is_dir() else ():
            try:
                found.append((path, x509.load_pem_x509_certificate(path.read_bytes())))
            except ValueError:
                logger.error("pki: %s is not a certificate; ignored", path)
        found.sort(key=lambda item: (item[1].not_valid_before_utc, item[0].name))
        return found

    def _root_certs(self, use: CertificateUse) -> list[x509.Certificate]:
        return [cert for _, cert in self._roots(use)]

    def _write_bundle(self, use: CertificateUse) -> None:
        path = self.directory / f"{use.value}.bundle.pem"
        certs = self._root_certs(use)
        if certs:
            data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
            if not path.exists() or path.read_bytes() != data:
                _atomic_write(path, data, 0o644)
        elif path.exists():
            path.unlink(missing_ok=True)
            _fsync_dir(path.parent)

    def _client_chain(self) -> list[x509.Certificate] | None:
        files = self.client_files()
        if files is None:
            return None
        try:
            return x509.load_pem_x509_certificates(files[0].read_bytes())
        except ValueError:
            logger.error("pki: %s is not a certificate chain", files[0])
            return None

    def _client_hash(self, algorithm: HashAlgorithm) -> CertificateHash | None:
        chain = self._client_chain()
        if chain is None:
            return None
        leaf = chain[0]
        # Our own files hold the chain up to the root; a factory-installed leaf alone is looked up.
        candidates = chain[1:2] or [*self._root_certs(CertificateUse.CENTRAL_SYSTEM_ROOT), leaf]
        issuer = next((c for c in candidates if _issued_by(leaf, c)), None)
        return None if issuer is None else certificate_hash(leaf, issuer, algorithm)

    def _switch_client(self, chain_pem: bytes, key_pem: bytes) -> None:
        """Replace client.pem and client.key together. client.key.new is the commit point: once it exists,
        both new files are complete and ``_recover`` finishes the switch after a crash; before, drops it."""
        d = self.directory
        _atomic_write(d / f"{CLIENT_CERT}.new", chain_pem, 0o644)
        _atomic_write(d / f"{CLIENT_KEY}.new", key_pem, 0o600)
        self._recover()

    def _recover(self) -> None:
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
        _fsync_dir(d)

    @staticmethod
    def _load_key(path: Path) -> PrivateKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{path}: unsupported key type")
        return key


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_certs(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, UnicodeError) as err:
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "not PEM-encoded X.509 certificates") from err


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_period(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise PkiError(PkiReason.NOT_YET_VALID, f"valid from {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise PkiError(PkiReason.EXPIRED, f"expired {cert.not_valid_after_utc.isoformat()}")


def _check_self_signed(cert: x509.Certificate) -> None:
    if cert.issuer != cert.subject or not _issued_by(cert, cert):
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "not a self-signed root certificate")


def _check_strength(cert: x509.Certificate) -> None:
    """A00.FR.501-504: RSA >= 2048 bits, EC >= 224 bits, SHA-2 signatures."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        strong = key.key_size >= 2048
    elif isinstance(key, ec.EllipticCurvePublicKey):
        strong = key.curve.key_size >= 224
    else:
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "only RSA and EC keys are supported")
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if not strong or not isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "key or signature algorithm too weak")


def _verify_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                  roots: list[x509.Certificate], now: datetime, reason: PkiReason) -> list[x509.Certificate]:
    """RFC 5280 path validation (A00.FR.307) to one of ``roots``; returns the chain, leaf first, root last.

    Extension checks are relaxed to what OCPP asks (CAs must carry basicConstraints); the web-PKI profile
    (SANs, key identifiers) does not apply to OCPP's station and firmware certificates.
    """
    if not roots:
        raise PkiError(reason, "no root certificate of that use is installed")
    ca_policy = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, verification.Criticality.AGNOSTIC, None)
    verifier = (verification.PolicyBuilder().store(verification.Store(roots)).time(now)
                .extension_policies(ca_policy=ca_policy, ee_policy=verification.ExtensionPolicy.permit_all())
                .build_client_verifier())
    try:
        return verifier.verify(leaf, intermediates).chain
    except verification.VerificationError as err:
        raise PkiError(reason, f"no valid path to an installed root ({err})") from err


def _signature_ok(cert: x509.Certificate, signature: bytes, digest: bytes) -> bool:
    key = cert.public_key()
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            except InvalidSignature:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
                key.verify(signature, digest, pss, prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

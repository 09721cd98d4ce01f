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

This module is the facade (``Pki``) and the public names; the public types are defined in ``pki_types``,
the files and their layout under ``directory`` in ``pki_store``, the certificate and signature checks in
``pki_verify``.

All methods block (file I/O, RSA key generation): call them from the event loop through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from chargepoint.service.pki_store import (
    CLIENT_CERT,
    CLIENT_KEY,
    PENDING_KEY,
    ROOTS,
    PkiStore,
    atomic_write,
    key_pem,
    load_key,
)
from chargepoint.service.pki_types import (
    CertificateHash,
    CertificateUse,
    DeleteStatus,
    HashAlgorithm,
    KeyType,
    PkiError,
    PkiReason,
    PrivateKey,
    certificate_hash,
)
from chargepoint.service.pki_verify import (
    check_firmware_signature,
    check_period,
    check_self_signed,
    check_strength,
    is_ca,
    issued_by,
    load_certs,
    verify_chain,
)

__all__ = [
    "CLIENT_CERT",
    "CLIENT_KEY",
    "PENDING_KEY",
    "ROOTS",
    "CertificateHash",
    "CertificateUse",
    "DeleteStatus",
    "HashAlgorithm",
    "KeyType",
    "Pki",
    "PkiError",
    "PkiReason",
    "PrivateKey",
    "certificate_hash",
]

logger = logging.getLogger(__name__)


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
        self._store = PkiStore(directory)

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
        atomic_write(path, key_pem(key), 0o600)
        logger.info("pki: new %s key generated for the next certificate request", self.key_type)

    def csr(self, organization: str | None = None) -> str:
        """A PEM CSR (RFC 2986) for the pending key: CN = station id (A00.FR.511), O = CpoName (A02.FR.13).

        The private key never leaves the station (A02.FR.05): only this request is returned.
        """
        self.ensure_key()
        key = load_key(self.directory / PENDING_KEY)
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
        certs = load_certs(pem_chain)
        leaf = certs[0]
        current = self._store.client_chain()
        if current is not None and current[0] == leaf:  # the CSMS repeated a CertificateSigned we took
            return certificate_hash(leaf, current[1] if len(current) > 1 else leaf)
        pending = self.directory / PENDING_KEY
        if not pending.exists() or _spki(leaf.public_key()) != _spki(load_key(pending).public_key()):
            raise PkiError(PkiReason.KEY_MISMATCH, "the certificate is not for the key of the last CSR")
        common_names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if common_names != [self.station_id]:
            raise PkiError(PkiReason.INVALID_CN, f"CN {common_names!r} is not the station identity")
        check_period(leaf, now)
        if is_ca(leaf):
            raise PkiError(PkiReason.INVALID_CERTIFICATE, "the station certificate must not be a CA")
        chain = verify_chain(leaf, certs[1:], self._store.root_certs(CertificateUse.CENTRAL_SYSTEM_ROOT), now,
                             PkiReason.INVALID_CHAIN)
        try:
            self._store.switch_client(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
                                      pending.read_bytes())
        except OSError as err:
            raise PkiError(PkiReason.WRITE_FAILED, f"{self.directory}: {err.strerror or err}") from err
        result = certificate_hash(leaf, chain[1] if len(chain) > 1 else leaf)
        logger.info("pki: client certificate installed (serial %s, valid until %s)", result.serial_number,
                    leaf.not_valid_after_utc.isoformat())
        return result

    def client_files(self) -> tuple[Path, Path] | None:
        """(certificate chain, key) for the TLS client (security profile 3), or None before the first one."""
        return self._store.client_files()

    def renewal_due(self, now: datetime, margin: timedelta) -> bool:
        """True once the client certificate expires within ``margin`` (A03.FR.02: a month); False without."""
        chain = self._store.client_chain()
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
        certs = load_certs(pem)
        if len(certs) != 1:
            raise PkiError(PkiReason.INVALID_CERTIFICATE, f"expected one certificate, got {len(certs)}")
        cert = certs[0]
        if not is_ca(cert):
            raise PkiError(PkiReason.NOT_CA, "basicConstraints does not mark it as a CA")
        check_self_signed(cert)
        check_strength(cert)
        check_period(cert, now)
        result = certificate_hash(cert, cert)
        path = self._store.root_path(use, cert)
        if path.exists():
            return result
        if self._store.root_count() >= self.max_certificates:
            raise PkiError(PkiReason.STORE_FULL, f"{self.max_certificates} certificates installed")
        try:
            self._store.add_root(use, cert)
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
            for path, cert in self._store.roots(use):
                if certificate_hash(cert, cert, wanted.hash_algorithm).normalized() != wanted:
                    continue
                try:
                    self._store.remove_root(use, path)
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
                found.extend((use, certificate_hash(cert, cert)) for _, cert in self._store.roots(use))
            elif (own := self._client_hash(HashAlgorithm.SHA256)) is not None:
                found.append((use, own))
        return found

    def ca_bundle(self, use: CertificateUse = CertificateUse.CENTRAL_SYSTEM_ROOT) -> Path | None:
        """A PEM file of every installed root of ``use`` (the CSMS roots verify the CSMS in TLS), or None."""
        if not use.is_root:
            raise ValueError(f"{use} is not a root certificate use")
        self._store.write_bundle(use)  # rewritten only when it differs from the store (e.g. after a crash)
        path = self._store.bundle_path(use)
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
            check_firmware_signature(cert, signature_b64, firmware)
        except PkiError as err:
            logger.warning("pki: firmware rejected: %s", err)
            raise
        logger.info("pki: firmware %s signature verified", firmware.name)

    def _firmware_signer(self, pem: str, now: datetime) -> x509.Certificate:
        try:
            certs = load_certs(pem)
            check_period(certs[0], now)
            check_strength(certs[0])
            verify_chain(certs[0], certs[1:], self._store.root_certs(CertificateUse.MANUFACTURER_ROOT), now,
                         PkiReason.INVALID_CERTIFICATE)
        except PkiError as err:
            detail = f"firmware signing certificate: {err.detail}"
            raise PkiError(PkiReason.INVALID_CERTIFICATE, detail) from err
        return certs[0]

    # -- helpers --------------------------------------------------------------------------------------------

    def _client_hash(self, algorithm: HashAlgorithm) -> CertificateHash | None:
        chain = self._store.client_chain()
        if chain is None:
            return None
        leaf = chain[0]
        # Our own files hold the chain up to the root; a factory-installed leaf alone is looked up.
        candidates = chain[1:2] or [*self._store.root_certs(CertificateUse.CENTRAL_SYSTEM_ROOT), leaf]
        issuer = next((c for c in candidates if issued_by(leaf, c)), None)
        return None if issuer is None else certificate_hash(leaf, issuer, algorithm)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

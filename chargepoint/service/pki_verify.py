"""Certificate and signature checks: PEM parsing, validity, key strength, RFC 5280 paths, firmware signatures.

Internal to ``pki``: pure functions over ``cryptography`` objects that raise ``PkiError``; no files kept.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import verification

from chargepoint.service.pki_types import PkiError, PkiReason

__all__ = [
    "check_firmware_signature",
    "check_period",
    "check_self_signed",
    "check_strength",
    "is_ca",
    "issued_by",
    "load_certs",
    "verify_chain",
]

_CHUNK = 1 << 20  # firmware is hashed 1 MiB at a time: images can be larger than the station's free RAM


def load_certs(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, UnicodeError) as err:
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "not PEM-encoded X.509 certificates") from err


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def check_period(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise PkiError(PkiReason.NOT_YET_VALID, f"valid from {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise PkiError(PkiReason.EXPIRED, f"expired {cert.not_valid_after_utc.isoformat()}")


def check_self_signed(cert: x509.Certificate) -> None:
    if cert.issuer != cert.subject or not issued_by(cert, cert):
        raise PkiError(PkiReason.INVALID_CERTIFICATE, "not a self-signed root certificate")


def check_strength(cert: x509.Certificate) -> None:
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


def verify_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate],
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


def check_firmware_signature(cert: x509.Certificate, signature_b64: str, firmware: Path) -> None:
    """L01.FR.04 / L01.FR.12: ``signature_b64`` must be ``cert``'s signature over the file's SHA-256.

    RSA signatures are accepted with PKCS#1 v1.5 or PSS padding (L01.FR.04 names RSA-PSS; v1.5 is what
    deployed tooling such as ``openssl dgst -sign`` produces), EC ones as ECDSA (ECSchnorr has no standard
    encoding). The file is read in 1 MiB chunks. Raises PkiError(INVALID_SIGNATURE), or OSError when the
    file cannot be read.
    """
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

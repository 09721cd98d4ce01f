"""The PKI's public vocabulary: key types, certificate uses, refusal reasons and RFC 6960 certificate hashes.

Internal to ``pki``: import these names from ``chargepoint.service.pki``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

__all__ = [
    "CertificateHash",
    "CertificateUse",
    "DeleteStatus",
    "HashAlgorithm",
    "KeyType",
    "PkiError",
    "PkiReason",
    "PrivateKey",
    "certificate_hash",
]

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

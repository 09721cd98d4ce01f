"""The station PKI with real cryptography: key, CSR, CertificateSigned, roots, hashes, firmware, TLS."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import ipaddress
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from chargepoint.service.pki import (
    CLIENT_CERT,
    CLIENT_KEY,
    PENDING_KEY,
    CertificateHash,
    CertificateUse,
    DeleteStatus,
    HashAlgorithm,
    KeyType,
    Pki,
    PkiError,
    PkiReason,
)

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
STATION = "CP-0001"
CPO = "Example CPO"
CSMS_ROOT = CertificateUse.CENTRAL_SYSTEM_ROOT
MF_ROOT = CertificateUse.MANUFACTURER_ROOT

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@functools.cache
def rsa_key(n: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject: x509.Name, public_key: object, issuer: Ca | None, signing_key: Key, *, ca: bool,
          start: dt.datetime = NOW - DAY, end: dt.datetime = NOW + 365 * DAY, serial: int | None = None,
          server: bool = False) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@dataclass
class Ca:
    """A test certificate authority: a root (or sub-CA when ``parent`` is given) and its key."""

    cert: x509.Certificate
    key: Key

    @classmethod
    def root(cls, cn: str = "Test CPO Root", key: Key | None = None, **kw: object) -> Ca:
        key = key or ec_key()
        return cls(issue(name(cn, CPO), key.public_key(), None, key, ca=True, **kw), key)  # type: ignore[arg-type]

    def sub_ca(self, cn: str = "Test CPO Sub-CA") -> Ca:
        key = ec_key()
        return Ca(issue(name(cn, CPO), key.public_key(), self, self.key, ca=True), key)

    def sign_csr(self, csr_pem: str, *, cn: str | None = None, **kw: object) -> x509.Certificate:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        subject = name(cn, CPO) if cn is not None else csr.subject
        return issue(subject, csr.public_key(), self, self.key, ca=False, **kw)  # type: ignore[arg-type]

    def leaf(self, cn: str, key: Key, **kw: object) -> x509.Certificate:
        return issue(name(cn, "Example Manufacturer"), key.public_key(), self, self.key, ca=False,
                     **kw)  # type: ignore[arg-type]


def key_file_public(path: Path) -> bytes:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def expected_hash(cert: x509.Certificate, issuer: x509.Certificate) -> CertificateHash:
    """Computed independently: SHA-256 of the issuer Name DER and of the subjectPublicKey BIT STRING value,
    which is the X9.62 uncompressed point for EC keys and the PKCS#1 RSAPublicKey DER for RSA keys."""
    public = issuer.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        bits = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    else:
        bits = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return CertificateHash(HashAlgorithm.SHA256, hashlib.sha256(issuer.subject.public_bytes()).hexdigest(),
                           hashlib.sha256(bits).hexdigest(), format(cert.serial_number, "x"))


@pytest.fixture
def root() -> Ca:
    return Ca.root()


@pytest.fixture
def pki(tmp_path: Path, root: Ca) -> Pki:
    station = Pki(tmp_path / "pki", STATION, CPO)
    station.install_root(CSMS_ROOT, pem(root.cert), NOW)
    return station


def enroll(pki: Pki, ca: Ca) -> x509.Certificate:
    cert = ca.sign_csr(pki.csr())
    pki.accept_signed(pem(cert), NOW)
    return cert


# -- key and CSR --------------------------------------------------------------------------------------------


def test_key_is_generated_once_with_mode_0600_and_reused_after_restart(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    Pki(directory, STATION, CPO).ensure_key()
    key_file = directory / PENDING_KEY
    first = key_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o077 == 0

    again = Pki(directory, STATION, CPO)
    again.ensure_key()
    assert key_file.read_bytes() == first
    csr = x509.load_pem_x509_csr(again.csr().encode())
    csr_key = csr.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert csr_key == key_file_public(key_file)


def test_loose_key_permissions_are_tightened(tmp_path: Path) -> None:
    pki = Pki(tmp_path, STATION, CPO)
    pki.ensure_key()
    (tmp_path / PENDING_KEY).chmod(0o644)
    pki.ensure_key()
    assert (tmp_path / PENDING_KEY).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("key_type", "key_class"), [(KeyType.EC_P256, ec.EllipticCurvePublicKey),
                                                     (KeyType.RSA_2048, rsa.RSAPublicKey)])
def test_csr_names_the_station_and_the_cpo_and_is_self_signed(tmp_path: Path, key_type: KeyType,
                                                               key_class: type) -> None:
    """A00.FR.511 (CN = station identity), A02.FR.13 (O = CpoName), RFC 2986 (signed with the key)."""
    csr = x509.load_pem_x509_csr(Pki(tmp_path, STATION, CPO, key_type=key_type).csr().encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO
    assert isinstance(csr.public_key(), key_class)
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    if key_type is KeyType.RSA_2048:
        assert csr.public_key().key_size == 2048  # type: ignore[union-attr]


def test_csr_takes_a_changed_cpo_name(tmp_path: Path) -> None:
    csr = x509.load_pem_x509_csr(Pki(tmp_path, STATION, CPO).csr("New CPO").encode())
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "New CPO"


# -- CertificateSigned --------------------------------------------------------------------------------------


def test_csr_signed_and_accepted_becomes_the_client_certificate(pki: Pki, root: Ca) -> None:
    assert pki.client_files() is None
    cert = root.sign_csr(pki.csr())
    result = pki.accept_signed(pem(cert), NOW)

    assert result == expected_hash(cert, root.cert)
    files = pki.client_files()
    assert files is not None
    cert_file, key_file = files
    assert (cert_file.name, key_file.name) == (CLIENT_CERT, CLIENT_KEY)
    assert x509.load_pem_x509_certificates(cert_file.read_bytes())[0] == cert
    assert spki(cert) == key_file_public(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not (pki.directory / PENDING_KEY).exists()
    assert pki.installed([CertificateUse.CHARGE_POINT]) == [(CertificateUse.CHARGE_POINT, result)]

    restarted = Pki(pki.directory, STATION, CPO)
    assert restarted.client_files() == files
    assert restarted.installed([CertificateUse.CHARGE_POINT]) == [(CertificateUse.CHARGE_POINT, result)]


def test_a_repeated_certificate_signed_is_accepted_again(pki: Pki, root: Ca) -> None:
    """A CSMS that lost our CertificateSigned response may send the same chain again: no false alarm."""
    cert = root.sign_csr(pki.csr())
    first = pki.accept_signed(pem(cert), NOW)
    assert pki.accept_signed(pem(cert), NOW) == first
    assert not (pki.directory / PENDING_KEY).exists()


def test_renewal_uses_a_new_key_and_keeps_the_old_pair_until_the_new_certificate_is_accepted(
        pki: Pki, root: Ca) -> None:
    """A03.FR.02: a new key pair for each renewal; the old certificate keeps working meanwhile."""
    first = enroll(pki, root)
    files = pki.client_files()
    assert files is not None
    csr = x509.load_pem_x509_csr(pki.csr().encode())
    assert csr.public_key() != first.public_key()
    assert spki(first) == key_file_public(files[1])  # still the old pair

    second = root.sign_csr(pki.csr())  # asking again before an answer reuses the pending key
    pki.accept_signed(pem(second), NOW)
    assert x509.load_pem_x509_certificates(files[0].read_bytes())[0] == second
    assert spki(second) == key_file_public(files[1])


def test_chain_with_a_sub_ca_is_accepted_and_stored_up_to_the_root(pki: Pki, root: Ca) -> None:
    sub = root.sub_ca()
    cert = sub.sign_csr(pki.csr())
    result = pki.accept_signed(pem(cert, sub.cert), NOW)
    assert result == expected_hash(cert, sub.cert)
    files = pki.client_files()
    assert files is not None
    assert x509.load_pem_x509_certificates(files[0].read_bytes()) == [cert, sub.cert, root.cert]


def rejected(pki: Pki, chain: str, reason: PkiReason) -> None:
    with pytest.raises(PkiError) as caught:
        pki.accept_signed(chain, NOW)
    assert caught.value.reason is reason
    assert pki.client_files() is None
    assert (pki.directory / PENDING_KEY).exists()  # the pending key stays for a corrected certificate


def test_wrong_cn_is_rejected(pki: Pki, root: Ca) -> None:
    rejected(pki, pem(root.sign_csr(pki.csr(), cn="CP-9999")), PkiReason.INVALID_CN)


def test_expired_certificate_is_rejected(pki: Pki, root: Ca) -> None:
    cert = root.sign_csr(pki.csr(), start=NOW - 10 * DAY, end=NOW - DAY)
    rejected(pki, pem(cert), PkiReason.EXPIRED)


def test_not_yet_valid_certificate_is_rejected(pki: Pki, root: Ca) -> None:
    cert = root.sign_csr(pki.csr(), start=NOW + DAY, end=NOW + 10 * DAY)
    rejected(pki, pem(cert), PkiReason.NOT_YET_VALID)


def test_certificate_from_an_untrusted_issuer_is_rejected(pki: Pki) -> None:
    rejected(pki, pem(Ca.root("Rogue Root").sign_csr(pki.csr())), PkiReason.INVALID_CHAIN)


def test_a_manufacturer_root_does_not_validate_the_station_certificate(pki: Pki) -> None:
    """Whitepaper §2.6.2: station certificates belong to the CPO hierarchy only."""
    manufacturer = Ca.root("Manufacturer Root")
    pki.install_root(MF_ROOT, pem(manufacturer.cert), NOW)
    rejected(pki, pem(manufacturer.sign_csr(pki.csr())), PkiReason.INVALID_CHAIN)


def test_missing_sub_ca_is_rejected(pki: Pki, root: Ca) -> None:
    rejected(pki, pem(root.sub_ca().sign_csr(pki.csr())), PkiReason.INVALID_CHAIN)


def test_chain_longer_than_the_limit_is_rejected(tmp_path: Path, root: Ca) -> None:
    """CertificateSignedMaxChainSize bounds the certificateChain field, in characters."""
    Pki(tmp_path, STATION, CPO).install_root(CSMS_ROOT, pem(root.cert), NOW)
    sub = root.sub_ca()
    chain = pem(sub.sign_csr(Pki(tmp_path, STATION, CPO).csr()), sub.cert)
    rejected(Pki(tmp_path, STATION, CPO, max_chain_bytes=len(chain) - 1), chain, PkiReason.CHAIN_TOO_LONG)
    Pki(tmp_path, STATION, CPO, max_chain_bytes=len(chain)).accept_signed(chain, NOW)


def test_certificate_for_another_key_is_rejected(pki: Pki, root: Ca) -> None:
    pki.csr()
    other = Pki(pki.directory.parent / "other", STATION, CPO)
    rejected(pki, pem(root.sign_csr(other.csr())), PkiReason.KEY_MISMATCH)


def test_certificate_without_any_csr_is_rejected(tmp_path: Path, root: Ca) -> None:
    pki = Pki(tmp_path, STATION, CPO)
    cert = root.sign_csr(Pki(tmp_path / "other", STATION, CPO).csr())
    with pytest.raises(PkiError) as caught:
        pki.accept_signed(pem(cert), NOW)
    assert caught.value.reason is PkiReason.KEY_MISMATCH


@pytest.mark.parametrize("garbage", [
    "", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_garbage_pem_is_rejected(pki: Pki, garbage: str) -> None:
    pki.csr()
    rejected(pki, garbage, PkiReason.INVALID_CERTIFICATE)


def test_a_crash_after_the_commit_point_is_rolled_forward(pki: Pki, root: Ca) -> None:
    """Both new files written (client.key.new is the commit point), then the power went: restart finishes."""
    cert = root.sign_csr(pki.csr())
    d = pki.directory
    (d / f"{CLIENT_CERT}.new").write_text(pem(cert, root.cert))
    (d / f"{CLIENT_KEY}.new").write_bytes((d / PENDING_KEY).read_bytes())
    restarted = Pki(d, STATION, CPO)
    files = restarted.client_files()
    assert files is not None
    assert spki(x509.load_pem_x509_certificates(files[0].read_bytes())[0]) == key_file_public(files[1])
    assert not (d / PENDING_KEY).exists()
    assert not (d / f"{CLIENT_KEY}.new").exists()


def test_a_crash_before_the_commit_point_keeps_the_old_pair(pki: Pki, root: Ca) -> None:
    old = enroll(pki, root)
    new = root.sign_csr(pki.csr())
    d = pki.directory
    (d / f"{CLIENT_CERT}.new").write_text(pem(new, root.cert))
    restarted = Pki(d, STATION, CPO)
    files = restarted.client_files()
    assert files is not None
    assert x509.load_pem_x509_certificates(files[0].read_bytes())[0] == old
    assert spki(old) == key_file_public(files[1])
    assert not (d / f"{CLIENT_CERT}.new").exists()
    assert (d / PENDING_KEY).exists()


def test_renewal_is_due_within_the_margin_of_expiry(pki: Pki, root: Ca) -> None:
    margin = 30 * DAY
    assert not pki.renewal_due(NOW, margin)  # no certificate, nothing to renew
    end = NOW + 100 * DAY
    cert = root.sign_csr(pki.csr(), end=end)
    pki.accept_signed(pem(cert), NOW)
    assert not pki.renewal_due(NOW, margin)
    assert not pki.renewal_due(cert.not_valid_after_utc - margin - dt.timedelta(seconds=1), margin)
    assert pki.renewal_due(cert.not_valid_after_utc - margin, margin)
    assert pki.renewal_due(end + DAY, margin)


# -- roots: install, list, delete ---------------------------------------------------------------------------


def test_roots_are_installed_listed_and_deleted_and_survive_a_restart(tmp_path: Path) -> None:
    csms, maker = Ca.root("CSMS Root"), Ca.root("Manufacturer Root", key=rsa_key(1))
    pki = Pki(tmp_path, STATION, CPO)
    assert pki.installed() == []
    assert pki.ca_bundle(CSMS_ROOT) is None
    h_csms = pki.install_root(CSMS_ROOT, pem(csms.cert), NOW)
    h_maker = pki.install_root(MF_ROOT, pem(maker.cert), NOW)
    assert h_csms == expected_hash(csms.cert, csms.cert)
    assert h_maker == expected_hash(maker.cert, maker.cert)

    restarted = Pki(tmp_path, STATION, CPO)
    assert sorted(restarted.installed()) == sorted([(CSMS_ROOT, h_csms), (MF_ROOT, h_maker)])
    assert restarted.installed([MF_ROOT]) == [(MF_ROOT, h_maker)]
    bundle = restarted.ca_bundle(CSMS_ROOT)
    assert bundle is not None
    assert x509.load_pem_x509_certificates(bundle.read_bytes()) == [csms.cert]

    assert restarted.delete(h_csms) is DeleteStatus.ACCEPTED
    assert restarted.delete(h_csms) is DeleteStatus.NOT_FOUND
    assert restarted.installed() == [(MF_ROOT, h_maker)]
    assert restarted.ca_bundle(CSMS_ROOT) is None
    assert Pki(tmp_path, STATION, CPO).installed() == [(MF_ROOT, h_maker)]


def test_installing_the_same_root_twice_takes_one_slot(tmp_path: Path, root: Ca) -> None:
    pki = Pki(tmp_path, STATION, CPO, max_certificates=1)
    first = pki.install_root(CSMS_ROOT, pem(root.cert), NOW)
    assert pki.install_root(CSMS_ROOT, pem(root.cert), NOW) == first
    assert len(pki.installed()) == 1


def test_a_full_store_rejects_another_root(tmp_path: Path) -> None:
    """M05.FR.03: CertificateStoreMaxLength counts every root, whatever its use."""
    pki = Pki(tmp_path, STATION, CPO, max_certificates=2)
    pki.install_root(CSMS_ROOT, pem(Ca.root("A").cert), NOW)
    pki.install_root(MF_ROOT, pem(Ca.root("B").cert), NOW)
    with pytest.raises(PkiError) as caught:
        pki.install_root(CSMS_ROOT, pem(Ca.root("C").cert), NOW)
    assert caught.value.reason is PkiReason.STORE_FULL
    assert len(pki.installed()) == 2


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: pem(Ca.root(start=NOW - 10 * DAY, end=NOW - DAY).cert), PkiReason.EXPIRED),
    (lambda: pem(Ca.root(start=NOW + DAY, end=NOW + 9 * DAY).cert), PkiReason.NOT_YET_VALID),
    (lambda: pem(Ca.root().leaf("not a CA", ec_key())), PkiReason.NOT_CA),
    (lambda: pem(Ca.root().sub_ca().cert), PkiReason.INVALID_CERTIFICATE),  # a CA, but not self-signed
    (lambda: pem(Ca.root("A").cert, Ca.root("B").cert), PkiReason.INVALID_CERTIFICATE),
    (lambda: "not a certificate", PkiReason.INVALID_CERTIFICATE),
], ids=["expired", "not-yet-valid", "not-a-ca", "not-self-signed", "two-certificates", "garbage"])
def test_invalid_roots_are_rejected(tmp_path: Path, make: Callable[[], str], reason: PkiReason) -> None:
    pki = Pki(tmp_path, STATION, CPO)
    with pytest.raises(PkiError) as caught:
        pki.install_root(CSMS_ROOT, make(), NOW)
    assert caught.value.reason is reason
    assert pki.installed() == []


def test_weak_rsa_root_is_rejected(tmp_path: Path) -> None:
    """A00.FR.502: RSA keys of at least 2048 bits."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(PkiError) as caught:
        Pki(tmp_path, STATION, CPO).install_root(CSMS_ROOT, pem(Ca.root(key=weak).cert), NOW)
    assert caught.value.reason is PkiReason.INVALID_CERTIFICATE


def test_the_station_certificate_cannot_be_deleted(pki: Pki, root: Ca) -> None:
    """1.6 security M04.FR.05 / 2.0.1 M04.FR.06: DeleteCertificate never removes the station certificate."""
    cert = enroll(pki, root)
    files = pki.client_files()
    assert pki.delete(expected_hash(cert, root.cert)) is DeleteStatus.FAILED
    assert pki.client_files() == files
    assert files is not None and files[0].exists() and files[1].exists()


def test_a_factory_installed_leaf_is_listed_and_protected(pki: Pki, root: Ca) -> None:
    """A00.FR.801: a certificate and key put in place at manufacturing; client.pem may hold the leaf only."""
    other = Ca.root("Other Root", start=NOW - 2 * DAY)  # listed before the issuer: must not be taken for it
    pki.install_root(CSMS_ROOT, pem(other.cert), NOW)
    key = ec_key()
    cert = issue(name(STATION, CPO), key.public_key(), root, root.key, ca=False)
    (pki.directory / CLIENT_CERT).write_text(pem(cert))
    (pki.directory / CLIENT_KEY).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    h = expected_hash(cert, root.cert)
    assert pki.installed([CertificateUse.CHARGE_POINT]) == [(CertificateUse.CHARGE_POINT, h)]
    assert pki.delete(h) is DeleteStatus.FAILED


def test_delete_matches_case_insensitively_and_with_the_algorithm_it_is_given(tmp_path: Path) -> None:
    """Whitepaper §6.1: the hash fields are CiStrings; M04.FR.07: the CSMS uses the install-time algorithm."""
    root = Ca.root(serial=0x0ABC)
    pki = Pki(tmp_path, STATION, CPO)
    h = pki.install_root(CSMS_ROOT, pem(root.cert), NOW)
    assert h.serial_number == "abc"
    key_bits = root.cert.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
    name_hash = hashlib.sha384(root.cert.subject.public_bytes()).hexdigest()
    sha384 = CertificateHash(HashAlgorithm.SHA384, name_hash, hashlib.sha384(key_bits).hexdigest().upper(),
                             "0ABC")
    other = CertificateHash(HashAlgorithm.SHA256, h.issuer_name_hash, h.issuer_key_hash, "abd")
    assert pki.delete(other) is DeleteStatus.NOT_FOUND
    assert pki.delete(sha384) is DeleteStatus.ACCEPTED
    assert pki.installed() == []


def test_rsa_issuer_key_hash_is_over_the_pkcs1_key(pki: Pki) -> None:
    rsa_root = Ca.root("RSA root", key=rsa_key(2))
    cert = rsa_root.sign_csr(pki.csr())
    pki.install_root(CSMS_ROOT, pem(rsa_root.cert), NOW)
    assert pki.accept_signed(pem(cert), NOW) == expected_hash(cert, rsa_root.cert)


def test_use_names_of_both_versions() -> None:
    assert CertificateUse.from_wire("CSMSRootCertificate") is CSMS_ROOT
    assert CertificateUse.from_wire("CentralSystemRootCertificate") is CSMS_ROOT
    assert CertificateUse.from_wire("ChargingStationCertificate") is CertificateUse.CHARGE_POINT
    assert CSMS_ROOT.ocpp201 == "CSMSRootCertificate"
    assert MF_ROOT.ocpp201 == MF_ROOT.value == "ManufacturerRootCertificate"


def test_reasons_fit_a_2_0_1_reason_code() -> None:
    assert all(len(reason.value) <= 20 for reason in PkiReason)  # StatusInfoType.reasonCode is string[20]


# -- signed firmware (L01) ----------------------------------------------------------------------------------


@pytest.fixture
def maker() -> Ca:
    return Ca.root("Manufacturer Root")


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    path = tmp_path / "firmware.bin"
    path.write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    return path


def sign(key: Key, data: bytes, *, pss: bool = False) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH) if pss
            else padding.PKCS1v15())
        return base64.b64encode(key.sign(data, pad, hashes.SHA256())).decode()
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@pytest.mark.parametrize(("kind", "pss"), [("rsa", False), ("rsa", True), ("ec", False)],
                         ids=["rsa-pkcs1v15", "rsa-pss", "ecdsa"])
def test_valid_firmware_signature_is_accepted(tmp_path: Path, maker: Ca, firmware: Path, kind: str,
                                              pss: bool) -> None:
    pki = Pki(tmp_path / "pki", STATION, CPO)
    pki.install_root(MF_ROOT, pem(maker.cert), NOW)
    key: Key = rsa_key(3) if kind == "rsa" else ec_key()
    signer = maker.leaf("Firmware Signing", key)
    signature = sign(key, firmware.read_bytes(), pss=pss)
    pki.verify_firmware_certificate(pem(signer), NOW)
    pki.verify_firmware(pem(signer), signature, firmware, NOW)

    firmware.write_bytes(firmware.read_bytes() + b"\x00")
    with pytest.raises(PkiError) as caught:
        pki.verify_firmware(pem(signer), signature, firmware, NOW)
    assert caught.value.reason is PkiReason.INVALID_SIGNATURE


@pytest.mark.parametrize("signature", ["", "!!not base64!!", base64.b64encode(b"\x00" * 64).decode()])
def test_missing_or_malformed_signature_is_invalid(tmp_path: Path, maker: Ca, firmware: Path,
                                                   signature: str) -> None:
    pki = Pki(tmp_path / "pki", STATION, CPO)
    pki.install_root(MF_ROOT, pem(maker.cert), NOW)
    with pytest.raises(PkiError) as caught:
        pki.verify_firmware(pem(maker.leaf("Firmware Signing", ec_key())), signature, firmware, NOW)
    assert caught.value.reason is PkiReason.INVALID_SIGNATURE


@pytest.mark.parametrize("case", ["untrusted", "expired", "not-yet-valid", "csms-root-only", "garbage"])
def test_invalid_signing_certificate_is_refused(tmp_path: Path, maker: Ca, firmware: Path, case: str) -> None:
    """L01.FR.24: InvalidCertificate, before any download; the CSMS root does not vouch for firmware."""
    pki = Pki(tmp_path / "pki", STATION, CPO)
    key = ec_key()
    if case == "csms-root-only":
        pki.install_root(CSMS_ROOT, pem(maker.cert), NOW)
    else:
        pki.install_root(MF_ROOT, pem(maker.cert), NOW)
    signers: dict[str, Callable[[], str]] = {
        "untrusted": lambda: pem(Ca.root("Rogue").leaf("Firmware Signing", key)),
        "expired": lambda: pem(maker.leaf("Firmware Signing", key, start=NOW - 9 * DAY, end=NOW - DAY)),
        "not-yet-valid": lambda: pem(maker.leaf("Firmware Signing", key, start=NOW + DAY, end=NOW + 9 * DAY)),
        "csms-root-only": lambda: pem(maker.leaf("Firmware Signing", key)),
        "garbage": lambda: "-----BEGIN CERTIFICATE-----\n",
    }
    signer = signers[case]()
    checks: list[Callable[[], None]] = [
        lambda: pki.verify_firmware_certificate(signer, NOW),
        lambda: pki.verify_firmware(signer, sign(key, firmware.read_bytes()), firmware, NOW),
    ]
    for check in checks:
        with pytest.raises(PkiError) as caught:
            check()
        assert caught.value.reason is PkiReason.INVALID_CERTIFICATE


def test_a_firmware_image_of_several_megabytes_is_verified(tmp_path: Path, maker: Ca) -> None:
    image = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    digest = hashlib.sha256()
    with image.open("wb") as out:
        for i in range(96):  # 6 MiB, more than the 1 MiB read size
            chunk = bytes([i]) + block[1:]
            out.write(chunk)
            digest.update(chunk)
    key = ec_key()
    signature = base64.b64encode(key.sign(digest.digest(), ec.ECDSA(Prehashed(hashes.SHA256())))).decode()
    pki = Pki(tmp_path / "pki", STATION, CPO)
    pki.install_root(MF_ROOT, pem(maker.cert), NOW)
    pki.verify_firmware(pem(maker.leaf("Firmware Signing", key)), signature, image, NOW)


# -- logs and TLS -------------------------------------------------------------------------------------------


def test_no_private_key_material_reaches_a_log_line(tmp_path: Path, root: Ca, maker: Ca, firmware: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pki = Pki(tmp_path / "pki", STATION, CPO)
    pki.install_root(CSMS_ROOT, pem(root.cert), NOW)
    pki.ensure_key()
    pending = (pki.directory / PENDING_KEY).read_text()
    with pytest.raises(PkiError):
        pki.accept_signed(pem(root.sign_csr(pki.csr(), cn="wrong")), NOW)
    pki.accept_signed(pem(root.sign_csr(pki.csr())), NOW)
    pki.csr()
    renewal = (pki.directory / PENDING_KEY).read_text()
    with pytest.raises(PkiError):
        pki.verify_firmware(pem(maker.leaf("x", ec_key())), "AAAA", firmware, NOW)
    assert caplog.records  # the operations did log
    secrets = [line for key in (pending, renewal) for line in key.splitlines() if "-----" not in line]
    assert all(secret not in caplog.text for secret in secrets)
    assert "PRIVATE KEY" not in caplog.text


async def test_client_files_and_ca_bundle_carry_a_mutual_tls_handshake(tmp_path: Path) -> None:
    """Security profile 3: the station proves itself with client_files and checks the CSMS with ca_bundle."""
    now = dt.datetime.now(dt.UTC)
    root = Ca.root("CSMS Root", start=now - DAY, end=now + DAY)
    pki = Pki(tmp_path / "pki", STATION, CPO)
    pki.install_root(CSMS_ROOT, pem(root.cert), now)
    pki.accept_signed(pem(root.sign_csr(pki.csr(), start=now - DAY, end=now + DAY)), now)

    server_key = ec_key()
    server_cert = issue(name("localhost", CPO), server_key.public_key(), root, root.key, ca=False,
                        start=now - DAY, end=now + DAY, server=True)
    (tmp_path / "server.pem").write_text(pem(server_cert))
    (tmp_path / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cadata=pem(root.cert))

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        subject = dict(item for rdn in peer["subject"] for item in rdn)
        writer.write(subject["commonName"].encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    bundle, files = pki.ca_bundle(CSMS_ROOT), pki.client_files()
    assert bundle is not None and files is not None
    client_ctx = ssl.create_default_context(cafile=str(bundle))
    client_ctx.load_cert_chain(*files)
    async with server, asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                       server_hostname="localhost")
        assert await reader.readline() == STATION.encode() + b"\n"
        writer.close()
        await writer.wait_closed()


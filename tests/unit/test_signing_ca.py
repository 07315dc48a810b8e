"""The platform CA: root, issuing, revocation, CRL and key encryption."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing_service.ca import (
    DEFAULT_CRL_URL,
    DOCUMENT_SIGNING,
    CertificateAuthority,
    check_uscc,
    decrypt_private_key,
    encrypt_private_key,
    generate_key,
)
from signing_service.errors import CaError
from tests.unit.test_signing_support import ENTERPRISE, PASSPHRASE, USCC


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", PASSPHRASE)


def test_root_is_a_p256_ca_for_twenty_years(ca: CertificateAuthority) -> None:
    root = ca.root
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(root.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    years = (root.not_valid_after_utc - root.not_valid_before_utc).days / 365.25
    assert 19.9 < years < 20.1
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "首营平台 CA"
    )


def test_files_key_encrypted_and_no_temporaries(ca: CertificateAuthority) -> None:
    names = sorted(p.name for p in ca.directory.iterdir())
    assert names == [".lock", "root-cert.pem", "root-key.pem", "state.json"] or (
        names == ["root-cert.pem", "root-key.pem", "state.json"]
    )
    key_pem = (ca.directory / "root-key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    assert (ca.directory / "root-key.pem").stat().st_mode & 0o077 == 0
    assert PASSPHRASE not in key_pem


def test_load_with_the_passphrase_only(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    again = CertificateAuthority.load(ca.directory, PASSPHRASE)
    assert again.root == ca.root
    with pytest.raises(CaError) as wrong:
        CertificateAuthority.load(ca.directory, b"guess")
    assert (wrong.value.code, wrong.value.status) == ("CA_LOCKED", 403)
    assert "guess" not in str(wrong.value)
    with pytest.raises(CaError) as missing:
        CertificateAuthority.load(tmp_path / "nowhere", PASSPHRASE)
    assert missing.value.code == "CA_NOT_FOUND"
    with pytest.raises(CaError) as twice:
        CertificateAuthority.create(ca.directory, PASSPHRASE)
    assert (twice.value.code, twice.value.status) == ("CA_EXISTS", 409)


@pytest.mark.parametrize("kind", ["ec_p256", "rsa2048"])
def test_issued_certificate(ca: CertificateAuthority, kind: str) -> None:
    key = generate_key(kind)  # type: ignore[arg-type]
    cert = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC, days=30)

    cert.verify_directly_issued_by(ca.root)
    assert cert.public_key() == key.public_key()
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ENTERPRISE
    assert (
        subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ENTERPRISE
    )
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    org_id = subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    assert org_id[0].value == f"NTRCN-{USCC}"

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.content_commitment  # non-repudiation
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == DEFAULT_CRL_URL
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = ca.root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == root_ski.value.digest
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())

    assert 0 < cert.serial_number < 2**159
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=30) <= lifetime <= dt.timedelta(days=30, minutes=6)
    state = json.loads((ca.directory / "state.json").read_text())
    assert state["issued"][format(cert.serial_number, "x")]["uscc"] == USCC


def test_serials_are_random_and_distinct(ca: CertificateAuthority) -> None:
    key = generate_key("ec_p256")
    serials = {
        ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC).serial_number
        for _ in range(5)
    }
    assert len(serials) == 5
    assert max(s.bit_length() for s in serials) > 140


def test_crl_distribution_point_comes_from_the_constructor(tmp_path: Path) -> None:
    url = "https://shouying.example/crl/platform.crl"
    ca = CertificateAuthority.create(tmp_path / "ca", PASSPHRASE, crl_url=url)
    key = generate_key("ec_p256")
    cert = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == url


@pytest.mark.parametrize(
    ("uscc", "name"),
    [
        ("91350100M000100Y44", ENTERPRISE),  # wrong check character
        ("91350100M000100Y4", ENTERPRISE),  # too short
        ("91350100M0O0100Y43", ENTERPRISE),  # O is not in the alphabet
        (USCC, ""),
        (USCC, "很" * 65),
    ],
)
def test_refuses_bad_subjects(ca: CertificateAuthority, uscc: str, name: str) -> None:
    key = generate_key("ec_p256")
    with pytest.raises(CaError) as refused:
        ca.issue(key.public_key(), enterprise_name=name, uscc=uscc)
    assert refused.value.code in {"INVALID_USCC", "INVALID_ENTERPRISE_NAME"}
    assert refused.value.status == 422


def test_check_uscc_normalises_case() -> None:
    assert check_uscc(" 91350100m000100y43 ") == USCC


def test_refuses_weak_keys(ca: CertificateAuthority) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CaError) as refused:
        ca.issue(weak.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    assert refused.value.code == "UNSUPPORTED_KEY"


def test_revocation_lands_on_the_crl(ca: CertificateAuthority) -> None:
    key = generate_key("ec_p256")
    kept = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    gone = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    first = ca.crl()
    assert len(first) == 0

    ca.revoke(gone.serial_number, "keyCompromise")
    ca.revoke(gone.serial_number, x509.ReasonFlags.superseded)  # keeps the first
    crl = ca.crl()

    assert crl.is_signature_valid(ca.root.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.root.subject
    entry = crl.get_revoked_certificate_by_serial_number(gone.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=7)
    numbers = [
        c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        for c in (first, crl)
    ]
    assert numbers[1] > numbers[0]
    assert ca.is_revoked(gone.serial_number) and not ca.is_revoked(kept.serial_number)
    # the list survives a restart
    reloaded = CertificateAuthority.load(ca.directory, PASSPHRASE)
    assert reloaded.crl().get_revoked_certificate_by_serial_number(gone.serial_number)


def test_revoking_an_unknown_serial(ca: CertificateAuthority) -> None:
    with pytest.raises(CaError) as refused:
        ca.revoke(12345, "keyCompromise")
    assert (refused.value.code, refused.value.status) == ("UNKNOWN_SERIAL", 404)
    key = generate_key("ec_p256")
    cert = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    with pytest.raises(CaError) as bad_reason:
        ca.revoke(cert.serial_number, "bored")
    assert bad_reason.value.code == "INVALID_REVOCATION_REASON"


@pytest.mark.parametrize("kind", ["ec_p256", "rsa2048"])
def test_key_encryption_round_trip(kind: str) -> None:
    key = generate_key(kind)  # type: ignore[arg-type]
    secret = b"kek-of-the-day"
    blob = encrypt_private_key(key, secret)
    assert b"ENCRYPTED PRIVATE KEY" in blob
    assert secret not in blob
    back = decrypt_private_key(blob, secret)
    assert back.private_numbers() == key.private_numbers()

    with pytest.raises(CaError) as wrong:
        decrypt_private_key(blob, b"kek-of-yesterday")
    assert (wrong.value.code, wrong.value.status) == ("KEY_SECRET_WRONG", 403)
    assert "kek" not in wrong.value.message


def test_key_encryption_refuses_nonsense() -> None:
    key = generate_key("ec_p256")
    with pytest.raises(CaError) as empty:
        encrypt_private_key(key, b"")
    assert empty.value.code == "KEY_SECRET_INVALID"
    with pytest.raises(CaError) as plain:
        decrypt_private_key(b"-----BEGIN PRIVATE KEY-----\n...", b"secret")
    assert plain.value.code == "KEY_BLOB_INVALID"

"""Verification reports: trust, revocation, modification, timestamps."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing_service.ca import CertificateAuthority, generate_key
from signing_service.errors import SealError
from signing_service.sealing import Placement, Sealer
from signing_service.signers import software_signer
from signing_service.verify import verify
from tests.unit.test_signing_seal import _test_tsa
from tests.unit.test_signing_support import (
    ENTERPRISE,
    PASSPHRASE,
    USCC,
    blank_pdf,
    seal_png,
    shared_ca,
    signer_for,
)


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    return Sealer(seal_png())


@pytest.fixture
def own_ca(tmp_path: Path) -> CertificateAuthority:
    """A CA of the test's own, for revoking without disturbing others."""
    return CertificateAuthority.create(tmp_path / "ca", PASSPHRASE)


def test_a_document_without_signatures() -> None:
    report = verify(blank_pdf(1), [shared_ca().root])
    assert report.signatures == []
    assert not report.valid
    assert report.as_json() == {"valid": False, "signatures": []}


def test_a_broken_document() -> None:
    for data in (b"", b"%PDF-1.4 garbage", b"GIF89a"):
        with pytest.raises(SealError) as refused:
            verify(data, [shared_ca().root])
        assert (refused.value.code, refused.value.status) == ("BROKEN_PDF", 422)


def test_report_of_a_good_seal_as_json(sealer: Sealer) -> None:
    sealed = sealer.seal(blank_pdf(1), signer_for())
    report = verify(sealed, [shared_ca().root])
    assert report.valid
    data = json.loads(json.dumps(report.as_json(), ensure_ascii=False))
    (sig,) = data["signatures"]
    assert sig["field_name"] == "Seal1"
    assert sig["signer_common_name"] == ENTERPRISE
    assert sig["signer_organisation"] == ENTERPRISE
    assert sig["signer_organisation_identifier"] == f"NTRCN-{USCC}"
    assert sig["coverage"] == "entire_file"
    assert sig["revoked"] is None  # no CRL given
    assert sig["valid_at_signing"] and sig["chain_trusted"] and sig["intact"]
    assert sig["timestamp"] is None and sig["problems"] == []
    signed_at = dt.datetime.fromisoformat(sig["signing_time"])
    assert abs(dt.datetime.now(dt.UTC) - signed_at) < dt.timedelta(minutes=5)


def test_an_unknown_root_is_not_trusted(
    sealer: Sealer, own_ca: CertificateAuthority
) -> None:
    sealed = sealer.seal(blank_pdf(1), signer_for())
    (sig,) = verify(sealed, [own_ca.root]).signatures
    assert sig.intact
    assert not sig.chain_trusted and not sig.valid and not sig.valid_at_signing
    assert "the certificate does not chain to a trusted root" in sig.problems


def test_revocation_by_crl(
    sealer: Sealer, own_ca: CertificateAuthority, tmp_path: Path
) -> None:
    key = generate_key("ec_p256")
    cert = own_ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    sealed = sealer.seal(blank_pdf(1), software_signer(key, cert, [own_ca.root]))

    (fresh,) = verify(sealed, [own_ca.root], [own_ca.crl()]).signatures
    assert fresh.revoked is False and fresh.valid
    # a CRL of another issuer says nothing about this certificate
    other_ca = CertificateAuthority.create(tmp_path / "b", PASSPHRASE, name="另一 CA")
    (other,) = verify(sealed, [own_ca.root], [other_ca.crl()]).signatures
    assert other.revoked is None and other.valid

    own_ca.revoke(cert.serial_number, "keyCompromise")
    (sig,) = verify(sealed, [own_ca.root], [own_ca.crl()]).signatures
    assert sig.revoked is True
    assert sig.intact and sig.chain_trusted
    assert not sig.valid
    assert "the certificate is revoked" in sig.problems


def test_valid_at_signing_when_revoked_later(
    sealer: Sealer, own_ca: CertificateAuthority
) -> None:
    tsa_root, stamper = _test_tsa()
    stamper.fixed_dt = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    key = generate_key("rsa2048")
    cert = own_ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    signer = software_signer(key, cert, [own_ca.root])
    sealed = sealer.seal(blank_pdf(1), signer, timestamper=stamper)
    own_ca.revoke(cert.serial_number, "cessationOfOperation")

    (sig,) = verify(sealed, [own_ca.root, tsa_root], [own_ca.crl()]).signatures
    assert sig.timestamp is not None and sig.timestamp.trusted
    assert sig.revoked is True and not sig.valid
    assert sig.valid_at_signing  # the timestamp proves it was sealed before


def test_not_valid_at_signing_when_revoked_before(
    sealer: Sealer, own_ca: CertificateAuthority
) -> None:
    key = generate_key("ec_p256")
    cert = own_ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    own_ca.revoke(cert.serial_number, "keyCompromise")
    sealed = sealer.seal(blank_pdf(1), software_signer(key, cert, [own_ca.root]))
    (sig,) = verify(sealed, [own_ca.root], [own_ca.crl()]).signatures
    assert sig.revoked and not sig.valid_at_signing and not sig.valid


def _append_page_content(pdf: bytes) -> bytes:
    """An incremental update that draws on the page: not a permitted change
    after an approval signature."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stream = generic.StreamObject(stream_data=b"1 0 0 rg 10 10 50 50 re f")
    writer.add_stream_to_page(0, writer.add_object(stream))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_changes_after_sealing_are_reported(sealer: Sealer) -> None:
    sealed = sealer.seal(blank_pdf(1), signer_for(), [Placement(1, 300, 300)])
    changed = _append_page_content(sealed)

    (sig,) = verify(changed, [shared_ca().root]).signatures
    assert sig.intact  # the signed revision itself is untouched
    assert sig.coverage == "entire_revision"
    assert sig.modified_after and not sig.valid
    assert sig.modification_level == "OTHER"


def test_later_seals_are_allowed_changes(sealer: Sealer) -> None:
    first = sealer.seal(blank_pdf(2), signer_for(), [Placement(1, 300, 300)])
    second = sealer.seal(first, signer_for("rsa2048"), [Placement(None, 60, 60)])
    third = sealer.seal_cross_page(second, signer_for())
    reports = verify(third, [shared_ca().root]).signatures
    assert [r.field_name for r in reports] == ["Seal1", "Seal2", "CrossPageSeal1"]
    assert [r.coverage for r in reports] == [
        "entire_revision",
        "entire_revision",
        "entire_file",
    ]
    assert [r.modified_after for r in reports] == [False, False, False]
    assert [r.valid for r in reports] == [True, True, True]

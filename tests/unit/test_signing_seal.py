"""Sealing: placements, overlap, several seals, keyword, cross-page seal,
timestamps, external (token) signing and the reused appearance."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing_service import appearance, sealing
from signing_service.errors import SealError
from signing_service.layout import DEFAULT_MARGIN
from signing_service.sealing import (
    DEFAULT_SIZE,
    PendingSignature,
    Placement,
    Sealer,
    complete_external,
    find_keyword,
    image_to_pdf,
)
from signing_service.signers import as_asn1_certificate
from signing_service.verify import verify
from tests.unit.test_signing_support import (
    ENTERPRISE,
    blank_pdf,
    enterprise,
    seal_png,
    shared_ca,
    signer_for,
    text_pdf,
)

A4_W, A4_H = 595.28, 841.89


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    return Sealer(seal_png())


def roots() -> list[x509.Certificate]:
    return [shared_ca().root]


def widgets(pdf: bytes) -> dict[str, list[tuple[int, list[float]]]]:
    """Signature field name -> (page number, rect) of each of its widgets."""
    found: dict[str, list[tuple[int, list[float]]]] = {}
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        pages: dict[tuple[int, int], int] = {
            p.obj.objgen: n + 1 for n, p in enumerate(doc.pages)
        }
        for field in doc.Root.AcroForm.Fields:
            kids = field.get("/Kids", [field])
            found[str(field.T)] = [
                (pages[kid.P.objgen], [float(v) for v in kid.Rect]) for kid in kids
            ]
    return found


def flip_byte_in_first_revision(pdf: bytes) -> bytes:
    """Change one byte of the first page's content, which every signature
    covers, without breaking the file's structure."""
    at = pdf.index(b"% page 1") + 3
    data = bytearray(pdf)
    data[at] = ord("X")
    return bytes(data)


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdfsig", "-nocert", "-no-ocsp", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout + done.stderr


needs_pdfsig = pytest.mark.skipif(
    shutil.which("pdfsig") is None, reason="poppler-utils' pdfsig is not installed"
)


# -- one seal -------------------------------------------------------------------


def test_one_seal_is_valid_trusted_and_visible_where_asked(sealer: Sealer) -> None:
    pdf = blank_pdf(2)
    sealed = sealer.seal(pdf, signer_for(), [Placement(1, 100, 100, 119, 119)])

    assert sealed.startswith(pdf)  # an incremental update
    report = verify(sealed, roots())
    (sig,) = report.signatures
    assert sig.valid and sig.intact and sig.chain_trusted
    assert sig.coverage == "entire_file"
    assert sig.signer_common_name == ENTERPRISE
    assert sig.certificate_serial == format(enterprise().cert.serial_number, "x")
    assert widgets(sealed) == {"Seal1": [(1, [100.0, 100.0, 219.0, 219.0])]}
    with pikepdf.open(io.BytesIO(sealed)) as doc:
        sig_dict = doc.Root.AcroForm.Fields[0].V
        assert sig_dict.SubFilter == "/ETSI.CAdES.detached"
        kid = doc.Root.AcroForm.Fields[0].Kids[0]
        assert int(kid.F) & 4  # printed
        xobjects = kid.AP.N.Resources.XObject
        assert xobjects.Seal.SMask.Width == sealer.appearance.width_px


@needs_pdfsig
def test_pdfsig_agrees_and_sees_a_flipped_byte(sealer: Sealer, tmp_path: Path) -> None:
    sealed = sealer.seal(blank_pdf(1), signer_for("rsa2048"))
    out = pdfsig(sealed, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    assert "Signature Type: ETSI.CAdES.detached" in out
    assert "Total document signed" in out

    tampered = flip_byte_in_first_revision(sealed)
    out = pdfsig(tampered, tmp_path)
    assert "Signature is Valid." not in out
    assert "Digest Mismatch" in out or "Signature is Invalid" in out
    (sig,) = verify(tampered, roots()).signatures
    assert not sig.intact and not sig.valid


def test_default_place_is_lower_right_of_last_page(sealer: Sealer) -> None:
    sealed = sealer.seal(blank_pdf(3), signer_for())
    ((page, rect),) = widgets(sealed)["Seal1"]
    assert page == 3
    assert rect == pytest.approx(
        [
            A4_W - DEFAULT_MARGIN - DEFAULT_SIZE,
            DEFAULT_MARGIN,
            A4_W - DEFAULT_MARGIN,
            DEFAULT_MARGIN + DEFAULT_SIZE,
        ],
        abs=0.01,
    )
    # a second default seal moves left instead of covering the first
    again = sealer.seal(sealed, signer_for("rsa2048"))
    ((page2, rect2),) = widgets(again)["Seal2"]
    assert page2 == 3 and rect2[2] <= rect[0]


# -- several seals --------------------------------------------------------------


def test_two_seals_in_succession_both_stay_valid(sealer: Sealer) -> None:
    first = sealer.seal(blank_pdf(2), signer_for(), [Placement(1, 60, 60)])
    second = sealer.seal(
        first, signer_for("rsa2048"), [Placement(None, 300, 60, 100, 100)]
    )

    a, b = verify(second, roots()).signatures
    assert (a.field_name, b.field_name) == ("Seal1", "Seal2")
    assert a.valid and b.valid
    assert a.coverage == "entire_revision" and not a.modified_after
    assert a.modification_level in {"LTA_UPDATES", "FORM_FILLING"}
    assert b.coverage == "entire_file"
    # every-page placement: one field, a widget on each page
    assert [page for page, _ in widgets(second)["Seal2"]] == [1, 2]


def test_every_page_placement_is_one_signature_on_all_pages(sealer: Sealer) -> None:
    sealed = sealer.seal(
        blank_pdf(4), signer_for(), [Placement(None, 400, 700, 90, 90)]
    )
    assert [page for page, _ in widgets(sealed)["Seal1"]] == [1, 2, 3, 4]
    (sig,) = verify(sealed, roots()).signatures
    assert sig.valid
    with pikepdf.open(io.BytesIO(sealed)) as doc:
        # the image is in the file once, shared by all widgets
        images = [
            o
            for o in doc.objects
            if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"
        ]
        assert len(images) == 2  # the seal and its soft mask
        forms = {kid.AP.N.objgen for kid in doc.Root.AcroForm.Fields[0].Kids}
        assert len(forms) == 1


def test_overlapping_an_existing_seal_is_refused(sealer: Sealer) -> None:
    sealed = sealer.seal(blank_pdf(1), signer_for(), [Placement(1, 100, 100)])
    with pytest.raises(SealError) as refused:
        sealer.seal(sealed, signer_for(), [Placement(1, 150, 150)])
    assert (refused.value.code, refused.value.status) == ("SEAL_OVERLAP", 409)
    with pytest.raises(SealError) as everywhere:
        sealer.seal(sealed, signer_for(), [Placement(None, 200, 200)])
    assert everywhere.value.code == "SEAL_OVERLAP"
    # touching edges is fine
    beside = sealer.seal(sealed, signer_for(), [Placement(1, 219, 100)])
    assert len(verify(beside, roots()).signatures) == 2


@pytest.mark.parametrize(
    "placement",
    [
        Placement(1, 500, 100),  # sticks out on the right
        Placement(1, -5, 100),
        Placement(2, 100, 100),  # no such page
        Placement(0, 100, 100),
        Placement(1, 100, 100, 0, 50),
        Placement(1, float("nan"), 100),
    ],
)
def test_placements_off_the_page_are_refused(
    sealer: Sealer, placement: Placement
) -> None:
    with pytest.raises(SealError) as refused:
        sealer.seal(blank_pdf(1), signer_for(), [placement])
    assert (refused.value.code, refused.value.status) == ("SEAL_PLACEMENT_INVALID", 422)


def test_placements_of_one_seal_must_not_overlap_each_other(sealer: Sealer) -> None:
    with pytest.raises(SealError) as refused:
        sealer.seal(
            blank_pdf(1), signer_for(), [Placement(1, 100, 100), Placement(1, 110, 110)]
        )
    assert refused.value.code == "SEAL_PLACEMENT_INVALID"


def test_broken_and_encrypted_pdfs_are_refused(sealer: Sealer) -> None:
    for data in (b"not a pdf at all", b"%PDF-1.7\n1 0 obj << >>\n%%EOF", b""):
        with pytest.raises(SealError) as refused:
            sealer.seal(data, signer_for())
        assert (refused.value.code, refused.value.status) == ("BROKEN_PDF", 422)
    buf = io.BytesIO()
    with pikepdf.open(io.BytesIO(blank_pdf(1))) as doc:
        doc.save(buf, encryption=pikepdf.Encryption(owner="o", user=""))
    with pytest.raises(SealError) as encrypted:
        sealer.seal(buf.getvalue(), signer_for())
    assert encrypted.value.code == "BROKEN_PDF"


def test_a_bad_seal_image_is_refused() -> None:
    with pytest.raises(SealError) as refused:
        Sealer(b"\x89PNG but not really")
    assert refused.value.code == "SEAL_IMAGE_INVALID"
    blank = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(blank, "PNG")
    with pytest.raises(SealError):
        Sealer(blank.getvalue())


# -- keyword --------------------------------------------------------------------


def test_keyword_places_the_seal_on_the_word(sealer: Sealer) -> None:
    pdf = text_pdf("乙方（盖章处）", x=300, y=200, pages=2)
    (placement,) = find_keyword(pdf, "盖章处")
    assert placement.page == 2
    assert (placement.width, placement.height) == (DEFAULT_SIZE, DEFAULT_SIZE)
    centre_x = placement.x + placement.width / 2
    centre_y = placement.y + placement.height / 2
    # "乙方（" is three 14 pt glyphs, the keyword the next three
    assert centre_x == pytest.approx(300 + 3 * 14 + 1.5 * 14, abs=4)
    assert centre_y == pytest.approx(205, abs=8)

    sealed = sealer.seal(pdf, signer_for(), [placement])
    assert verify(sealed, roots()).signatures[0].valid


def test_keyword_near_the_edge_keeps_the_seal_on_the_page() -> None:
    (placement,) = find_keyword(text_pdf("盖章处", x=560, y=10), "盖章处")
    assert placement.x + placement.width <= A4_W + 0.01
    assert placement.y >= 0


def test_missing_keyword(sealer: Sealer) -> None:
    with pytest.raises(SealError) as refused:
        find_keyword(text_pdf("营业执照"), "盖章处")
    assert (refused.value.code, refused.value.status) == ("KEYWORD_NOT_FOUND", 422)
    with pytest.raises(SealError) as scan:
        find_keyword(blank_pdf(1), "盖章处")
    assert scan.value.code == "KEYWORD_NOT_FOUND"
    with pytest.raises(SealError) as broken:
        find_keyword(b"garbage", "盖章处")
    assert broken.value.code == "BROKEN_PDF"


# -- cross-page seal --------------------------------------------------------------


def test_cross_page_seal_on_three_pages(sealer: Sealer) -> None:
    sealed = sealer.seal_cross_page(blank_pdf(3), signer_for())

    (sig,) = verify(sealed, roots()).signatures
    assert sig.valid and sig.coverage == "entire_file"
    placed = widgets(sealed)["CrossPageSeal1"]
    assert [page for page, _ in placed] == [1, 2, 3]
    for _, (left, bottom, right, top) in placed:
        assert right == pytest.approx(A4_W)
        assert right - left == pytest.approx(DEFAULT_SIZE / 3, abs=0.01)
        assert (bottom + top) / 2 == pytest.approx(A4_H / 2, abs=0.01)
    with pikepdf.open(io.BytesIO(sealed)) as doc:
        kids = doc.Root.AcroForm.Fields[0].Kids
        forms = [kid.AP.N for kid in kids]
        assert len({f.objgen for f in forms}) == 3  # one slice each
        images = {f.Resources.XObject.Seal.objgen for f in forms}
        assert len(images) == 1  # cut from the same image
        shifts = [f.read_bytes().split(b" cm")[0] for f in forms]
        assert len(set(shifts)) == 3


def test_cross_page_seal_needs_two_pages(sealer: Sealer) -> None:
    with pytest.raises(SealError) as refused:
        sealer.seal_cross_page(blank_pdf(1), signer_for())
    assert refused.value.code == "SEAL_PLACEMENT_INVALID"


def test_a_seal_and_a_cross_page_seal_together(sealer: Sealer) -> None:
    sealed = sealer.seal(blank_pdf(2), signer_for())
    both = sealer.seal_cross_page(sealed, signer_for("rsa2048"))
    assert [s.valid for s in verify(both, roots()).signatures] == [True, True]


# -- images -----------------------------------------------------------------------


def _image(fmt: str, size: tuple[int, int] = (2480, 3508), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "white").save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_image_to_pdf(sealer: Sealer, fmt: str) -> None:
    pdf = image_to_pdf(_image(fmt))
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (page,) = doc.pages
        assert [float(v) for v in page.mediabox] == pytest.approx([0, 0, A4_W, A4_H])
        image = page.Resources.XObject.Im0
        assert image.Width == 2480
        assert image.Filter == ("/DCTDecode" if fmt == "JPEG" else "/FlateDecode")
    sealed = sealer.seal(pdf, signer_for())
    assert verify(sealed, roots()).signatures[0].valid


def test_image_to_pdf_turns_landscape_and_shrinks_large_images() -> None:
    pdf = image_to_pdf(_image("PNG", (4000, 3000), "RGBA"))
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (page,) = doc.pages
        assert [float(v) for v in page.mediabox][2:] == pytest.approx([A4_H, A4_W])
        drawn = page.Contents.read_bytes().split()
        assert float(drawn[1]) <= A4_H + 0.01 and float(drawn[4]) <= A4_W + 0.01


def test_image_to_pdf_refuses_other_files() -> None:
    with pytest.raises(SealError) as gif:
        image_to_pdf(_image("GIF", (10, 10), "P"))
    assert (gif.value.code, gif.value.status) == ("UNSUPPORTED_IMAGE", 415)
    with pytest.raises(SealError) as junk:
        image_to_pdf(b"junk")
    assert junk.value.code == "UNSUPPORTED_IMAGE"


# -- timestamp (PAdES B-T) --------------------------------------------------------


def _test_tsa() -> tuple[x509.Certificate, DummyTimeStamper]:
    # pyhanko's DummyTimeStamper signs with RSA only
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "测试时间戳 TSA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stamper = DummyTimeStamper(
        tsa_cert=as_asn1_certificate(cert),
        tsa_key=asn1_keys.PrivateKeyInfo.load(der),
        certs_to_embed=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [as_asn1_certificate(cert)]
        ),
    )
    return cert, stamper


def test_timestamped_seal_is_pades_b_t(sealer: Sealer) -> None:
    tsa_root, stamper = _test_tsa()
    sealed = sealer.seal(blank_pdf(1), signer_for(), timestamper=stamper)
    (sig,) = verify(sealed, [*roots(), tsa_root]).signatures
    assert sig.valid and sig.timestamp is not None
    assert sig.timestamp.intact and sig.timestamp.trusted
    assert sig.signing_time == sig.timestamp.time
    assert "TSA" in sig.timestamp.authority


# -- external (token) signing -------------------------------------------------------


def _token_sign(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, tbs: bytes
) -> bytes:
    """What the device does: CKM_SHA256_RSA_PKCS, or SHA-256 + CKM_ECDSA with
    the (r, s) pair DER-encoded."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(tbs, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("kind", ["rsa2048", "ec_p256"])
def test_external_signing_round_trip(sealer: Sealer, kind: str) -> None:
    token = enterprise(kind)
    pdf = blank_pdf(2)
    pending, to_sign = sealer.prepare_external(
        pdf, token.cert, [shared_ca().root], [Placement(2, 80, 80)]
    )
    assert to_sign.startswith(b"\x31")  # DER SET OF attributes
    assert pending.signed_attributes == to_sign
    # the state survives being parked as JSON between two requests
    parked = PendingSignature.from_json(pending.to_json())

    sealed = complete_external(parked, _token_sign(token.key, to_sign))

    assert sealed.startswith(pdf)
    (sig,) = verify(sealed, roots()).signatures
    assert sig.valid and sig.coverage == "entire_file"
    assert sig.certificate_serial == format(token.cert.serial_number, "x")
    assert widgets(sealed)["Seal1"][0][0] == 2


def test_external_ecdsa_accepts_raw_r_s(sealer: Sealer) -> None:
    token = enterprise("ec_p256")
    pending, to_sign = sealer.prepare_external(
        blank_pdf(1), token.cert, [shared_ca().root]
    )
    r, s = decode_dss_signature(_token_sign(token.key, to_sign))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    sealed = complete_external(pending, raw)
    assert verify(sealed, roots()).signatures[0].valid


def test_external_wrong_signature_is_refused(sealer: Sealer) -> None:
    token = enterprise("rsa2048")
    pending, to_sign = sealer.prepare_external(
        blank_pdf(1), token.cert, [shared_ca().root]
    )
    with pytest.raises(SealError) as refused:
        complete_external(pending, _token_sign(token.key, to_sign + b"x"))
    assert refused.value.code == "EXTERNAL_SIGNATURE_INVALID"
    with pytest.raises(SealError) as damaged:
        PendingSignature.from_json("{}")
    assert damaged.value.code == "PENDING_SIGNATURE_INVALID"


def test_external_after_a_seal_keeps_both_valid(sealer: Sealer) -> None:
    first = sealer.seal(blank_pdf(1), signer_for(), [Placement(1, 60, 60)])
    token = enterprise("rsa2048")
    pending, to_sign = sealer.prepare_external(first, token.cert, [shared_ca().root])
    sealed = complete_external(pending, _token_sign(token.key, to_sign))
    assert [s.valid for s in verify(sealed, roots()).signatures] == [True, True]


# -- the appearance is prepared once ---------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    real = appearance.prepare_appearance

    def counting(png: bytes) -> appearance.SealAppearance:
        calls.append(1)
        return real(png)

    monkeypatch.setattr(sealing, "prepare_appearance", counting)
    yield calls


def test_sealing_reuses_the_prepared_appearance(
    counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sealer = Sealer(seal_png())
    prepared = sealer.appearance
    assert counted == [1]

    def no_more_encoding(*_: object, **__: object) -> bytes:
        raise AssertionError("the seal image was encoded again")

    # neither the seal image nor its alpha plane are decoded or deflated again
    monkeypatch.setattr("signing_service.appearance.zlib.compress", no_more_encoding)
    monkeypatch.setattr("signing_service.appearance.Image.open", no_more_encoding)
    one = sealer.seal(blank_pdf(1), signer_for())
    two = sealer.seal(blank_pdf(2), signer_for(), [Placement(None, 50, 50)])
    three = sealer.seal_cross_page(blank_pdf(2), signer_for())

    assert counted == [1]
    assert sealer.appearance is prepared
    for pdf in (one, two, three):
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            image = doc.Root.AcroForm.Fields[0].Kids[0].AP.N.Resources.XObject.Seal
            assert image.read_raw_bytes() == prepared.rgb_deflated
            assert image.SMask.read_raw_bytes() == prepared.alpha_deflated

"""Shared makings for the signing tests: a CA, keys, a seal image and PDFs,
all built in memory (no database, no network).

Named ``test_signing_*`` to live beside the tests; it holds helpers and one
sanity check of them.
"""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from cryptography import x509
from PIL import Image, ImageDraw, ImageFont

from signing_service.ca import CertificateAuthority, SigningKey, generate_key
from signing_service.signers import software_signer

USCC = "91350100M000100Y43"
ENTERPRISE = "福州康宁医药有限公司"
PASSPHRASE = b"correct horse battery staple"
_FONTS = [
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
]


@dataclass(frozen=True)
class Enterprise:
    key: SigningKey
    cert: x509.Certificate


@functools.cache
def shared_ca() -> CertificateAuthority:
    """One CA for the tests that only need certificates (not CA state)."""
    directory = Path(tempfile.mkdtemp(prefix="signing-ca-"))
    atexit.register(shutil.rmtree, directory, True)
    return CertificateAuthority.create(directory / "ca", PASSPHRASE)


def enterprise(kind: str = "ec_p256") -> Enterprise:
    """The enterprise's key and certificate of this kind, made once."""
    return _enterprise(kind)


@functools.cache
def _enterprise(kind: str) -> Enterprise:
    ca = shared_ca()
    key = generate_key(kind)  # type: ignore[arg-type]
    cert = ca.issue(key.public_key(), enterprise_name=ENTERPRISE, uscc=USCC)
    return Enterprise(key, cert)


def signer_for(kind: str = "ec_p256"):  # type: ignore[no-untyped-def]
    e = enterprise(kind)
    return software_signer(e.key, e.cert, [shared_ca().root])


@functools.cache
def seal_png() -> bytes:
    """A red round seal with the enterprise's name, on transparency."""
    size = 480
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    red = (210, 20, 20, 255)
    draw.ellipse((12, 12, size - 12, size - 12), outline=red, width=16)
    draw.regular_polygon((size / 2, size / 2, 60), 5, fill=red)
    font_file = next((f for f in _FONTS if f.exists()), None)
    if font_file is not None:
        font = ImageFont.truetype(str(font_file), 44, index=0)
        draw.text((size / 2, 130), "康宁医药", font=font, fill=red, anchor="mm")
        draw.text((size / 2, 370), "资料专用章", font=font, fill=red, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def blank_pdf(pages: int = 1, size: tuple[float, float] = (595.28, 841.89)) -> bytes:
    pdf = pikepdf.new()
    for n in range(pages):
        page = pdf.add_blank_page(page_size=size)
        # some content, so that a byte of it can be flipped
        page.Contents = pdf.make_stream(
            f"0.2 g 72 {700 - n} 300 20 re f % page {n + 1}\n".encode()
        )
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False)
    return buf.getvalue()


def text_pdf(text: str, x: float = 300, y: float = 200, pages: int = 1) -> bytes:
    """A PDF with ``text`` on its last page, in the non-embedded Adobe-GB1
    font STSong-Light (UCS-2 encoded), so that PDFium finds it."""
    pdf = pikepdf.new()
    descriptor = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=pikepdf.Name("/STSong-Light"),
            Flags=6,
            FontBBox=[-25, -254, 1000, 880],
            ItalicAngle=0,
            Ascent=880,
            Descent=-120,
            CapHeight=880,
            StemV=93,
        )
    )
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType0,
        BaseFont=pikepdf.Name("/STSong-Light"),
        CIDSystemInfo=pikepdf.Dictionary(
            Registry=pikepdf.String("Adobe"),
            Ordering=pikepdf.String("GB1"),
            Supplement=2,
        ),
        FontDescriptor=descriptor,
    )
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=pikepdf.Name("/STSong-Light"),
            Encoding=pikepdf.Name("/UniGB-UCS2-H"),
            DescendantFonts=[pdf.make_indirect(cid_font)],
        )
    )
    encoded = text.encode("utf-16-be").hex()
    for n in range(pages):
        page = pdf.add_blank_page(page_size=(595.28, 841.89))
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        body = f"BT /F1 14 Tf {x} {y} Td <{encoded}> Tj ET" if n == pages - 1 else ""
        page.Contents = pdf.make_stream(body.encode())
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def test_support_makes_a_usable_seal_image_and_pdf() -> None:
    img = Image.open(io.BytesIO(seal_png()))
    assert img.mode == "RGBA"
    assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]
    with pikepdf.open(io.BytesIO(blank_pdf(3))) as pdf:
        assert len(pdf.pages) == 3

"""Documents coming in: PDFs opened for an incremental update, images turned
into PDFs.

Sealing never rewrites a PDF: it appends an incremental update, so whatever
was signed before stays byte for byte as it was. Anything pyhanko cannot
open for that, or that is encrypted, is refused as ``BROKEN_PDF`` here,
before any work is done. Scans and photos (JPEG, PNG, BMP) are first made
into a one-page PDF by :func:`image_to_pdf`.
"""

from __future__ import annotations

import io
import zlib

import pikepdf
from PIL import Image, ImageOps, UnidentifiedImageError
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError

from signing_service.errors import SealError

__all__ = [
    "A4",
    "IMAGE_DPI",
    "MAX_IMAGE_PIXELS",
    "PARSE_ERRORS",
    "image_to_pdf",
    "open_for_update",
]

A4 = (595.28, 841.89)  # points: 210 mm x 297 mm
IMAGE_DPI = 300
MAX_IMAGE_PIXELS = 120_000_000  # a 300 dpi A3 scan is ~17.4 million
_IMAGE_FORMATS = {"JPEG", "PNG", "BMP"}

# What pyhanko's parser has been seen to raise on damaged or hostile input,
# beyond its own PdfError: it indexes, unpacks and recurses into whatever
# the file says.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    OSError,
    EOFError,
)


def open_for_update(pdf: bytes) -> IncrementalPdfFileWriter:
    """A pyhanko writer appending to ``pdf``; ``BROKEN_PDF`` (422) if it is
    not a readable, unencrypted PDF."""
    if b"%PDF-" not in pdf[:1024]:
        raise SealError("BROKEN_PDF", "the file is not a PDF document")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        encrypted = writer.prev.encrypted
        pages = writer.root["/Pages"]["/Count"]
    except PARSE_ERRORS as e:
        raise SealError("BROKEN_PDF", "the PDF document cannot be read") from e
    if encrypted:
        raise SealError(
            "BROKEN_PDF", "the PDF document is encrypted; send it without a password"
        )
    if not isinstance(pages, int) or pages < 1:
        raise SealError("BROKEN_PDF", "the PDF document has no pages")
    return writer


def _load_image(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise SealError(
            "UNSUPPORTED_IMAGE", "only JPEG, PNG and BMP images are accepted", 415
        ) from None
    except Image.DecompressionBombError:
        raise SealError(
            "IMAGE_TOO_LARGE", "the image has too many pixels", 413
        ) from None
    if img.format not in _IMAGE_FORMATS:
        raise SealError(
            "UNSUPPORTED_IMAGE", "only JPEG, PNG and BMP images are accepted", 415
        )
    if img.width * img.height > MAX_IMAGE_PIXELS:
        raise SealError("IMAGE_TOO_LARGE", "the image has too many pixels", 413)
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise SealError("BROKEN_IMAGE", "the image cannot be decoded") from e
    return img


def _page_geometry(width_px: int, height_px: int) -> tuple[float, float, float, float]:
    """Page size and drawn image size, in points: A4, turned to the image's
    orientation; the image at its size at 300 dpi, shrunk to fit if larger."""
    page_w, page_h = A4 if height_px >= width_px else (A4[1], A4[0])
    draw_w = width_px * 72 / IMAGE_DPI
    draw_h = height_px * 72 / IMAGE_DPI
    scale = min(1.0, page_w / draw_w, page_h / draw_h)
    return page_w, page_h, draw_w * scale, draw_h * scale


def image_to_pdf(data: bytes) -> bytes:
    """A JPEG, PNG or BMP image as a one-page PDF.

    The page is A4 in the image's orientation; the image is centred at its
    size at 300 dpi (the resolution scans are made at), shrunk to fit when it
    is larger. JPEG data is embedded as is (no second lossy compression)
    unless it must be turned upright or is not RGB/grey; other images are
    flattened onto white and stored losslessly.
    """
    img = _load_image(data)
    passthrough = (
        img.format == "JPEG"
        and img.mode in ("RGB", "L")
        and img.getexif().get(0x0112, 1) == 1  # no EXIF rotation to apply
    )
    if not passthrough:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "P", "PA") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            img = flat.convert("RGB")
        elif img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
    page_w, page_h, draw_w, draw_h = _page_geometry(img.width, img.height)

    pdf = pikepdf.new()
    colour = pikepdf.Name.DeviceGray if img.mode == "L" else pikepdf.Name.DeviceRGB
    if passthrough:
        stream = pikepdf.Stream(pdf, data)
        stream.Filter = pikepdf.Name.DCTDecode
    else:
        stream = pikepdf.Stream(pdf, zlib.compress(img.tobytes(), 6))
        stream.Filter = pikepdf.Name.FlateDecode
    stream.Type = pikepdf.Name.XObject
    stream.Subtype = pikepdf.Name.Image
    stream.Width = img.width
    stream.Height = img.height
    stream.ColorSpace = colour
    stream.BitsPerComponent = 8
    page = pdf.add_blank_page(page_size=(page_w, page_h))
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream))
    x = (page_w - draw_w) / 2
    y = (page_h - draw_h) / 2
    page.Contents = pdf.make_stream(
        f"q {draw_w:.4f} 0 0 {draw_h:.4f} {x:.4f} {y:.4f} cm /Im0 Do Q".encode()
    )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()

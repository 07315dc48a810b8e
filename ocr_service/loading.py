"""From uploaded bytes to page images, with the limits that keep a worker
safe.

The format is judged by the file's content (magic bytes), never by its name.
Byte limits are checked before anything is decoded; pixel limits are checked
from the image header (or the PDF page size) before any pixel is decoded or
rendered, so a small file that would expand into a huge bitmap is refused
too.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pypdfium2
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from ocr_service.errors import BrokenFile, FileTooLarge, ImageTooLarge, UnsupportedFile

__all__ = ["Limits", "load_pages", "sniff", "without_red_ink"]

Kind = Literal["jpeg", "png", "bmp", "pdf"]

MIB = 1024 * 1024

# pdfium is not thread-safe: every call into it goes through this lock.
PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Limits:
    """What a worker accepts.

    ``max_pixels`` bounds every decoded image and rendered page; a PDF page
    whose rendering at ``pdf_dpi`` would exceed it is rendered at a lower
    resolution instead of being refused. Only the first ``max_pdf_pages``
    pages of a PDF are read.
    """

    max_image_bytes: int = 10 * MIB
    max_pdf_bytes: int = 20 * MIB
    max_pixels: int = 50_000_000
    pdf_dpi: int = 300
    max_pdf_pages: int = 3


def sniff(data: bytes) -> Kind | None:
    """The format ``data`` holds according to its magic bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM") and len(data) >= 26:
        header_size = int.from_bytes(data[14:18], "little")
        if header_size in (12, 16, 40, 52, 56, 64, 108, 124):
            return "bmp"
        return None
    # PDF readers accept up to 1 KiB of junk before the header.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    return None


def _megabytes(n: int) -> str:
    return f"{n / MIB:.1f} MB"


def load_pages(data: bytes, limits: Limits | None = None) -> Iterator[Image.Image]:
    """The pages of ``data`` as 8-bit grey images: one for an image file, up
    to ``limits.max_pdf_pages`` for a PDF, rendered lazily.

    Raises :class:`UnsupportedFile`, :class:`FileTooLarge`,
    :class:`ImageTooLarge` or :class:`BrokenFile`.
    """
    limits = limits or Limits()
    kind = sniff(data)
    if kind is None:
        raise UnsupportedFile(
            "the file is not a JPEG, PNG or BMP image nor a PDF document"
        )
    if kind == "pdf":
        if len(data) > limits.max_pdf_bytes:
            raise FileTooLarge(
                f"the PDF has {_megabytes(len(data))}; at most "
                f"{_megabytes(limits.max_pdf_bytes)} are accepted"
            )
        return _pdf_pages(data, limits)
    if len(data) > limits.max_image_bytes:
        raise FileTooLarge(
            f"the image has {_megabytes(len(data))}; at most "
            f"{_megabytes(limits.max_image_bytes)} are accepted"
        )
    return iter([_decode_image(data, kind, limits)])


def _decode_image(data: bytes, kind: Kind, limits: Limits) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=[kind.upper()])
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageTooLarge(
                f"the image has {width}x{height} pixels; at most "
                f"{limits.max_pixels} pixels are accepted"
            )
        if width < 1 or height < 1:
            raise BrokenFile("the image has no pixels")
        image.load()
        return _to_grey(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"the image is too large to decode safely: {e}") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise BrokenFile(f"the {kind.upper()} image cannot be decoded: {e}") from e


def _to_grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return without_red_ink(Image.alpha_composite(background, rgba).convert("RGB"))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L")
    if image.mode in ("L", "1"):
        return image.convert("L")
    return without_red_ink(image.convert("RGB"))


# How much a pixel's red must exceed its green and blue for it to be taken
# as red ink rather than as black or grey print; below it, down to the
# colour noise of a photo, a pixel is taken partly as red ink, in proportion
# (the blurred edge of a seal's stroke).
_RED_MARGIN = 40
_COLOUR_NOISE = 8
# Red ink lets some five sixths of the red light through: a pixel of red ink
# is the paper's red channel dimmed by that much.
_THROUGH_RED = [min(255, v * 6 // 5) for v in range(256)]
_RED_WEIGHTS = [
    max(0, min(255, (v - _COLOUR_NOISE) * 255 // (_RED_MARGIN - _COLOUR_NOISE)))
    for v in range(256)
]


def without_red_ink(image: Image.Image) -> Image.Image:
    """``image`` (RGB) in grey, with red ink faded to the paper.

    The red seal stamped over an issuing authority and its date would
    otherwise be read as ink and the row under it lost. A pixel whose red
    exceeds both its green and its blue by ``_RED_MARGIN`` takes its red
    channel, brightened by what the ink takes of it, as its grey: a seal
    on paper comes out as the paper, while black print under the seal stays
    dark (it is dark in every channel). A pixel less red takes a blend of
    its red and its luminance; one whose red is no more than
    ``_COLOUR_NOISE`` above the rest keeps its luminance, so black, grey,
    blue or green print is unchanged.

    Only the part of the page where an eighth-size copy shows a clear red is
    looked at closely (a seal is a small part of a page); a page with none is
    only converted.
    """
    grey = image.convert("L")
    shrink = 8 if min(image.size) >= 64 else 1
    small = image.reduce(shrink) if shrink > 1 else image
    box = _redness(small).point(lambda v: 255 if v > _RED_MARGIN // 2 else 0).getbbox()
    if box is None:
        return grey
    # The red's bounds on the page, with a cell of the small copy to spare.
    box = (
        max(0, (box[0] - 1) * shrink),
        max(0, (box[1] - 1) * shrink),
        min(image.width, (box[2] + 1) * shrink),
        min(image.height, (box[3] + 1) * shrink),
    )
    part = image.crop(box)
    mask = _redness(part).point(_RED_WEIGHTS)
    through = part.getchannel("R").point(_THROUGH_RED)
    grey.paste(Image.composite(through, grey.crop(box), mask), box[:2])
    return grey


def _redness(image: Image.Image) -> Image.Image:
    """How far each pixel's red stands above its green and its blue, less
    how far those two stand apart: a seal's red has green and blue alike,
    while brown or orange print (a frame, a title) has more green."""
    red, green, blue = image.split()
    above = ImageChops.subtract(red, ImageChops.lighter(green, blue))
    return ImageChops.subtract(above, ImageChops.difference(green, blue))


def _pdf_pages(data: bytes, limits: Limits) -> Iterator[Image.Image]:
    try:
        with PDFIUM_LOCK:
            document = pypdfium2.PdfDocument(data)
            count = len(document)
    except pypdfium2.PdfiumError as e:
        raise BrokenFile(f"the PDF cannot be opened: {e}") from e
    try:
        if count == 0:
            raise BrokenFile("the PDF has no pages")
        for index in range(min(count, limits.max_pdf_pages)):
            yield _render(document, index, limits)
    finally:
        with PDFIUM_LOCK:
            document.close()


def _render(document: pypdfium2.PdfDocument, index: int, limits: Limits) -> Image.Image:
    try:
        with PDFIUM_LOCK:
            page = document[index]
            try:
                width, height = page.get_size()
                if width <= 0 or height <= 0:
                    raise BrokenFile(f"page {index + 1} of the PDF has no area")
                scale = limits.pdf_dpi / 72
                pixels = width * height * scale * scale
                if pixels > limits.max_pixels:
                    scale *= (limits.max_pixels / pixels) ** 0.5
                if width * scale < 1 or height * scale < 1:
                    raise ImageTooLarge(
                        f"page {index + 1} of the PDF is too elongated to render"
                    )
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil()
            finally:
                page.close()
    except pypdfium2.PdfiumError as e:
        raise BrokenFile(f"page {index + 1} of the PDF cannot be rendered: {e}") from e
    return without_red_ink(image.convert("RGB"))

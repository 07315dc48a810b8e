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
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr_service.errors import BrokenFile, FileTooLarge, ImageTooLarge, UnsupportedFile

__all__ = ["Limits", "load_pages", "sniff"]

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
        return Image.alpha_composite(background, rgba).convert("L")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L")
    return image.convert("L")


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
                bitmap = page.render(scale=scale, grayscale=True)
                image = bitmap.to_pil()
            finally:
                page.close()
    except pypdfium2.PdfiumError as e:
        raise BrokenFile(f"page {index + 1} of the PDF cannot be rendered: {e}") from e
    grey: Image.Image = image.convert("L")
    return grey

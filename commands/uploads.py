"""Judging an uploaded document file by its content, never by its name.

The type comes from the magic bytes: a JPEG, PNG or BMP image at the start of
the file, or a PDF header within its first KiB (as PDF readers accept).
Anything else, such as a renamed executable, an archive, a GIF, TIFF or text,
is refused. The byte limit of the type (:data:`MAX_IMAGE_BYTES`,
:data:`MAX_PDF_BYTES`) is checked before anything is decoded. An image must
decode completely with Pillow and may not have more than
:data:`MAX_IMAGE_PIXELS` pixels, read from its header before any pixel is
decoded, so a small file that would expand into a huge bitmap is refused. A
PDF must open with pdfium without a password, be unencrypted and have between
one and :data:`MAX_PDF_PAGES` pages, the first of which must load. Every
refusal is an :class:`UploadRefused` with a stable code; no other exception
escapes, whatever the bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image

from commands.errors import CommandError

# pdfium is not thread-safe, and the API process also renders PDFs for OCR:
# every call into it, here as there, goes through the same lock.
from ocr_service.loading import PDFIUM_LOCK

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_PDF_BYTES",
    "MAX_PDF_PAGES",
    "CheckedFile",
    "UploadRefused",
    "check_upload",
]

MIB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * MIB
MAX_PDF_BYTES = 20 * MIB
MAX_IMAGE_PIXELS = 80_000_000
MAX_PDF_PAGES = 2000

# Formats with a fixed signature at offset 0: (magic, media type, extension,
# Pillow format).
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png", "PNG"),
    (b"BM", "image/bmp", "bmp", "BMP"),
)
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
# Never a document, even with a PDF header hidden in the first KiB: Windows
# and Linux executables, zip archives (and so Office files).
_FOREIGN_MAGIC = (b"MZ", b"\x7fELF", b"PK\x03\x04")


class UploadRefused(CommandError):
    """An uploaded file that is not accepted; nothing is stored."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class CheckedFile:
    """What an accepted file holds, as judged from its content."""

    media_type: str  # "image/jpeg" | "image/png" | "image/bmp" | "application/pdf"
    extension: str  # "jpg" | "png" | "bmp" | "pdf"
    size: int  # bytes
    pages: int  # 1 for images
    width: int | None  # pixels for images, None for PDF
    height: int | None


def check_upload(data: bytes) -> CheckedFile:
    """The type and shape of the uploaded ``data``, or :class:`UploadRefused`
    with code ``EMPTY_FILE``, ``UNSUPPORTED_FILE``, ``FILE_TOO_LARGE``,
    ``IMAGE_TOO_LARGE``, ``BROKEN_FILE`` or ``ENCRYPTED_PDF``."""
    if not data:
        raise UploadRefused("the file is empty", code="EMPTY_FILE", status=422)
    for magic, media_type, extension, pillow_format in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            _check_size(data, MAX_IMAGE_BYTES, "image")
            width, height = _check_image(data, pillow_format)
            return CheckedFile(media_type, extension, len(data), 1, width, height)
    if not data.startswith(_FOREIGN_MAGIC) and _PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        _check_size(data, MAX_PDF_BYTES, "PDF")
        pages = _check_pdf(data)
        return CheckedFile("application/pdf", "pdf", len(data), pages, None, None)
    raise UploadRefused(
        "the file is not a JPEG, PNG or BMP image nor a PDF document",
        code="UNSUPPORTED_FILE",
        status=415,
    )


def _check_size(data: bytes, limit: int, kind: str) -> None:
    if len(data) > limit:
        raise UploadRefused(
            f"the {kind} has {len(data)} bytes; at most {limit} are allowed",
            code="FILE_TOO_LARGE",
            status=413,
        )


def _broken(kind: str, reason: str) -> UploadRefused:
    return UploadRefused(
        f"the {kind} is damaged and cannot be read ({reason})",
        code="BROKEN_FILE",
        status=422,
    )


def _too_many_pixels(detail: str) -> UploadRefused:
    return UploadRefused(
        f"the image {detail}; at most {MAX_IMAGE_PIXELS} pixels are allowed",
        code="IMAGE_TOO_LARGE",
        status=422,
    )


def _check_image(data: bytes, pillow_format: str) -> tuple[int, int]:
    """The image's width and height once it has decoded completely."""
    kind = f"{pillow_format} image"
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _too_many_pixels(f"has {width}x{height} pixels")
            if width < 1 or height < 1:
                raise _broken(kind, "it has no pixels")
            image.verify()
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            image.load()
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own, process-wide limit (the warning only when warnings
        # are turned into errors); ours is checked first and is lower.
        raise _too_many_pixels("is too large to decode safely") from None
    except Exception as e:  # noqa: BLE001  # decoders of any bytes raise many kinds
        raise _broken(kind, type(e).__name__) from None
    return width, height


def _check_pdf(data: bytes) -> int:
    """The PDF's number of pages once it has opened without a password."""
    with PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as e:
            if e.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise _encrypted() from None
            raise _broken("PDF", str(e)) from None
        except Exception as e:  # noqa: BLE001  # any failure to open is damage
            raise _broken("PDF", type(e).__name__) from None
        try:
            encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1
            pages = len(document)
            if not encrypted and 1 <= pages <= MAX_PDF_PAGES:
                document[0].close()
        except Exception as e:  # noqa: BLE001  # a broken page tree shows here
            raise _broken("PDF", type(e).__name__) from None
        finally:
            document.close()
    if encrypted:
        raise _encrypted()
    if pages < 1:
        raise _broken("PDF", "it has no pages")
    if pages > MAX_PDF_PAGES:
        raise UploadRefused(
            f"the PDF has {pages} pages; at most {MAX_PDF_PAGES} are allowed",
            code="BROKEN_FILE",
            status=422,
        )
    return pages


def _encrypted() -> UploadRefused:
    return UploadRefused(
        "the PDF is encrypted or protected by a password; upload it unprotected",
        code="ENCRYPTED_PDF",
        status=422,
    )

"""Errors of the OCR service.

Every failure the service reports is an :class:`OcrError` carrying a stable,
upper-case ``code`` that API clients can switch on, and a message for people.
Errors raised by Pillow, pypdfium2 or Tesseract are translated into these at
the boundary where they occur and chained with ``from``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokenFile",
    "EmptyPage",
    "EngineUnavailable",
    "FileTooLarge",
    "ImageTooLarge",
    "OcrError",
    "RecognitionFailed",
    "RecognitionTimeout",
    "UnsupportedFile",
]


class OcrError(Exception):
    """Root of the OCR service's errors; ``code`` is stable, ``message`` is
    for people."""

    code = "OCR_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready object: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class UnsupportedFile(OcrError):
    """The bytes are neither a JPEG, PNG or BMP image nor a PDF document."""

    code = "UNSUPPORTED_FILE"


class BrokenFile(OcrError):
    """The bytes look like a supported format but cannot be decoded."""

    code = "BROKEN_FILE"


class FileTooLarge(OcrError):
    """The file is larger than its format's byte limit."""

    code = "FILE_TOO_LARGE"


class ImageTooLarge(OcrError):
    """The image (or rendered page) has more pixels than allowed: a guard
    against decompression bombs."""

    code = "IMAGE_TOO_LARGE"


class EmptyPage(OcrError):
    """The page holds no legible text."""

    code = "EMPTY_PAGE"


class RecognitionTimeout(OcrError):
    """Tesseract did not finish a page within the time allowed."""

    code = "RECOGNITION_TIMEOUT"


class RecognitionFailed(OcrError):
    """Tesseract failed on a page for a reason other than the input."""

    code = "RECOGNITION_FAILED"


class EngineUnavailable(OcrError):
    """Tesseract or its language data cannot be loaded."""

    code = "ENGINE_UNAVAILABLE"

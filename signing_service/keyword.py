"""Seal placements found by a keyword printed on the page.

Templates mark where a seal goes with a word such as "盖章处" or "(盖章)".
:func:`find_keyword` searches the text layer with PDFium and returns a
seal-sized placement centred on every occurrence, moved inwards where the
word sits so close to an edge that the seal would leave the page. Scans
without a text layer have nothing to find (``KEYWORD_NOT_FOUND``): run OCR
first or place the seal by coordinates.

PDFium is not thread-safe, so every use of it here holds one module lock.
"""

from __future__ import annotations

import threading

import pypdfium2 as pdfium

from signing_service.errors import SealError
from signing_service.layout import DEFAULT_SIZE, Placement

__all__ = ["find_keyword"]

_PDFIUM_LOCK = threading.Lock()


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def find_keyword(
    pdf: bytes,
    keyword: str,
    *,
    width: float = DEFAULT_SIZE,
    height: float = DEFAULT_SIZE,
) -> list[Placement]:
    """A placement centred on each occurrence of ``keyword``, page by page in
    reading order; ``KEYWORD_NOT_FOUND`` (422) when there is none."""
    word = keyword.strip()
    if not word:
        raise SealError("KEYWORD_NOT_FOUND", "the keyword is empty")
    found: list[Placement] = []
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as e:
            raise SealError("BROKEN_PDF", "the PDF document cannot be read") from e
        try:
            for index in range(len(doc)):
                page = doc[index]
                left, bottom, right, top = page.get_cropbox()
                textpage = page.get_textpage()
                searcher = textpage.search(word, match_case=True)
                while (hit := searcher.get_next()) is not None:
                    start, count = hit
                    boxes = [
                        textpage.get_charbox(i) for i in range(start, start + count)
                    ]
                    cx = (min(b[0] for b in boxes) + max(b[2] for b in boxes)) / 2
                    cy = (min(b[1] for b in boxes) + max(b[3] for b in boxes)) / 2
                    x = _clamp(cx - width / 2, left, right - width)
                    y = _clamp(cy - height / 2, bottom, top - height)
                    found.append(Placement(index + 1, x, y, width, height))
        finally:
            doc.close()
    if not found:
        raise SealError(
            "KEYWORD_NOT_FOUND", f"the text {word!r} is not in the document"
        )
    return found

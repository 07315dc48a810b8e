"""Finding printed keywords in OCR text, tolerating one misread character.

Text here is compact (no white space), as :class:`ocr_service.text.Row`
keeps it. Keywords of four characters or more match with one substituted
character, since a misread character in a title or label is common, or with
one character inserted between their first and last (Tesseract reads a
speck in a letter-spaced label as a character, often 和); shorter ones must
match exactly, since one character of two says too little.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Hit", "find_all", "find_keyword"]

FUZZY_FROM = 4


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a keyword was found: ``[start, end)``, and whether exactly."""

    start: int
    end: int
    exact: bool


def find_all(text: str, keyword: str, *, fuzzy: bool = True) -> list[Hit]:
    """Every non-overlapping place ``keyword`` occurs in ``text``, exact hits
    first, then (for long keywords) those with one character substituted."""
    hits: list[Hit] = []
    start = text.find(keyword)
    while start >= 0:
        hits.append(Hit(start, start + len(keyword), True))
        start = text.find(keyword, start + len(keyword))
    if not fuzzy or len(keyword) < FUZZY_FROM:
        return hits
    size = len(keyword)
    if len(set(keyword) & set(text)) < len(set(keyword)) - 1:
        return hits
    for start in range(len(text) - size + 1):
        if any(h.start < start + size and start < h.end for h in hits):
            continue
        window = text[start : start + size]
        if window[0] != keyword[0] and window[-1] != keyword[-1]:
            continue
        mismatches = sum(1 for a, b in zip(window, keyword, strict=True) if a != b)
        if mismatches == 1:
            hits.append(Hit(start, start + size, False))
    for start in range(len(text) - size):
        if any(h.start < start + size + 1 and start < h.end for h in hits):
            continue
        window = text[start : start + size + 1]
        if window[0] != keyword[0] or window[-1] != keyword[-1]:
            continue
        if any(window[:j] + window[j + 1 :] == keyword for j in range(1, size)):
            hits.append(Hit(start, start + size + 1, False))
    return sorted(hits, key=lambda h: h.start)


def find_keyword(text: str, keyword: str, *, fuzzy: bool = True) -> Hit | None:
    """The first place ``keyword`` occurs in ``text`` (exact preferred)."""
    hits = find_all(text, keyword, fuzzy=fuzzy)
    exact = [h for h in hits if h.exact]
    if exact:
        return exact[0]
    return hits[0] if hits else None

"""What recognition produces: glyphs with boxes and confidences, grouped into
Tesseract's text lines, and those lines regrouped into visual rows.

Tesseract often segments a form's label column and value column into separate
blocks, so a label and its value end up in different text lines. A
:class:`Row` joins the lines that sit side by side on the page (in the
deskewed working image) so that a label and the value to its right are read
together. Row text is *compact*: white space is dropped, since Chinese is
written without it and labels are often letter-spaced (``名    称``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Box", "Glyph", "Line", "Page", "Row", "group_rows", "union"]

Box = tuple[int, int, int, int]


def union(boxes: Iterable[Box]) -> Box:
    """The smallest box holding all ``boxes`` (which must not be empty)."""
    x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
    return min(x0s), min(y0s), max(x1s), max(y1s)


@dataclass(frozen=True, slots=True)
class Glyph:
    """One recognised character: its text (NFKC-folded), box in working-image
    pixels, confidence in ``[0, 1]``, and whether a word space precedes it."""

    text: str
    box: Box
    confidence: float
    space_before: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """A text line as Tesseract segmented it."""

    glyphs: tuple[Glyph, ...]

    @property
    def box(self) -> Box:
        return union(g.box for g in self.glyphs)

    @property
    def text(self) -> str:
        return "".join(g.text for g in self.glyphs)


@dataclass(frozen=True, slots=True)
class Page:
    """The lines recognised on one page, the working image's size, and how to
    map a working-image box back onto the image as submitted."""

    lines: tuple[Line, ...]
    width: int
    height: int
    to_original: Callable[[Box], Box] = field(default=lambda box: box)
    # The part of the image as submitted that a working-image box shows
    # (straightened, at the submitted resolution, with a margin in working
    # pixels), and the working image's scale; ``None`` without an image.
    crop: Callable[[Box, float], Image.Image] | None = None
    scale: float = 1.0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class Row:
    """Lines side by side on the page, their glyphs in reading order.

    ``text`` is the compact text: one entry of ``owners`` per character names
    the glyph it came from, so any span of the text has a box and a
    confidence.
    """

    glyphs: tuple[Glyph, ...]
    text: str
    owners: tuple[int, ...]

    @classmethod
    def of(cls, glyphs: Sequence[Glyph]) -> Row:
        text: list[str] = []
        owners: list[int] = []
        for index, glyph in enumerate(glyphs):
            for c in glyph.text:
                if c.isspace() or c in _QUOTES:
                    continue
                text.append(c)
                owners.append(index)
        return cls(tuple(glyphs), "".join(text), tuple(owners))

    @property
    def box(self) -> Box:
        return union(g.box for g in self.glyphs)

    def replaced(self, texts: dict[int, str]) -> Row:
        """This row with the glyphs at the keys of ``texts`` reading their
        values instead (each a single character for a single character, so
        that every position in the row keeps its meaning)."""
        glyphs = list(self.glyphs)
        for index, text in texts.items():
            if len(text) == len(glyphs[index].text) == 1:
                glyphs[index] = replace(glyphs[index], text=text)
        return Row.of(glyphs)

    @property
    def height(self) -> int:
        heights = sorted(g.box[3] - g.box[1] for g in self.glyphs)
        return heights[len(heights) // 2]

    def span_glyphs(self, start: int, end: int) -> list[Glyph]:
        indices = sorted(set(self.owners[start:end]))
        return [self.glyphs[i] for i in indices]

    def span_box(self, start: int, end: int) -> Box:
        return union(g.box for g in self.span_glyphs(start, end))

    def span_confidence(self, start: int, end: int) -> float:
        glyphs = self.span_glyphs(start, end)
        return sum(g.confidence for g in glyphs) / len(glyphs) if glyphs else 0.0

    def span_text(self, start: int, end: int) -> str:
        """The span as people write it: compact, except for word spaces
        between Latin letters or digits."""
        out: list[str] = []
        previous = -1
        for position in range(start, end):
            owner = self.owners[position]
            glyph = self.glyphs[owner]
            if (
                owner != previous
                and glyph.space_before
                and out
                and _is_latin(out[-1])
                and _is_latin(self.text[position])
            ):
                out.append(" ")
            out.append(self.text[position])
            previous = owner
        return "".join(out)

    def gap_before(self, position: int) -> float:
        """Horizontal white space before the character at ``position``, in
        multiples of the row's character height (0 for the first)."""
        if position <= 0 or position >= len(self.owners):
            return 0.0
        here = self.glyphs[self.owners[position]]
        there = self.glyphs[self.owners[position - 1]]
        if here is there:
            return 0.0
        return max(0, here.box[0] - there.box[2]) / max(1, self.height)


# Quotation marks: OCR reads them into letter-spaced labels from specks, and
# no field keeps them, so rows leave them out.
_QUOTES = frozenset("\"'“”‘’`")


def _is_latin(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _vertical_overlap(a: Box, b: Box) -> float:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    shorter = min(a[3] - a[1], b[3] - b[1])
    return overlap / shorter if shorter > 0 else 0.0


def _horizontal_overlap(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 0


def group_rows(lines: Sequence[Line]) -> list[Row]:
    """Lines joined into rows, top to bottom.

    A line joins a row when it overlaps the row's band by at least half the
    lower height and does not overlap any of the row's lines horizontally.
    """
    bands: list[tuple[Box, list[Line]]] = []
    for line in sorted(
        (line for line in lines if line.glyphs),
        key=lambda ln: (ln.box[1] + ln.box[3]) / 2,
    ):
        box = line.box
        for index, (band, members) in enumerate(bands):
            if _vertical_overlap(band, box) >= 0.5 and not any(
                _horizontal_overlap(m.box, box) for m in members
            ):
                members.append(line)
                bands[index] = (union([band, box]), members)
                break
        else:
            bands.append((box, [line]))
    rows: list[Row] = []
    for _, members in sorted(bands, key=lambda b: b[0][1]):
        members.sort(key=lambda ln: ln.box[0])
        glyphs = [g for m in members for g in m.glyphs]
        rows.append(Row.of(glyphs))
    return rows


def nfkc(text: str) -> str:
    """``text`` folded by NFKC (full-width forms to ASCII)."""
    return unicodedata.normalize("NFKC", text)

"""The recogniser: bytes in, one result out, on a pool of worker threads.

Each worker thread creates one :class:`~ocr_service.engine.Engine` the first
time it is given work and keeps it for its lifetime; Tesseract releases the
GIL while it recognises, so the threads read pages in parallel. Callers that
must not block (an API handler) use :meth:`Recogniser.submit` and await the
future; :meth:`Recogniser.recognise` waits for it.

The result, the same for every input::

    {"type": KIND, "confidence": 0.0-1.0,
     "fields": {KEY: {"value": ..., "confidence": ..., "box": [x0, y0, x1, y1]}}}

Boxes are in pixels of the image as submitted (for a PDF, of its page
rendered at the configured resolution). A PDF is read page by page, up to
the configured number of pages, until a page's kind is recognised; that
page's result is returned (the first page's if no kind is recognised).
Values in doubt (see :mod:`ocr_service.fields`) are read a second time from
the image as submitted, cropped to the value's box, straightened, scaled to
a fixed text height and read as one line by the worker's second Tesseract
instance, with the characters the value may hold (codes, dates; a person's
name whose first character is no surname is read the same way); a number's
leading character that is no province abbreviation (or a bare 国 before
digits) is read once more on its own, restricted to them, and so is a name's
first character that is no surname, restricted to surnames; that
character's cell is found from the ink, one text height wide, since
Tesseract's glyph boxes in a line are often a good part of a character off.
A drug approval number is read with its own alphabet; a band where a row
was lost is cut to its ink before it is scaled and read.
The Chinese characters of names, and the doubtful ones of free text, are
checked by their shape against the glyph bank (:mod:`ocr_service.glyphs`)
in their cells on the image as submitted (:func:`_verifier`).
Failures raise an :class:`~ocr_service.errors.OcrError` with a stable code;
none of them harms the worker, which goes on to the next file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from aggregates.identifiers import USCC_ALPHABET
from ocr_service.classify import UNKNOWN, classify
from ocr_service.engine import Engine, EngineSettings
from ocr_service.errors import EmptyPage, OcrError
from ocr_service.fields import Reread, Verify, extract
from ocr_service.glyphs import GlyphBank, Judgement, ink_of, shared_bank
from ocr_service.loading import Limits, load_pages
from ocr_service.normalise import NUMBER_PREFIXES, SURNAMES
from ocr_service.text import Box, Glyph, Line, Page, Row, group_rows

__all__ = ["Recogniser", "read_page"]

Result = dict[str, Any]


# Titles are printed several times larger than the body, and Tesseract
# misses text far larger than the working line height; a page whose kind is
# not recognised is read again at this fraction of it, for its titles only.
_TITLE_PASS_FACTOR = 0.4


def read_page(engine: Engine, image: Image.Image, today: date | None = None) -> Result:
    """The result for one page image, read with ``engine``."""
    page = engine.read(image)
    rows = group_rows(page.lines)
    kind = classify(rows)
    if kind.kind == UNKNOWN:
        options = engine.settings.preprocessing
        small = replace(
            options, target_line_height=options.target_line_height * _TITLE_PASS_FACTOR
        )
        try:
            titles = group_rows(engine.read(image, small).lines)
        except EmptyPage:
            titles = []
        kind = classify([*titles, *rows])
    fields = extract(
        rows,
        kind.kind,
        page.to_original,
        today=today,
        reread=_rereader(engine, page),
        verify=_verifier(page) if engine.settings.check_shapes else None,
    )
    return {
        "type": kind.kind,
        "confidence": kind.confidence,
        "fields": {key: field.as_dict() for key, field in fields.items()},
    }


# The second reading of a value: its box from the image as submitted, with a
# margin of this fraction of the box height left and right, scaled so that
# the text is this many pixels high, and read as one line with the characters
# its kind allows.
_REREAD_MARGIN = 0.3
# Above and below names and text, the margin is smaller: the next row's ink,
# in a crop, turns the reading of a short name into nonsense. (Codes, dates
# and numbers read best with the full margin.)
_REREAD_MARGIN_Y = 0.12
_SHORT_MARGIN = frozenset({"name", "text", "sex", "ethnicity"})
_REREAD_LINE_HEIGHT = 40.0
_WHITELISTS = {
    "uscc": USCC_ALPHABET,
    "id": "0123456789X",
    "date": "0123456789年月日.-/",
    "term": "0123456789年月日.-/至长期有效自起",
    "term_end": "0123456789年月日.-/至长期有效",
    "validity": "0123456789年月日.-/至长期有效自起",
    "approval": "国药准字HZSJBTF0123456789",
}


def _rereader(engine: Engine, page: Page) -> Reread | None:
    crop = page.crop
    if crop is None:
        return None

    def reread(boxes: tuple[Box, ...], reads: str) -> str | None:
        texts: list[str] = []
        for box in boxes:
            height = box[3] - box[1]
            if height <= 0 or box[2] <= box[0]:
                return None
            margin_x = round(_REREAD_MARGIN * height)
            margin_y = round(
                (_REREAD_MARGIN_Y if reads in _SHORT_MARGIN else _REREAD_MARGIN)
                * height
            )
            if reads == "row":
                margin_y = 0
            image = crop(
                (
                    box[0] - margin_x,
                    box[1] - margin_y,
                    box[2] + margin_x,
                    box[3] + margin_y,
                ),
                0,
            )
            text_height = height / page.scale
            if reads == "row":
                found = _ink_band(image)
                if found is None:
                    return None
                image, text_height = found
            factor = _REREAD_LINE_HEIGHT / text_height
            if abs(factor - 1.0) > 0.05:
                image = image.resize(
                    (
                        max(1, round(image.width * factor)),
                        max(1, round(image.height * factor)),
                    ),
                    Image.Resampling.LANCZOS if factor > 1 else Image.Resampling.BOX,
                )
            line = engine.read_line(image, _WHITELISTS.get(reads, ""))
            if line is None and reads == "row":
                # The line reader at times finds no line where a row stands
                # over a patterned ground (an ID card's top); the page
                # reader, with its own pre-processing, still reads it.
                line = _read_as_page(engine, image)
            if line is None:
                return None
            if reads in ("number", "approval") and not texts:
                line = _read_prefix(engine, image, line)
            if reads == "name" and not texts:
                line = _read_surname(engine, image, line)
            row = Row.of(line.glyphs)
            texts.append(row.span_text(0, len(row.text)))
        return "".join(texts)

    return reread


def _read_as_page(engine: Engine, image: Image.Image) -> Line | None:
    """The glyphs the page reader finds on ``image``, as one line."""
    try:
        page = engine.read(ImageOps.expand(image, border=20, fill=255))
    except EmptyPage:
        return None
    glyphs = tuple(g for line in page.lines for g in line.glyphs)
    return Line(glyphs) if glyphs else None


def _ink_band(image: Image.Image) -> tuple[Image.Image, float] | None:
    """``image`` (a band where a row may be) cut to the rows holding ink,
    with a margin, and the height of that ink; ``None`` if it is blank."""
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    low, high = float(pixels.min()), float(pixels.max())
    if high - low < 64:
        return None
    # The tallest run of inked pixel rows (a neighbouring row's edge, cut
    # into the band, is a thin run apart from it).
    found = _tallest_band(pixels < high - _INK_LEVEL * (high - low))
    if found is None:
        return None
    top, bottom = found
    margin = round(_REREAD_MARGIN * (bottom - top))
    band = image.crop((0, max(0, top - margin), image.width, bottom + margin))
    return band, float(bottom - top)


def _first_character(line: Line) -> int | None:
    """Where the first character of ``line`` that is not punctuation (a
    label's colon the crop took in) stands, if it is a Chinese one."""
    at = 0
    while at < len(line.glyphs) and not line.glyphs[at].text[:1].isalnum():
        at += 1
    if at == len(line.glyphs) or not "\u4e00" <= line.glyphs[at].text[:1] <= "\u9fff":
        return None
    return at


def _read_prefix(engine: Engine, image: Image.Image, line: Line) -> Line:
    """``line`` (a number read from ``image``) with a leading Chinese
    character that is no province abbreviation read again from its own box,
    restricted to those abbreviations."""
    at = _first_character(line)
    if at is None:
        return line
    first = line.glyphs[at]
    following = "".join(g.text for g in line.glyphs[at + 1 : at + 2])
    # 国 stands first only before what it licenses (国药准字, 国械注准);
    # before digits it is a province's abbreviation misread.
    before_digits = following[:1].isdigit()
    if first.text in NUMBER_PREFIXES and not (first.text == "国" and before_digits):
        return line
    allowed = NUMBER_PREFIXES.replace("国", "") if before_digits else NUMBER_PREFIXES
    return _vote_first(engine, image, line, at, allowed)


def _read_surname(engine: Engine, image: Image.Image, line: Line) -> Line:
    """``line`` (a person's name read from ``image``) with a first character
    that is no surname read again from its own box, restricted to surnames
    (a closed set, :data:`~ocr_service.normalise.SURNAMES`)."""
    at = _first_character(line)
    if at is None or line.glyphs[at].text in SURNAMES:
        return line
    return _vote_first(engine, image, line, at, SURNAMES)


def _vote_first(
    engine: Engine, image: Image.Image, line: Line, at: int, allowed: str
) -> Line:
    """``line`` with its glyph ``at`` read again from the character's cell on
    ``image``, restricted to ``allowed``."""
    first = line.glyphs[at]
    x0, y0, x1, y1 = _prefix_box(image, line, at)
    height = y1 - y0
    # Tesseract reads one character best with white space around it; its
    # reading of a rare one changes with a pixel more or less of crop or
    # scale, so four crops vote, each with its confidence.
    votes: dict[str, float] = {}
    for pad in (max(2, height // 8), max(3, height // 4)):
        crop = image.crop(
            (max(0, x0 - pad), 0, min(image.width, x1 + pad), image.height)
        )
        for factor in _PREFIX_SCALES:
            scaled = crop.resize(
                (
                    max(1, round(crop.width * factor)),
                    max(1, round(crop.height * factor)),
                ),
                Image.Resampling.LANCZOS,
            )
            border = max(4, round(height * factor / 2))
            again = engine.read_line(
                ImageOps.expand(scaled, border=border, fill=255), allowed
            )
            if again is not None and len(again.text) == 1:
                glyph = again.glyphs[0]
                votes[glyph.text] = votes.get(glyph.text, 0.0) + glyph.confidence
    if not votes:
        return line
    best = max(votes, key=lambda c: votes[c])
    glyphs = line.glyphs
    return Line((*glyphs[:at], replace(first, text=best), *glyphs[at + 1 :]))


_PREFIX_SCALES = (1.0, 0.8)
# Pixels darker than this share of the way from the crop's lightest to its
# darkest are ink, when the prefix's cell is found from the image.
_INK_LEVEL = 0.5


def _prefix_box(image: Image.Image, line: Line, at: int) -> Box:
    """The box of the character ``line.glyphs[at]`` stands for, found from
    the ink rather than from Tesseract's glyph box, which for a line read
    whole is often a good part of a character off. A Chinese character is
    about as wide as the line's text is high: the cell starts at the first
    ink right of the glyph before it (the label's colon) and is one text
    height wide. Tesseract's box where no such ink is found."""
    glyph = line.glyphs[at]
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    low, high = float(pixels.min()), float(pixels.max())
    if high - low < 32:
        return glyph.box
    ink = pixels < high - _INK_LEVEL * (high - low)
    top = min(g.box[1] for g in line.glyphs)
    bottom = max(g.box[3] for g in line.glyphs)
    band = ink[top:bottom]
    rows = np.flatnonzero(band.any(axis=1))
    if rows.size == 0:
        return glyph.box
    y0, y1 = top + int(rows[0]), top + int(rows[-1]) + 1
    height = y1 - y0
    start = line.glyphs[at - 1].box[2] if at > 0 else 0
    # Not before the glyph's own box by more than a character's width.
    start = max(start, glyph.box[0] - height)
    columns = np.flatnonzero(ink[y0:y1, start:].any(axis=0))
    if columns.size == 0:
        return glyph.box
    x0 = start + int(columns[0])
    return x0, y0, min(image.width, x0 + height), y1


# Which characters are checked by their shape (see :mod:`ocr_service.glyphs`):
# every Chinese character of a person's name (short, and made of the rarer
# characters), and those of free text that Tesseract read with less than
# this confidence. One is replaced where the bank finds another
# character at least this alike and this much more alike than the one read
# (or the one read is not in the bank at all).
_SHAPE_CONFIDENCE = 0.96
_SHAPE_SCORE = 0.6
_SHAPE_MARGIN = 0.04
# A run of characters is checked only where its ink is as wide as the
# characters read there would print: one em a Chinese character, this share
# of one a digit, letter or mark, and an em this many ink heights (fonts
# print Chinese characters about 0.9 em high; labels may be letter-spaced).
_NARROW_ADVANCE = 0.55
_EM_RANGE = (0.95, 1.45)
# A character's cell is looked for this share of an em either side of where
# the characters before it put it.
_CELL_REACH = 0.3
# A name whose ink holds one character more than was read, at an em of at
# most this many ink heights (tighter than for a run read whole: names are
# not letter-spaced), lost one; the character left over is taken when the
# bank finds one at least this alike.
_LOST_EM = 1.25
_LOST_SCORE = 0.75


def _advance(character: str) -> float:
    wide = "\u2e80" <= character <= "\u9fff" or "\uff00" <= character <= "\uffef"
    return 1.0 if wide else _NARROW_ADVANCE


def _verifier(page: Page) -> Verify | None:
    """Checks a run of a row's glyphs by their shapes. Tesseract's boxes for
    the characters of a line are often a character off, so each character's
    place is found from the run's ink: the characters read are laid along
    it, one em a Chinese character, and a doubtful one's cell is the ink
    near its place. Where the ink is not as wide as the characters read
    (one read twice, one lost), the run is left as read; only a name whose
    ink holds exactly one character more than was read gets the lost one
    back (:func:`_lost_character`)."""
    crop = page.crop
    bank = shared_bank()
    if crop is None or bank is None:
        return None

    def verify(row: Row, indices: tuple[int, ...], reads: str) -> dict[int, str]:
        glyphs = [row.glyphs[i] for i in indices]
        below = 1.01 if reads == "name" else _SHAPE_CONFIDENCE
        doubtful = [
            k
            for k, glyph in enumerate(glyphs)
            if len(glyph.text) == 1
            and "\u4e00" <= glyph.text <= "\u9fff"
            and glyph.confidence < below
        ]
        if not doubtful or any(len(g.text) != 1 for g in glyphs):
            return {}
        height = row.height
        margin = round(0.3 * height)
        left = max(0, glyphs[0].box[0] - margin)
        # A name's last character may be lost whole: the crop reaches a
        # character further right, and the name's ink ends at the first
        # wide gap after the last glyph.
        reach_right = round(1.3 * height) if reads == "name" else margin
        box = (
            left,
            max(0, row.box[1] - margin // 2),
            glyphs[-1].box[2] + reach_right,
            row.box[3] + margin // 2,
        )
        ink = ink_of(np.asarray(crop(box, 0)))
        band = _tallest_band(ink > 0.5)
        if band is None:
            return {}
        top, bottom = band
        ink = ink[top:bottom]
        text_height = bottom - top
        last = (glyphs[-1].box[2] - left) / page.scale
        columns = _value_columns(ink, text_height, last)
        if columns.size == 0:
            return {}
        advances = [_advance(g.text) for g in glyphs]
        # The last character's right side bearing is not inked.
        width = columns[-1] + 1 - columns[0] + 0.1 * text_height

        def centre(slot: float, em: float) -> float:
            return float(columns[0] - 0.05 * em + (slot + 0.5) * em)

        def judge(k: int, slot: float, em: float) -> Judgement | None:
            return bank.judge(
                ink, glyphs[k].text, text_height, centre(slot, em), _CELL_REACH * em
            )

        em = width / sum(advances)
        lost: tuple[int, str] | None = None
        extra: int | None = None
        if _EM_RANGE[0] * text_height <= em <= _EM_RANGE[1] * text_height:
            slots = [sum(advances[:k]) for k in range(len(glyphs))]
        elif reads == "name" and all(a == 1.0 for a in advances):
            more = width / (len(glyphs) + 1)
            fewer = width / (len(glyphs) - 1) if len(glyphs) > 2 else 0.0
            if _EM_RANGE[0] * text_height <= more <= _LOST_EM * text_height:
                em = more
                found = _lost_character(bank, ink, glyphs, text_height, em, centre)
                if found is None:
                    return {}
                slots = [k if k < found[0] else k + 1 for k in range(len(glyphs))]
                lost = found
            elif _EM_RANGE[0] * text_height <= fewer <= _LOST_EM * text_height:
                em = fewer
                extra = _extra_glyph(bank, ink, glyphs, text_height, em, centre)
                if extra is None:
                    return {}
                slots = [k if k < extra else k - 1 for k in range(len(glyphs))]
                doubtful = [k for k in doubtful if k != extra]
            else:
                return {}
        else:
            return {}
        replaced: dict[int, str] = {}
        if extra is not None:
            replaced[indices[extra]] = ""
        for k in doubtful:
            judged = judge(k, slots[k], em)
            if (
                judged is None
                or judged.best == glyphs[k].text
                or judged.score < _SHAPE_SCORE
                or (
                    judged.read_score is not None
                    and judged.score - judged.read_score < _SHAPE_MARGIN
                )
            ):
                continue
            replaced[indices[k]] = judged.best
        if lost is not None:
            place, lost_text = lost
            k = min(place, len(glyphs) - 1)
            own = replaced.get(indices[k], glyphs[k].text)
            replaced[indices[k]] = lost_text + own if place <= k else own + lost_text
        return replaced

    return verify


def _value_columns(ink: np.ndarray, height: int, last: float) -> np.ndarray:
    """The inked columns of ``ink`` up to the first gap of half a text
    height or more right of column ``last`` (where the value's last glyph
    ends): what follows such a gap is no part of the value."""
    columns = np.flatnonzero((ink > 0.35).any(axis=0))
    if columns.size < 2:
        return columns
    gaps = np.flatnonzero(np.diff(columns) > 0.5 * height)
    for at in gaps:
        if columns[at] >= last - 0.5 * height:
            return columns[: at + 1]
    return columns


def _fit(
    bank: GlyphBank,
    ink: np.ndarray,
    read: str,
    height: int,
    centre: float,
    reach: float,
) -> float:
    """How like ``read`` the cell around ``centre`` is (0 where no cell)."""
    judged = bank.judge(ink, read, height, centre, reach)
    return (judged.read_score or 0.0) if judged is not None else 0.0


def _lost_character(
    bank: GlyphBank,
    ink: np.ndarray,
    glyphs: list[Glyph],
    height: int,
    em: float,
    centre: Callable[[float, float], float],
) -> tuple[int, str] | None:
    """Where a name whose ink holds one character more than was read lost
    it, and which character it is: the place that lets the characters read
    fit their cells best, and the bank's character for the cell left over
    (``None`` unless it is clearly one)."""
    reach = _CELL_REACH * em
    fits = {
        (k, s): _fit(bank, ink, glyphs[k].text, height, centre(s, em), reach)
        for k in range(len(glyphs))
        for s in (k, k + 1)
    }
    place = max(
        range(len(glyphs) + 1),
        key=lambda p: sum(fits[(k, k if k < p else k + 1)] for k in range(len(glyphs))),
    )
    judged = bank.judge(ink, "", height, centre(place, em), reach)
    if judged is None or judged.score < _LOST_SCORE:
        return None
    return place, judged.best


def _extra_glyph(
    bank: GlyphBank,
    ink: np.ndarray,
    glyphs: list[Glyph],
    height: int,
    em: float,
    centre: Callable[[float, float], float],
) -> int | None:
    """Which glyph of a name whose ink holds one character fewer than was
    read stands for no character of its own (Tesseract reads a speck or
    half a character as one): the glyph whose leaving out lets the others
    fit their cells best, if it is unlike both cells beside its place
    (``None`` otherwise)."""
    reach = _CELL_REACH * em
    cells = len(glyphs) - 1
    fits = {
        (k, s): _fit(bank, ink, glyphs[k].text, height, centre(s, em), reach)
        if 0 <= s < cells
        else 0.0
        for k in range(len(glyphs))
        for s in (k - 1, k)
    }
    extra = max(
        range(len(glyphs)),
        key=lambda p: sum(
            fits[(k, k if k < p else k - 1)] for k in range(len(glyphs)) if k != p
        ),
    )
    if max(fits[(extra, extra - 1)], fits[(extra, extra)]) >= _SHAPE_SCORE:
        return None
    return extra


def _tallest_band(inked: np.ndarray) -> tuple[int, int] | None:
    """The tallest run of pixel rows holding ink (two or more pixels true in
    ``inked``), allowing gaps of two rows; ``None`` if none does."""
    rows = np.flatnonzero(inked.sum(axis=1) >= 2)
    if rows.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(rows) > 2)
    starts = np.concatenate(([rows[0]], rows[breaks + 1]))
    ends = np.concatenate((rows[breaks], [rows[-1]])) + 1
    tallest = int(np.argmax(ends - starts))
    return int(starts[tallest]), int(ends[tallest])


class Recogniser:
    """Reads uploaded licence and ID-card files on ``workers`` threads (by
    default one per CPU), each with its own engine."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        settings: EngineSettings | None = None,
        limits: Limits | None = None,
        today: date | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        self.limits = limits or Limits()
        self._today = today
        self._local = threading.local()
        self._engines: list[Engine] = []
        self._engines_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, thread_name_prefix="ocr"
        )
        if self.settings.check_shapes:
            # The glyph bank takes seconds to build the first time on a
            # machine; it is made ready while no file waits for it.
            threading.Thread(target=shared_bank, name="ocr-glyphs", daemon=True).start()

    def __enter__(self) -> Recogniser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the work in hand, then free every engine."""
        self._pool.shutdown(wait=True)
        with self._engines_lock:
            for engine in self._engines:
                engine.close()
            self._engines.clear()

    @property
    def engines_created(self) -> int:
        """How many engines the workers have created (at most one each)."""
        with self._engines_lock:
            return len(self._engines)

    def submit(self, data: bytes, filename: str | None = None) -> Future[Result]:
        """Queue ``data`` for reading; the future holds the result or raises
        an :class:`OcrError`."""
        return self._pool.submit(self._recognise, bytes(data), filename)

    def recognise(self, data: bytes, filename: str | None = None) -> Result:
        """The result for ``data`` (an image or PDF file's bytes). The name is
        only used in messages: the format is judged by content."""
        return self.submit(data, filename).result()

    def _engine(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = Engine(self.settings)
            self._local.engine = engine
            with self._engines_lock:
                self._engines.append(engine)
        return engine

    def _recognise(self, data: bytes, filename: str | None) -> Result:
        try:
            return self._read_pages(data)
        except OcrError as e:
            if filename:
                e.message = f"{filename}: {e.message}"
                e.args = (e.message,)
            raise

    def _read_pages(self, data: bytes) -> Result:
        engine = self._engine()
        first: Result | None = None
        empty: EmptyPage | None = None
        for image in load_pages(data, self.limits):
            try:
                result = read_page(engine, image, self._today)
            except EmptyPage as e:
                empty = empty or e
                continue
            if result["type"] != UNKNOWN:
                return result
            first = first or result
        if first is not None:
            return first
        raise empty or EmptyPage("no page holds legible text")

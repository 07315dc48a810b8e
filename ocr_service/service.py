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
leading character that is no province abbreviation is read once more on its
own, restricted to them.
Failures raise an :class:`~ocr_service.errors.OcrError` with a stable code;
none of them harms the worker, which goes on to the next file.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Any

from PIL import Image, ImageOps

from aggregates.identifiers import USCC_ALPHABET
from ocr_service.classify import UNKNOWN, classify
from ocr_service.engine import Engine, EngineSettings
from ocr_service.errors import EmptyPage, OcrError
from ocr_service.fields import Reread, extract
from ocr_service.loading import Limits, load_pages
from ocr_service.normalise import NUMBER_PREFIXES
from ocr_service.text import Box, Line, Page, Row, group_rows

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
        rows, kind.kind, page.to_original, today=today, reread=_rereader(engine, page)
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
            image = crop(
                (
                    box[0] - margin_x,
                    box[1] - margin_y,
                    box[2] + margin_x,
                    box[3] + margin_y,
                ),
                0,
            )
            factor = _REREAD_LINE_HEIGHT / (height / page.scale)
            if abs(factor - 1.0) > 0.05:
                image = image.resize(
                    (
                        max(1, round(image.width * factor)),
                        max(1, round(image.height * factor)),
                    ),
                    Image.Resampling.LANCZOS if factor > 1 else Image.Resampling.BOX,
                )
            line = engine.read_line(image, _WHITELISTS.get(reads, ""))
            if line is None:
                return None
            if reads == "number" and not texts:
                line = _read_prefix(engine, image, line)
            row = Row.of(line.glyphs)
            texts.append(row.span_text(0, len(row.text)))
        return "".join(texts)

    return reread


def _read_prefix(engine: Engine, image: Image.Image, line: Line) -> Line:
    """``line`` (a number read from ``image``) with a leading Chinese
    character that is no province abbreviation read again from its own box,
    restricted to those abbreviations."""
    first = line.glyphs[0]
    if first.text in NUMBER_PREFIXES or not "\u4e00" <= first.text[:1] <= "\u9fff":
        return line
    x0, y0, x1, y1 = first.box
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
                ImageOps.expand(scaled, border=border, fill=255), NUMBER_PREFIXES
            )
            if again is not None and len(again.text) == 1:
                glyph = again.glyphs[0]
                votes[glyph.text] = votes.get(glyph.text, 0.0) + glyph.confidence
    if not votes:
        return line
    best = max(votes, key=lambda c: votes[c])
    return Line((replace(first, text=best), *line.glyphs[1:]))


_PREFIX_SCALES = (1.0, 0.8)


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

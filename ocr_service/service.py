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

from PIL import Image

from ocr_service.classify import UNKNOWN, classify
from ocr_service.engine import Engine, EngineSettings
from ocr_service.errors import EmptyPage, OcrError
from ocr_service.fields import extract
from ocr_service.loading import Limits, load_pages
from ocr_service.text import group_rows

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
    fields = extract(rows, kind.kind, page.to_original, today=today)
    return {
        "type": kind.kind,
        "confidence": kind.confidence,
        "fields": {key: field.as_dict() for key, field in fields.items()},
    }


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

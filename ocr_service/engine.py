"""The Tesseract engine, wrapped.

One :class:`Engine` owns one ``tesserocr.PyTessBaseAPI``, initialised once
and reused for every page it reads; it is never
re-initialised per image. An engine is not thread-safe: give each worker
thread its own (see :mod:`ocr_service.service`). Tesseract releases the GIL
while it recognises, so several engines in threads of one process do run in
parallel.

Languages
    ``chi_sim`` by default (``SHOUYING_OCR_LANG`` or the settings change it).
    Its model reads digits and Latin capitals too; adding ``eng``
    (``chi_sim+eng``) made Tesseract read short Chinese names as English words
    ("Bae" for a two-character name) and lowered field accuracy on the
    evaluation set from 83 % to 76 % (clean) and 89 % to 80 % (degraded).

Page segmentation
    A page is read as one column of lines of varying sizes
    (``PSM.SINGLE_COLUMN``), not with Tesseract's automatic layout analysis:
    forms print a label column beside a value column, and the automatic
    analysis cut them into separate blocks and at times dropped a block
    whole (a label column, a short value), losing every field on those rows.
    Read as one column, each printed row is one text line, label and value
    together; on the evaluation set field accuracy rose from 85-95 % to
    92-95 % (clean) and from 89-93 % to 92-93 % (degraded), no slower.

Language data
    ``SHOUYING_TESSDATA`` names the folder holding ``chi_sim.traineddata`` and
    ``eng.traineddata``; without it the Debian packages' folder
    (``/usr/share/tesseract-ocr/<version>/tessdata``) is found by itself.
"""

from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass, field

import tesserocr
from PIL import Image

from ocr_service.errors import (
    EmptyPage,
    EngineUnavailable,
    RecognitionFailed,
    RecognitionTimeout,
)
from ocr_service.preprocess import Prepared, Preprocessing, prepare
from ocr_service.text import Box, Glyph, Line, Page, nfkc

__all__ = ["DEFAULT_LANG", "Engine", "EngineSettings", "find_tessdata"]

DEFAULT_LANG = os.environ.get("SHOUYING_OCR_LANG", "chi_sim")
_TESSDATA_PATTERNS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
# Glyphs Tesseract is less sure of than this are noise, not text.
_MIN_GLYPH_CONFIDENCE = 0.2


def find_tessdata(lang: str = DEFAULT_LANG) -> str:
    """The tessdata folder to use: ``SHOUYING_TESSDATA`` if set, otherwise
    the first standard folder holding every language of ``lang``."""
    configured = os.environ.get("SHOUYING_TESSDATA")
    if configured:
        return configured
    needed = [f"{name}.traineddata" for name in lang.split("+")]
    for pattern in _TESSDATA_PATTERNS:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if all(os.path.isfile(os.path.join(folder, n)) for n in needed):
                return folder
    raise EngineUnavailable(
        f"no tessdata folder with {', '.join(needed)} found; "
        "set SHOUYING_TESSDATA to the folder holding them"
    )


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How an engine reads: language data, languages, pre-processing, and the
    time allowed per page."""

    tessdata: str | None = None
    lang: str = DEFAULT_LANG
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    timeout_seconds: float = 30.0
    # Tesseract's page segmentation mode for the page pass (see the module
    # docstring for why a single column).
    page_segmentation: int = tesserocr.PSM.SINGLE_COLUMN
    # Whether doubtful Chinese characters of names and free text are checked
    # by their shape against the CJK faces' glyphs (:mod:`ocr_service.glyphs`).
    check_shapes: bool = True


class Engine:
    """One Tesseract instance, reused for every page it is given."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        path = self.settings.tessdata or find_tessdata(self.settings.lang)
        try:
            self._api = tesserocr.PyTessBaseAPI(
                path=path,
                lang=self.settings.lang,
                psm=self.settings.page_segmentation,
                oem=tesserocr.OEM.LSTM_ONLY,
            )
        except RuntimeError as e:
            raise EngineUnavailable(
                f"Tesseract cannot load {self.settings.lang!r} from {path}: {e}"
            ) from e
        self._path = path
        self._line_api: tesserocr.PyTessBaseAPI | None = None
        self._lock = threading.Lock()
        self.pages_read = 0

    def close(self) -> None:
        """Free the Tesseract instance."""
        with self._lock:
            self._api.End()
            if self._line_api is not None:
                self._line_api.End()
                self._line_api = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(
        self, image: Image.Image, preprocessing: Preprocessing | None = None
    ) -> Page:
        """The text on ``image`` (a grey page): glyphs with boxes on the
        working image, which ``Page.to_original`` maps back.
        ``preprocessing`` overrides the settings' for this page.

        Raises :class:`EmptyPage` when there is no legible text.
        """
        prepared = prepare(image, preprocessing or self.settings.preprocessing)
        if prepared.empty:
            raise EmptyPage("the page is blank")
        with self._lock:
            lines = self._recognise(prepared)
            self.pages_read += 1
        if sum(len(line.glyphs) for line in lines) < 2:
            raise EmptyPage("no legible text was found on the page")
        width, height = prepared.image.size

        def crop(box: Box, margin: float) -> Image.Image:
            return prepared.crop_original(image, box, margin)

        return Page(
            tuple(lines), width, height, prepared.to_original, crop, prepared.scale
        )

    def read_line(self, image: Image.Image, whitelist: str = "") -> Line | None:
        """One line of text on ``image`` (a grey crop), read as a single line
        by a second Tesseract instance kept for such crops; ``whitelist``, if
        given, restricts the characters it may read. Boxes are on ``image``.
        ``None`` if nothing legible is there."""
        with self._lock:
            api = self._line_api
            if api is None:
                api = self._line_api = tesserocr.PyTessBaseAPI(
                    path=self._path,
                    lang=self.settings.lang,
                    psm=tesserocr.PSM.SINGLE_LINE,
                    oem=tesserocr.OEM.LSTM_ONLY,
                )
            api.SetVariable("tessedit_char_whitelist", whitelist)
            try:
                api.SetImageBytes(
                    image.tobytes(), image.width, image.height, 1, image.width
                )
                api.SetSourceResolution(300)
                if not api.Recognize(round(self.settings.timeout_seconds * 1000)):
                    return None
                lines = _collect(api)
            except RuntimeError:
                return None
            finally:
                api.Clear()
        glyphs = [g for line in lines for g in line.glyphs]
        return Line(tuple(glyphs)) if glyphs else None

    def _recognise(self, prepared: Prepared) -> list[Line]:
        api = self._api
        working = prepared.image
        try:
            api.SetImageBytes(
                working.tobytes(), working.width, working.height, 1, working.width
            )
            api.SetSourceResolution(max(70, round(300 * prepared.scale)))
            finished = api.Recognize(round(self.settings.timeout_seconds * 1000))
        except RuntimeError as e:
            api.Clear()
            raise RecognitionFailed(f"Tesseract failed on the page: {e}") from e
        if not finished:
            api.Clear()
            raise RecognitionTimeout(
                f"the page was not read within {self.settings.timeout_seconds:g} s"
            )
        try:
            return _collect(api)
        finally:
            api.Clear()


def _collect(api: tesserocr.PyTessBaseAPI) -> list[Line]:
    level = tesserocr.RIL.SYMBOL
    lines: list[Line] = []
    current: list[Glyph] = []
    iterator = api.GetIterator()
    if iterator is None:
        return lines
    for symbol in tesserocr.iterate_level(iterator, level):
        text = symbol.GetUTF8Text(level)
        box = symbol.BoundingBox(level)
        if not text or box is None:
            continue
        starts_line = symbol.IsAtBeginningOf(tesserocr.RIL.TEXTLINE)
        starts_word = symbol.IsAtBeginningOf(tesserocr.RIL.WORD)
        if starts_line and current:
            lines.append(Line(tuple(current)))
            current = []
        confidence = max(0.0, min(1.0, symbol.Confidence(level) / 100.0))
        text = nfkc(text).strip()
        if not text or confidence < _MIN_GLYPH_CONFIDENCE:
            continue
        current.append(Glyph(text, tuple(box), confidence, space_before=starts_word))
    if current:
        lines.append(Line(tuple(current)))
    return lines

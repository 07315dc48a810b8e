"""A second opinion on single Chinese characters, by their shape.

Debian's compact ``chi_sim`` model reads common characters well and rare ones
badly: some it holds but never outputs (鑫 comes out as 春 or 讲, 磊 as 舌),
others are not in its character set at all (邺, 肟). A :class:`GlyphBank`
holds the shape of every character of GB 2312 (the 6,763 characters of
everyday Simplified Chinese, which names, addresses and product names are
written in) as printed by the CJK faces on the machine (Noto Sans and Serif
CJK, regular and bold, from ``fonts-noto-cjk``). A character Tesseract is
unsure of is cut from the image, its ink normalised the same way, and
compared with every shape in the bank; :meth:`GlyphBank.judge` says which
character it is most like and how much more like it than the character
Tesseract read.

Shapes
    A character's ink (grey levels scaled so that paper is 0 and ink 1) is
    cut to its bounding box, resized to :data:`SIDE` square pixels by area,
    blurred by a pixel so that a stroke a pixel off still overlaps, and
    centred and scaled to unit length; two shapes compare by their dot
    product (cosine similarity), less a penalty for differing aspect ratios
    (一 and 口 fill their cells differently) and for differing sizes as
    shares of the line's height (口 and 囗).

Cells
    Tesseract's boxes for characters in a line are often a good part of a
    character off, so the cell is found from the ink: the caller says where
    the character's middle should be (the service lays the characters read
    along their run's ink), every pair of an ink run's left edge and a later
    run's right edge that is a plausible character's width (Chinese
    characters are about as wide as they are high, some narrower) and whose
    middle is near there is a candidate, and the candidate most like some
    shape of the bank wins.

Characters outside GB 2312 (a few given-name characters such as 垚 and 喆)
are not in the bank and are left as Tesseract read them, and print in faces
far from Noto's is told less surely: the margin a replacement needs keeps a
character read right from being changed on a weak likeness.

The bank is built once per process, in a few seconds, and kept on disk
(``SHOUYING_CACHE_DIR``, by default ``~/.cache/shouying``) keyed by the
fonts' files, so later processes load it in a fraction of a second.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ocr_service.fonts import find_font

__all__ = [
    "SIDE",
    "GlyphBank",
    "Judgement",
    "gb2312_hanzi",
    "ink_of",
    "shape_of",
    "shared_bank",
]

SIDE = 24
_RENDER_PX = 64
_FACES = (
    ("Sans", "Regular"),
    ("Sans", "Bold"),
    ("Serif", "Regular"),
    ("Serif", "Bold"),
)
# How much a difference of aspect ratio (in log terms) costs a match, and a
# difference of width or height as shares of the line's height (口 and 囗
# have one shape, at two sizes).
_ASPECT_PENALTY = 0.25
_SIZE_PENALTY = 0.3
# The characters whose ink, together, is as high as a line of the face.
_FULL_HEIGHT = "国囗中"
# Characters whose likeness to a cell comes within this much of the best
# (at most this many) are told apart again at this finer size, rendered when
# first needed: 宇 and 字, 怡 and 恰 differ by a stroke the coarse size blurs.
_CLOSE = 0.06
_CLOSE_MOST = 8
_FINE_SIDE = 40
_FINE_KEPT = 1024

Floats = npt.NDArray[np.float32]


def gb2312_hanzi() -> str:
    """The 6,763 Chinese characters of GB 2312, in code order."""
    out: list[str] = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                out.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(out)


def _blur(image: Floats) -> Floats:
    """``image`` blurred by a 3 x 3 binomial kernel (edges padded with 0)."""
    padded = np.pad(image, 1, mode="constant")
    rows = 0.25 * padded[:-2, :] + 0.5 * padded[1:-1, :] + 0.25 * padded[2:, :]
    blurred: Floats = 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    return blurred


def shape_of(ink: Floats, side: int = SIDE) -> tuple[Floats, int, int] | None:
    """The normalised shape of ``ink`` (a 2-D array, 0 for paper, 1 for ink)
    at ``side`` pixels square, and the width and height of its ink; ``None``
    if it holds no ink."""
    mask = ink > 0.35
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0 or columns.size == 0:
        return None
    cut = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height, width = cut.shape
    image = Image.fromarray(np.ascontiguousarray(cut, dtype=np.float32), mode="F")
    small = np.asarray(
        image.resize((side, side), Image.Resampling.BOX), dtype=np.float32
    )
    vector = _blur(small).ravel()
    vector = vector - vector.mean()
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        return None
    return (vector / norm).astype(np.float32), width, height


def ink_of(grey: npt.NDArray[np.uint8] | Floats) -> Floats:
    """``grey`` (dark print on light paper) as ink density: 0 for the
    paper's level, 1 for the print's, by the crop's own levels."""
    pixels = np.asarray(grey, dtype=np.float32)
    paper = float(np.percentile(pixels, 90))
    print_ = float(np.percentile(pixels, 2))
    if paper - print_ < 40:
        return np.zeros_like(pixels)
    ink: Floats = np.clip((paper - pixels) / (paper - print_), 0.0, 1.0)
    return ink


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the bank makes of a character's cell: the character most like
    it, how alike (cosine, less the aspect and size penalties), how alike the
    character Tesseract read is (``None`` if the bank lacks it), and the
    cell's columns."""

    best: str
    score: float
    read_score: float | None
    cell: tuple[int, int]


def _face_paths() -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for style, weight in _FACES:
        try:
            path, index = find_font(style, weight)
        except FileNotFoundError:
            continue
        if (path, index) not in found:
            found.append((path, index))
    return found


def _render(font: ImageFont.FreeTypeFont, character: str) -> Floats:
    canvas = Image.new("L", (_RENDER_PX * 2, _RENDER_PX * 2), 0)
    ImageDraw.Draw(canvas).text(
        (_RENDER_PX // 2, _RENDER_PX // 2), character, font=font, fill=255
    )
    return np.asarray(canvas, dtype=np.float32) / 255.0


class GlyphBank:
    """Shapes of GB 2312's characters in the machine's CJK faces: one row of
    ``vectors`` per character and face, with its ink's width and height as
    shares of the face's line height (``sizes``)."""

    def __init__(
        self,
        characters: str,
        vectors: Floats,
        sizes: Floats,
        faces: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.characters = characters
        self.vectors = vectors
        self.sizes = sizes
        self.log_aspects = np.log(sizes[:, 0] / sizes[:, 1]).astype(np.float32)
        self._index: dict[str, list[int]] = {}
        for at, character in enumerate(characters):
            self._index.setdefault(character, []).append(at)
        self._fonts = [ImageFont.truetype(p, _RENDER_PX, index=i) for p, i in faces]
        # Fine shapes are rendered when first needed and the most recently
        # used kept (some 25 kB a character).
        self._fine_shapes = functools.lru_cache(maxsize=_FINE_KEPT)(self._render_fine)

    def _render_fine(self, character: str) -> Floats | None:
        """``character``'s shapes at the fine size, one row a face."""
        shapes = [
            shape[0]
            for shape in (
                shape_of(_render(font, character), _FINE_SIDE) for font in self._fonts
            )
            if shape is not None
        ]
        return np.stack(shapes) if shapes else None

    @classmethod
    def build(
        cls, faces: list[tuple[str, int]] | None = None, alphabet: str | None = None
    ) -> GlyphBank:
        """Render every character of ``alphabet`` (by default GB 2312's) in
        every face (by default the machine's Noto CJK faces)."""
        faces = _face_paths() if faces is None else faces
        alphabet = gb2312_hanzi() if alphabet is None else alphabet
        characters: list[str] = []
        vectors: list[Floats] = []
        sizes: list[tuple[float, float]] = []
        for path, index in faces:
            font = ImageFont.truetype(path, _RENDER_PX, index=index)
            line = max(
                shape[2]
                for shape in (shape_of(_render(font, c)) for c in _FULL_HEIGHT)
                if shape is not None
            )
            for character in alphabet:
                shape = shape_of(_render(font, character))
                if shape is None:
                    continue
                characters.append(character)
                vectors.append(shape[0])
                sizes.append((shape[1] / line, shape[2] / line))
        return cls(
            "".join(characters),
            np.stack(vectors).astype(np.float32),
            np.asarray(sizes, dtype=np.float32),
            faces,
        )

    def __contains__(self, character: str) -> bool:
        return character in self._index

    def judge(
        self, ink: Floats, read: str, height: int, centre: float, reach: float
    ) -> Judgement | None:
        """The character whose cell in ``ink`` (a row's band, ink density)
        has its middle within ``reach`` columns of ``centre`` and is about
        ``height`` pixels high, most like the bank's shapes; ``read`` is what
        Tesseract read there."""
        own = self._index.get(read)
        cells: list[tuple[int, int]] = []
        shapes: list[Floats] = []
        sizes: list[tuple[float, float]] = []
        for x0, x1 in _cells(ink, height, centre, reach):
            shape = shape_of(ink[:, x0:x1])
            if shape is not None:
                cells.append((x0, x1))
                shapes.append(shape[0])
                sizes.append((shape[1] / height, shape[2] / height))
        if not cells:
            return None
        found = np.asarray(sizes, dtype=np.float32)
        aspects = np.log(found[:, 0] / found[:, 1])
        penalty = _ASPECT_PENALTY * np.abs(
            self.log_aspects[:, None] - aspects[None, :]
        ) + _SIZE_PENALTY * (
            np.abs(self.sizes[:, 0:1] - found[None, :, 0])
            + np.abs(self.sizes[:, 1:2] - found[None, :, 1])
        )
        scores = self.vectors @ np.stack(shapes, axis=1) - penalty
        at, cell = np.unravel_index(int(np.argmax(scores)), scores.shape)
        column = scores[:, int(cell)]
        best = self.characters[int(at)]
        score = float(column[at])
        read_score = float(column[own].max()) if own else None
        close = self._close(column, score)
        if len(close) > 1:
            x0, x1 = cells[int(cell)]
            costs = penalty[:, int(cell)]
            fine = {
                c: value - float(costs[self._index[c]].min())
                for c, value in self._fine_scores(ink[:, x0:x1], close).items()
            }
            if fine:
                # The coarse likeness of the finer size's choice, and the
                # character read as far below it as the finer size says.
                best = max(fine, key=lambda c: fine[c])
                score = float(column[self._index[best]].max())
                if read in fine:
                    read_score = score - (fine[best] - fine[read])
        return Judgement(best, score, read_score, cells[int(cell)])

    def _close(self, column: Floats, best: float) -> list[str]:
        """The characters (at most :data:`_CLOSE_MOST`) whose likeness in
        ``column`` comes within :data:`_CLOSE` of ``best``."""
        near = np.flatnonzero(column >= best - _CLOSE)
        near = near[np.argsort(-column[near])]
        found: list[str] = []
        for at in near:
            character = self.characters[int(at)]
            if character not in found:
                found.append(character)
                if len(found) == _CLOSE_MOST:
                    break
        return found

    def _fine_scores(self, ink: Floats, characters: list[str]) -> dict[str, float]:
        """How like each of ``characters`` ``ink`` (one cell) is at the fine
        size, best over the faces (before the aspect and size penalties)."""
        shape = shape_of(ink, _FINE_SIDE)
        if shape is None or not self._fonts:
            return {}
        scores: dict[str, float] = {}
        for character in characters:
            fine = self._fine_shapes(character)
            if fine is not None:
                scores[character] = float((fine @ shape[0]).max())
        return scores


def _cells(
    ink: Floats, height: int, centre: float, reach: float
) -> list[tuple[int, int]]:
    """Candidate column ranges of a character whose middle is expected at
    ``centre``: pairs of an ink run's start and a later run's end, between
    0.45 and 1.15 text heights apart, whose middle is within ``reach``."""
    columns = (ink > 0.35).any(axis=0)
    edges = np.diff(np.concatenate(([0], columns.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    cells: list[tuple[int, int]] = []
    for start in starts:
        if start > centre or start < centre - 1.2 * height:
            continue
        for end in ends:
            if end <= start:
                continue
            width = end - start
            if width > 1.15 * height:
                break
            if width >= 0.45 * height and abs((start + end) / 2 - centre) <= reach:
                cells.append((int(start), int(end)))
    return cells


_lock = threading.Lock()
_bank: GlyphBank | None = None


def _cache_file(faces: list[tuple[str, int]]) -> Path:
    digest = hashlib.sha256()
    digest.update(f"v2 {SIDE} {_RENDER_PX}".encode())
    for path, index in faces:
        stat = os.stat(path)
        digest.update(f"{path} {index} {stat.st_size} {stat.st_mtime_ns}".encode())
    folder = Path(
        os.environ.get("SHOUYING_CACHE_DIR") or Path.home() / ".cache" / "shouying"
    )
    return folder / f"glyphs-{digest.hexdigest()[:16]}.npz"


def shared_bank() -> GlyphBank | None:
    """The process's bank, built (or loaded from the disk cache) on first
    use; ``None`` when the machine has no CJK face."""
    global _bank
    with _lock:
        if _bank is not None:
            return _bank
        faces = _face_paths()
        if not faces:
            return None
        cache = _cache_file(faces)
        try:
            with np.load(cache) as stored:
                _bank = GlyphBank(
                    str(stored["characters"]),
                    stored["vectors"],
                    stored["sizes"],
                    faces,
                )
                return _bank
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            # Absent, or left half-written: built again below.
            pass
        bank = GlyphBank.build(faces)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                partial,
                characters=np.array(bank.characters),
                vectors=bank.vectors,
                sizes=bank.sizes,
            )
            os.replace(partial, cache)
        except OSError:
            pass
        _bank = bank
        return _bank

"""Pre-processing of a grey page image before Tesseract reads it.

Three steps, each switchable so the benchmark can show what it is worth:

* **Scale to a working resolution.** The height of the page's text lines is
  estimated from the ink profile, and the image is scaled so that a typical
  line is ``target_line_height`` pixels high: Tesseract's line recogniser
  reads best at a few dozen pixels per line, and a smaller image is also
  read faster.
* **Deskew** small rotations (up to ``max_skew`` degrees): the angle whose
  sheared ink profile has the sharpest peaks and troughs is the text's slope.
* **Binarise** against the local background (the image divided by a smooth
  estimate of its background, then Otsu's threshold), which copes with
  uneven lighting and faint print better than one global threshold.
* **Remove rules**: runs of ink, across or down, several lines long (a
  table's rules, a page's frame, an underline to write on) are cleared from
  the binarised image, and are left out when the line height is measured: a
  frame's sides ink every row of the page, which would otherwise read as one
  page-high line and shrink the page to nothing.

:class:`Prepared` carries the working image and the transform that maps a
box on it back onto the image as submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from ocr_service.text import Box

__all__ = [
    "Prepared",
    "Preprocessing",
    "estimate_line_height",
    "prepare",
    "without_rules",
]

Grey = npt.NDArray[np.uint8]

_ANALYSIS_SIDE = 1200


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """Which pre-processing steps run, and their parameters."""

    scale: bool = True
    deskew: bool = True
    binarise: bool = True
    remove_rules: bool = True
    target_line_height: float = 34.0
    min_scale: float = 0.3
    max_scale: float = 3.0
    max_skew: float = 3.0
    max_working_pixels: int = 16_000_000


@dataclass(frozen=True, slots=True)
class Prepared:
    """The working image and how it was made from the original."""

    image: Image.Image
    original_size: tuple[int, int]
    scale: float
    angle: float
    empty: bool
    # The rules cleared from the working image (in its pixels), if any: they
    # are cleared from crops of the original too.
    rules: npt.NDArray[np.bool_] | None = None

    def point_to_original(self, u: float, v: float) -> tuple[float, float]:
        """The point ``(u, v)`` of the working image on the original image."""
        width, height = self.image.size
        radians = math.radians(self.angle)
        c, s = math.cos(radians), math.sin(radians)
        ru, rv = u - width / 2, v - height / 2
        return (
            (c * ru - s * rv + self.original_size[0] * self.scale / 2) / self.scale,
            (s * ru + c * rv + self.original_size[1] * self.scale / 2) / self.scale,
        )

    def crop_original(
        self, original: Image.Image, box: Box, margin: float
    ) -> Image.Image:
        """The part of ``original`` (the grey image as submitted) that
        ``box`` of the working image shows, straightened like the working
        image but at the original's resolution, with ``margin`` working
        pixels of surround on each side."""
        crop = self._crop(original, box, margin)
        if self.rules is None:
            return crop
        return self._without_rules(crop, box, margin)

    def _without_rules(self, crop: Image.Image, box: Box, margin: float) -> Image.Image:
        """``crop`` of ``box`` with the rules that cross it turned to paper:
        the working image's rule pixels there, grown by a pixel for the
        rules' soft edges, scaled to the crop."""
        assert self.rules is not None
        height, width = self.rules.shape
        x0, y0 = round(box[0] - margin), round(box[1] - margin)
        x1, y1 = round(box[2] + margin), round(box[3] + margin)
        part = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), dtype=bool)
        inside = self.rules[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
        part[
            max(0, -y0) : max(0, -y0) + inside.shape[0],
            max(0, -x0) : max(0, -x0) + inside.shape[1],
        ] = inside
        if not part.any():
            return crop
        mask = Image.fromarray(part.astype(np.uint8) * 255, mode="L")
        mask = mask.filter(ImageFilter.MaxFilter(3)).resize(
            crop.size, Image.Resampling.NEAREST
        )
        return Image.composite(Image.new("L", crop.size, 255), crop, mask)

    def _crop(self, original: Image.Image, box: Box, margin: float) -> Image.Image:
        x0, y0, x1, y1 = box
        cx, cy = self.point_to_original((x0 + x1) / 2, (y0 + y1) / 2)
        half_w = (x1 - x0 + 2 * margin) / self.scale / 2
        half_h = (y1 - y0 + 2 * margin) / self.scale / 2
        if not self.angle:
            return original.crop(
                (
                    max(0, round(cx - half_w)),
                    max(0, round(cy - half_h)),
                    min(original.width, round(cx + half_w)),
                    min(original.height, round(cy + half_h)),
                )
            )
        reach = math.ceil(math.hypot(half_w, half_h)) + 2
        left, top = round(cx) - reach, round(cy) - reach
        region = Image.new("L", (2 * reach, 2 * reach), 255)
        inside = (
            max(0, left),
            max(0, top),
            min(original.width, left + 2 * reach),
            min(original.height, top + 2 * reach),
        )
        if inside[0] < inside[2] and inside[1] < inside[3]:
            region.paste(original.crop(inside), (inside[0] - left, inside[1] - top))
        region = region.rotate(
            self.angle, resample=Image.Resampling.BICUBIC, fillcolor=255
        )
        centre_x, centre_y = cx - left, cy - top
        return region.crop(
            (
                round(centre_x - half_w),
                round(centre_y - half_h),
                round(centre_x + half_w),
                round(centre_y + half_h),
            )
        )

    def to_original(self, box: Box) -> Box:
        """``box`` (on the working image) mapped onto the original image."""
        width, height = self.image.size
        scaled_w = self.original_size[0] * self.scale
        scaled_h = self.original_size[1] * self.scale
        radians = math.radians(self.angle)
        c, s = math.cos(radians), math.sin(radians)
        xs: list[float] = []
        ys: list[float] = []
        for u, v in (
            (box[0], box[1]),
            (box[2], box[1]),
            (box[0], box[3]),
            (box[2], box[3]),
        ):
            ru, rv = u - width / 2, v - height / 2
            dx = c * ru - s * rv
            dy = s * ru + c * rv
            xs.append((dx + scaled_w / 2) / self.scale)
            ys.append((dy + scaled_h / 2) / self.scale)
        w0, h0 = self.original_size
        return (
            max(0, min(w0, math.floor(min(xs)))),
            max(0, min(h0, math.floor(min(ys)))),
            max(0, min(w0, math.ceil(max(xs)))),
            max(0, min(h0, math.ceil(max(ys)))),
        )


def _otsu(values: Grey) -> int:
    histogram = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    if total == 0:
        return 128
    levels = np.arange(256, dtype=np.float64)
    weight0 = np.cumsum(histogram)
    weight1 = total - weight0
    mean0 = np.cumsum(histogram * levels)
    overall = mean0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (overall * weight0 / total - mean0) ** 2 / (weight0 * weight1)
    between = np.nan_to_num(between)
    return int(np.argmax(between))


def _paper(image: Image.Image) -> Image.Image:
    """A smooth estimate of the paper under ``image``: a grey-level closing
    (max then min filter) of a sixteenth-size copy removes the print, and a
    blur smooths what is left."""
    width, height = image.size
    small = image.resize(
        (max(1, width // 16), max(1, height // 16)), Image.Resampling.BOX
    )
    background = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))
    return background.filter(ImageFilter.GaussianBlur(2)).resize(
        (width, height), Image.Resampling.BILINEAR
    )


def _flattened(image: Image.Image) -> Grey:
    """``image`` divided by its paper: 255 wherever paper shows, however the
    light falls (for the small analysis image; the page itself is binarised
    without making this whole, see :func:`_binarise`)."""
    page = np.asarray(image, dtype=np.float32)
    paper = np.maximum(np.asarray(_paper(image), dtype=np.float32), 1.0)
    flat: Grey = np.minimum(page * 255.0 / paper, 255).astype(np.uint8)
    return flat


def _binarise(image: Image.Image) -> Image.Image:
    """``image`` in black and white against its local background: divided
    by a smooth estimate of the paper (so that paper white is 255 wherever
    the light falls), then cut at Otsu's threshold of that flattened image.

    The flattened image is never made whole: the threshold comes from every
    other pixel of every other row, and a pixel is ink where ``page * 255 <
    paper * (threshold + 1)``, in 16-bit integers (a third of the time of
    dividing the page in floating point, and the same pixels for the same
    threshold)."""
    page = np.asarray(image, dtype=np.uint8)
    paper = np.maximum(np.asarray(_paper(image), dtype=np.uint8), 1)
    sample = page[::2, ::2].astype(np.float32) * 255.0 / paper[::2, ::2]
    threshold = _otsu(np.minimum(sample, 255).astype(np.uint8))
    ink = page.astype(np.uint16) * 255 < paper.astype(np.uint16) * (threshold + 1)
    out = np.full(page.shape, 255, dtype=np.uint8)
    out[ink] = 0
    return Image.fromarray(out, mode="L")


def _ink(analysis: Grey) -> npt.NDArray[np.bool_]:
    threshold = _otsu(analysis)
    # A page of paper only has a meaningless Otsu threshold; demand contrast.
    if int(analysis.max()) - int(analysis.min()) < 40:
        return np.zeros(analysis.shape, dtype=bool)
    return analysis < min(threshold, 230)


def _profile_score(ys: npt.NDArray[np.float64], height: int) -> float:
    histogram = np.bincount(
        np.clip(ys, 0, height - 1).astype(np.int64), minlength=height
    )
    diff = np.diff(histogram.astype(np.float64))
    return float(np.dot(diff, diff))


def _skew(ink: npt.NDArray[np.bool_], max_skew: float) -> float:
    ys, xs = np.nonzero(ink)
    if len(xs) < 50:
        return 0.0
    if len(xs) > 200_000:
        keep = np.random.default_rng(0).choice(len(xs), 200_000, replace=False)
        ys, xs = ys[keep], xs[keep]
    height = ink.shape[0]
    fy = ys.astype(np.float64)
    fx = xs.astype(np.float64) - ink.shape[1] / 2
    margin = int(abs(math.tan(math.radians(max_skew + 1))) * ink.shape[1]) + 2

    def score(degrees: float) -> float:
        shifted = fy - fx * math.tan(math.radians(degrees)) + margin
        return _profile_score(shifted, height + 2 * margin)

    steps = int(max_skew / 0.5)
    coarse = [i * 0.5 for i in range(-steps, steps + 1)]
    best = max(coarse, key=score)
    fine = [best + i * 0.1 for i in range(-5, 6) if abs(best + i * 0.1) <= max_skew]
    best = max(fine, key=score)
    return best if abs(best) >= 0.15 else 0.0


def _long_runs(ink: npt.NDArray[np.bool_], length: int) -> npt.NDArray[np.bool_]:
    """The pixels of ``ink`` that lie in a run of at least ``length`` inked
    pixels along a row.

    The rows, each with paper at both ends, are laid end to end; every run
    starts and ends where the ink switches on and off, and the few runs long
    enough are painted back one by one."""
    height, width = ink.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    switches = np.diff(padded.ravel())
    starts = np.flatnonzero(switches == 1) + 1
    ends = np.flatnonzero(switches == -1) + 1
    long = ends - starts >= length
    covered = np.zeros(padded.size, dtype=bool)
    for start, end in zip(starts[long].tolist(), ends[long].tolist(), strict=True):
        covered[start:end] = True
    runs: npt.NDArray[np.bool_] = covered.reshape(height, width + 2)[:, 1:-1]
    return runs


def _smeared(ink: npt.NDArray[np.bool_], along: int) -> npt.NDArray[np.bool_]:
    """``ink`` spread one pixel up and down and ``along`` pixels left and
    right: a rule left a pixel out of true by a deskew, or broken by noise,
    is one run again."""
    out = ink.copy()
    out[1:] |= ink[:-1]
    out[:-1] |= ink[1:]
    spread = out.copy()
    for step in range(1, along + 1):
        spread[:, step:] |= out[:, :-step]
        spread[:, :-step] |= out[:, step:]
    return spread


def without_rules(ink: npt.NDArray[np.bool_], length: int) -> npt.NDArray[np.bool_]:
    """``ink`` without its runs of ``length`` pixels or more, across or down.

    A rule a pixel out of line still counts. Down the page, gaps of two
    pixels are bridged too (lines of text never stand that close); across
    it they are not, since the characters of a line nearly touch.
    """
    rules = _long_runs(_smeared(ink, 0), length)
    rules |= _long_runs(_smeared(np.ascontiguousarray(ink.T), 1), length).T
    if not rules.any():
        return ink
    kept: npt.NDArray[np.bool_] = ink & ~rules
    return kept


def estimate_line_height(ink: npt.NDArray[np.bool_]) -> float | None:
    """The median height, in pixels, of the bands of rows holding ink, or
    ``None`` if there are none. Bands holding less than ``_LIGHT_BAND`` of
    the ink of the heaviest bands (the ninetieth percentile) are left out:
    the bits of a broken rule or of dirt between the lines, however many,
    are no lines of text."""
    rows = ink.sum(axis=1)
    if rows.max(initial=0) == 0:
        return None
    inked = rows > max(1, int(0.002 * ink.shape[1]))
    padded = np.concatenate(([False], inked, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    tall = ends - starts >= 3
    starts, ends = starts[tall], ends[tall]
    if len(starts) == 0:
        return None
    cumulative = np.concatenate(([0], np.cumsum(rows)))
    masses = cumulative[ends] - cumulative[starts]
    heavy = masses >= _LIGHT_BAND * np.percentile(masses, 90)
    return float(np.median((ends - starts)[heavy]))


_LIGHT_BAND = 0.03


def prepare(image: Image.Image, options: Preprocessing | None = None) -> Prepared:
    """``image`` (grey) made ready for Tesseract as ``options`` say."""
    options = options or Preprocessing()
    width, height = image.size
    factor = min(1.0, _ANALYSIS_SIDE / max(width, height))
    analysis_image = (
        image.resize(
            (max(1, round(width * factor)), max(1, round(height * factor))),
            Image.Resampling.BOX,
        )
        if factor < 1.0
        else image
    )
    # Ink is told from paper against the paper's own light: a shadow or a
    # photo's grey block, read as ink, would merge the lines it covers.
    analysis = _flattened(analysis_image)
    ink = _ink(analysis)
    if int(ink.sum()) < max(20, ink.size // 20000):
        return Prepared(image, (width, height), 1.0, 0.0, empty=True)
    angle = _skew(ink, options.max_skew) if options.deskew else 0.0
    scale = 1.0
    line = None
    # Whether the page has rules; unless its scale was measured, assume so.
    ruled = True
    if options.scale:
        straight_ink = ink
        if angle:
            straight = Image.fromarray(analysis, mode="L").rotate(
                angle, resample=Image.Resampling.NEAREST, expand=True, fillcolor=255
            )
            straight_ink = _ink(np.asarray(straight, dtype=np.uint8))
        # A rule is far longer than any character: a tenth of the page's side.
        rule = max(24, max(straight_ink.shape) // 10)
        unruled = straight_ink
        if options.remove_rules:
            unruled = without_rules(straight_ink, rule)
            ruled = unruled is not straight_ink
        line = estimate_line_height(unruled)
        if line is not None:
            scale = options.target_line_height / (line / factor)
            scale = max(options.min_scale, min(options.max_scale, scale))
    pixels = width * height * scale * scale
    if pixels > options.max_working_pixels:
        scale *= math.sqrt(options.max_working_pixels / pixels)
    working = image
    if abs(scale - 1.0) > 0.05:
        working = image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))),
            Image.Resampling.LANCZOS if scale > 1 else Image.Resampling.BOX,
            reducing_gap=None,
        )
    else:
        scale = 1.0
    if angle:
        # Bilinear: half the time of bicubic on a page, and the same text
        # once binarised.
        working = working.rotate(
            angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255
        )
    rules = None
    if options.binarise:
        working = _binarise(working)
        if options.remove_rules and ruled:
            working, rules = _cleared_of_rules(working, line and line / factor * scale)
    return Prepared(working, (width, height), scale, angle, empty=False, rules=rules)


# Rules are cleared from the working image when they are at least this many
# text lines long; the longest stroke of a character is about one.
_RULE_LINES = 4


def _cleared_of_rules(
    binary: Image.Image, line: float | None
) -> tuple[Image.Image, npt.NDArray[np.bool_] | None]:
    """The binarised ``binary`` with its long runs of ink turned to paper,
    and those runs' pixels (``None`` if there were none)."""
    ink = np.asarray(binary, dtype=np.uint8) == 0
    length = max(24, round(_RULE_LINES * (line or min(ink.shape) / 40)))
    kept = without_rules(ink, length)
    if kept is ink:
        return binary, None
    out = np.full(ink.shape, 255, dtype=np.uint8)
    out[kept] = 0
    rules: npt.NDArray[np.bool_] = ink & ~kept
    return Image.fromarray(out, mode="L"), rules

"""The second reading's own geometry: where a number's prefix stands and
where a lost row's ink is, found on small drawn images (no Tesseract)."""

from __future__ import annotations

from PIL import Image, ImageDraw

from ocr_service.normalise import SURNAMES
from ocr_service.service import _ink_band, _prefix_box, _read_prefix, _read_surname
from ocr_service.text import Glyph, Line


def page(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (width, height), 255)
    return image, ImageDraw.Draw(image)


def glyph(text: str, box: tuple[int, int, int, int]) -> Glyph:
    return Glyph(text, box, 0.9, False)


def test_a_prefix_cell_starts_at_its_ink_not_at_tesseracts_box() -> None:
    image, draw = page(200, 40)
    draw.rectangle((2, 22, 6, 28), fill=0)  # the label's colon
    draw.rectangle((20, 8, 44, 32), fill=0)  # the prefix, 25 px square
    draw.rectangle((50, 8, 74, 32), fill=0)  # the next character
    line = Line(
        (
            glyph(":", (0, 20, 10, 30)),
            glyph("哪", (36, 8, 69, 33)),  # a good part of a character off
            glyph("武", (82, 8, 98, 33)),
        )
    )

    x0, y0, x1, y1 = _prefix_box(image, line, 1)

    assert (x0, y0) == (20, 8)
    assert 44 <= x1 < 50 and y1 == 33


def test_a_band_is_cut_to_its_tallest_run_of_ink() -> None:
    image, draw = page(300, 100)
    draw.rectangle((0, 0, 299, 1), fill=0)  # the edge of the row above
    draw.rectangle((20, 40, 200, 69), fill=0)  # the lost row, 30 px high

    band = _ink_band(image)

    assert band is not None
    cut, height = band
    assert height == 30
    assert cut.height == 30 + 2 * 9


def test_a_blank_band_holds_no_row() -> None:
    image, _ = page(300, 100)

    assert _ink_band(image) is None


class Voter:
    """An engine whose line reading of any crop finds ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.whitelists: list[str] = []

    def read_line(self, image: Image.Image, whitelist: str = "") -> Line | None:
        self.whitelists.append(whitelist)
        return Line((glyph(self.answer, (0, 0, image.width, image.height)),))


def number_image() -> Image.Image:
    image, draw = page(200, 40)
    draw.rectangle((20, 8, 44, 32), fill=0)
    draw.rectangle((50, 8, 74, 32), fill=0)
    return image


def test_a_prefix_after_the_labels_colon_is_read_again_from_the_closed_set() -> None:
    engine = Voter("鄂")
    line = Line(
        (
            glyph(":", (0, 20, 10, 30)),
            glyph("哪", (20, 8, 44, 32)),
            glyph("2", (50, 8, 74, 32)),
        )
    )

    again = _read_prefix(engine, number_image(), line)  # type: ignore[arg-type]

    assert again.text == ":鄂2"
    assert engine.whitelists and "国" not in engine.whitelists[0]


def test_a_national_prefix_before_what_it_licenses_is_kept() -> None:
    engine = Voter("鄂")
    line = Line((glyph("国", (20, 8, 44, 32)), glyph("药", (50, 8, 74, 32))))

    again = _read_prefix(engine, number_image(), line)  # type: ignore[arg-type]

    assert again.text == "国药"
    assert engine.whitelists == []


def test_a_name_not_starting_with_a_surname_has_it_read_from_the_surnames() -> None:
    engine = Voter("孟")
    line = Line((glyph("备", (20, 8, 44, 32)), glyph("洋", (50, 8, 74, 32))))

    again = _read_surname(engine, number_image(), line)  # type: ignore[arg-type]

    assert again.text == "孟洋"
    assert engine.whitelists and set(engine.whitelists[0]) <= set(SURNAMES)


def test_a_name_starting_with_a_surname_is_not_read_again() -> None:
    engine = Voter("孟")
    line = Line((glyph("王", (20, 8, 44, 32)), glyph("洋", (50, 8, 74, 32))))

    again = _read_surname(engine, number_image(), line)  # type: ignore[arg-type]

    assert again.text == "王洋"
    assert engine.whitelists == []

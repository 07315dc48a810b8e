"""Doubtful Chinese characters told by their shape, against the glyphs of
the machine's CJK faces, on rendered text and with the real Tesseract."""

from __future__ import annotations

import functools
import io
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr_service import glyphs
from ocr_service.fields import Verify
from ocr_service.glyphs import gb2312_hanzi, ink_of, shared_bank
from ocr_service.samples import find_font
from ocr_service.service import Recogniser, _verifier
from ocr_service.text import Glyph, Page, Row

RARE = "鑫磊邺肟龚闫淼"


def test_the_bank_holds_every_character_of_gb2312() -> None:
    bank = shared_bank()

    assert bank is not None
    assert len(gb2312_hanzi()) == 6763
    assert all(c in bank for c in RARE)


def test_a_damaged_cache_file_is_built_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOUYING_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(glyphs, "_bank", None)
    small = functools.partial(glyphs.GlyphBank.build, alphabet="鑫磊国")
    monkeypatch.setattr(glyphs.GlyphBank, "build", small)
    cache = glyphs._cache_file(glyphs._face_paths())
    cache.write_bytes(b"PK\x03\x04 half a file")

    bank = glyphs.shared_bank()

    assert bank is not None and set(bank.characters) == set("鑫磊国")
    monkeypatch.setattr(glyphs, "_bank", None)
    again = glyphs.shared_bank()
    assert again is not None and again.characters == bank.characters
    assert list(tmp_path.iterdir()) == [cache]


def draw_line(
    text: str, style: str, weight: str, px: int, *, blurred: bool = False
) -> tuple[Image.Image, list[tuple[int, int]]]:
    """``text`` printed on one line, and each character's column range."""
    path, index = find_font(style, weight)
    font = ImageFont.truetype(path, px, index=index)
    image = Image.new("L", (round(font.getlength(text)) + 4 * px, 2 * px), 255)
    draw = ImageDraw.Draw(image)
    x = px
    spans = []
    for c in text:
        draw.text((x, px // 2), c, font=font, fill=0)
        advance = round(font.getlength(c))
        spans.append((x, x + advance))
        x += advance
    if blurred:
        image = image.filter(ImageFilter.GaussianBlur(0.8))
    return image, spans


@pytest.mark.parametrize(
    ("style", "weight", "px", "blurred"),
    [
        ("Sans", "Regular", 44, False),
        ("Serif", "Regular", 44, False),
        ("Sans", "Bold", 30, True),
        ("Serif", "Regular", 22, True),
    ],
)
def test_characters_are_told_by_their_shape_in_every_face_and_size(
    style: str, weight: str, px: int, blurred: bool
) -> None:
    bank = shared_bank()
    assert bank is not None
    everyday = gb2312_hanzi()
    text = RARE + "".join(random.Random(px).sample(everyday, 24))
    image, spans = draw_line(text, style, weight, px, blurred=blurred)
    ink = ink_of(np.asarray(image))
    rows = np.flatnonzero((ink > 0.5).any(axis=1))
    band = ink[rows[0] : rows[-1] + 1]

    told = [
        bank.judge(band, "", band.shape[0], (x0 + x1) / 2, 0.3 * px) for x0, x1 in spans
    ]

    assert "".join(j.best if j else "?" for j in told) == text


def name_row(read: str, printed: str, confidence: float) -> tuple[Page, Row]:
    """A page printing ``法定代表人`` and ``printed``, and the row Tesseract
    might make of it, reading ``read`` with boxes a good part of a character
    to the right of the ink."""
    path, index = find_font()
    font = ImageFont.truetype(path, 40, index=index)
    image = Image.new("L", (900, 100), 255)
    draw = ImageDraw.Draw(image)
    draw.text((20, 25), "法定代表人", font=font)
    draw.text((300, 25), printed, font=font)
    glyphs = [
        Glyph(c, (20 + 40 * k, 30, 60 + 40 * k, 70), 0.99)
        for k, c in enumerate("法定代表人")
    ]
    glyphs += [
        Glyph(c, (315 + 40 * k, 30, 355 + 40 * k, 70), confidence, k == 0)
        for k, c in enumerate(read)
    ]

    def crop(box: tuple[int, int, int, int], margin: float) -> Image.Image:
        x0, y0, x1, y1 = box
        return image.crop((x0 - margin, y0 - margin, x1 + margin, y1 + margin))

    lines = ()
    return Page(lines, image.width, image.height, crop=crop, scale=1.0), Row.of(glyphs)


def check(page: Page, row: Row) -> dict[int, str]:
    verify: Verify | None = _verifier(page)
    assert verify is not None
    return verify(row, tuple(range(5, len(row.glyphs))), "name")


def test_misread_characters_of_a_name_are_put_right_by_their_shape() -> None:
    page, row = name_row("效夭杰", "龚磊杰", 0.8)

    assert check(page, row) == {5: "龚", 6: "磊"}


def test_characters_read_right_are_kept_however_unsure_tesseract_was() -> None:
    page, row = name_row("龚磊杰", "龚磊杰", 0.5)

    assert check(page, row) == {}


def test_a_name_whose_ink_fits_no_count_of_characters_is_left_as_read() -> None:
    # Two characters read over the ink of four: neither one more nor one
    # fewer, so no character's place on the ink is known.
    page, row = name_row("欧阳", "欧阳明慧", 0.6)

    assert check(page, row) == {}


def test_a_name_whose_last_character_was_lost_gets_it_back() -> None:
    page, row = name_row("吴雪", "吴雪国", 0.9)

    assert check(page, row) == {6: "雪国"}


def test_a_name_whose_middle_character_was_lost_gets_it_back() -> None:
    page, row = name_row("朱英", "朱辉英", 0.9)

    assert check(page, row) == {6: "辉英"}


def name_as_checked(read: str, printed: str) -> str:
    page, row = name_row(read, printed, 0.85)
    replaced = check(page, row)
    return "".join(replaced.get(i, g.text) for i, g in enumerate(row.glyphs))[5:]


@pytest.mark.parametrize(
    ("read", "printed"),
    [("和孔怡", "孔怡"), ("钱雪和拜", "钱雪磊"), ("尹了明慧", "尹明慧")],
)
def test_a_glyph_standing_for_no_character_of_a_name_is_left_out(
    read: str, printed: str
) -> None:
    assert name_as_checked(read, printed) == printed


def test_rare_characters_of_a_licence_are_read_through_the_service() -> None:
    path, index = find_font()
    body = ImageFont.truetype(path, 42, index=index)
    image = Image.new("L", (1800, 900), 255)
    draw = ImageDraw.Draw(image)
    draw.text((700, 60), "营业执照", font=ImageFont.truetype(path, 80, index=index))
    rows = [
        ("名称", "深圳鑫宁药业股份有限公司"),
        ("法定代表人", "龚磊"),
        ("成立日期", "2015年03月12日"),
    ]
    for i, (label, value) in enumerate(rows):
        draw.text((120, 260 + 110 * i), label, font=body)
        draw.text((560, 260 + 110 * i), value, font=body)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    with Recogniser(workers=1, today=date(2025, 6, 1)) as recogniser:
        fields = recogniser.recognise(buffer.getvalue())["fields"]

    assert fields["enterprise_name"]["value"] == "深圳鑫宁药业股份有限公司"
    assert fields["legal_representative"]["value"] == "龚磊"

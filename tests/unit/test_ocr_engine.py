"""The engine's page pass on a small in-memory form (needs Tesseract and the
Noto CJK font; skipped without them)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr_service.engine import Engine, find_tessdata
from ocr_service.errors import EngineUnavailable
from ocr_service.samples import find_font

ROWS = [
    ("名称", "福州康宁医药有限公司"),
    ("住所", "福建省福州市鼓楼区五四路128号"),
    ("法定代表人", "王建国"),
    ("成立日期", "2015年03月12日"),
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        find_tessdata()
        find_font()
    except (EngineUnavailable, OSError, LookupError) as e:
        pytest.skip(f"Tesseract or the font is missing: {e}")
    return Engine()


def form() -> Image.Image:
    path, index = find_font()
    font = ImageFont.truetype(path, 40, index=index)
    image = Image.new("L", (1500, 120 + 90 * len(ROWS)), 255)
    draw = ImageDraw.Draw(image)
    for k, (label, value) in enumerate(ROWS):
        y = 60 + 90 * k
        draw.text((60, y), label, font=font, fill=0)
        draw.text((520, y), value, font=font, fill=0)
    return image


def test_a_label_column_and_its_value_column_are_read_as_one_line_a_row(
    engine: Engine,
) -> None:
    page = engine.read(form())

    lines = [line.text for line in page.lines]

    assert len(lines) == len(ROWS)
    for (label, _), line in zip(ROWS, lines, strict=True):
        assert line.startswith(label)
        assert len(line) > len(label) + 2

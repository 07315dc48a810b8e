"""Pre-processing: crops of the image as submitted, for reading a value a
second time, and the rules and frames cleared from a page."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from ocr_service.preprocess import (
    Preprocessing,
    estimate_line_height,
    prepare,
    without_rules,
)


def page_with_bars(angle: float) -> Image.Image:
    image = Image.new("L", (1600, 1200), 255)
    draw = ImageDraw.Draw(image)
    for top in range(100, 1100, 60):
        draw.rectangle((200, top, 1400, top + 24), fill=0)
    draw.rectangle((700, 580, 900, 604), fill=255)
    return image.rotate(angle, fillcolor=255, expand=True) if angle else image


def test_a_crop_of_a_skewed_page_is_straight_and_at_full_resolution() -> None:
    image = page_with_bars(2.0)
    # The bars are as long as rules: they are kept for this test.
    prepared = prepare(image, Preprocessing(target_line_height=12, remove_rules=False))
    ink = np.asarray(prepared.image) < 128
    rows = np.flatnonzero(ink[:, prepared.image.width // 2].astype(np.int8))
    top = int(rows[0])
    box = (
        round(300 * prepared.scale),
        top,
        round(1300 * prepared.scale),
        top + round(24 * prepared.scale),
    )

    crop = prepared.crop_original(image, box, margin=0)

    assert abs(crop.width - 1000) <= 4 * (1 / prepared.scale)
    dark = (np.asarray(crop) < 128).mean(axis=1)
    assert dark[len(dark) // 2] > 0.95


def test_a_crop_reaching_past_the_edge_is_filled_with_paper() -> None:
    image = page_with_bars(1.5)
    prepared = prepare(image)

    crop = prepared.crop_original(image, (0, 0, 40, 40), margin=10)

    assert np.asarray(crop).min() > 200


def page_of_text_blocks(*, framed: bool) -> Image.Image:
    """Rows of character-sized crosses, with or without a frame round them."""
    image = Image.new("L", (1700, 2400), 255)
    draw = ImageDraw.Draw(image)
    for top in range(300, 2000, 90):
        for left in range(250, 1400, 52):
            draw.rectangle((left, top + 20, left + 44, top + 24), fill=0)
            draw.rectangle((left + 20, top, left + 24, top + 44), fill=0)
    if framed:
        draw.rectangle((80, 80, 1620, 2320), outline=0, width=8)
        draw.rectangle((110, 110, 1590, 2290), outline=0, width=2)
    return image


def test_a_frame_round_the_page_does_not_change_its_working_scale() -> None:
    bare = prepare(page_of_text_blocks(framed=False))
    framed = prepare(page_of_text_blocks(framed=True))

    assert framed.scale == pytest.approx(bare.scale, rel=0.05)
    assert 0.5 < bare.scale < 1.0


def test_the_rules_of_a_table_are_cleared_and_its_text_is_kept() -> None:
    options = Preprocessing(deskew=False, scale=False)
    text_only = prepare(page_of_text_blocks(framed=False), options)
    image = page_of_text_blocks(framed=False)
    draw = ImageDraw.Draw(image)
    for y in range(280, 2000, 90):
        draw.line((200, y, 1450, y), fill=0, width=3)
    draw.line((230, 280, 230, 1990), fill=0, width=3)

    prepared = prepare(image, options)

    ink = np.asarray(prepared.image) == 0
    expected = np.asarray(text_only.image) == 0
    assert prepared.image.size == text_only.image.size
    # No run of ink as long as two characters is left, across or down ...
    assert without_rules(ink, 70) is ink
    # ... and the characters are all there, bar what lay under the rules.
    assert (ink & expected).sum() > 0.97 * expected.sum()
    assert (ink & ~expected).sum() < 0.01 * expected.sum()


@settings(max_examples=60, deadline=None)
@given(
    strokes=st.lists(
        st.tuples(
            st.integers(0, 180),
            st.integers(0, 180),
            st.integers(1, 39),
            st.integers(1, 39),
        ),
        max_size=12,
    ),
    rule_y=st.integers(0, 199),
    step=st.integers(1, 199),
)
def test_strokes_shorter_than_a_rule_stay_and_a_stepped_rule_goes(
    strokes: list[tuple[int, int, int, int]], rule_y: int, step: int
) -> None:
    ink = np.zeros((200, 200), dtype=bool)
    for x, y, width, height in strokes:
        ink[y : y + height, x : x + width] = True
    strokes_only = ink.copy()
    # A rule across the page, a pixel out of line from ``step`` on, as a
    # deskew leaves it.
    ink[rule_y, :step] = True
    ink[min(199, rule_y + 1), step:] = True

    kept = without_rules(ink, 120)

    rule = np.zeros_like(ink)
    rule[rule_y, :step] = True
    rule[min(199, rule_y + 1), step:] = True
    away = np.ones_like(ink)
    away[max(0, rule_y - 1) : rule_y + 3] = False
    # Nothing of the rule is left; every stroke pixel not beside it stays.
    assert not (kept & rule & ~strokes_only).any()
    assert (kept[away] == strokes_only[away]).all()


def test_a_crop_of_a_ruled_page_for_a_second_reading_has_no_rules() -> None:
    image = page_of_text_blocks(framed=False)
    draw = ImageDraw.Draw(image)
    for y in range(280, 2000, 90):
        draw.line((200, y, 1450, y), fill=0, width=3)
    prepared = prepare(image)
    # A row of crosses and the rules above and below it, in working pixels.
    box = (
        round(240 * prepared.scale),
        round(300 * prepared.scale),
        round(1420 * prepared.scale),
        round(344 * prepared.scale),
    )

    crop = prepared.crop_original(image, box, margin=30 * prepared.scale)

    dark = (np.asarray(crop) < 128).mean(axis=1)
    # The crosses' bars darken a row by less than nine tenths; a rule would
    # darken one end to end.
    assert crop.height > 80
    assert dark.max() < 0.9
    assert dark.max() > 0.5


def test_the_bits_of_a_broken_rule_between_lines_do_not_shorten_the_line_height() -> (
    None
):
    ink = np.zeros((1000, 800), dtype=bool)
    for top in range(100, 900, 60):
        ink[top : top + 24, 100:700] = True
        # Two dashes of a broken frame in the gap below the line, at each side.
        ink[top + 32 : top + 38, 20:23] = True
        ink[top + 42 : top + 50, 780:783] = True

    assert estimate_line_height(ink) == 24

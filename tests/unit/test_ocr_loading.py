"""Uploaded pages turned grey with a seal's red ink faded to the paper."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw

from ocr_service.loading import load_pages, without_red_ink

RED = (215, 40, 40)
BLUE = (40, 100, 170)


def stamped_page() -> Image.Image:
    """Black print, a blue label, and a red ring stamped over the print."""
    page = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((100, 180, 500, 220), fill=(20, 20, 20))
    draw.rectangle((100, 300, 200, 330), fill=BLUE)
    seal = Image.new("RGB", page.size, "white")
    ImageDraw.Draw(seal).ellipse((200, 80, 400, 320), outline=RED, width=12)
    return ImageChops.multiply(page, seal)


def test_a_red_seal_fades_to_paper_and_the_print_under_it_stays_dark() -> None:
    grey = np.asarray(without_red_ink(stamped_page()))

    assert grey[200, 206] < 60  # print under the ring
    assert grey[84:92, 290:310].min() > 200  # ring on paper
    assert grey[200, 150] < 60  # print beside the ring


def test_blue_print_keeps_its_luminance() -> None:
    page = stamped_page()

    grey = np.asarray(without_red_ink(page))

    assert grey[315, 150] == np.asarray(page.convert("L"))[315, 150]


def test_a_page_with_no_red_is_only_converted() -> None:
    page = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(page).rectangle((50, 50, 250, 80), fill=BLUE)

    assert np.array_equal(
        np.asarray(without_red_ink(page)), np.asarray(page.convert("L"))
    )


@pytest.mark.parametrize("format", ["PNG", "JPEG", "BMP"])
def test_an_uploaded_colour_page_comes_out_grey_without_its_seal(format: str) -> None:
    buffer = io.BytesIO()
    stamped_page().save(buffer, format=format, quality=90)

    (page,) = load_pages(buffer.getvalue())

    grey = np.asarray(page)
    assert page.mode == "L"
    # Far lighter than print, even where JPEG has blurred the red.
    assert grey[84:92, 290:310].min() > 150
    assert grey[195:205, 202:210].max() < 80


def test_brown_print_is_no_seal_and_keeps_its_luminance() -> None:
    page = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(page).rectangle((20, 20, 280, 40), fill=(150, 90, 40))
    ImageDraw.Draw(page).rectangle((20, 120, 280, 140), fill=RED)

    grey = np.asarray(without_red_ink(page))

    luminance = int(np.asarray(page.convert("L"))[30, 150])
    assert abs(int(grey[30, 150]) - luminance) <= 10
    assert grey[130, 150] > 240

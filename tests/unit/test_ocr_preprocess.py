"""Crops of the image as submitted, for reading a value a second time."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ocr_service.preprocess import Preprocessing, prepare


def page_with_bars(angle: float) -> Image.Image:
    image = Image.new("L", (1600, 1200), 255)
    draw = ImageDraw.Draw(image)
    for top in range(100, 1100, 60):
        draw.rectangle((200, top, 1400, top + 24), fill=0)
    draw.rectangle((700, 580, 900, 604), fill=255)
    return image.rotate(angle, fillcolor=255, expand=True) if angle else image


def test_a_crop_of_a_skewed_page_is_straight_and_at_full_resolution() -> None:
    image = page_with_bars(2.0)
    prepared = prepare(image, Preprocessing(target_line_height=12))
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

"""The OCR service reading rendered pages with the real Tesseract, and
refusing bad input with clear codes without harming its workers."""

from __future__ import annotations

import contextlib
import io
import zlib
from collections.abc import Iterator
from datetime import date

import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr_service.engine import Engine
from ocr_service.errors import OcrError
from ocr_service.samples import find_font, render
from ocr_service.service import Recogniser, read_page

VALID_USCC = "91350100M000100Y43"


@pytest.fixture(scope="module")
def recogniser() -> Iterator[Recogniser]:
    with Recogniser(workers=2, today=date(2025, 6, 1)) as r:
        yield r


def licence_png(code: str) -> bytes:
    path, index = find_font()
    body = ImageFont.truetype(path, 42, index=index)
    image = Image.new("L", (1800, 1100), 255)
    draw = ImageDraw.Draw(image)
    draw.text((700, 60), "营业执照", font=ImageFont.truetype(path, 80, index=index))
    rows = [
        ("统一社会信用代码", code),
        ("名称", "福州康宁医药有限公司"),
        ("法定代表人", "王建国"),
        ("成立日期", "2015年03月12日"),
        ("营业期限", "2015年03月12日至长期"),
    ]
    for i, (label, value) in enumerate(rows):
        draw.text((120, 260 + 110 * i), label, font=body)
        draw.text((560, 260 + 110 * i), value, font=body)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_code_printed_with_letter_o_for_zero_is_read_as_the_valid_code(
    recogniser: Recogniser,
) -> None:
    data = licence_png("91350100MOOO100Y43")

    result = recogniser.recognise(data, "licence.png")

    assert result["type"] == "business_licence"
    assert result["fields"]["uscc"]["value"] == VALID_USCC
    assert result["fields"]["term_to"]["value"] == "long-term"
    assert result["fields"]["established_on"]["value"] == "2015-03-12"
    x0, y0, x1, y1 = result["fields"]["uscc"]["box"]
    assert 500 < x0 < x1 < 1800 and 240 < y0 < y1 < 340


def test_a_code_whose_check_character_fails_is_not_proposed(
    recogniser: Recogniser,
) -> None:
    data = licence_png("91350100M000100Y47")

    result = recogniser.recognise(data)

    assert "uscc" not in result["fields"]
    assert result["fields"]["enterprise_name"]["value"] == "福州康宁医药有限公司"


def test_an_id_card_front_yields_its_checked_number(recogniser: Recogniser) -> None:
    sample = render("id_card_front", 3)

    result = recogniser.recognise(sample.encode("JPEG"))

    assert result["type"] == "id_card_front"
    assert result["fields"]["id_number"]["value"] == sample.truth["id_number"]
    assert result["fields"]["birth_date"]["value"] == sample.truth["birth_date"]


def test_a_pdf_page_is_rendered_and_read(recogniser: Recogniser) -> None:
    sample = render("drug_distribution_licence", 1)
    buffer = io.BytesIO()
    sample.image.convert("RGB").save(buffer, format="PDF", resolution=300)

    result = recogniser.recognise(buffer.getvalue(), "licence.pdf")

    assert result["type"] == "drug_distribution_licence"
    assert result["fields"]["uscc"]["value"] == sample.truth["uscc"]


def test_a_licence_number_keeps_its_province_prefix_and_its_checked_code(
    recogniser: Recogniser,
) -> None:
    # The first reading of this page takes 闽 for 间; the second reading of
    # the number's first character, restricted to province abbreviations,
    # puts it right.
    sample = render("drug_manufacturing_licence", 7003)

    result = recogniser.recognise(sample.encode("PNG"))

    assert result["fields"]["licence_no"]["value"] == sample.truth["licence_no"]
    assert result["fields"]["uscc"]["value"] == sample.truth["uscc"]


def test_an_id_cards_top_row_the_page_reading_lost_is_read_again(
    recogniser: Recogniser,
) -> None:
    # The page reading of this card drops its first row (姓名 金杰) over the
    # card's patterned ground; the room above the first row read is read
    # again.
    sample = render("id_card_front", 404003)

    result = recogniser.recognise(sample.encode("PNG"))

    assert result["fields"]["person_name"]["value"] == sample.truth["person_name"]


@pytest.mark.parametrize("degraded", [False, True])
def test_a_ruled_framed_licence_with_a_red_seal_over_its_issuer_reads_whole(
    recogniser: Recogniser, degraded: bool
) -> None:
    # Business licence 5 is printed as a ruled table in a frame, with the
    # registering authority's seal stamped over its name and the date; the
    # degraded one is a colour photo.
    sample = render("business_licence", 5, degraded=degraded)

    result = recogniser.recognise(sample.encode("JPEG" if degraded else "PNG"))

    found = {key: field["value"] for key, field in result["fields"].items()}
    assert found == sample.truth


def test_a_second_reading_is_not_asked_of_a_page_that_read_well() -> None:
    engine = Engine()
    asked: list[str] = []

    def read_line(image: Image.Image, whitelist: str = "") -> None:
        asked.append(whitelist)

    engine.read_line = read_line  # type: ignore[method-assign]
    try:
        result = read_page(engine, Image.open(io.BytesIO(licence_png(VALID_USCC))))
    finally:
        engine.close()

    assert result["fields"]["uscc"]["value"] == VALID_USCC
    assert asked == []


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body).to_bytes(4, "big")
    return len(body).to_bytes(4, "big") + kind + body + crc


def huge_png_header() -> bytes:
    header = (60_000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (1200, 1600), 255).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"hello, this is not an image" * 10, "UNSUPPORTED_FILE"),
        (lambda: blank_png()[:200], "BROKEN_FILE"),
        (lambda: b"%PDF-1.7\n" + b"0" * 200, "BROKEN_FILE"),
        (lambda: b"%PDF-1.7\n" + b"0" * (20 * 1024 * 1024), "FILE_TOO_LARGE"),
        (lambda: b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "FILE_TOO_LARGE"),
        (huge_png_header, "IMAGE_TOO_LARGE"),
        (blank_png, "EMPTY_PAGE"),
    ],
    ids=[
        "text",
        "truncated png",
        "broken pdf",
        "21 MB pdf",
        "11 MB jpeg",
        "bomb",
        "blank",
    ],
)
def test_bad_input_is_refused_with_a_clear_code(
    recogniser: Recogniser, make: object, code: str
) -> None:
    data = make()  # type: ignore[operator]

    with pytest.raises(OcrError) as refused:
        recogniser.submit(data, "upload").result(timeout=60)

    assert refused.value.code == code
    assert refused.value.message.startswith("upload: ")


def test_workers_survive_bad_input_and_keep_one_engine_each(
    recogniser: Recogniser,
) -> None:
    noise = Image.effect_noise((600, 400), 120).convert("L")
    buffer = io.BytesIO()
    noise.save(buffer, format="BMP")
    futures = [recogniser.submit(b"junk") for _ in range(4)]
    futures.append(recogniser.submit(buffer.getvalue()))

    for future in futures:
        with contextlib.suppress(OcrError):
            future.result(timeout=60)
    result = recogniser.recognise(licence_png(VALID_USCC))

    assert result["fields"]["uscc"]["value"] == VALID_USCC
    assert recogniser.engines_created <= 2

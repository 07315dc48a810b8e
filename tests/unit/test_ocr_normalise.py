"""Normalisation of OCR readings: dates, terms, credit codes and ID numbers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocr_service.normalise import (
    LONG_TERM,
    find_dates,
    normalise_date,
    number_in_shape,
    parse_term,
    repair_credit_code,
    repair_id_number,
)
from ocr_service.samples import make_id_number, make_uscc

TODAY = date(2025, 6, 1)
VALID_USCC = "91350100M000100Y43"

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31))


@given(dates)
def test_a_date_in_chinese_form_becomes_iso(day: date) -> None:
    text = f"{day.year}年{day.month:02d}月{day.day:02d}日"

    value = normalise_date(text)

    assert value == day.isoformat()


@given(dates, st.sampled_from([".", "-", "/"]), st.booleans())
def test_a_date_with_separators_padded_or_not_becomes_iso(
    day: date, separator: str, padded: bool
) -> None:
    month = f"{day.month:02d}" if padded else str(day.month)
    text = f"{day.year}{separator}{month}{separator}{day.day}"

    value = normalise_date(text)

    assert value == day.isoformat()


def test_a_spaced_id_card_birth_date_becomes_iso() -> None:
    value = normalise_date("1952 年 9 月 1 日")

    assert value == "1952-09-01"


def test_a_date_in_chinese_numerals_becomes_iso() -> None:
    value = normalise_date("二〇二〇年十二月三十一日")

    assert value == "2020-12-31"


def test_letters_read_for_digits_inside_a_date_are_read_as_digits() -> None:
    value = normalise_date("2O2l年05月2]日")

    assert value == "2021-05-21"


@pytest.mark.parametrize(
    "text",
    ["2024年11]月02日", "2024]年11月02日", "2024年11月02|日", "2024年1]1月02日"],
)
def test_a_speck_beside_or_inside_a_full_number_is_left_out(text: str) -> None:
    value = normalise_date(text)

    assert value == "2024-11-02"


@pytest.mark.parametrize("end", ["长期", "长其", "长期有效", "无固定期限"])
def test_a_period_ending_in_long_term_misread_after_its_dash_is_long_term(
    end: str,
) -> None:
    term = parse_term(f"2014.04.14-{end}")

    assert term.start is not None and term.start.value == "2014-04-14"
    assert term.end is not None and term.end.value == LONG_TERM


def test_chang_and_another_character_elsewhere_is_no_term() -> None:
    assert find_dates("长安路2014.04.14", long_term=True)[0].value == "2014-04-14"
    assert len(find_dates("长安路2014.04.14", long_term=True)) == 1


@pytest.mark.parametrize("text", ["2021年02月30日", "2021.13.01", "长期", "abc"])
def test_a_reading_that_is_no_calendar_date_gives_none(text: str) -> None:
    value = normalise_date(text)

    assert value is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2015年03月12日至2035年03月11日", "2015-03-12", "2035-03-11"),
        ("自2015年03月12日至长期", "2015-03-12", LONG_TERM),
        ("2015.03.12-2035.03.12", "2015-03-12", "2035-03-12"),
        ("2015.03.12-长期", "2015-03-12", LONG_TERM),
        ("长期", None, LONG_TERM),
        ("至2035年03月11日", None, "2035-03-11"),
    ],
)
def test_a_term_is_split_into_its_two_ends(
    text: str, start: str | None, end: str | None
) -> None:
    term = parse_term(text)

    assert (term.start.value if term.start else None) == start
    assert (term.end.value if term.end else None) == end


def test_a_credit_code_with_letter_o_for_zero_is_repaired() -> None:
    reading = "9135O1OOMOOO1OOY43"

    repaired = repair_credit_code(reading)

    assert repaired == VALID_USCC


def test_a_credit_code_with_a_confusion_other_than_a_look_alike_is_not_guessed() -> (
    None
):
    reading = "91350100M000100Y4B"  # the check character 3 read as B

    repaired = repair_credit_code(reading)

    assert repaired is None


def test_a_credit_code_with_a_wrong_check_character_is_rejected() -> None:
    reading = "91350100M000100Y47"

    repaired = repair_credit_code(reading)

    assert repaired is None


@given(st.randoms(use_true_random=False))
def test_every_generated_credit_code_survives_spaces_and_full_width_forms(
    rng: object,
) -> None:
    code = make_uscc(rng)  # type: ignore[arg-type]
    reading = " ".join(code[:9]) + "".join(chr(ord(c) + 0xFEE0) for c in code[9:])

    repaired = repair_credit_code(reading)

    assert repaired == code


@given(st.randoms(use_true_random=False), dates.filter(lambda d: d <= TODAY))
def test_every_valid_id_number_is_kept_and_a_changed_check_is_rejected(
    rng: object, born: date
) -> None:
    number = make_id_number(rng, born, True)  # type: ignore[arg-type]
    wrong = number[:17] + ("0" if number[17] != "0" else "1")

    kept = repair_id_number(number, TODAY)
    rejected = repair_id_number(wrong, TODAY)

    assert kept == number
    assert rejected is None


def test_an_id_number_with_letter_o_and_lower_case_x_is_repaired() -> None:
    reading = "35O1O2199OO1O2OO2x"

    repaired = repair_id_number(reading, TODAY)

    assert repaired == "35010219900102002X"


@pytest.mark.parametrize(
    "number",
    ["闽20204615", "鄂械注准20212864854", "国械注准20193091234", "国药准字H20995731"],
)
def test_numbers_in_their_grammar_are_in_shape(number: str) -> None:
    assert number_in_shape(number)


@pytest.mark.parametrize(
    "number",
    ["哪械注准20212864854", "国20204615", "国药准字了再20995731", "国药准字H2099573"],
)
def test_numbers_off_their_grammar_are_not_in_shape(number: str) -> None:
    assert not number_in_shape(number)

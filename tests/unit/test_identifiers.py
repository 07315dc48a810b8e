"""Check characters of unified social credit codes and resident ID numbers.

Every example below was checked twice: by ``aggregates.identifiers`` and by a
weighted sum worked out by hand.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates.identifiers import (
    USCC_ALPHABET,
    InvalidIdentifier,
    check_id_number,
    check_uscc,
    id_check_character,
    is_valid_id_number,
    is_valid_uscc,
    organisation_code_check_character,
    repair_uscc,
    uscc_check_character,
)

DIGITS = "0123456789"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
TODAY = date(2025, 6, 1)

PUBLISHED_USCCS = [
    "91350100M000100Y43",
    "91110000802100433B",
]
# Built for these tests; authorities Y (other), N (agriculture), 5 (civil
# affairs) and 1 (organisation establishment), organisation-code check
# characters X and 0 among them.
CONSTRUCTED_USCCS = [
    "Y1110108MA01ABCD55",
    "N2330106123456788N",
    "51440300MJL00122XG",
    "51440300MJL001270U",
    "12100000400000093F",
]
VALID_ID_NUMBERS = [
    "11010519491231002X",
    "110105198002290013",  # born on a leap day
]


def _text(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size)


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    authority = draw(_text(USCC_ALPHABET, 1))
    organisation_type = draw(_text(USCC_ALPHABET, 1))
    division = draw(_text(DIGITS, 6))
    body = draw(_text(USCC_ALPHABET, 8))
    first17 = (
        authority
        + organisation_type
        + division
        + body
        + organisation_code_check_character(body)
    )
    return first17 + uscc_check_character(first17)


@st.composite
def valid_id_numbers(draw: st.DrawFn) -> str:
    area = draw(_text(DIGITS, 6))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(_text(DIGITS, 3))
    first17 = area + born.strftime("%Y%m%d") + sequence
    return first17 + id_check_character(first17)


def _with_valid_id_check(first17: str) -> str:
    return first17 + id_check_character(first17)


# --- unified social credit code: properties ------------------------------------


@given(_text(USCC_ALPHABET, 17))
def test_the_check_character_makes_the_weighted_sum_a_multiple_of_31(
    first17: str,
) -> None:
    check = uscc_check_character(first17)

    total = sum(
        w * USCC_ALPHABET.index(c) for w, c in zip(USCC_WEIGHTS, first17, strict=True)
    )
    assert check in USCC_ALPHABET
    assert (total + USCC_ALPHABET.index(check)) % 31 == 0


@given(valid_usccs())
def test_a_well_formed_prefix_completed_with_its_check_characters_is_valid(
    code: str,
) -> None:
    valid = is_valid_uscc(code)

    assert valid
    assert check_uscc(code) == code


@given(valid_usccs(), st.data())
def test_changing_any_single_character_of_a_valid_code_makes_it_invalid(
    code: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=17))
    replacement = data.draw(
        st.sampled_from([c for c in USCC_ALPHABET if c != code[position]])
    )
    altered = code[:position] + replacement + code[position + 1 :]

    valid = is_valid_uscc(altered)

    assert not valid


@given(valid_usccs(), st.data())
def test_changing_the_final_check_character_is_always_refused(
    code: str, data: st.DataObject
) -> None:
    replacement = data.draw(
        st.sampled_from([c for c in USCC_ALPHABET if c != code[17]])
    )

    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code[:17] + replacement)

    assert f"expected {code[17]!r}" in refused.value.reason


@given(valid_usccs())
def test_a_code_in_lower_case_with_surrounding_space_is_normalised(code: str) -> None:
    reading = f"  {code.lower()}\n"

    normalised = check_uscc(reading)

    assert normalised == code


@given(valid_usccs())
def test_repair_undoes_every_digit_read_as_a_look_alike_letter(code: str) -> None:
    reading = code.translate(str.maketrans("0125", "OIZS"))

    repaired = repair_uscc(reading)

    assert repaired == code


# --- unified social credit code: examples --------------------------------------


@pytest.mark.parametrize("code", PUBLISHED_USCCS + CONSTRUCTED_USCCS)
def test_a_known_good_code_is_accepted(code: str) -> None:
    normalised = check_uscc(code)

    assert normalised == code
    assert is_valid_uscc(code)


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("91350100M000100Y4", "3"),
        ("91110000802100433", "B"),
        ("Y1110108MA01ABCD5", "5"),
        ("N2330106123456788", "N"),
    ],
)
def test_the_credit_code_check_character_matches_the_hand_computation(
    first17: str, expected: str
) -> None:
    check = uscc_check_character(first17)

    assert check == expected


@pytest.mark.parametrize(
    ("first8", "expected"),
    [
        ("80210043", "3"),
        ("M000100Y", "4"),
        ("MA01ABCD", "5"),  # letters count from A = 10, not by credit-code index
        ("MJL00122", "X"),  # 11 - sum % 11 == 10
        ("MJL00127", "0"),  # 11 - sum % 11 == 11
    ],
)
def test_the_organisation_code_check_character_matches_the_hand_computation(
    first8: str, expected: str
) -> None:
    check = organisation_code_check_character(first8)

    assert check == expected


def test_a_code_with_a_wrong_check_character_is_refused() -> None:
    code = "91350100M000100Y44"

    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code)

    assert refused.value.value == code
    assert refused.value.reason == (
        "wrong check character '4' at position 18: expected '3'"
    )
    assert "'91350100M000100Y44'" in str(refused.value)


def test_a_misremembered_code_whose_checks_both_fail_is_refused() -> None:
    code = "91310000717867063J"

    valid = is_valid_uscc(code)

    assert not valid


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100M000100Y433", ""])
def test_a_code_of_the_wrong_length_is_refused(code: str) -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code)

    assert f"it has {len(code)} characters; 18 are required" in refused.value.reason


def test_a_code_containing_the_letter_o_is_refused_naming_the_position() -> None:
    code = "91350100MO00100Y43"

    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code)

    assert refused.value.reason.startswith("character 'O' at position 10 ")


def test_a_code_with_a_letter_in_the_division_code_is_refused() -> None:
    first17 = "9135A100M000100Y4"
    code = first17 + uscc_check_character(first17)

    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code)

    assert refused.value.reason.startswith("character 'A' at position 5 ")


def test_a_code_with_a_wrong_organisation_code_check_character_is_refused() -> None:
    first17 = "91350100M000100Y5"
    code = first17 + uscc_check_character(first17)

    with pytest.raises(InvalidIdentifier) as refused:
        check_uscc(code)

    assert refused.value.reason == (
        "wrong organisation-code check character '5' at position 17: expected '4'"
    )


def test_a_refusal_is_a_value_error() -> None:
    error = InvalidIdentifier("X", "too short")

    is_value_error = isinstance(error, ValueError)

    assert is_value_error
    assert (error.value, error.reason) == ("X", "too short")


@pytest.mark.parametrize(
    "prefix", ["91350100M000100Y", "91350100M000100Y43", "91350100m000100Y4"]
)
def test_the_credit_code_check_character_needs_17_alphabet_characters(
    prefix: str,
) -> None:
    with pytest.raises(InvalidIdentifier):
        uscc_check_character(prefix)


@pytest.mark.parametrize("prefix", ["8021004", "802100433", "8021004-"])
def test_the_organisation_code_check_character_needs_8_characters(
    prefix: str,
) -> None:
    with pytest.raises(InvalidIdentifier):
        organisation_code_check_character(prefix)


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("9I35OIOOMOOOIOOY43", "91350100M000100Y43"),
        ("9111OOOO8OZIOO433B", "91110000802100433B"),
        (" 91110000 80210043 3b ", "91110000802100433B"),
        ("5I44O3OOMJLOOIZZXG", "51440300MJL00122XG"),
        ("9II3SOIOOMOOOIOOY43", None),  # one character too many
        ("91350100M000100Y44", None),  # wrong check character stays wrong
        ("91350100M000100V43", None),  # V could be U or Y: not guessed
    ],
)
def test_an_ocr_reading_is_repaired_only_when_the_result_is_valid(
    reading: str, expected: str | None
) -> None:
    repaired = repair_uscc(reading)

    assert repaired == expected


# --- resident ID number: properties ----------------------------------------------


@given(_text(DIGITS, 17))
def test_the_id_check_character_makes_the_weighted_sum_one_modulo_11(
    first17: str,
) -> None:
    check = id_check_character(first17)

    total = sum(w * int(d) for w, d in zip(ID_WEIGHTS, first17, strict=True))
    check_value = 10 if check == "X" else int(check)
    assert (total + check_value) % 11 == 1


@given(valid_id_numbers())
def test_a_number_completed_with_its_check_character_is_valid(number: str) -> None:
    valid = is_valid_id_number(number, today=TODAY)

    assert valid
    assert check_id_number(number, today=TODAY) == number


@given(valid_id_numbers(), st.data())
def test_changing_any_single_digit_of_the_first_17_makes_a_number_invalid(
    number: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=16))
    replacement = data.draw(
        st.sampled_from([d for d in DIGITS if d != number[position]])
    )
    altered = number[:position] + replacement + number[position + 1 :]

    valid = is_valid_id_number(altered, today=TODAY)

    assert not valid


@given(valid_id_numbers())
def test_a_number_with_a_lower_case_x_and_surrounding_space_is_normalised(
    number: str,
) -> None:
    reading = f" {number.lower()} "

    normalised = check_id_number(reading, today=TODAY)

    assert normalised == number


# --- resident ID number: examples ------------------------------------------------


@pytest.mark.parametrize("number", VALID_ID_NUMBERS)
def test_a_known_good_id_number_is_accepted(number: str) -> None:
    normalised = check_id_number(number, today=TODAY)

    assert normalised == number


def test_a_known_good_id_number_is_accepted_against_the_real_clock() -> None:
    number = "11010519491231002X"

    valid = is_valid_id_number(number)

    assert valid


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("11010519491231002", "X"),
        ("11010519800229001", "3"),
        ("44052418800101001", "4"),
    ],
)
def test_the_id_check_character_matches_the_hand_computation(
    first17: str, expected: str
) -> None:
    check = id_check_character(first17)

    assert check == expected


def test_an_id_number_in_lower_case_is_normalised() -> None:
    reading = "11010519491231002x"

    normalised = check_id_number(reading, today=TODAY)

    assert normalised == "11010519491231002X"


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X0", ""])
def test_an_id_number_of_the_wrong_length_is_refused(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert f"it has {len(number)} characters; 18 are required" in refused.value.reason


def test_an_id_number_containing_the_letter_o_is_refused_naming_the_position() -> None:
    number = "11O10519491231002X"

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert refused.value.reason == "character 'O' at position 3 is not a digit"


def test_an_id_number_ending_in_a_letter_other_than_x_is_refused() -> None:
    number = "11010519491231002Y"

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert "position 18" in refused.value.reason


def test_an_id_number_with_a_wrong_check_character_is_refused() -> None:
    number = "110105194912310021"

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert refused.value.value == number
    assert refused.value.reason == (
        "wrong check character '1' at position 18: expected 'X'"
    )


@pytest.mark.parametrize(
    "birth_date",
    [
        "19800230",  # 30 February
        "19000229",  # 1900 was not a leap year
        "19801301",  # month 13
        "19800100",  # day 0
    ],
)
def test_an_id_number_whose_birth_date_is_not_a_calendar_date_is_refused(
    birth_date: str,
) -> None:
    number = _with_valid_id_check(f"110105{birth_date}001")

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert refused.value.reason == (
        f"the birth date {birth_date} at positions 7-14 is not a calendar date"
    )


def test_an_id_number_born_tomorrow_is_refused() -> None:
    tomorrow = TODAY + timedelta(days=1)
    number = _with_valid_id_check(f"110105{tomorrow:%Y%m%d}001")

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert refused.value.reason == (
        "the birth date 2025-06-02 is in the future (today is 2025-06-01)"
    )


def test_an_id_number_born_today_is_accepted() -> None:
    number = _with_valid_id_check(f"110105{TODAY:%Y%m%d}001")

    valid = is_valid_id_number(number, today=TODAY)

    assert valid


def test_the_example_of_the_standard_born_in_1880_is_refused_as_too_early() -> None:
    number = "440524188001010014"  # its check character is right

    with pytest.raises(InvalidIdentifier) as refused:
        check_id_number(number, today=TODAY)

    assert refused.value.reason == "the birth date 1880-01-01 is before 1900-01-01"


@pytest.mark.parametrize("prefix", ["1101051949123100", "110105194912310021", "1"])
def test_the_id_check_character_needs_17_digits(prefix: str) -> None:
    with pytest.raises(InvalidIdentifier):
        id_check_character(prefix)


def test_the_id_check_character_refuses_non_ascii_digits() -> None:
    prefix = "1101051949123100" + "\N{FULLWIDTH DIGIT TWO}"

    with pytest.raises(InvalidIdentifier):
        id_check_character(prefix)

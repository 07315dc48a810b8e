"""Check characters of the two national identifiers the platform accepts.

Unified social credit code (统一社会信用代码, GB 32100-2015)
    Every legal person and other organisation in China carries one 18-character
    code. Its characters come from a 31-character alphabet: the digits and the
    upper-case Latin letters without I, O, S, V and Z, which are too easily
    mistaken for 1, 0, 5, U and 2. A character's value is its index in
    ``0123456789ABCDEFGHJKLMNPQRTUWXY``, so ``A`` is 10 and ``Y`` is 30.

    ======== ==================================================================
    position meaning
    ======== ==================================================================
    1        registration-authority code, e.g. ``1`` organisation establishment,
             ``5`` civil affairs, ``9`` industry and commerce, ``N`` agriculture,
             ``Y`` any other authority; letters occur
    2        organisation-type code within that authority
    3-8      administrative division code (six digits)
    9-17     organisation code (组织机构代码, GB 11714): eight body characters
             and their own check character at position 17
    18       check character over positions 1-17
    ======== ==================================================================

    The check character of position 18 makes the weighted sum of all 18 values
    divisible by 31. With weight ``3**(i - 1) % 31`` for position ``i`` (1, 3,
    9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28) over positions
    1-17 it is ``(31 - sum(w_i * value(c_i)) % 31) % 31``, mapped back into the
    alphabet.
    Because 31 is prime and no weight is a multiple of it, any single wrong
    character anywhere in the code is detected.

    The organisation code's own check character (GB 11714) is computed with
    weights 3, 7, 9, 10, 5, 8, 4, 2 over the eight body characters, a digit
    counting as itself and a letter as its position in the full Latin alphabet
    plus 9 (``A`` 10 ... ``Z`` 35): ``11 - sum % 11``, where 10 is written
    ``X`` and 11 is written ``0``. Codes issued under GB 32100 are built on a
    valid organisation code, so a code whose positions 9-17 fail this check is
    refused too.

Resident identity card number (居民身份证号码, GB 11643-1999)
    Eighteen characters: a six-digit administrative division code of the place
    of first registration, the birth date as ``YYYYMMDD``, a three-digit
    sequence code (odd for men, even for women) and a check character. With
    weight ``2**(18 - i) % 11`` for position ``i`` (7, 9, 10, 5, 8, 4, 2, 1, 6,
    3, 7, 9, 10, 5, 8, 4, 2) over the first 17 digits the check is
    ``(12 - sum % 11) % 11``, where 10 is written ``X``. A number is accepted
    here only if its birth date is a real calendar date, no earlier than
    1900-01-01 and not in the future.

All functions are pure: they read no files, databases or services. The only
clock they consult is ``date.today()``, and only when the caller passes no
``today``.
"""

from __future__ import annotations

import unicodedata
from datetime import date

__all__ = [
    "EARLIEST_BIRTH_DATE",
    "USCC_ALPHABET",
    "InvalidIdentifier",
    "check_id_number",
    "check_uscc",
    "id_check_character",
    "is_valid_id_number",
    "is_valid_uscc",
    "organisation_code_check_character",
    "repair_uscc",
    "uscc_check_character",
]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_LENGTH = 18
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ORGANISATION_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORGANISATION_CODE_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

ID_NUMBER_LENGTH = 18
ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

_DIGITS = "0123456789"
_USCC_VALUES = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_ALPHABET_DESCRIPTION = "digits and upper-case letters other than I, O, S, V, Z"

# Letters that never occur in a credit code, read as the digit they resemble.
# Only the unambiguous ones: V could stand for U or Y, so it is left alone.
_OCR_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "Z": "2", "S": "5"})

_USCC_KIND = "unified social credit code"
_ID_KIND = "resident ID number"


class InvalidIdentifier(ValueError):
    """An identifier does not satisfy its standard.

    ``value`` is the identifier as examined (after normalisation), ``reason``
    says what is wrong with it, and the message names both.
    """

    def __init__(self, value: str, reason: str, *, kind: str = "identifier") -> None:
        super().__init__(f"{value!r} is not a valid {kind}: {reason}")
        self.value = value
        self.reason = reason
        self.kind = kind


def _normalise(text: str) -> str:
    # NFKC folds full-width digits and letters (９１３５...) typed with a
    # Chinese input method into their ASCII forms.
    return unicodedata.normalize("NFKC", text).strip().upper()


# --- unified social credit code ------------------------------------------------


def uscc_check_character(first17: str) -> str:
    """The 18th character of the credit code whose first 17 are ``first17``.

    ``first17`` must be exactly 17 characters of the credit-code alphabet, in
    upper case; otherwise :class:`InvalidIdentifier` is raised.
    """
    if len(first17) != USCC_LENGTH - 1:
        raise InvalidIdentifier(
            first17,
            f"a check character needs 17 characters, not {len(first17)}",
            kind="credit-code prefix",
        )
    _require_uscc_alphabet(first17, kind="credit-code prefix")
    total = sum(w * _USCC_VALUES[c] for w, c in zip(USCC_WEIGHTS, first17, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def organisation_code_check_character(first8: str) -> str:
    """The 9th character of the GB 11714 organisation code whose first 8 are
    ``first8``: a digit or ``X``.

    ``first8`` must be exactly 8 digits or upper-case Latin letters; otherwise
    :class:`InvalidIdentifier` is raised.
    """
    kind = "organisation-code body"
    if len(first8) != len(ORGANISATION_CODE_WEIGHTS):
        raise InvalidIdentifier(
            first8,
            f"a check character needs 8 characters, not {len(first8)}",
            kind=kind,
        )
    for position, c in enumerate(first8, start=1):
        if c not in _ORGANISATION_CODE_BODY_ALPHABET:
            raise InvalidIdentifier(
                first8,
                f"character {c!r} at position {position} is not allowed "
                "(only digits and upper-case letters are)",
                kind=kind,
            )
    total = sum(
        w * _ORGANISATION_CODE_BODY_ALPHABET.index(c)
        for w, c in zip(ORGANISATION_CODE_WEIGHTS, first8, strict=True)
    )
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def check_uscc(code: str) -> str:
    """``code`` stripped of surrounding white space and in upper case, if it is
    a valid unified social credit code; otherwise :class:`InvalidIdentifier`
    saying what is wrong."""
    value = _normalise(code)
    if len(value) != USCC_LENGTH:
        raise InvalidIdentifier(
            value,
            f"it has {len(value)} characters; {USCC_LENGTH} are required",
            kind=_USCC_KIND,
        )
    _require_uscc_alphabet(value, kind=_USCC_KIND)
    for position in range(3, 9):
        c = value[position - 1]
        if c not in _DIGITS:
            raise InvalidIdentifier(
                value,
                f"character {c!r} at position {position} is not a digit; "
                "positions 3-8 hold the administrative division code",
                kind=_USCC_KIND,
            )
    expected = uscc_check_character(value[:17])
    if value[17] != expected:
        raise InvalidIdentifier(
            value,
            f"wrong check character {value[17]!r} at position 18: "
            f"expected {expected!r}",
            kind=_USCC_KIND,
        )
    expected = organisation_code_check_character(value[8:16])
    if value[16] != expected:
        raise InvalidIdentifier(
            value,
            f"wrong organisation-code check character {value[16]!r} at "
            f"position 17: expected {expected!r}",
            kind=_USCC_KIND,
        )
    return value


def is_valid_uscc(code: str) -> bool:
    """Whether :func:`check_uscc` accepts ``code``."""
    try:
        check_uscc(code)
    except InvalidIdentifier:
        return False
    return True


def repair_uscc(text: str) -> str | None:
    """The credit code an OCR reading most likely shows, or ``None``.

    White space is dropped, letters are put in upper case, and the letters that
    cannot occur in a credit code but look like a digit are read as that digit
    (O as 0, I as 1, Z as 2, S as 5). The result is returned only if it is a
    valid code; nothing is guessed beyond that.
    """
    candidate = "".join(text.split()).upper().translate(_OCR_LOOK_ALIKES)
    try:
        return check_uscc(candidate)
    except InvalidIdentifier:
        return None


def _require_uscc_alphabet(value: str, *, kind: str) -> None:
    for position, c in enumerate(value, start=1):
        if c not in _USCC_VALUES:
            raise InvalidIdentifier(
                value,
                f"character {c!r} at position {position} is not allowed "
                f"(only {_USCC_ALPHABET_DESCRIPTION} are)",
                kind=kind,
            )


# --- resident ID number ----------------------------------------------------------


def id_check_character(first17: str) -> str:
    """The 18th character of the resident ID number whose first 17 are
    ``first17``: a digit or ``X``.

    ``first17`` must be exactly 17 ASCII digits; otherwise
    :class:`InvalidIdentifier` is raised.
    """
    kind = "ID-number prefix"
    if len(first17) != ID_NUMBER_LENGTH - 1:
        raise InvalidIdentifier(
            first17,
            f"a check character needs 17 digits, not {len(first17)} characters",
            kind=kind,
        )
    _require_digits(first17, kind=kind)
    total = sum(w * int(c) for w, c in zip(ID_NUMBER_WEIGHTS, first17, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def check_id_number(s: str, today: date | None = None) -> str:
    """``s`` stripped of surrounding white space and with ``x`` written ``X``,
    if it is a valid resident ID number born no later than ``today`` (default:
    the current date); otherwise :class:`InvalidIdentifier` saying what is
    wrong."""
    value = _normalise(s)
    if len(value) != ID_NUMBER_LENGTH:
        raise InvalidIdentifier(
            value,
            f"it has {len(value)} characters; {ID_NUMBER_LENGTH} are required",
            kind=_ID_KIND,
        )
    _require_digits(value[:17], kind=_ID_KIND)
    if value[17] not in _DIGITS + "X":
        raise InvalidIdentifier(
            value,
            f"character {value[17]!r} at position 18 is not allowed "
            "(only a digit or X is)",
            kind=_ID_KIND,
        )
    _require_plausible_birth_date(value, date.today() if today is None else today)
    expected = id_check_character(value[:17])
    if value[17] != expected:
        raise InvalidIdentifier(
            value,
            f"wrong check character {value[17]!r} at position 18: "
            f"expected {expected!r}",
            kind=_ID_KIND,
        )
    return value


def is_valid_id_number(s: str, today: date | None = None) -> bool:
    """Whether :func:`check_id_number` accepts ``s``."""
    try:
        check_id_number(s, today)
    except InvalidIdentifier:
        return False
    return True


def _require_digits(value: str, *, kind: str) -> None:
    for position, c in enumerate(value, start=1):
        if c not in _DIGITS:
            raise InvalidIdentifier(
                value,
                f"character {c!r} at position {position} is not a digit",
                kind=kind,
            )


def _require_plausible_birth_date(value: str, today: date) -> None:
    text = value[6:14]
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidIdentifier(
            value,
            f"the birth date {text} at positions 7-14 is not a calendar date",
            kind=_ID_KIND,
        ) from None
    if born < EARLIEST_BIRTH_DATE:
        raise InvalidIdentifier(
            value,
            f"the birth date {born.isoformat()} is before "
            f"{EARLIEST_BIRTH_DATE.isoformat()}",
            kind=_ID_KIND,
        )
    if born > today:
        raise InvalidIdentifier(
            value,
            f"the birth date {born.isoformat()} is in the future "
            f"(today is {today.isoformat()})",
            kind=_ID_KIND,
        )

"""Normalisation of values read by OCR: dates, terms and the two checked codes.

Everything here is pure and works on plain strings, so it is tested without
Tesseract.

Dates
    ``2020年01月02日``, ``2020年1月2日``, ``2020.01.02``, ``2020-01-02``,
    ``2020/01/02``, ``2020 年 1 月 2 日`` and dates in Chinese numerals
    (``二〇二〇年一月二日``) become ISO ``2020-01-02``. Letters OCR commonly
    reads in place of digits (O, l, I, |, ...) are read as those digits inside
    a date. A day that does not exist in the calendar is no date.

Open-ended terms
    ``长期`` (and ``长期有效``, ``永久``) become :data:`LONG_TERM`.

Codes
    The unified social credit code is repaired with
    :func:`aggregates.identifiers.repair_uscc` (letters that cannot occur in a
    code but look like a digit) and the resident ID number by reading
    look-alike letters as digits; a reading that then fails its check
    characters is rejected, never guessed at.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from aggregates.identifiers import InvalidIdentifier, check_id_number, repair_uscc

__all__ = [
    "LONG_TERM",
    "NUMBER_PREFIXES",
    "PROVINCES",
    "SURNAMES",
    "DateMatch",
    "Term",
    "find_dates",
    "fold",
    "normalise_date",
    "number_in_shape",
    "parse_term",
    "province_of",
    "repair_credit_code",
    "repair_id_number",
]

LONG_TERM = "long-term"

# What the first character of a licence or approval number is: the
# abbreviation of a mainland province (whose drug authorities issue these
# numbers; Hong Kong, Macao and Taiwan issue none), or 国 for a national one.
NUMBER_PREFIXES = (
    "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵黔云滇藏陕秦甘陇青宁新国"
)

# The provinces by the names that begin an address or an authority's name,
# with the abbreviations their numbers begin with (the first one the usual).
PROVINCES = {
    "北京": "京",
    "天津": "津",
    "河北": "冀",
    "山西": "晋",
    "内蒙古": "蒙",
    "辽宁": "辽",
    "吉林": "吉",
    "黑龙江": "黑",
    "上海": "沪",
    "江苏": "苏",
    "浙江": "浙",
    "安徽": "皖",
    "福建": "闽",
    "江西": "赣",
    "山东": "鲁",
    "河南": "豫",
    "湖北": "鄂",
    "湖南": "湘",
    "广东": "粤",
    "广西": "桂",
    "海南": "琼",
    "重庆": "渝",
    "四川": "川",
    "贵州": "黔贵",
    "云南": "云滇",
    "西藏": "藏",
    "陕西": "陕秦",
    "甘肃": "甘陇",
    "青海": "青",
    "宁夏": "宁",
    "新疆": "新",
}


def province_of(text: str) -> str | None:
    """The abbreviations of the province whose name ``text`` begins with."""
    for name, short in PROVINCES.items():
        if text.startswith(name):
            return short
    return None


# A drug approval number: 国药准字, the letter of its class (H chemical, Z
# Chinese medicine, S biological, J imported, B health food, T in-vitro
# diagnostic, F excipient) and eight digits.
_APPROVAL_NUMBER = re.compile(r"国药准字[HZSJBTF]\d{8}")


def number_in_shape(value: str) -> bool:
    """Whether ``value`` (a licence, registration or approval number) has the
    shape such numbers have: a province's abbreviation first, or 国 followed
    by the character naming what it licenses (国药准字, 国械注准: a bare 国
    before digits is a misread abbreviation); a drug approval number
    (``国药准字``) in full."""
    if value[:1] not in NUMBER_PREFIXES:
        return False
    if value[0] == "国" and not "\u4e00" <= value[1:2] <= "\u9fff":
        return False
    if "药准字" in value[:4]:
        return _APPROVAL_NUMBER.fullmatch(value) is not None
    return True


# The first character of a Chinese person's name: the surnames borne by
# nearly all of the population (the commonest few hundred, and the first
# characters of the common two-character surnames). A closed set, so a name
# read with any other first character was misread there.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
    "袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹"
    "孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康"
    "施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁"
    "尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁"
    "蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷"
    "晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖"
    "巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺"
    "楼盘满闻位厉伊仝区郜海练萧钦揭诸上皇令轩慕尉宇呼端公东西"
)

# Characters OCR engines read in place of digits, by the digit they stand for.
_DIGIT_LOOK_ALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "〇": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "i": "1",
        "L": "1",
        "]": "1",
        "Z": "2",
        "z": "2",
        "S": "5",
        "s": "5",
        "B": "8",
        "G": "6",
        "b": "6",
        "g": "9",
        "q": "9",
    }
)
_DIGIT_LIKE = "0-9OoDQ〇Il|iL\\]ZzSsBGbgq"
_D = f"[{_DIGIT_LIKE}]"
_SPACE = r"[ \t]*"
_YEAR = f"((?:1|2|l|I|\\|){_SPACE}(?:{_D}{_SPACE}){{3}})"
# A month or day: one or two digits, or two digits with a speck read as a
# bracket or bar between them (``1]1月``).
_MONTH_OR_DAY = f"([0-9][\\]|][0-9]|{_D}{_SPACE}{_D}?)"
_SEPARATOR = r"[.\-/．·,，_—–~]"
# A speck read as a bracket or bar where a digit meets the 年, 月 or 日 after
# it (``2024年11]月02日``): no digit can stand there, since the year has its
# four and a month or day its two.
_STRAY = r"[\]\[|!'`]?"
_ARABIC_DATE = re.compile(
    f"{_YEAR}{_SPACE}(?:{_STRAY}年|{_SEPARATOR}){_SPACE}{_MONTH_OR_DAY}{_SPACE}"
    f"(?:{_STRAY}月|{_SEPARATOR}){_SPACE}{_MONTH_OR_DAY}{_SPACE}(?:{_STRAY}日|号)?"
)
_COMPACT_DATE = re.compile(r"(?<![0-9])((?:19|20)\d{2})(\d{2})(\d{2})(?![0-9])")
_CHINESE_DIGITS = {
    "〇": 0,
    "零": 0,
    "O": 0,
    "o": 0,
    "0": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN = "〇零Oo0一二三四五六七八九"
_CHINESE_DATE = re.compile(
    f"([{_CN}]{{4}}){_SPACE}年{_SPACE}([{_CN}十]{{1,3}}){_SPACE}月"
    f"{_SPACE}([{_CN}十]{{1,3}}){_SPACE}日"
)
# 长期 (or 永久), with 有效 after it or not, or 无固定期限; right after the
# dash or 至 that ends a period, 长 and any one character (长其, 长朗: 期
# misread), since nothing else follows there.
_LONG_TERM = re.compile(
    r"长\s*期(?:\s*有\s*效)?|永\s*久(?:\s*有\s*效)?|无\s*固\s*定\s*期\s*限"
    r"|(?<=[-~—–至])\s*长\s*[\u4e00-\u9fff]"
)

_EARLIEST = 1900
_LATEST = 2199


def fold(text: str) -> str:
    """``text`` in NFKC (full-width letters, digits and punctuation folded to
    ASCII) without white space."""
    return "".join(unicodedata.normalize("NFKC", text).split())


@dataclass(frozen=True, slots=True)
class DateMatch:
    """A date found in a text: its ISO value (or :data:`LONG_TERM`) and the
    span ``[start, end)`` it occupies."""

    value: str
    start: int
    end: int


def _digits(text: str) -> str:
    return "".join(text.split()).translate(_DIGIT_LOOK_ALIKES)


def _month_or_day(text: str) -> str:
    """The digits of a month or day read as ``text``; of three characters,
    the middle one is a speck."""
    compact = "".join(text.split())
    if len(compact) == 3:
        compact = compact[0] + compact[2]
    return compact.translate(_DIGIT_LOOK_ALIKES)


def _iso(year: int, month: int, day: int) -> str | None:
    if not _EARLIEST <= year <= _LATEST:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _chinese_number(text: str) -> int | None:
    if "十" not in text:
        if len(text) > 2:
            return None
        return int("".join(str(_CHINESE_DIGITS[c]) for c in text))
    tens, _, units = text.partition("十")
    if len(tens) > 1 or len(units) > 1:
        return None
    return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (
        _CHINESE_DIGITS[units] if units else 0
    )


def find_dates(text: str, *, long_term: bool = False) -> list[DateMatch]:
    """Every date in ``text`` in order of position, as ISO strings; with
    ``long_term``, ``长期`` and its synonyms too, as :data:`LONG_TERM`.

    Readings that are not calendar dates between 1900 and 2199 are skipped.
    """
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _ARABIC_DATE.finditer(text):
        month, day = _month_or_day(m.group(2)), _month_or_day(m.group(3))
        iso = _iso(int(_digits(m.group(1))), int(month), int(day))
        if iso is not None:
            found.append(DateMatch(iso, m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _CHINESE_DATE.finditer(text):
        year = "".join(str(_CHINESE_DIGITS[c]) for c in m.group(1))
        month_number = _chinese_number(m.group(2))
        day_number = _chinese_number(m.group(3))
        if month_number is None or day_number is None or not free(*m.span()):
            continue
        iso = _iso(int(year), month_number, day_number)
        if iso is not None:
            found.append(DateMatch(iso, m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for m in _COMPACT_DATE.finditer(text):
        iso = _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if iso is not None and free(*m.span()):
            found.append(DateMatch(iso, m.start(), m.end()))
            taken.append((m.start(), m.end()))
    if long_term:
        for m in _LONG_TERM.finditer(text):
            if free(*m.span()):
                found.append(DateMatch(LONG_TERM, m.start(), m.end()))
    return sorted(found, key=lambda d: d.start)


def normalise_date(text: str) -> str | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD``, or ``None``."""
    dates = find_dates(text)
    return dates[0].value if dates else None


@dataclass(frozen=True, slots=True)
class Term:
    """A validity or business term: each end an ISO date, :data:`LONG_TERM`
    or ``None`` when absent, with its span in the text parsed."""

    start: DateMatch | None
    end: DateMatch | None


def parse_term(text: str) -> Term:
    """The term ``text`` states: ``2015年03月12日至2035年03月11日``,
    ``2015.03.12-长期``, ``自2015年03月12日至长期``, or only its end
    (``长期``, ``至2035年03月11日``)."""
    dates = find_dates(text, long_term=True)
    if not dates:
        return Term(None, None)
    if len(dates) >= 2:
        first, second = dates[0], dates[1]
        if first.value == LONG_TERM:
            return Term(None, first)
        return Term(first, second)
    only = dates[0]
    before = text[: only.start]
    if only.value == LONG_TERM or re.search(r"[至到\-~—–]\s*$", before):
        return Term(None, only)
    return Term(only, None)


# --- codes ---------------------------------------------------------------------


def _alnum(text: str) -> str:
    return "".join(c for c in fold(text).upper() if c.isascii() and c.isalnum())


def repair_credit_code(text: str) -> str | None:
    """The valid unified social credit code ``text`` shows, or ``None``.

    Separators and white space are ignored, and the letters that cannot occur
    in a code but look like a digit are read as that digit
    (:func:`aggregates.identifiers.repair_uscc`). Nothing more is guessed:
    undoing other confusions (8/B, 5/6, ...) one character at a time turned
    codes with a wrong check character into other valid codes. When more than
    18 letters and digits are present, each run of 18 is tried in turn.
    """
    raw = _alnum(text)
    for start in range(max(0, len(raw) - 17)):
        repaired = repair_uscc(raw[start : start + 18])
        if repaired is not None:
            return repaired
    return None


_ID_LOOK_ALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "i": "1",
        "]": "1",
        "Z": "2",
        "z": "2",
        "S": "5",
        "s": "5",
        "B": "8",
        "G": "6",
        "x": "X",
        "×": "X",
    }
)


def repair_id_number(text: str, today: date | None = None) -> str | None:
    """The valid resident ID number ``text`` shows, reading look-alike letters
    as digits (and ``x`` as ``X``), or ``None``.

    When more than 18 characters are present, each run of 18 is tried.
    """
    raw = "".join(
        c
        for c in unicodedata.normalize("NFKC", text).translate(_ID_LOOK_ALIKES)
        if c.isascii() and (c.isdigit() or c == "X")
    )
    for i in range(max(0, len(raw) - 17)):
        try:
            return check_id_number(raw[i : i + 18], today)
        except InvalidIdentifier:
            continue
    return None

"""Fields read from a page by their printed labels.

Forms print a label (``统一社会信用代码``, ``有效期至``, ...) and the value to
its right, or below it. Labels are found in each :class:`~ocr_service.text.Row`
(longest first, one misread character tolerated for long labels); a label
counts only where labels stand: at the start of a row, after a gap, after
punctuation, or before a colon. A value runs from its label to the next
label on the row; names, addresses and terms may continue on the next row
when it starts under the value and holds no label before it.

Values are normalised by what they are: dates to ISO, terms to their two
ends (``long-term`` for 长期), codes checked and repaired with their check
characters (an invalid code is dropped rather than proposed), names and
addresses cleaned of punctuation. Only the keys the document kind carries
are reported. Each field has the mean confidence of the glyphs it was read
from (raised for a code whose check characters hold) and its box.

A second reading (``reread``, given by the service) is asked only where the
first is in doubt by the value's own grammar: a code or date that did not
read, a licence or approval number that does not start with a province
abbreviation or 国. Its value is taken only where it fills what the first
lacked, or (for numbers) where it has the prefix the first lacked. Free text
is read again only where nothing was read beside their label: on the
evaluation set a second reading of a value the first had read was wrong more
often than the first, at any scale. A person's name is read again where it
does not start with a surname (a closed set,
:data:`~ocr_service.normalise.SURNAMES`), and only its first character is
taken from that reading, when it is a surname (or a stray glyph the first
reading put before the surname is dropped). A date or term whose label was
read with two or more characters wrong is found by its value's grammar.

Labels the first reading damaged are still found: a long label missing its
first character at the start of a row, and an exact label in a second column
whose value on the left ran up to it without a gap (the column is known from
other rows' labels starting at the same place). A date of issue whose label
was lost is the one date alone on its row below every label, or the date
read on the issuer's line (which no issuer's name holds).

Fields vouch for each other where the domain ties them: a provincial
number's first character is the abbreviation of the province its authority
(or the address, for a city's authority) names.

The Chinese characters of names and free text are checked by their shape
(``verify``, given by the service) before the value is read from them; a
character judged misread is replaced in its row, and a character found lost
from a name joins that name's value. An enterprise's name ending in a cut
legal form (``有限责任公``) is completed, and a validity whose label was read
past recognising is the page's one period with no label before it.

A number's grammar decides whether it is in doubt
(:func:`~ocr_service.normalise.number_in_shape`): a province abbreviation
first, 国 only before what it licenses, a drug approval number as 国药准字,
a class letter and eight digits (read again with only those characters). A
row the first reading lost whole (room for a row between two label rows,
while the page lacks a field its kind carries) is read again as one line. A
credit code or ID number no reading found is read again, with only its
characters, from the longest run of them on a row, and taken only when its
check characters hold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from typing import Any

from ocr_service.matching import find_all
from ocr_service.normalise import (
    LONG_TERM,
    NUMBER_PREFIXES,
    SURNAMES,
    DateMatch,
    find_dates,
    fold,
    normalise_date,
    number_in_shape,
    parse_term,
    province_of,
    repair_credit_code,
    repair_id_number,
)
from ocr_service.text import Box, Glyph, Row, union

__all__ = [
    "FIELD_KEYS",
    "KIND_KEYS",
    "Field",
    "Reread",
    "Verify",
    "extract",
    "rows_from_text",
]

FIELD_KEYS = (
    "enterprise_name",
    "uscc",
    "legal_representative",
    "address",
    "established_on",
    "term_from",
    "term_to",
    "licence_no",
    "issuing_authority",
    "issued_on",
    "valid_until",
    "product_name",
    "approval_no",
    "holder",
    "person_name",
    "sex",
    "ethnicity",
    "birth_date",
    "id_number",
    "valid_from",
)

KIND_KEYS: dict[str, frozenset[str]] = {
    "business_licence": frozenset(
        {
            "uscc",
            "enterprise_name",
            "legal_representative",
            "address",
            "established_on",
            "term_from",
            "term_to",
            "issuing_authority",
            "issued_on",
        }
    ),
    "drug_manufacturing_licence": frozenset(
        {
            "licence_no",
            "enterprise_name",
            "uscc",
            "address",
            "legal_representative",
            "issuing_authority",
            "issued_on",
            "valid_until",
        }
    ),
    "device_registration_certificate": frozenset(
        {
            "approval_no",
            "holder",
            "address",
            "product_name",
            "issuing_authority",
            "issued_on",
            "valid_until",
        }
    ),
    "id_card_front": frozenset(
        {"person_name", "sex", "ethnicity", "birth_date", "address", "id_number"}
    ),
    "id_card_back": frozenset({"issuing_authority", "valid_from", "valid_until"}),
    "power_of_attorney": frozenset(
        {
            "enterprise_name",
            "legal_representative",
            "person_name",
            "id_number",
            "valid_from",
            "valid_until",
        }
    ),
    "inspection_report": frozenset(
        {"product_name", "approval_no", "enterprise_name", "issued_on"}
    ),
    "unknown": frozenset(FIELD_KEYS),
}
KIND_KEYS["drug_distribution_licence"] = KIND_KEYS["drug_manufacturing_licence"]
KIND_KEYS["device_distribution_licence"] = KIND_KEYS["drug_manufacturing_licence"]


@dataclass(frozen=True, slots=True)
class _Label:
    """A printed label: what it names (``keys``; none for a label that only
    ends the value before it), how its value reads, and how many further rows
    the value may take."""

    text: str
    keys: tuple[str, ...]
    reads: str
    continues: int = 0
    kinds: frozenset[str] | None = None


def _labels() -> list[_Label]:
    poa = frozenset({"power_of_attorney", "unknown"})
    report = frozenset({"inspection_report", "unknown"})
    table: list[tuple[str, tuple[str, ...], str, int, frozenset[str] | None]] = []

    def add(
        texts: str,
        keys: tuple[str, ...],
        reads: str,
        continues: int = 0,
        kinds: frozenset[str] | None = None,
    ) -> None:
        for text in texts.split():
            table.append((text, keys, reads, continues, kinds))

    add("统一社会信用代码 社会信用代码 信用代码", ("uscc",), "uscc")
    add("企业名称 单位名称 公司名称 名称", ("enterprise_name",), "text", 1)
    add("委托单位 委托方 授权单位", ("enterprise_name",), "text", 1, poa)
    add("生产企业 生产单位 生产厂家", ("enterprise_name",), "text", 1, report)
    add("注册人名称 备案人名称 注册人 备案人", ("holder",), "text", 1)
    add("法定代表人 法人代表", ("legal_representative",), "name")
    add(
        "注册人住所 备案人住所 企业住所 注册地址 住所 住址 地址",
        ("address",),
        "text",
        2,
    )
    add("成立日期 注册日期", ("established_on",), "date")
    add("营业期限 经营期限", ("term_from", "term_to"), "term", 1)
    add("营业期限自", ("term_from",), "date")
    add("营业期限至", ("term_to",), "term_end")
    add("许可证编号 许可证号 备案编号 编号 证号", ("licence_no",), "number")
    add("注册证编号 注册证号 批准文号", ("approval_no",), "number")
    add(
        "发证机关 发证部门 发证单位 审批部门 签发机关 登记机关 备案部门 核发机关",
        ("issuing_authority",),
        "text",
        1,
    )
    add(
        "发证日期 批准日期 报告日期 签发日期 备案日期 核发日期",
        ("issued_on",),
        "date",
    )
    add("有效期至 有效期限至", ("valid_until",), "term_end")
    add(
        "有效期限 有效期 授权期限 委托期限",
        ("valid_from", "valid_until"),
        "validity",
        1,
    )
    add("产品名称 检品名称 样品名称 药品名称", ("product_name",), "text", 1)
    add("姓名", ("person_name",), "name")
    add("被委托人 受托人 被授权人", ("person_name",), "name", 0, poa)
    add("性别", ("sex",), "sex")
    add("民族", ("ethnicity",), "ethnicity")
    add("出生", ("birth_date",), "date")
    add("公民身份号码 身份证号码 身份证号 身份证件号码 证件号码", ("id_number",), "id")
    add(
        "类型 注册资本 经营范围 生产范围 生产地址和生产范围 经营方式 企业负责人 "
        "质量负责人 质量受权人 仓库地址 生产地址 经营场所 库房地址 签发人 分类码 "
        "型号、规格 型号规格 结构及组成 适用范围 附件 备注 批号 规格 检验依据 "
        "检验结论 检验项目 检验结果 报告编号 代理人名称 代理人住所 日期 其他内容",
        (),
        "none",
    )
    labels = [_Label(t, k, r, c, kinds) for t, k, r, c, kinds in table]
    return sorted(labels, key=lambda label: len(label.text), reverse=True)


_LABELS = _labels()
_SEPARATORS = ":;,.、·|()[]"
_COLONS = ":"
_NAME_CHARS = re.compile(r"[\u4e00-\u9fff·]+")
_DIGIT_FIXES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "]": "1",
        "Z": "2",
        "S": "5",
    }
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field as reported: its value, confidence and box."""

    value: str
    confidence: float
    box: Box

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "box": list(self.box),
        }


@dataclass(frozen=True, slots=True)
class _Hit:
    row: int
    start: int
    end: int
    label: _Label


@dataclass(frozen=True, slots=True)
class _Span:
    """A value's characters: ``(row, start, end)`` pieces, in order."""

    pieces: tuple[tuple[int, int, int], ...]


def _row_labels(
    row: Row, index: int, kind: str, columns: Sequence[int] = ()
) -> list[_Hit]:
    """The labels on ``row``. A label that does not stand apart (no gap or
    punctuation before it) still counts where it is printed exactly and
    starts where a label of another row's second column does (``columns``):
    a value wrapped up to the column's edge leaves no gap before it."""
    text = row.text
    candidates: list[tuple[bool, int, int, int, _Label]] = []
    for label in _LABELS:
        if label.kinds is not None and kind not in label.kinds:
            continue
        for hit in find_all(text, label.text):
            candidates.append((hit.exact, len(label.text), hit.start, hit.end, label))
        # A long label whose first character was lost at the start of a row
        # (``告日期`` for ``报告日期``) is still that label: its tail alone
        # is three characters or more.
        size = len(label.text)
        if size >= 4 and text.startswith(label.text[1:]):
            candidates.append((True, size, 0, size - 1, label))

    # A long label read with a character inserted (注册人和名称) holds a
    # shorter exact label naming the same field (注册人): the long one is
    # the label printed, and ranks as if it were exact.
    def ranked(c: tuple[bool, int, int, int, _Label]) -> bool:
        return c[0] or any(
            o[0] and o[4].keys == c[4].keys and c[2] <= o[2] and o[3] <= c[3]
            for o in candidates
        )

    candidates = sorted(candidates, key=lambda c: (not ranked(c), -c[1], c[2]))
    taken: list[_Hit] = []
    for exact, _, start, end, label in candidates:
        if any(start < h.end and h.start < end for h in taken):
            continue
        if not _stands_as_label(row, start, end) and not (
            exact and label.keys and _in_column(row, start, columns)
        ):
            continue
        taken.append(_Hit(index, start, end, label))
    return sorted(taken, key=lambda h: h.start)


def _in_column(row: Row, start: int, columns: Sequence[int]) -> bool:
    x0 = row.glyphs[row.owners[start]].box[0]
    return any(abs(x0 - x) <= 0.6 * row.height for x in columns)


def _stands_as_label(row: Row, start: int, end: int) -> bool:
    text = row.text
    if start == 0 or row.gap_before(start) >= 0.8:
        return True
    if text[start - 1] in _SEPARATORS or not _is_cjk(text[start - 1]):
        return True
    return end < len(text) and text[end] in _COLONS


def _is_cjk(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


# What no value starts with: separators, and the specks (read as 。 and the
# like) that noise and letter-spaced labels leave between label and value.
_LEADING_NOISE = _SEPARATORS + "。_-~'\"`"


def _value_start(row: Row, position: int, end: int) -> int:
    while position < end and row.text[position] in _LEADING_NOISE:
        position += 1
    return position


def _cut_at_gap(row: Row, start: int, end: int, gap: float) -> int:
    for position in range(start + 1, end):
        if row.gap_before(position) >= gap:
            return position
    return end


class _Reader:
    def __init__(
        self, rows: Sequence[Row], kind: str, verify: Verify | None = None
    ) -> None:
        self.rows = list(rows)
        self.kind = kind
        self._verify = verify
        self._checked: set[tuple[int, int]] = set()
        self._grown: dict[tuple[int, int], str] = {}
        self.hits = [_row_labels(row, i, kind) for i, row in enumerate(rows)]
        # Where labels start inside rows: the second column of a two-column
        # form, once seen, finds the labels there that stand too close.
        columns = [
            row.span_box(h.start, h.end)[0]
            for row, hits in zip(rows, self.hits, strict=True)
            for h in hits
            if h.start > 0
        ]
        if columns:
            self.hits = [
                _row_labels(row, i, kind, columns) for i, row in enumerate(rows)
            ]

    def value_span(self, hit: _Hit) -> _Span | None:
        row = self.rows[hit.row]
        later = [h.start for h in self.hits[hit.row] if h.start >= hit.end]
        end = min(later) if later else len(row.text)
        start = _value_start(row, hit.end, end)
        if hit.label.reads in ("text", "name", "sex", "ethnicity"):
            end = _cut_at_gap(row, start, end, 2.5)
        if start >= end:
            return self._below(hit)
        pieces = [(hit.row, start, end)]
        x0 = row.span_box(start, end)[0]
        for _ in range(hit.label.continues):
            more = self._continuation(pieces[-1][0], x0, row.box[0], hit)
            if more is None:
                break
            pieces.append(more)
        return _Span(tuple(pieces))

    def _next_row(self, index: int) -> int | None:
        if index + 1 >= len(self.rows):
            return None
        here, there = self.rows[index], self.rows[index + 1]
        gap = there.box[1] - here.box[3]
        return index + 1 if gap < 1.6 * max(here.height, there.height) else None

    def _continuation(
        self, index: int, x0: int, _row_x0: int, hit: _Hit
    ) -> tuple[int, int, int] | None:
        following = self._next_row(index)
        if following is None:
            return None
        row = self.rows[following]
        height = self.rows[hit.row].height
        label_x0 = self.rows[hit.row].span_box(hit.start, hit.end)[0]
        for position in range(len(row.text)):
            box = row.glyphs[row.owners[position]].box
            if box[0] < label_x0 - height / 2:
                continue
            if abs(box[0] - x0) > height:
                return None
            labels_here = self.hits[following]
            if any(
                h.start <= position
                for h in labels_here
                if h.start >= 0
                and row.span_box(h.start, h.end)[0] >= label_x0 - height / 2
            ):
                return None
            later = [h.start for h in labels_here if h.start > position]
            end = min(later) if later else len(row.text)
            end = _cut_at_gap(row, position, end, 2.5)
            return following, position, end
        return None

    def beside(self, hit: _Hit, width: float) -> Box | None:
        """The space right of ``hit`` on its row: ``width`` row heights wide,
        or up to the next label; ``None`` if that is too narrow to hold one."""
        row = self.rows[hit.row]
        _, y0, x1, y1 = row.span_box(hit.start, hit.end)
        height = max(1, y1 - y0)
        later = [h.start for h in self.hits[hit.row] if h.start >= hit.end]
        right = x1 + width * height
        if later:
            right = min(right, row.span_box(later[0], later[0] + 1)[0] - height / 2)
        if right - x1 < 2 * height:
            return None
        return round(x1 + height / 4), y0, round(right), y1

    def _below(self, hit: _Hit) -> _Span | None:
        following = self._next_row(hit.row)
        if following is None:
            return None
        row = self.rows[following]
        label_x0 = self.rows[hit.row].span_box(hit.start, hit.end)[0]
        height = self.rows[hit.row].height
        for position in range(len(row.text)):
            if row.glyphs[row.owners[position]].box[0] < label_x0 - height:
                continue
            if any(h.start == position for h in self.hits[following]):
                return None
            later = [h.start for h in self.hits[following] if h.start > position]
            end = min(later) if later else len(row.text)
            return _Span(((following, position, _cut_at_gap(row, position, end, 2.5)),))
        return None

    def text(self, span: _Span) -> str:
        return "".join(self.rows[r].span_text(s, e) for r, s, e in span.pieces)

    def value_text(self, span: _Span, reads: str) -> str:
        """The text of a value read as ``reads``; the Chinese characters of
        names and free text are first checked by their shape (``verify``),
        once per row, and a row's characters judged wrong are replaced. A
        character the check finds missing beside a glyph (the glyph's text
        grows by it), or a glyph it finds standing for no character (its
        text becomes empty), changes this value's text only: the row's
        positions stay as the labels were found."""
        if self._verify is not None and reads in _SHAPE_CHECKED:
            for r, s, e in span.pieces:
                row = self.rows[r]
                glyphs = tuple(
                    i
                    for i in sorted(set(row.owners[s:e]))
                    if (r, i) not in self._checked
                )
                if not glyphs:
                    continue
                self._checked.update((r, i) for i in glyphs)
                replaced = self._verify(row, glyphs, reads)
                self._grown.update(
                    ((r, i), text) for i, text in replaced.items() if len(text) != 1
                )
                if replaced:
                    self.rows[r] = row.replaced(replaced)
        if not any(
            (r, i) in self._grown
            for r, s, e in span.pieces
            for i in self.rows[r].owners[s:e]
        ):
            return self.text(span)
        out: list[str] = []
        for r, s, e in span.pieces:
            row = self.rows[r]
            for position in range(s, e):
                owner = row.owners[position]
                grown = self._grown.get((r, owner))
                if grown is None:
                    out.append(row.text[position])
                elif position == s or row.owners[position - 1] != owner:
                    out.append(grown)
        return "".join(out)

    def box(self, span: _Span) -> Box:
        return union(self.rows[r].span_box(s, e) for r, s, e in span.pieces)

    def piece_boxes(
        self, span: _Span, hit: _Hit, *, extend: bool = False
    ) -> tuple[Box, ...]:
        """The box of each piece of ``span``; with ``extend``, a piece on the
        label's row starts where the label ends, so that a character the
        first reading missed there is inside it."""
        boxes: list[Box] = []
        for r, s, e in span.pieces:
            x0, y0, x1, y1 = self.rows[r].span_box(s, e)
            if extend and r == hit.row:
                label_end = self.rows[r].span_box(hit.start, hit.end)[2]
                x0 = min(x0, max(label_end + 2, x0 - 2 * self.rows[r].height))
            boxes.append((x0, y0, x1, y1))
        return tuple(boxes)

    def confidence(self, span: _Span) -> float:
        glyphs: list[Glyph] = []
        for r, s, e in span.pieces:
            glyphs.extend(self.rows[r].span_glyphs(s, e))
        return sum(g.confidence for g in glyphs) / len(glyphs) if glyphs else 0.0


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\"'“”‘’`]", "", text)
    # A bracket or bar against a digit is a 1 read short (11]号, 1|层).
    text = re.sub(r"(?<=\d)[\]|](?=\d|[号层室楼栋弄])|[\]|](?=\d)", "1", text)
    text = re.sub(
        r"^[\s:;,.、。·|_\-《》〈〉<>]+|[\s:;,.、。·|_\-《》〈〉<>]+$", "", text
    )
    # No value read as text holds a full stop between two characters: it is
    # a speck (what is left of a rule, or dirt) read as one.
    text = re.sub(r"(?<=[\u4e00-\u9fff])。(?=[\u4e00-\u9fff])", "", text)
    return re.sub(r"^\((?:盖章|负责人|签字)\)", "", text)


def _clean_name(text: str) -> str | None:
    text = re.sub(r"^\([^)]*\)", "", unicodedata.normalize("NFKC", text))
    parts = _NAME_CHARS.findall(text)
    name = parts[0] if parts else ""
    return name if 2 <= len(name) <= 6 else None


_APPROVAL_TAIL = re.compile(r"^(?:国?药)?准字([HZSJBTF]\d{8})$")


def _clean_number(text: str) -> str | None:
    compact = fold(text).strip(_SEPARATORS + "-_")
    compact = re.sub(
        r"(?<=\d)[OoDIl|\]ZS](?=\d)",
        lambda m: m.group(0).translate(_DIGIT_FIXES),
        compact,
    )
    compact = re.sub(
        r"(?<=\d)[OoDIl|\]ZS]$", lambda m: m.group(0).translate(_DIGIT_FIXES), compact
    )
    return compact if len(compact) >= 4 else None


def _read(
    reads: str, keys: tuple[str, ...], text: str, today: date | None
) -> list[tuple[str, str, float]]:
    """``(key, value, confidence factor)`` read from ``text`` as ``reads``."""
    if reads == "uscc":
        code = repair_credit_code(text)
        return [(keys[0], code, 1.0)] if code else []
    if reads == "id":
        number = repair_id_number(text, today)
        return [(keys[0], number, 1.0)] if number else []
    if reads == "date":
        value = normalise_date(text)
        return [(keys[0], value, 1.0)] if value else []
    if reads in ("term", "validity"):
        term = parse_term(text)
        found: list[tuple[str, str, float]] = []
        if term.start is not None and term.end is None and reads == "validity":
            return [(keys[1], term.start.value, 1.0)]
        if term.start is not None and term.start.value != LONG_TERM:
            found.append((keys[0], term.start.value, 1.0))
        if term.end is not None:
            found.append((keys[1], term.end.value, 1.0))
        return found
    if reads == "term_end":
        term = parse_term(text)
        end = term.end or term.start
        return [(keys[0], end.value, 1.0)] if end else []
    if reads == "sex":
        match = re.search("[男女]", text)
        return [(keys[0], match.group(0), 1.0)] if match else []
    if reads == "ethnicity":
        parts = _NAME_CHARS.findall(text)
        value = parts[0].removesuffix("族") if parts else ""
        return [(keys[0], value, 1.0)] if 1 <= len(value) <= 5 else []
    if reads == "name":
        name = _clean_name(text)
        return [(keys[0], name, 1.0)] if name else []
    if reads == "number":
        number = _clean_number(text)
        if number:
            # A drug approval number read without the head of its fixed
            # 国药准字 but with its class letter and eight digits.
            number = _APPROVAL_TAIL.sub(r"国药准字\1", number)
        return [(keys[0], number, 1.0)] if number else []
    value = _clean_text(text)
    # A date beside a value is the next row's (an issuer's name with the
    # date printed under it, the two read as one line on a skewed page).
    trailing = _date_at_end(value)
    if trailing is not None:
        value = value[: trailing.start].rstrip()
    if keys[0] in _ENTERPRISES:
        value = _company_suffix(value)
    return [(keys[0], value, 1.0)] if len(value) >= 2 else []


def _date_at_end(text: str) -> DateMatch | None:
    """The date ``text`` ends with, if it ends with one."""
    dates = find_dates(text)
    if dates and dates[-1].end >= len(text.rstrip()) - 1:
        return dates[-1]
    return None


# Keys whose value is an enterprise's name, and the forms a company's name
# ends in by law (有限公司, 有限责任公司, 股份有限公司): a name read as ending
# in 有限 or 有限责任 lost 公司, one ending in 公 lost its last character, and
# one ending in 公 and another character after 有限, 责任 or 股份 had it
# misread.
_ENTERPRISES = frozenset({"enterprise_name", "holder"})
_CUT_COMPANY = re.compile(r"(?:有限|责任|股份)公(?:[^司])?$")


def _company_suffix(value: str) -> str:
    """``value`` with the end of a company's legal form put right."""
    # 有 read twice before 限 (有有限公司).
    value = re.sub(r"有有限(?=(?:责任)?公?司?$)", "有限", value)
    if value.endswith(("有限", "有限责任")):
        return value + "公司"
    match = _CUT_COMPANY.search(value)
    if match is None:
        return value
    return value[: match.start()] + match.group(0)[:3] + "司"


# Reads the value again from the image: given the working-image boxes of a
# value's pieces and how the value reads, the text found there (or ``None``).
Reread = Callable[[tuple[Box, ...], str], str | None]
# Checks characters of a row by their shape: given the row, the indices of
# the glyphs of a value and how the value reads, the new text of those
# judged misread.
Verify = Callable[[Row, tuple[int, ...], str], dict[int, str]]
# The values whose Chinese characters are checked by their shape.
_SHAPE_CHECKED = frozenset({"text", "name"})


def extract(
    rows: Sequence[Row],
    kind: str,
    to_original: Callable[[Box], Box] = lambda box: box,
    *,
    today: date | None = None,
    reread: Reread | None = None,
    verify: Verify | None = None,
) -> dict[str, Field]:
    """The fields of a page of ``kind`` whose rows are ``rows``; boxes are
    mapped with ``to_original``. With ``reread``, each value is read a second
    time from its own box, and that reading is preferred where it yields a
    value of the field's kind."""
    allowed = KIND_KEYS.get(kind, KIND_KEYS["unknown"])
    reader = _Reader(rows, kind, verify)
    fields: dict[str, Field] = {}
    authority_row: int | None = None
    for row_hits in reader.hits:
        for hit in row_hits:
            keys = hit.label.keys
            if not keys or all(k in fields or k not in allowed for k in keys):
                continue
            span = reader.value_span(hit)
            reads = hit.label.reads
            if span is None:
                if reread is not None:
                    _read_beside(
                        reader, hit, reread, fields, allowed, to_original, today
                    )
                continue
            found = _read(reads, keys, reader.value_text(span, reads), today)
            if reread is not None and _doubtful(reads, keys, found, allowed):
                boxes = reader.piece_boxes(span, hit, extend=reads == "number")
                again = reread(boxes, _reread_as(reads, found))
                if again is not None:
                    found = _prefer(reads, found, _read(reads, keys, again, today))
            if reread is not None and reads == "name":
                found = _reread_surname(reader, span, found, reread)
            box = to_original(reader.box(span))
            confidence = reader.confidence(span)
            for key, value, factor in found:
                if key in fields or key not in allowed:
                    continue
                if reads in ("uscc", "id"):
                    confidence = max(confidence, 0.95) * factor
                fields[key] = Field(value, confidence, box)
                if key == "issuing_authority":
                    authority_row = span.pieces[-1][0]
    if reread is not None and kind in KIND_KEYS and kind != "unknown":
        _read_lost_rows(reader, fields, allowed, reread, to_original, today)
    _fill_from_page(reader, fields, allowed, authority_row, to_original, today)
    if reread is not None:
        _reread_code_runs(reader, fields, allowed, reread, to_original, today)
    return {key: fields[key] for key in FIELD_KEYS if key in fields}


_REREAD = frozenset({"uscc", "id", "date", "term", "term_end", "validity", "number"})


# A label with no value read beside it: its value is looked for in a box this
# many row heights wide to its right (or up to the next label).
_BESIDE_WIDTH = 12.0


def _read_beside(
    reader: _Reader,
    hit: _Hit,
    reread: Reread,
    fields: dict[str, Field],
    allowed: frozenset[str],
    to_original: Callable[[Box], Box],
    today: date | None,
) -> None:
    """Fill the fields of a label the first reading found no value for from
    a second reading of the space to its right, where forms print it."""
    box = reader.beside(hit, _BESIDE_WIDTH)
    if box is None:
        return
    again = reread((box,), hit.label.reads)
    if not again:
        return
    for key, value, _ in _read(hit.label.reads, hit.label.keys, again, today):
        if key not in fields and key in allowed:
            fields[key] = Field(value, 0.5, to_original(box))


def _reread_surname(
    reader: _Reader,
    span: _Span,
    found: list[tuple[str, str, float]],
    reread: Reread,
) -> list[tuple[str, str, float]]:
    """``found`` (a person's name) with a first character that is no surname
    taken from a second reading of the name's box, where that reading starts
    with a surname. The rest of the name is kept as first read: a second
    reading of a given name is no better than the first."""
    if not found or found[0][1][:1] in SURNAMES:
        return found
    key, name, factor = found[0]
    row_index, start, end = span.pieces[0]
    row = reader.rows[row_index]
    at = row.text.find(name, start, end)
    if at < 0:
        return found
    again = reread((row.span_box(at, at + len(name)),), "name")
    other = _clean_name(again) if again else None
    if other is None or other[0] not in SURNAMES:
        return found
    if len(other) == len(name):
        return [(key, other[0] + name[1:], factor), *found[1:]]
    if len(other) == len(name) - 1 and other[1:] == name[2:]:
        # The first reading had a stray glyph before the surname.
        return [(key, other[0] + name[2:], factor), *found[1:]]
    return found


def _prefixed(value: str) -> bool:
    return number_in_shape(value)


def _reread_as(reads: str, found: list[tuple[str, str, float]]) -> str:
    """How a doubtful value is read again: a drug approval number with only
    the characters it may hold (its grammar is closed: 国药准字, a class
    letter, eight digits), anything else as it was read."""
    if reads == "number" and any("药准字" in v[:5] for _, v, _ in found):
        return "approval"
    return reads


def _doubtful(
    reads: str,
    keys: tuple[str, ...],
    found: list[tuple[str, str, float]],
    allowed: frozenset[str],
) -> bool:
    """Whether a value read as ``reads`` is worth reading again: a code or
    date that did not read at all, a number without its province prefix."""
    if reads not in _REREAD:
        return False
    if reads == "number":
        return not any(_prefixed(value) for _, value, _ in found)
    have = {key for key, _, _ in found}
    if reads == "validity":
        return not have
    return any(key not in have for key in keys if key in allowed)


def _prefer(
    reads: str,
    first: list[tuple[str, str, float]],
    second: list[tuple[str, str, float]],
) -> list[tuple[str, str, float]]:
    """The first reading's values, and the second's for keys it lacks; for a
    number, the second reading when only it has the grammar's prefix. A
    province's abbreviation is all that is taken from the second reading of
    a number whose first reading has a body (the first reading of the rest
    of a value is the better one): it replaces the first's misread prefix,
    or goes before a body read without one."""
    if reads == "number":
        if any(_prefixed(v) for _, v, _ in second) and not any(
            _prefixed(v) for _, v, _ in first
        ):
            key, again, factor = second[0]
            if first and again[0] != "国":
                body = first[0][1]
                if _is_cjk(body[0]):
                    body = body[1:]
                if body and not _is_cjk(body[0]):
                    return [(key, again[0] + body, factor)]
            return second
        return first
    keys = {key for key, _, _ in first}
    return [*first, *(f for f in second if f[0] not in keys)]


def _fill_from_page(
    reader: _Reader,
    fields: dict[str, Field],
    allowed: frozenset[str],
    authority_row: int | None,
    to_original: Callable[[Box], Box],
    today: date | None,
) -> None:
    rows = reader.rows
    for key, reads in (("uscc", "uscc"), ("id_number", "id")):
        if key in fields or key not in allowed:
            continue
        for index, row in enumerate(rows):
            found = _read(reads, (key,), row.text, today)
            if found:
                _, value, factor = found[0]
                box = to_original(row.box)
                fields[key] = Field(
                    value,
                    max(0.9, reader.confidence(_Span(((index, 0, len(row.text)),))))
                    * factor,
                    box,
                )
                break
    _fill_damaged_labels(reader, fields, allowed, to_original, today)
    _fill_lone_validity(reader, fields, allowed, to_original)
    if (
        "issued_on" in allowed
        and "issued_on" not in fields
        and authority_row is not None
    ):
        # The date read on the issuer's line, or printed under it.
        on_line = _date_at_end(rows[authority_row].text)
        if on_line is not None:
            span = _Span(((authority_row, on_line.start, on_line.end),))
            fields["issued_on"] = Field(
                on_line.value, reader.confidence(span), to_original(reader.box(span))
            )
        for index in range(authority_row + 1, min(len(rows), authority_row + 3)):
            if on_line is not None or reader.hits[index]:
                break
            issued = normalise_date(rows[index].text)
            if issued:
                span = _Span(((index, 0, len(rows[index].text)),))
                fields["issued_on"] = Field(
                    issued, reader.confidence(span), to_original(reader.box(span))
                )
                break
    if "issued_on" in allowed and "issued_on" not in fields:
        _fill_issue_date(reader, fields, to_original)
    number = fields.get("id_number")
    if number is not None and {"birth_date", "sex"} <= allowed:
        born = f"{number.value[6:10]}-{number.value[10:12]}-{number.value[12:14]}"
        if fields.get("birth_date") is None or fields["birth_date"].value != born:
            previous = fields.get("birth_date")
            fields["birth_date"] = Field(
                born, number.confidence * 0.95, previous.box if previous else number.box
            )
        sex = "男" if int(number.value[16]) % 2 else "女"
        if fields.get("sex") is None or fields["sex"].value != sex:
            previous = fields.get("sex")
            fields["sex"] = Field(
                sex, number.confidence * 0.95, previous.box if previous else number.box
            )
    _agree_with_province(fields)


def _agree_with_province(fields: dict[str, Field]) -> None:
    """A provincial number begins with its province's abbreviation, and a
    province's authority (or a city's, in it) issues it to an enterprise in
    that province. Where the issuing authority names a province and a number
    begins with another Chinese character, that character was misread and
    is the province's; where the authority names none (a city's), the
    address's province stands for it, and where no authority was read, the
    address's province puts right a number that begins with another
    province's abbreviation. A national authority's numbers begin with 国
    and are left alone."""
    authority = fields.get("issuing_authority")
    address = fields.get("address")
    if authority is not None and authority.value.startswith("国家"):
        return
    for key in ("licence_no", "approval_no"):
        number = fields.get(key)
        if number is None or not "\u4e00" <= number.value[:1] <= "\u9fff":
            continue
        first = number.value[0]
        if first == "国":
            continue
        province = province_of(authority.value) if authority is not None else None
        # With no authority read, a first character that is no abbreviation
        # may be a misread 国: only another province's is put right then.
        known = authority is not None or first in NUMBER_PREFIXES
        if province is None and address is not None and known:
            province = province_of(address.value)
        if province is None or first in province:
            continue
        fields[key] = Field(
            province[0] + number.value[1:], number.confidence * 0.9, number.box
        )


# A row the first reading lost: a gap between two rows holding labels at
# least this many row heights high (where the rows around it stand this much
# apart, a row fits between them) and at most that many is read again as one
# line, at most this many such gaps a page.
_LOST_ROW_GAP = 1.6
_LOST_ROW_MAX_GAP = 4.0
_LOST_ROW_TRIES = 2
# Above the first row, the room read is this many of its heights high.
_LOST_TOP_REACH = 2.2


def _read_lost_rows(
    reader: _Reader,
    fields: dict[str, Field],
    allowed: frozenset[str],
    reread: Reread,
    to_original: Callable[[Box], Box],
    today: date | None,
) -> None:
    """Fields a row the first reading dropped whole would have held. Where
    the page lacks a field its kind carries and two rows with labels stand
    apart by room for a row (or the first row read, holding labels, stands
    that far below the top), that room is read again as one line, and the
    fields its labels name that are still missing are taken from it."""
    if not any(key not in fields for key in allowed):
        return
    rows = reader.rows
    if not rows:
        return
    rooms: list[Box] = []
    # The first row read holds labels and stands well below the top of the
    # page: the row above it may have been lost (an ID card's name).
    top = rows[0]
    if reader.hits[0] and top.box[1] >= _LOST_ROW_GAP * top.height:
        rooms.append(
            (
                top.box[0],
                max(0, round(top.box[1] - _LOST_TOP_REACH * top.height)),
                top.box[2],
                top.box[1] - 1,
            )
        )
    for index in range(len(rows) - 1):
        above, below = rows[index], rows[index + 1]
        if not reader.hits[index] or not reader.hits[index + 1]:
            continue
        height = max(above.height, below.height)
        gap = below.box[1] - above.box[3]
        if not _LOST_ROW_GAP * height <= gap <= _LOST_ROW_MAX_GAP * height:
            continue
        rooms.append(
            (
                min(above.box[0], below.box[0]),
                above.box[3] + 1,
                max(above.box[2], below.box[2]),
                below.box[1] - 1,
            )
        )
    for box in rooms[:_LOST_ROW_TRIES]:
        again = reread((box,), "row")
        if not again:
            continue
        lost = extract(rows_from_text([again]), reader.kind, today=today)
        for key, found in lost.items():
            if key in allowed and key not in fields:
                fields[key] = Field(
                    found.value, found.confidence * 0.8, to_original(box)
                )


# A code not found by its label nor in any row's text: the rows holding a run
# of at least this many of its characters (a code with a character or two
# misread or merged with its neighbours), longest run first, are read again
# from the run's box, widened by this many row heights left and right.
_CODE_RUNS = {
    "uscc": re.compile(r"[0-9A-Z]{14,}"),
    "id": re.compile(r"[0-9][0-9Xx×]{13,}"),
}
_CODE_RUN_WIDEN = 1.5
_CODE_RUN_TRIES = 2


def _reread_code_runs(
    reader: _Reader,
    fields: dict[str, Field],
    allowed: frozenset[str],
    reread: Reread,
    to_original: Callable[[Box], Box],
    today: date | None,
) -> None:
    """A credit code or ID number no reading found, read again from the long
    run of its characters on a row, with only the characters it may hold:
    the first reading put a misread or merged glyph into the run, so that
    its check character failed. Taken only when the check holds."""
    for key, reads in (("uscc", "uscc"), ("id_number", "id")):
        if key in fields or key not in allowed:
            continue
        runs: list[tuple[int, int, int]] = []
        for index, row in enumerate(reader.rows):
            for m in _CODE_RUNS[reads].finditer(fold(row.text)):
                if len(fold(row.text)) == len(row.text):
                    runs.append((index, m.start(), m.end()))
        runs.sort(key=lambda r: r[1] - r[2])
        for index, start, end in runs[:_CODE_RUN_TRIES]:
            row = reader.rows[index]
            x0, y0, x1, y1 = row.span_box(start, end)
            widen = round(_CODE_RUN_WIDEN * row.height)
            box = (max(0, x0 - widen), y0, x1 + widen, y1)
            again = reread((box,), reads)
            found = _read(reads, (key,), again, today) if again else []
            if found:
                fields[key] = Field(found[0][1], 0.9, to_original(box))
                break


# Labels whose value has a grammar (dates, terms) strict enough to confirm a
# label read with more than one character wrong, and how much of the label
# (difflib's ratio) must still be there.
_CONFIRMED_BY_VALUE = frozenset({"date", "term", "term_end", "validity"})
_DAMAGED_LABEL_RATIO = 0.5
_LEADING_DIGIT = re.compile(r"[0-9]")


def _fill_damaged_labels(
    reader: _Reader,
    fields: dict[str, Field],
    allowed: frozenset[str],
    to_original: Callable[[Box], Box],
    today: date | None,
) -> None:
    """Fields whose label was read with two or more characters wrong
    (``有效贿良`` for ``有效期限``): a row starting with no label found, whose
    text before its first digit is at least half like a date or term label,
    and whose rest reads as that label's value. Of the labels equally like
    it, the one whose value reading yields the most missing fields wins."""
    for index, row in enumerate(reader.rows):
        text = row.text
        digit = _LEADING_DIGIT.search(text)
        if digit is None or digit.start() < 2:
            continue
        if any(h.start < digit.start() for h in reader.hits[index]):
            continue
        head = text[: digit.start()].rstrip(_SEPARATORS + "。")
        best: tuple[float, int, list[tuple[str, str, float]]] | None = None
        for label in _LABELS:
            if label.reads not in _CONFIRMED_BY_VALUE:
                continue
            if label.kinds is not None and reader.kind not in label.kinds:
                continue
            missing = [k for k in label.keys if k in allowed and k not in fields]
            if not missing:
                continue
            tail = head[-(len(label.text) + 1) :]
            ratio = SequenceMatcher(None, tail, label.text).ratio()
            if ratio < _DAMAGED_LABEL_RATIO:
                continue
            found = [
                f
                for f in _read(label.reads, label.keys, text[digit.start() :], today)
                if f[0] in missing
            ]
            if found and (best is None or (ratio, len(found)) > best[:2]):
                best = (ratio, len(found), found)
        if best is None:
            continue
        span = _Span(((index, digit.start(), len(text)),))
        box = to_original(reader.box(span))
        for key, value, _ in best[2]:
            fields[key] = Field(value, reader.confidence(span) * 0.9, box)


def _fill_lone_validity(
    reader: _Reader,
    fields: dict[str, Field],
    allowed: frozenset[str],
    to_original: Callable[[Box], Box],
) -> None:
    """A validity whose label was read past recognising: on a page that
    carries a validity and has none, the one row holding a period (two
    dates, or a date and 长期, joined by 至 or a dash) and no label before
    it. Two such rows say nothing."""
    if not {"valid_from", "valid_until"} <= allowed:
        return
    if "valid_from" in fields or "valid_until" in fields:
        return
    periods: list[tuple[int, DateMatch, DateMatch]] = []
    for index, row in enumerate(reader.rows):
        term = parse_term(row.text)
        start, end = term.start, term.end
        if start is None or end is None:
            continue
        if any(h.start < start.start for h in reader.hits[index]):
            continue
        if not _PERIOD_JOIN.search(row.text[start.end : end.start]):
            continue
        periods.append((index, start, end))
    if len(periods) != 1:
        return
    index, start, end = periods[0]
    span = _Span(((index, start.start, end.end),))
    confidence = reader.confidence(span) * 0.9
    box = to_original(reader.box(span))
    if start.value != LONG_TERM:
        fields["valid_from"] = Field(start.value, confidence, box)
    fields["valid_until"] = Field(end.value, confidence, box)


_PERIOD_JOIN = re.compile(r"^\s*(?:至|到|[-~—–－])\s*$")


def _fill_issue_date(
    reader: _Reader, fields: dict[str, Field], to_original: Callable[[Box], Box]
) -> None:
    """A page's date of issue whose label was not read: the one date
    standing alone on its row below every label, where forms print it above
    the seal. Two or more such dates say nothing."""
    rows = reader.rows
    last_label = max((i for i, hits in enumerate(reader.hits) if hits), default=-1)
    lone: list[tuple[int, str]] = []
    for index in range(last_label + 1, len(rows)):
        text = rows[index].text
        dates = find_dates(text)
        if len(dates) == 1 and dates[0].end - dates[0].start >= len(text) - 1:
            lone.append((index, dates[0].value))
    if len(lone) != 1:
        return
    index, value = lone[0]
    span = _Span(((index, 0, len(rows[index].text)),))
    fields["issued_on"] = Field(
        value, reader.confidence(span) * 0.9, to_original(reader.box(span))
    )


def rows_from_text(lines: Sequence[str]) -> list[Row]:
    """Rows built from plain text lines, for tests and text input: each
    character a glyph 20 px high and 10 px wide, confidence 0.9; each white
    space is 10 px of gap, and a run of it is a word break."""
    rows: list[Row] = []
    for index, line in enumerate(lines):
        glyphs: list[Glyph] = []
        x = 0
        space = False
        for c in line:
            if c.isspace():
                x += 10
                space = True
                continue
            top = index * 40
            glyphs.append(
                Glyph(
                    unicodedata.normalize("NFKC", c),
                    (x, top, x + 10, top + 20),
                    0.9,
                    space,
                )
            )
            x += 10
            space = False
        if glyphs:
            rows.append(Row.of(glyphs))
    return rows

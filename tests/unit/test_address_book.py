"""The address book's rules and the reading of an uploaded sheet, with no I/O:
the aggregate on its own, the validators and limits under hypothesis, and
sheets built in memory."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates.address_book import (
    NAME_MAX_LENGTH,
    AddressBook,
    UnknownEntry,
    book_id,
    check_email,
    check_mobile,
    check_name,
    check_optional_uscc,
)
from aggregates.base import acting
from aggregates.errors import InvalidValue, StateConflict
from commands.address_book import (
    COLUMNS,
    EXAMPLE_ROW,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    ImportRefused,
    read_sheet,
)
from tests.examples import credit_code

ENTERPRISE = "7b1f3c9e-0000-4000-8000-000000000001"
HEADER = [title for title, _ in COLUMNS]


def new_book() -> AddressBook:
    return AddressBook.open(ENTERPRISE)


def workbook(*rows: list[Any], header: list[str] | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet: Any = book.active
    sheet.append(HEADER if header is None else header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the aggregate -------------------------------------------------------------


def test_each_enterprise_has_one_book_whose_id_derives_from_the_enterprise() -> None:
    book = new_book()

    assert book.id == book_id(ENTERPRISE)
    assert book_id(ENTERPRISE) != book_id("another-enterprise")
    assert book.enterprise_id == ENTERPRISE


def test_an_added_entry_is_tidied_and_its_event_names_actor_and_request() -> None:
    with acting("account-1", "req-9"):
        book = new_book()
        entry_id = book.add(
            {
                "name": "  广州  某某医药有限公司 ",
                "mobile": "＋86 138-0013-8000",
                "email": "Sales@Example.COM",
                "uscc": credit_code(7).lower(),
            }
        )

    entry = book.entry(entry_id)
    events = book.collect_events()
    assert entry.counterpart.name == "广州 某某医药有限公司"
    assert entry.counterpart.mobile == "13800138000"
    assert entry.counterpart.email == "Sales@example.com"
    assert entry.counterpart.uscc == credit_code(7)
    assert entry.version == book.version == 2
    assert [type(e).__name__ for e in events] == ["Opened", "EntryAdded"]
    for event in events:
        assert event.actor == "account-1"  # type: ignore[attr-defined]
        assert event.correlation_id == "req-9"  # type: ignore[attr-defined]
        assert event.enterprise_id == ENTERPRISE  # type: ignore[attr-defined]


def test_the_same_counterpart_name_twice_is_refused_however_it_is_typed() -> None:
    book = new_book()
    book.add({"name": "广州白云山医药 Co"})

    for same in ("广州白云山医药 co", "广州 白云山 医药 CO", "广州白云山医药　Ｃｏ"):
        with pytest.raises(StateConflict) as refused:
            book.add({"name": same})
        assert refused.value.code == "ADDRESS_ENTRY_EXISTS"
    assert len(book.entries) == 1


def test_an_edit_changes_only_the_fields_given_and_a_blank_clears_one() -> None:
    book = new_book()
    entry_id = book.add({"name": "甲公司", "contact_person": "张三", "region": "广东"})

    book.edit(entry_id, {"mobile": "13900139000", "region": None})

    counterpart = book.entry(entry_id).counterpart
    assert counterpart.contact_person == "张三"
    assert counterpart.mobile == "13900139000"
    assert counterpart.region is None
    assert book.entry(entry_id).version == book.version


def test_an_entry_keeps_its_version_while_other_entries_change() -> None:
    book = new_book()
    first = book.add({"name": "甲公司"})
    version = book.entry(first).version

    second = book.add({"name": "乙公司"})
    book.edit(second, {"remark": "常用"})

    assert book.entry(first).version == version
    assert book.entry(second).version == book.version


def test_renaming_onto_another_name_is_refused_but_respacing_ones_own_is_not() -> None:
    book = new_book()
    first = book.add({"name": "甲公司"})
    book.add({"name": "乙公司"})

    with pytest.raises(StateConflict):
        book.edit(first, {"name": "乙 公司"})
    book.edit(first, {"name": "甲 公司"})

    assert book.entry(first).counterpart.name == "甲 公司"


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    book = new_book()
    entry_id = book.add({"name": "甲公司", "mobile": "13800138000"})
    version = book.version

    book.edit(entry_id, {"mobile": "138 0013 8000"})

    assert book.version == version


def test_the_name_cannot_be_cleared_by_an_edit() -> None:
    book = new_book()
    entry_id = book.add({"name": "甲公司"})

    with pytest.raises(InvalidValue) as refused:
        book.edit(entry_id, {"name": " "})

    assert refused.value.field == "name"


def test_a_deleted_entrys_name_may_be_added_again() -> None:
    book = new_book()
    entry_id = book.add({"name": "甲公司"})

    book.delete(entry_id)
    again = book.add({"name": "甲公司"})

    assert list(book.entries) == [again]


def test_an_unknown_entry_is_not_found() -> None:
    book = new_book()

    with pytest.raises(UnknownEntry) as refused:
        book.delete("00000000-0000-0000-0000-000000000000")

    assert refused.value.status == 404
    assert refused.value.code == "NOT_FOUND"


def test_clearing_removes_every_entry_and_an_empty_book_records_nothing() -> None:
    book = new_book()
    for n in range(3):
        book.add({"name": f"公司{n}"})

    removed = book.clear()
    version = book.version
    again = book.clear()

    assert (removed, again) == (3, 0)
    assert book.entries == {}
    assert book.names == {}
    assert book.version == version


def test_an_import_adds_the_good_rows_and_reports_every_row() -> None:
    book = new_book()
    book.add({"name": "已有公司"})
    rows: list[tuple[int, dict[str, str | None]]] = [
        (2, {"name": "甲公司", "mobile": "13800138000"}),
        (3, {"name": "乙公司", "mobile": "12345"}),
        (4, {"name": "已有 公司"}),
        (5, {"name": "甲公司"}),
        (6, {"name": None, "contact_person": "无名"}),
        (7, {"name": "丙公司", "uscc": "91350100M000100Y44"}),
        (8, {"name": "丁公司", "email": "ding@example.cn"}),
    ]

    report = book.import_rows("名单.xlsx", rows)

    assert [(r.row, r.ok, r.code) for r in report.rows] == [
        (2, True, None),
        (3, False, "INVALID_MOBILE"),
        (4, False, "ADDRESS_ENTRY_EXISTS"),
        (5, False, "ADDRESS_ENTRY_EXISTS"),
        (6, False, "INVALID_VALUE"),
        (7, False, "INVALID_USCC"),
        (8, True, None),
    ]
    assert "row 2" in report.rows[3].message
    assert sorted(e.counterpart.name for e in book.entries.values()) == [
        "丁公司",
        "已有公司",
        "甲公司",
    ]
    assert (report.accepted, report.rejected) == (2, 5)


def test_an_import_is_one_event_recorded_even_when_every_row_is_refused() -> None:
    book = new_book()
    book.collect_events()

    report = book.import_rows("x.xlsx", [(2, {"name": ""})])

    events = book.collect_events()
    assert [type(e).__name__ for e in events] == ["Imported"]
    assert events[0].rejected[0]["row"] == 2  # type: ignore[attr-defined]
    assert report.accepted == 0


def test_a_book_read_back_from_its_events_has_the_same_entries() -> None:
    app = Application[UUID]()
    book = new_book()
    kept = book.add({"name": "甲公司", "mobile": "13800138000"})
    dropped = book.add({"name": "乙公司"})
    book.edit(kept, {"remark": "季度供应商"})
    book.delete(dropped)
    book.import_rows("a.xlsx", [(2, {"name": "丙公司"}), (3, {"name": "甲公司"})])
    app.save(book)

    copy: AddressBook = app.repository.get(book.id)

    assert copy.entries == book.entries
    assert copy.names == book.names


# --- validators and limits (hypothesis) ---------------------------------------


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(mobile=mobiles, spaced=st.booleans(), prefixed=st.booleans())
def test_every_mainland_mobile_number_is_accepted_as_its_eleven_digits(
    mobile: str, spaced: bool, prefixed: bool
) -> None:
    typed = f"{mobile[:3]} {mobile[3:7]}-{mobile[7:]}" if spaced else mobile
    typed = "+86" + typed if prefixed else typed

    assert check_mobile(typed) == mobile


@given(text=st.text(alphabet="0123456789", min_size=1, max_size=14))
def test_a_digit_string_is_a_mobile_number_exactly_when_it_has_the_mainland_form(
    text: str,
) -> None:
    valid = len(text) == 11 and text[0] == "1" and text[1] in "3456789"

    if valid:
        assert check_mobile(text) == text
    else:
        with pytest.raises(InvalidValue) as refused:
            check_mobile(text)
        assert refused.value.code == "INVALID_MOBILE"


@given(name=st.text(max_size=150))
def test_a_name_is_accepted_exactly_when_it_has_1_to_100_characters_after_tidying(
    name: str,
) -> None:
    tidied = " ".join(name.split())

    if 0 < len(tidied) <= NAME_MAX_LENGTH:
        assert check_name(name) == tidied
    else:
        with pytest.raises(InvalidValue):
            check_name(name)


@given(
    local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,5})?", fullmatch=True),
    tld=st.sampled_from(["cn", "com", "org", "net"]),
)
def test_an_ordinary_email_address_is_accepted(
    local: str, domain: str, tld: str
) -> None:
    address = f"{local}@{domain}.{tld}"
    valid = ".." not in local

    if valid:
        assert check_email(address) == address
    else:
        with pytest.raises(InvalidValue):
            check_email(address)


@given(
    text=st.text(max_size=40).filter(
        lambda t: "@" not in unicodedata.normalize("NFKC", t)
    )
)
def test_text_without_an_at_sign_is_never_an_email_address(text: str) -> None:
    if not text.split():
        assert check_email(text) is None
        return
    with pytest.raises(InvalidValue) as refused:
        check_email(text)
    assert refused.value.code == "INVALID_EMAIL"


@given(serial=st.integers(min_value=0, max_value=99_999_999), at=st.integers(0, 17))
def test_a_credit_code_is_optional_but_one_wrong_character_is_refused(
    serial: int, at: int
) -> None:
    code = credit_code(serial)
    wrong = code[:at] + ("1" if code[at] != "1" else "2") + code[at + 1 :]

    assert check_optional_uscc(code) == code
    assert check_optional_uscc("  ") is None
    with pytest.raises(InvalidValue) as refused:
        check_optional_uscc(wrong)
    assert refused.value.code == "INVALID_USCC"


@settings(max_examples=25, deadline=None)
@given(count=st.integers(min_value=1, max_value=40), bad=st.sets(st.integers(0, 39)))
def test_an_import_adds_exactly_the_valid_rows(count: int, bad: set[int]) -> None:
    book = new_book()
    rows = [
        (n + 2, {"name": f"公司{n}", "mobile": "1" if n in bad else "13800138000"})
        for n in range(count)
    ]

    report = book.import_rows("x.xlsx", rows)

    invalid = len([n for n in range(count) if n in bad])
    assert report.rejected == invalid
    assert len(book.entries) == count - invalid


# --- reading an uploaded sheet -------------------------------------------------


def test_a_sheet_gives_its_rows_with_their_numbers_and_skips_blank_ones() -> None:
    data = workbook(
        ["甲公司", None, "张三", 13800138000, None, None, None, None],
        [None] * 8,
        ["乙公司", credit_code(3), None, None, "b@example.com", None, None, "备注"],
    )

    sheet = read_sheet(data)

    assert [number for number, _ in sheet.rows] == [2, 4]
    assert sheet.rows[0][1]["mobile"] == "13800138000"
    assert sheet.rows[1][1]["remark"] == "备注"


def test_the_templates_example_row_is_refused_not_imported() -> None:
    data = workbook([EXAMPLE_ROW[field] for _, field in COLUMNS], ["甲公司"])

    sheet = read_sheet(data)

    assert [number for number, _ in sheet.rows] == [3]
    assert [r.code for r in sheet.refused] == ["IMPORT_EXAMPLE_ROW"]


def test_a_sheet_with_another_header_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        read_sheet(workbook(["甲公司"], header=["名称", "电话"]))

    assert refused.value.code == "IMPORT_BAD_HEADER"


def test_a_sheet_with_only_its_header_is_refused() -> None:
    with pytest.raises(ImportRefused) as refused:
        read_sheet(workbook())

    assert refused.value.code == "IMPORT_NO_ROWS"


def test_a_sheet_of_2000_rows_is_read_and_one_more_is_refused() -> None:
    rows = [[f"公司{n}"] for n in range(MAX_ROWS)]

    assert len(read_sheet(workbook(*rows)).rows) == MAX_ROWS
    with pytest.raises(ImportRefused) as refused:
        read_sheet(workbook(*rows, ["多一家"]))
    assert refused.value.code == "IMPORT_TOO_MANY_ROWS"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        b"%PDF-1.7\n",
        "企业名称,手机号码\n甲公司,13800138000\n".encode(),
        b"",
    ],
)
def test_content_that_is_not_a_zip_is_refused_whatever_its_name(data: bytes) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_sheet(data)

    assert refused.value.code == "UNSUPPORTED_FILE"
    assert refused.value.status == 415


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")

    with pytest.raises(ImportRefused) as refused:
        read_sheet(out.getvalue())

    assert refused.value.code == "UNSUPPORTED_FILE"


def test_a_zip_bomb_is_refused_by_its_declared_sizes_before_it_is_unpacked() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_UNPACKED_BYTES + 1))
    data = out.getvalue()

    with pytest.raises(ImportRefused) as refused:
        read_sheet(data)

    assert len(data) < MAX_FILE_BYTES
    assert refused.value.code == "FILE_TOO_LARGE"


def test_a_file_over_2_mb_is_refused_before_it_is_opened() -> None:
    with pytest.raises(ImportRefused) as refused:
        read_sheet(b"PK\x03\x04" + b"\0" * MAX_FILE_BYTES)

    assert refused.value.code == "FILE_TOO_LARGE"
    assert refused.value.status == 413


def test_a_damaged_workbook_is_refused_as_broken() -> None:
    data = workbook(["甲公司"])
    damaged = data[:200] + b"\xff" * 200 + data[400:]

    with pytest.raises(ImportRefused) as refused:
        read_sheet(damaged)

    assert refused.value.code in {"BROKEN_FILE", "UNSUPPORTED_FILE"}

"""Keeping an enterprise's address book: entries one by one, clearing, and
importing a sheet filled in from the template.

An uploaded sheet is judged by its content, never by its name: it must be a
zip archive holding a workbook (every .xlsx is one), no larger than
:data:`MAX_FILE_BYTES`, and its members may not unpack to more than
:data:`MAX_UNPACKED_BYTES` together. The declared sizes are checked before
openpyxl reads anything, and Python's zip reader never unpacks a member beyond
its declared size, so a zip bomb is refused without being inflated.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from openpyxl import load_workbook

from aggregates.address_book import FIELDS, AddressBook, RowResult, book_id
from commands.errors import CommandError, Conflict, NotFound
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
MAX_MEMBERS = 100
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The template's columns, in order: the header text and the field it fills.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("企业名称", "name"),
    ("统一社会信用代码", "uscc"),
    ("联系人", "contact_person"),
    ("手机号码", "mobile"),
    ("电子邮箱", "email"),
    ("所在地区", "region"),
    ("详细地址", "address"),
    ("备注", "remark"),
)
REQUIRED_MARK = "*"
#: The example row the template carries under its header.
EXAMPLE_ROW: dict[str, str] = {
    "name": "示例：广州某某医药有限公司",
    "uscc": "91350100M000100Y43",
    "contact_person": "张三",
    "mobile": "13800138000",
    "email": "zhangsan@example.com",
    "region": "广东省广州市",
    "address": "天河区某某路 1 号",
    "remark": "导入前请删除本示例行",
}

_ZIP_MAGIC = b"PK\x03\x04"
_WORKBOOK_MEMBERS = ("[Content_Types].xml", "xl/workbook.xml")

assert [f for _, f in COLUMNS] == list(FIELDS)


class ImportRefused(CommandError):
    """An uploaded sheet that is not read at all; nothing is stored."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Sheet:
    """The data rows of an uploaded sheet, each with its row number."""

    rows: list[tuple[int, dict[str, str | None]]]
    refused: list[RowResult]


# --- reading an uploaded sheet ---------------------------------------------------


def check_archive(data: bytes) -> None:
    """Refuses content that is not a workbook small enough to read safely."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(
            f"the file has {len(data)} bytes; at most {MAX_FILE_BYTES} are allowed",
            code="FILE_TOO_LARGE",
            status=413,
        )
    if not data.startswith(_ZIP_MAGIC):
        raise ImportRefused(
            "the file is not an Excel workbook (.xlsx); fill in the template and "
            "upload it as .xlsx",
            code="UNSUPPORTED_FILE",
            status=415,
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ImportRefused(
            "the workbook is damaged and cannot be read",
            code="BROKEN_FILE",
            status=422,
        ) from None
    names = {m.filename for m in members}
    if not all(name in names for name in _WORKBOOK_MEMBERS):
        raise ImportRefused(
            "the file is a zip archive but not an Excel workbook (.xlsx)",
            code="UNSUPPORTED_FILE",
            status=415,
        )
    unpacked = sum(m.file_size for m in members)
    if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
        raise ImportRefused(
            f"the workbook unpacks to {unpacked} bytes in {len(members)} parts; "
            f"at most {MAX_UNPACKED_BYTES} bytes in {MAX_MEMBERS} parts are allowed",
            code="FILE_TOO_LARGE",
            status=413,
        )


def cell_text(value: Any) -> str | None:
    """A cell as text: numbers without a trailing .0 (a mobile number typed
    as a number), dates as ISO dates."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _header_text(value: Any) -> str:
    text = cell_text(value) or ""
    return "".join(text.split()).rstrip(REQUIRED_MARK).rstrip("＊")


def sheet_rows(
    data: bytes, width: int
) -> Generator[tuple[int, tuple[Any, ...]], None, None]:
    """The first sheet's rows, numbered from 1, ``width`` cells each; a
    workbook openpyxl cannot read is refused with ``BROKEN_FILE``."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001  # openpyxl raises many kinds
        raise ImportRefused(
            f"the workbook cannot be read ({type(e).__name__})",
            code="BROKEN_FILE",
            status=422,
        ) from None
    try:
        sheet: Any = workbook.worksheets[0]
        rows = sheet.iter_rows(max_col=width, values_only=True)
        for number, values in enumerate(rows, start=1):
            yield number, tuple(values)
    except Exception as e:  # noqa: BLE001  # a broken part shows while reading
        raise ImportRefused(
            f"the workbook cannot be read ({type(e).__name__})",
            code="BROKEN_FILE",
            status=422,
        ) from None
    finally:
        workbook.close()


def read_sheet(data: bytes) -> Sheet:
    """The filled-in rows of the first sheet of an uploaded template."""
    check_archive(data)
    with closing(sheet_rows(data, len(COLUMNS))) as lines:
        return _collect(lines)


def _collect(lines: Iterator[tuple[int, tuple[Any, ...]]]) -> Sheet:
    rows: list[tuple[int, dict[str, str | None]]] = []
    refused: list[RowResult] = []
    header_seen = False
    for number, values in lines:
        if not header_seen:
            found = [_header_text(v) for v in values]
            found += [""] * (len(COLUMNS) - len(found))
            expected = [title for title, _ in COLUMNS]
            if found != expected:
                raise ImportRefused(
                    "the first row must be the template's header: "
                    + ", ".join(expected),
                    code="IMPORT_BAD_HEADER",
                    status=422,
                )
            header_seen = True
            continue
        cells = {
            field: cell_text(v) for (_, field), v in zip(COLUMNS, values, strict=False)
        }
        if all(v is None for v in cells.values()):
            continue
        if len(rows) + len(refused) >= MAX_ROWS:
            raise ImportRefused(
                f"the sheet has more than {MAX_ROWS} filled rows; "
                "split it into several files",
                code="IMPORT_TOO_MANY_ROWS",
                status=413,
            )
        if cells == EXAMPLE_ROW:
            refused.append(
                RowResult(
                    row=number,
                    name=cells["name"],
                    ok=False,
                    message="the template's example row; delete it before importing",
                    code="IMPORT_EXAMPLE_ROW",
                )
            )
            continue
        rows.append((number, cells))
    if not header_seen:
        raise ImportRefused("the sheet is empty", code="IMPORT_BAD_HEADER", status=422)
    if not rows and not refused:
        raise ImportRefused(
            "the sheet has a header but no rows to import",
            code="IMPORT_NO_ROWS",
            status=422,
        )
    return Sheet(rows=rows, refused=refused)


# --- the commands ------------------------------------------------------------------


class AddressBookCommands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def add(self, caller: Caller, values: Mapping[str, str | None]) -> CommandResult:
        def work() -> Outcome:
            book = self._book(caller, create=True)
            assert book is not None
            entry_id = book.add(values)
            return Outcome([book], {"entry_id": entry_id}, book, created=True)

        return self.runner.run(caller, "add_address_entry", dict(values), work)

    def edit(
        self, caller: Caller, entry_id: UUID, changes: Mapping[str, str | None]
    ) -> CommandResult:
        """Changes the given fields; ``If-Match`` names the entry's version."""

        def work() -> Outcome:
            book = self._existing(caller, entry_id)
            self._check_entry_version(caller, book, entry_id)
            book.edit(str(entry_id), changes)
            return Outcome([book], {"entry_id": str(entry_id)}, book)

        arguments = {"entry_id": str(entry_id), "changes": dict(changes)}
        return self.runner.run(caller, "edit_address_entry", arguments, work)

    def delete(self, caller: Caller, entry_id: UUID) -> CommandResult:
        def work() -> Outcome:
            book = self._existing(caller, entry_id)
            self._check_entry_version(caller, book, entry_id)
            book.delete(str(entry_id))
            return Outcome([book], {"entry_id": str(entry_id)}, book)

        arguments = {"entry_id": str(entry_id)}
        return self.runner.run(caller, "delete_address_entry", arguments, work)

    def clear(self, caller: Caller) -> CommandResult:
        removed = 0

        def work() -> Outcome:
            nonlocal removed
            book = self._book(caller, create=False)
            if book is None:
                return Outcome([], {})
            removed = book.clear()
            return Outcome([book], {}, book)

        result = self.runner.run(caller, "clear_address_book", {}, work)
        return replace(result, extra={"removed": removed})

    def import_sheet(
        self, caller: Caller, file_name: str, data: bytes
    ) -> tuple[CommandResult, list[RowResult]]:
        """Adds the valid rows of an uploaded sheet; answers with a result for
        every row. A file that is not a readable sheet is refused whole."""
        digest = hashlib.sha256(data).hexdigest()
        report: list[RowResult] = []

        def work() -> Outcome:
            nonlocal report
            sheet = read_sheet(data)
            book = self._book(caller, create=True)
            assert book is not None
            found = book.import_rows(file_name, sheet.rows, sheet.refused)
            report = found.rows
            return Outcome([book], {"import_id": found.import_id}, book)

        arguments = {"file_name": file_name, "sha256": digest}
        result = self.runner.run(caller, "import_address_book", arguments, work)
        return result, report

    # Loading --------------------------------------------------------------

    def _book(self, caller: Caller, *, create: bool) -> AddressBook | None:
        try:
            found: Any = self.runner.app.repository.get(book_id(caller.enterprise_id))
        except AggregateNotFoundError:
            return AddressBook.open(caller.enterprise_id) if create else None
        if not isinstance(found, AddressBook):
            return None
        book: AddressBook = found
        return book

    def _existing(self, caller: Caller, entry_id: UUID) -> AddressBook:
        book = self._book(caller, create=False)
        if book is None:
            # No book yet: the entry is someone else's or no one's.
            raise NotFound(f"no address book entry {entry_id}")
        return book

    @staticmethod
    def _check_entry_version(caller: Caller, book: AddressBook, entry_id: UUID) -> None:
        expected = caller.expected_version
        entry = book.entry(str(entry_id))
        if expected is not None and entry.version != expected:
            raise Conflict(
                f"address book entry {entry_id} is at version {entry.version}, "
                f"not {expected}; reload it and try again"
            )


def report_rows(rows: Sequence[RowResult]) -> list[dict[str, Any]]:
    """A row report as the API shows it."""
    return [
        {
            "row": r.row,
            "status": "ok" if r.ok else "error",
            "name": r.name,
            "entry_id": r.entry_id,
            "code": r.code,
            "message": r.message,
        }
        for r in rows
    ]

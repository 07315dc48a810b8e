"""Batch import into the library (manual 9.1, 批量新增) and export.

An import has two steps. First the filled-in template of a record kind: each
valid row becomes a record, each refused row is reported with its reason,
and the row report is kept (downloadable). Then the folders of files: each
top-level folder's leading number is the 序号 of a row, and its files go into
that row's record; a folder matching no stored row, and a file the library
refuses, fail with a reason while the rest are stored.

A file from a folder has no info card yet. Its qualification type is guessed
from its name (a file named 营业执照.jpg is a business licence); when the
guessed type needs info-card fields, or nothing matches, it is stored as
"other" and the report says so, for the user to set type and card later.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from aggregates.base import TracedAggregate
from aggregates.catalogue import BASE_FIELDS, TYPES, Field, Kind, check_kind, types_of
from aggregates.dossier import Dossier
from aggregates.errors import DomainError
from commands.address_book import ImportRefused, cell_text, check_archive, sheet_rows
from commands.errors import CommandError, NotFound
from commands.folders import FolderFile, Folders
from commands.library import LibraryCommands
from commands.platform import Caller, CommandResult, Outcome
from commands.proposals import propose
from commands.uploads import UploadRefused, check_upload

SEQUENCE_HEADER = "序号"
REQUIRED_MARK = "*"
MAX_ROWS = 2000
#: How sure the OCR pool must be of each card field to fill it unasked.
MIN_CONFIDENCE = 0.6
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class RowOutcome:
    row: int
    sequence: int | None
    ok: bool
    message: str
    code: str | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class FileOutcome:
    path: str
    ok: bool
    message: str
    code: str | None = None
    record_id: str | None = None
    document_id: str | None = None
    qualification_type: str | None = None


class LibraryImport(TracedAggregate):
    """One batch import: its kind, its row report, and the reports of the
    folder uploads made against it."""

    class Imported(TracedAggregate.Created):
        kind: str
        file_name: str
        rows: list[dict[str, Any]]

        def summary(self) -> str:
            accepted = sum(1 for r in self.rows if r["ok"])
            return f"{accepted} of {len(self.rows)} {self.kind} rows imported"

    class FoldersUploaded(TracedAggregate.Event):
        files: list[dict[str, Any]]

        def summary(self) -> str:
            stored = sum(1 for f in self.files if f["ok"])
            return f"{stored} of {len(self.files)} files stored from folders"

        def apply(self, aggregate: Any) -> None:
            aggregate.folder_reports.append(list(self.files))

    def __init__(self, kind: str, file_name: str, rows: list[dict[str, Any]]) -> None:
        self.kind = Kind(kind)
        self.file_name = file_name
        self.rows = rows
        self.folder_reports: list[list[dict[str, Any]]] = []

    def records_by_sequence(self) -> dict[int, str]:
        return {
            int(r["sequence"]): str(r["record_id"])
            for r in self.rows
            if r["ok"] and r["sequence"] is not None
        }


# --- templates and export ---------------------------------------------------------


def header(kind: Kind) -> list[str]:
    return [SEQUENCE_HEADER] + [
        f.label_zh + (REQUIRED_MARK if f.required else "") for f in BASE_FIELDS[kind]
    ]


def _workbook(title: str, headers: list[str], rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook()
    sheet: Any = book.active
    sheet.title = title[:31]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for row in rows:
        sheet.append(list(row))
    for column in sheet.columns:
        width = max(len(str(c.value or "")) for c in column)
        sheet.column_dimensions[column[0].column_letter].width = min(40, width * 2 + 4)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def template(kind: Kind) -> bytes:
    """The import template of a kind: 序号, then its base fields (required
    ones marked ``*``)."""
    return _workbook(f"{kind.value}", header(kind), [])


def export(kind: Kind, records: Sequence[Mapping[str, Any]]) -> bytes:
    """Records of a kind as a sheet laid out like the template, so an export
    can be edited and imported elsewhere."""
    fields = BASE_FIELDS[kind]
    rows = [
        [number, *(r["base"].get(f.name) for f in fields)]
        for number, r in enumerate(records, start=1)
    ]
    return _workbook(kind.value, header(kind), rows)


def report_sheet(
    rows: Sequence[Mapping[str, Any]], files: Sequence[Mapping[str, Any]]
) -> bytes:
    """The downloadable result log of an import."""
    book_rows = [
        [
            r["row"],
            r["sequence"],
            "成功" if r["ok"] else "失败",
            r["message"],
            r["code"],
        ]
        for r in rows
    ] + [
        ["文件", f["path"], "成功" if f["ok"] else "失败", f["message"], f["code"]]
        for f in files
    ]
    return _workbook("导入结果", ["行号", "序号", "结果", "说明", "代码"], book_rows)


# --- reading the sheet ---------------------------------------------------------------


def read_rows(
    kind: Kind, data: bytes
) -> list[tuple[int, str | None, dict[str, str | None]]]:
    """(row number, 序号 text, base values) of each filled row."""
    check_archive(data)
    fields: list[Field] = list(BASE_FIELDS[kind])
    expected = header(kind)
    rows: list[tuple[int, str | None, dict[str, str | None]]] = []
    with closing(sheet_rows(data, len(expected))) as lines:
        for number, values in lines:
            texts = [cell_text(v) for v in values] + [None] * len(expected)
            if number == 1:
                found = ["".join((t or "").split()) for t in texts[: len(expected)]]
                if found != expected:
                    raise ImportRefused(
                        "the first row must be the template's header: "
                        + ", ".join(expected),
                        code="IMPORT_BAD_HEADER",
                        status=422,
                    )
                continue
            if not any(texts[: len(expected)]):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(
                    f"the sheet has more than {MAX_ROWS} rows; import them in parts",
                    code="IMPORT_TOO_MANY_ROWS",
                    status=422,
                )
            base = {f.name: texts[i + 1] for i, f in enumerate(fields)}
            rows.append((number, texts[0], base))
    if not rows:
        raise ImportRefused(
            "the sheet has no filled rows", code="IMPORT_NO_ROWS", status=422
        )
    return rows


def guess_type(kind: Kind, file_name: str) -> str | None:
    """The qualification type a file's name names, longest label first."""
    name = file_name.casefold()
    candidates = sorted(types_of(kind), key=lambda t: -len(t.label_zh))
    for t in candidates:
        if t.code != "other" and (t.label_zh.casefold() in name or t.code in name):
            return t.code
    return None


# --- commands -----------------------------------------------------------------------


class LibraryImports:
    def __init__(
        self,
        library: LibraryCommands,
        recognise: Callable[[bytes, str], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.library = library
        self.runner = library.runner
        #: Reads a file whose name does not settle its type (None: no OCR).
        self.recognise = recognise

    def import_sheet(
        self, caller: Caller, kind: str, file_name: str, data: bytes
    ) -> CommandResult:
        """Creates a record for each valid row, all in one transaction, and
        keeps the row report."""
        checked_kind = check_kind(kind)
        rows = read_rows(checked_kind, data)
        today = self.library.today()

        def work() -> Outcome:
            outcomes: list[RowOutcome] = []
            records: list[Dossier] = []
            seen: set[int] = set()
            for number, sequence_text, base in rows:
                sequence = _sequence(sequence_text)
                try:
                    if sequence is None:
                        raise _RowRefused(
                            "序号 must be a whole number", "IMPORT_BAD_SEQUENCE"
                        )
                    if sequence in seen:
                        raise _RowRefused(
                            f"序号 {sequence} occurs twice", "IMPORT_BAD_SEQUENCE"
                        )
                    dossier = Dossier.open(
                        enterprise_id=caller.enterprise_id,
                        kind=checked_kind.value,
                        base={k: v for k, v in base.items() if v is not None},
                        custom={},
                        today=today,
                    )
                except (DomainError, _RowRefused) as e:
                    message = e.message if isinstance(e, DomainError) else str(e)
                    outcomes.append(
                        RowOutcome(number, sequence, False, message, e.code)
                    )
                    continue
                seen.add(sequence)
                records.append(dossier)
                outcomes.append(
                    RowOutcome(
                        number, sequence, True, "imported", None, str(dossier.id)
                    )
                )
            batch = LibraryImport._create(
                LibraryImport.Imported,
                id=uuid4(),
                enterprise_id=caller.enterprise_id,
                kind=checked_kind.value,
                file_name=file_name[:200],
                rows=[asdict(o) for o in outcomes],
            )
            return Outcome(
                [batch, *records],
                {"import_id": str(batch.id)},
                batch,
                created=True,
                extra={
                    "accepted": len(records),
                    "rejected": len(outcomes) - len(records),
                    "rows": [asdict(o) for o in outcomes],
                },
            )

        arguments = {"kind": checked_kind.value, "file_name": file_name, "rows": rows}
        return self.runner.run(caller, "import_records", arguments, work)

    def upload_folders(
        self, caller: Caller, import_id: UUID, folders: Folders
    ) -> CommandResult:
        """Stores each folder's files in the record of the row with its
        number; everything else is reported, nothing refused stops the rest."""
        batch = self.own(caller, import_id)
        records = batch.records_by_sequence()
        outcomes: list[FileOutcome] = [
            FileOutcome(s.path, False, s.message, s.code) for s in folders.skipped
        ]
        for item in folders.files:
            outcomes.append(self._store(caller, batch.kind, records, item))

        def work() -> Outcome:
            current = self.own(caller, import_id)
            current.trigger_event(
                LibraryImport.FoldersUploaded, files=[asdict(o) for o in outcomes]
            )
            return Outcome(
                [current],
                {"import_id": str(import_id)},
                current,
                extra={
                    "stored": sum(1 for o in outcomes if o.ok),
                    "failed": sum(1 for o in outcomes if not o.ok),
                    "files": [asdict(o) for o in outcomes],
                },
            )

        return self.runner.run(
            caller, "upload_folders", {"import_id": str(import_id)}, work
        )

    def _store(
        self, caller: Caller, kind: Kind, records: Mapping[int, str], item: FolderFile
    ) -> FileOutcome:
        path = f"{item.folder}/{item.name}"
        record_id = records.get(item.sequence)
        if record_id is None:
            return FileOutcome(
                path,
                False,
                f"no imported row has 序号 {item.sequence}",
                "FOLDER_UNMATCHED",
            )
        try:
            check_upload(item.data)
        except UploadRefused as e:
            return FileOutcome(path, False, str(e), e.code, record_id)
        chosen, card, note = self._identify(kind, item)
        try:
            result = self.library.add_document(
                caller,
                UUID(record_id),
                data=item.data,
                name=item.name,
                qualification_type=chosen,
                card=card,
            )
        except (DomainError, CommandError) as e:
            message = e.message if isinstance(e, DomainError) else str(e)
            return FileOutcome(path, False, message, e.code, record_id)
        return FileOutcome(
            path, True, note, None, record_id, result.ids["document_id"], chosen
        )

    def _identify(
        self, kind: Kind, item: FolderFile
    ) -> tuple[str, dict[str, str], str]:
        """The file's type and card: from its name when the name names a type
        needing no card fields; else from what the OCR pool reads, when it
        reads a type of the record's kind with every field that type needs;
        else "other", for the user to complete."""
        guessed = guess_type(kind, item.name)
        if guessed and not TYPES[guessed].required:
            return guessed, {}, "stored"
        read = self.recognise(item.data, item.name) if self.recognise else None
        if read is not None:
            proposal = propose(kind, read)
            found = proposal["qualification_type"]
            sure = all(
                field["confidence"] >= MIN_CONFIDENCE
                for field in proposal["card"].values()
            )
            if found and not proposal["missing"] and sure:
                card = {k: str(v["value"]) for k, v in proposal["card"].items()}
                return found, card, "stored as recognised; check its info card"
        return "other", {}, "stored as 其他; set its qualification type and info card"

    def own(self, caller: Caller, import_id: UUID) -> LibraryImport:
        try:
            found: Any = self.runner.app.repository.get(import_id)
        except AggregateNotFoundError:
            found = None
        if (
            not isinstance(found, LibraryImport)
            or found.enterprise_id != caller.enterprise_id
        ):
            raise NotFound(f"no import {import_id}")
        return found


class _RowRefused(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _sequence(text: str | None) -> int | None:
    if text is None:
        return None
    cleaned = text.strip()
    return int(cleaned) if cleaned.isdigit() else None

"""The enterprise address book (通讯录): list and search the counterpart
enterprises, add, edit, delete and clear them, and import them from the
template sheet with a per-row report.

Commands follow the API's convention of a ``POST`` to the resource or to an
action under it, so an entry is deleted with ``POST /{entry_id}/delete``, like
``/clear`` and ``/import``; ``PATCH`` edits an entry's fields.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from pydantic import BaseModel, ConfigDict, Field

from commands.address_book import (
    COLUMNS,
    EXAMPLE_ROW,
    MAX_FILE_BYTES,
    MAX_ROWS,
    REQUIRED_MARK,
    XLSX_MEDIA_TYPE,
    report_rows,
)
from commands.errors import NotFound
from projections.address_book import AddressBookView, query_entries, query_import
from read_api.auth import IdempotencyKey, Identity, IfMatch, require
from read_api.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    decode_cursor,
    page,
    services,
    wait_for_view,
)
from read_api.problems import TITLES

router = APIRouter(prefix="/api/v1/address-book", tags=["address-book"])

TEMPLATE_NAME = "通讯录导入模板.xlsx"
REPORT_NAME = "通讯录导入结果.xlsx"
#: Guards against absurd bodies; the domain checks the real limits.
_TEXT = Field(default=None, max_length=1000)

Read = Depends(require("address_book.read"))
Manage = Depends(require("address_book.manage"))


class NewEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(max_length=1000, examples=["广州白云山医药有限公司"])
    uscc: str | None = Field(default=None, max_length=1000)
    contact_person: str | None = _TEXT
    mobile: str | None = Field(default=None, max_length=1000, examples=["13800138000"])
    email: str | None = _TEXT
    region: str | None = _TEXT
    address: str | None = _TEXT
    remark: str | None = _TEXT


class EntryChanges(BaseModel):
    """The fields to change; a field sent as null or blank is cleared."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = _TEXT
    uscc: str | None = _TEXT
    contact_person: str | None = _TEXT
    mobile: str | None = _TEXT
    email: str | None = _TEXT
    region: str | None = _TEXT
    address: str | None = _TEXT
    remark: str | None = _TEXT


def attachment(data: bytes, file_name: str, fallback: str) -> Response:
    """A download named per RFC 6266: an ASCII ``filename`` for old clients and
    the real, UTF-8 ``filename*``."""
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''" + quote(
        file_name, safe=""
    )
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def template_workbook() -> bytes:
    """The blank import template: a header row, an example row, and a sheet of
    instructions."""
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "通讯录"
    sheet.append(
        [title + (REQUIRED_MARK if f == "name" else "") for title, f in COLUMNS]
    )
    sheet.append([EXAMPLE_ROW[f] for _, f in COLUMNS])
    bold = Font(bold=True)
    shaded = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = shaded
    for column, width in zip("ABCDEFGH", (34, 22, 12, 16, 26, 16, 34, 30), strict=True):
        sheet.column_dimensions[column].width = width
        # Text columns, so that Excel keeps a mobile number's digits as typed.
        sheet.column_dimensions[column].number_format = "@"
    sheet.freeze_panes = "A2"
    notes: Any = workbook.create_sheet("填写说明")
    for line in (
        "1. 带 * 的列必须填写；企业名称不超过 100 个字，同一通讯录中不可重复。",
        "2. 统一社会信用代码可不填；填写时须为 18 位有效代码。",
        "3. 手机号码须为 11 位中国大陆手机号；电子邮箱可不填。",
        f"4. 每个文件最多 {MAX_ROWS} 行数据，文件不超过 "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MB，仅支持 .xlsx 格式。",
        "5. 请勿修改表头；导入前请删除第 2 行示例。",
        "6. 有误的行不会导入，其余行照常导入；导入结果可下载查看每行的原因。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 90
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def report_workbook(report: list[dict[str, Any]]) -> bytes:
    """An import's result, one line per data row of the uploaded sheet."""
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "导入结果"
    sheet.append(["行号", "结果", "企业名称", "原因", "说明"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in report:
        code = line.get("code")
        reason = TITLES.get(code, (code, code))[0] if code else ""
        ok = line.get("status") == "ok" or line.get("ok") is True
        sheet.append(
            [
                line["row"],
                "成功" if ok else "失败",
                line.get("name") or "",
                reason,
                "" if ok else line.get("message", ""),
            ]
        )
    for column, width in zip("ABCDE", (8, 8, 34, 24, 60), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _api_report(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "row": r["row"],
            "status": "ok" if r["ok"] else "error",
            "name": r.get("name"),
            "entry_id": r.get("entry_id"),
            "code": r.get("code"),
            "message": r.get("message"),
        }
        for r in stored
    ]


# Reads ---------------------------------------------------------------------


@router.get("")
def list_entries(
    request: Request,
    identity: Identity = Read,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The caller's entries in name order; ``q`` finds a part of the name or of
    the contact person."""
    caught_up = wait_for_view(request, AddressBookView.name, after)
    found = services(request)
    last = decode_cursor(cursor)
    with found.views.transaction(write=False) as tx:
        rows = query_entries(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            q=q.strip() if q else None,
            after_name=str(last) if last is not None else None,
            limit=limit,
        )
    return page(rows, limit, rows[-1]["name"] if rows else None, caught_up=caught_up)


@router.get("/template")
def download_template(_: Identity = Read) -> Response:
    """The blank .xlsx template to fill in for an import."""
    return attachment(template_workbook(), TEMPLATE_NAME, "address-book-template.xlsx")


@router.get("/imports/{import_id}/report")
def download_report(
    request: Request,
    import_id: UUID,
    identity: Identity = Read,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """An import's per-row result as .xlsx."""
    wait_for_view(request, AddressBookView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        stored = query_import(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            import_id=str(import_id),
        )
    if stored is None:
        raise NotFound(f"no address book import {import_id}")
    data = report_workbook(_api_report(stored["report"]))
    return attachment(data, REPORT_NAME, "address-book-import-report.xlsx")


@router.get("/{entry_id}")
def get_entry(
    request: Request,
    entry_id: UUID,
    identity: Identity = Read,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """One entry, with its version as the ``ETag`` an edit names in
    ``If-Match``."""
    caught_up = wait_for_view(request, AddressBookView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        rows = query_entries(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            entry_id=str(entry_id),
            limit=1,
        )
    if not rows:
        raise NotFound(f"no address book entry {entry_id}")
    headers = {"ETag": f'"{rows[0]["version"]}"'}
    if not caught_up:
        headers["X-View-Stale"] = "true"
    return OrjsonResponse(rows[0], headers=headers)


# Commands ------------------------------------------------------------------


@router.post("", status_code=201)
def add_entry(
    request: Request,
    body: NewEntry,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).address_book.add(caller, body.model_dump()))


@router.patch("/{entry_id}", status_code=202)
def edit_entry(
    request: Request,
    entry_id: UUID,
    body: EntryChanges,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Changes the fields sent; ``If-Match`` names the entry's version."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    changes = body.model_dump(include=body.model_fields_set)
    result = services(request).address_book.edit(caller, entry_id, changes)
    return answer(result)


@router.post("/clear", status_code=202)
def clear_book(
    request: Request,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes every entry of the caller's address book."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).address_book.clear(caller))


@router.post("/import", status_code=202)
def import_sheet(
    request: Request,
    file: UploadFile,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Adds the rows of a filled-in template (.xlsx, at most 2 MB and 2,000
    rows). Valid rows are added, the others are reported with the reason; the
    report is in the answer and, as .xlsx, at ``report_url``."""
    caller = caller_of(request, identity, idempotency_key)
    data = file.file.read(MAX_FILE_BYTES + 1)
    name = (file.filename or "upload.xlsx").replace("\\", "/").rpartition("/")[2]
    found = services(request)
    result, rows = found.address_book.import_sheet(caller, name, data)
    import_id = result.ids["import_id"]
    if result.replayed:
        wait_for_view(request, AddressBookView.name, result.position)
        with found.views.transaction(write=False) as tx:
            stored = query_import(
                found.engine,
                tx,
                enterprise_id=identity.enterprise_id,
                import_id=import_id,
            )
        report = _api_report(stored["report"]) if stored else []
    else:
        report = report_rows(rows)
    accepted = sum(1 for r in report if r["status"] == "ok")
    extra = {
        "accepted": accepted,
        "rejected": len(report) - accepted,
        "report": report,
        "report_url": f"{router.prefix}/imports/{import_id}/report"
        f"?after={result.position}",
    }
    return answer(replace(result, extra=extra))


@router.post("/{entry_id}/delete", status_code=202)
def delete_entry(
    request: Request,
    entry_id: UUID,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key, if_match)
    return answer(services(request).address_book.delete(caller, entry_id))

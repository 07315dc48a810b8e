"""The library (manual 9): records of each kind with their files, the recycle
bin, the expiry list and the library settings.

Commands follow the API's convention: ``POST`` creates, ``PATCH`` edits, and
actions are ``POST``s under the resource (``/delete``, ``/restore``,
``/archive``, ``/deprecate`` ...). Reads come from the library view; a
record's files are served from the blob store.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.catalogue import BASE_FIELDS, CARD_FIELDS, Kind, types_of, types_shown
from aggregates.errors import InvalidValue
from commands.errors import NotFound
from commands.folders import read_paths, read_zip, zip_named
from commands.library import china_today
from commands.library_import import XLSX_MEDIA_TYPE, export, report_sheet, template
from commands.proposals import propose
from projections.audit import AuditFilter, AuditView, query_audit
from projections.library import (
    LibraryView,
    query_bin,
    query_expiry,
    query_record,
    query_records,
    query_settings,
)
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
    view_answer,
    wait_for_view,
)
from read_api.routes.ocr import shown_name

router = APIRouter(prefix="/api/v1/library", tags=["library"])

Read = Depends(require("library.read"))
Manage = Depends(require("library.manage"))
Delete = Depends(require("library.delete"))
Export = Depends(require("library.export"))
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
After = Annotated[int | None, Query(ge=0)]
KindName = Literal[
    "enterprise", "delegate", "drug", "device", "health_food", "inspection_report"
]
_VALUES: Any = Field(default_factory=dict, max_length=60)


class RecordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: KindName
    base: dict[str, str | None] = _VALUES
    custom: dict[str, str | None] = _VALUES


class RecordEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: dict[str, str | None] = _VALUES
    custom: dict[str, str | None] = _VALUES


class CardEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: dict[str, str | None] = _VALUES
    qualification_type: str | None = Field(default=None, max_length=60)
    name: str | None = Field(default=None, max_length=200)


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    archived: bool = True


class ReminderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminder_days: int = Field(ge=0, le=3650)


class CustomFieldBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: KindName
    name: str = Field(min_length=1, max_length=100)
    show_in_list: bool = False


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: KindName
    name: str = Field(min_length=1, max_length=100)
    category: str | None = Field(default=None, max_length=50)
    types: list[str] = Field(min_length=1, max_length=60)


# --- the catalogue --------------------------------------------------------------


@router.get("/catalogue")
def catalogue(request: Request, identity: Identity = Read) -> Response:
    """Record kinds with their base fields, qualification types per kind with
    the info-card fields each needs, and every info-card field."""
    return OrjsonResponse(
        {
            "kinds": [
                {
                    "kind": kind.value,
                    "fields": [
                        {"name": f.name, "label_zh": f.label_zh, "required": f.required}
                        for f in BASE_FIELDS[kind]
                    ],
                    "qualification_types": [
                        {
                            "code": t.code,
                            "label_zh": t.label_zh,
                            "required": list(t.required),
                            "legacy": t.legacy,
                        }
                        for t in types_of(kind)
                    ],
                }
                for kind in Kind
            ],
            "card_fields": [
                {"name": f.name, "label_zh": f.label_zh, "check": f.check.value}
                for f in CARD_FIELDS
            ],
        }
    )


# --- records --------------------------------------------------------------------


@router.get("/records")
def list_records(
    request: Request,
    identity: Identity = Read,
    kind: KindName | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    relation: Literal["own", "partner", "manufacturer"] | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """The enterprise's records of a kind in title order; ``q`` searches the
    base information and custom fields. Enterprise records carry their
    ``relation``: the enterprise's ``own``, a ``partner``'s, or a
    ``manufacturer``'s that came with a partner's products; ``relation``
    filters by it."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    last = decode_cursor(cursor)
    with found.views.transaction(write=False) as tx:
        rows = query_records(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            kind=kind,
            q=q,
            deleted=False,
            after=tuple(last) if last else None,
            limit=limit,
            relation=relation,
        )
    mark = [rows[-1]["title"], rows[-1]["record_id"]] if rows else None
    return page(rows, limit, mark, caught_up=caught_up)


@router.post("/records", status_code=201)
def create_record(
    request: Request,
    body: RecordBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).library.create_record(
        caller, body.kind, body.base, body.custom
    )
    return answer(result)


@router.get("/records/{record_id}")
def record_detail(
    request: Request, record_id: UUID, identity: Identity = Read, after: After = None
) -> Response:
    """A record with its files (each with its info card, status, archived
    flag, origin and expiry status)."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        record = query_record(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            record_id=str(record_id),
            today=china_today(found.clock.now),
        )
    if record is None:
        raise NotFound(f"no record {record_id}")
    template = record["template"]
    held = [f["qualification_type"] for f in record["files"]]
    record["qualification_types"] = [
        {
            "code": t.code,
            "label_zh": t.label_zh,
            "required": list(t.required),
            "files": sum(
                1 for f in record["files"] if f["qualification_type"] == t.code
            ),
        }
        for t in types_shown(
            Kind(record["kind"]), template["types"] if template else None, held
        )
    ]
    headers = {"ETag": f'"{record["version"]}"'}
    if not caught_up:
        headers["X-View-Stale"] = "true"
    return OrjsonResponse(record, headers=headers)


@router.patch("/records/{record_id}", status_code=202)
def edit_record(
    request: Request,
    record_id: UUID,
    body: RecordEdit,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Replaces a record's base information and custom fields; refused with
    ``RECORD_ARCHIVED`` while it holds archived files."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).library.edit_record(
        caller, record_id, body.base, body.custom
    )
    return answer(result)


@router.post("/records/{record_id}/delete", status_code=202)
def delete_record(
    request: Request,
    record_id: UUID,
    identity: Identity = Delete,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Moves a record and its files to the recycle bin; refused with
    ``RECORD_ARCHIVED`` while it holds archived files."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).library.delete_record(caller, record_id))


@router.post("/records/{record_id}/restore", status_code=202)
def restore_record(
    request: Request,
    record_id: UUID,
    identity: Identity = Delete,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).library.restore_record(caller, record_id))


@router.post("/records/{record_id}/archive", status_code=202)
def archive_record(
    request: Request,
    record_id: UUID,
    body: ArchiveBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Archives every file of the record (``archived: false`` unarchives)."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).library.archive_record(caller, record_id, body.archived)
    return answer(result)


@router.get("/records/{record_id}/download")
def download_record(
    request: Request, record_id: UUID, identity: Identity = Export
) -> Response:
    """The record's files as one zip whose entries keep the names shown on the
    platform (made safe, duplicates numbered)."""
    caller = caller_of(request, identity, None)
    title, files = services(request).library.files(caller, record_id)
    archive = zip_named([(name, data) for name, _, data in files])
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": disposition(f"{title or 'record'}.zip")},
    )


# --- files ----------------------------------------------------------------------


@router.post("/records/{record_id}/documents", status_code=201)
async def add_document(
    request: Request,
    record_id: UUID,
    file: UploadFile,
    qualification_type: Annotated[str, Form(max_length=60)],
    card: Annotated[str, Form(max_length=10_000)] = "{}",
    name: Annotated[str | None, Form(max_length=200)] = None,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Uploads a JPG, PNG or BMP (at most 10 MB) or PDF (at most 20 MB) into
    a record as a qualification file. The content decides the format, never
    the name. ``card`` is the info card as a JSON object; the fields the type
    needs are required (``INFO_CARD_INCOMPLETE``)."""
    data = await file.read()
    fields = parse_card(card)
    caller = caller_of(request, identity, idempotency_key)
    shown = name or shown_name(file.filename) or "file"
    result = await asyncio.to_thread(
        services(request).library.add_document,
        caller,
        record_id,
        data=data,
        name=shown,
        qualification_type=qualification_type,
        card=fields,
    )
    return answer(result)


@router.patch("/records/{record_id}/documents/{document_id}", status_code=202)
def edit_card(
    request: Request,
    record_id: UUID,
    document_id: UUID,
    body: CardEdit,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Changes a file's info card, qualification type or name."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).library.edit_card(
        caller,
        record_id,
        str(document_id),
        card=body.card,
        qualification_type=body.qualification_type,
        name=body.name,
    )
    return answer(result)


def _document_action(action: str, permission: Any) -> Any:
    def act(
        request: Request,
        record_id: UUID,
        document_id: UUID,
        identity: Identity = permission,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        caller = caller_of(request, identity, idempotency_key)
        result = services(request).library.set_document_status(
            caller, record_id, str(document_id), action
        )
        return answer(result)

    act.__name__ = f"{action}_document"
    return act


for _action, _permission, _doc in (
    ("deprecate", Manage, "Marks a file deprecated (弃用)."),
    ("undeprecate", Manage, "Puts a deprecated file back in use (取消弃用)."),
    (
        "dismiss_reminder",
        Manage,
        "Stops the expiry reminder of a file by deprecating it (取消提醒).",
    ),
    ("delete", Delete, "Moves a file to the recycle bin; not while archived."),
    ("restore", Delete, "Brings a file back from the recycle bin."),
):
    _handler = _document_action(_action, _permission)
    _handler.__doc__ = _doc
    router.post(
        f"/records/{{record_id}}/documents/{{document_id}}/{_action.replace('_', '-')}",
        status_code=202,
        name=f"{_action}_document",
    )(_handler)


@router.get("/records/{record_id}/documents/{document_id}/content")
def document_content(
    request: Request, record_id: UUID, document_id: UUID, identity: Identity = Read
) -> Response:
    """A file's content, named as the platform shows it."""
    caller = caller_of(request, identity, None)
    name, media_type, data = services(request).library.content(
        caller, record_id, str(document_id)
    )
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition(name),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/records/{record_id}/documents/{document_id}/history")
def document_history(
    request: Request,
    record_id: UUID,
    document_id: UUID,
    identity: Identity = Read,
    after: After = None,
) -> Response:
    """Every event that changed the file, oldest first, each with who acted,
    when and in which request. The record as it was at any moment, files
    included, is ``GET /api/v1/aggregates/{record_id}/state?at=``."""
    caught_up = wait_for_view(request, AuditView.name, after)
    found = services(request)
    caller = caller_of(request, identity, None)
    found.library.own(caller, record_id).document(str(document_id))
    where = AuditFilter(
        aggregate_id=str(record_id), enterprise_id=identity.enterprise_id
    )
    with found.views.transaction(write=False) as tx:
        rows = query_audit(found.engine, tx, where, 100_000)
    wanted = str(document_id)
    events = [
        e
        for e in rows
        if e["data"].get("document_id") == wanted
        or wanted in e["data"].get("document_ids", [])
        or e["event_type"] in _RECORD_WIDE
    ]
    return view_answer({"items": events}, caught_up=caught_up)


#: Record events that change every file with it (to the bin and back).
_RECORD_WIDE = frozenset({"Dossier.Binned", "Dossier.Restored"})


# --- recycle bin and expiry -----------------------------------------------------


@router.get("/recycle-bin")
def recycle_bin(
    request: Request,
    identity: Identity = Delete,
    limit: Limit = MAX_LIMIT,
    after: After = None,
) -> Response:
    """Deleted records (with their files) and deleted files of live records."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        body = query_bin(
            found.engine, tx, enterprise_id=identity.enterprise_id, limit=limit
        )
    return view_answer(body, caught_up=caught_up)


@router.get("/expiry")
def expiry(
    request: Request,
    identity: Identity = Depends(require("expiry.read")),
    kind: KindName | None = None,
    qualification_type: Annotated[str | None, Query(max_length=60)] = None,
    record_id: UUID | None = None,
    status: Literal["expiring", "expired"] | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """Files in use that are expiring (within the reminder setting's days) or
    expired today, soonest first; each says whether to ``update`` it (it was
    uploaded here) or ``request`` it (it was received)."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    last = decode_cursor(cursor)
    with found.views.transaction(write=False) as tx:
        rows = query_expiry(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            today=china_today(found.clock.now),
            kind=kind,
            qualification_type=qualification_type,
            record_id=str(record_id) if record_id else None,
            status=status,
            after=tuple(last) if last else None,
            limit=limit,
        )
    mark = [rows[-1]["valid_until"], rows[-1]["document_id"]] if rows else None
    return page(rows, limit, mark, caught_up=caught_up)


# --- settings -------------------------------------------------------------------


@router.get("/settings")
def library_settings(
    request: Request, identity: Identity = Read, after: After = None
) -> Response:
    """The reminder setting, custom fields and qualification-type templates."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        body = query_settings(found.engine, tx, identity.enterprise_id)
    return view_answer(body, caught_up=caught_up)


Settings = Depends(require("library.settings"))


@router.post("/settings/reminder", status_code=202)
def set_reminder(
    request: Request,
    body: ReminderBody,
    identity: Identity = Settings,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """How many days before its validity date a file counts as expiring."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).library.set_reminder_days(caller, body.reminder_days)
    )


@router.post("/settings/custom-fields", status_code=201)
def add_custom_field(
    request: Request,
    body: CustomFieldBody,
    identity: Identity = Settings,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A custom field for records of a kind, optionally shown in lists."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).library.define_custom_field(
        caller,
        field_id=None,
        kind=body.kind,
        name=body.name,
        show_in_list=body.show_in_list,
    )
    return answer(result)


@router.post("/settings/custom-fields/{field_id}/delete", status_code=202)
def delete_custom_field(
    request: Request,
    field_id: UUID,
    identity: Identity = Settings,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).library.remove_custom_field(caller, str(field_id)))


@router.post("/settings/templates", status_code=201)
def add_template(
    request: Request,
    body: TemplateBody,
    identity: Identity = Settings,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A qualification-type template: which types a record of the kind (and,
    for enterprises, of the given category) shows."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).library.define_template(
        caller,
        template_id=None,
        kind=body.kind,
        name=body.name,
        category=body.category,
        types=body.types,
    )
    return answer(result)


# --- helpers ----------------------------------------------------------------------


def parse_card(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidValue("card must be a JSON object", field="card") from None
    if not isinstance(value, dict) or not all(
        isinstance(v, str | None) for v in value.values()
    ):
        raise InvalidValue("card must be a JSON object of text values", field="card")
    return value


def disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


# --- batch import and export ----------------------------------------------------

Import = Depends(require("library.import"))


def _xlsx(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": disposition(name)},
    )


@router.get("/templates")
def import_template(kind: KindName, identity: Identity = Import) -> Response:
    """The .xlsx template of a record kind: 序号, then its base fields
    (required ones marked ``*``)."""
    return _xlsx(template(Kind(kind)), f"{KIND_NAMES[kind]}导入模板.xlsx")


@router.post("/imports", status_code=201)
async def import_records(
    request: Request,
    file: UploadFile,
    kind: KindName,
    identity: Identity = Import,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Imports the filled-in template: a record per valid row, all at once,
    with a report per row. Then upload the folders of files to
    ``/imports/{import_id}/folders``."""
    data = await file.read()
    caller = caller_of(request, identity, idempotency_key)
    result = await asyncio.to_thread(
        services(request).library_imports.import_sheet,
        caller,
        kind,
        shown_name(file.filename) or "import.xlsx",
        data,
    )
    return answer(result)


@router.post("/imports/{import_id}/folders", status_code=202)
async def upload_folders(
    request: Request,
    import_id: UUID,
    archive: UploadFile | None = None,
    files: list[UploadFile] | None = None,
    identity: Identity = Import,
) -> Response:
    """The folders of an import, as one zip (``archive``) or as files whose
    names are their relative paths (``files``, as a browser sends a dropped
    folder). Each top-level folder's leading number is the 序号 of a row;
    unmatched folders and refused files fail with a reason, the rest are
    stored. Unsafe paths and zip bombs refuse the whole upload."""
    if (archive is None) == (not files):
        raise InvalidValue(
            "send either one zip as 'archive' or the files as 'files'", field="archive"
        )
    if archive is not None:
        folders = read_zip(await archive.read())
    else:
        assert files is not None
        folders = read_paths([(f.filename or "", await f.read()) for f in files])
    caller = caller_of(request, identity, None)
    result = await asyncio.to_thread(
        services(request).library_imports.upload_folders, caller, import_id, folders
    )
    return answer(result)


@router.get("/imports/{import_id}")
def import_report(
    request: Request, import_id: UUID, identity: Identity = Import
) -> Response:
    """The import's row report and the reports of its folder uploads."""
    caller = caller_of(request, identity, None)
    batch = services(request).library_imports.own(caller, import_id)
    return OrjsonResponse(
        {
            "import_id": str(import_id),
            "kind": batch.kind.value,
            "file_name": batch.file_name,
            "rows": batch.rows,
            "folders": batch.folder_reports,
        }
    )


@router.get("/imports/{import_id}/report")
def import_report_sheet(
    request: Request, import_id: UUID, identity: Identity = Import
) -> Response:
    """The import's result log as .xlsx (下载日志)."""
    caller = caller_of(request, identity, None)
    batch = services(request).library_imports.own(caller, import_id)
    files = [f for report in batch.folder_reports for f in report]
    return _xlsx(report_sheet(batch.rows, files), "导入结果.xlsx")


@router.get("/export")
def export_records(
    request: Request, kind: KindName, identity: Identity = Export, after: After = None
) -> Response:
    """Every live record of a kind as .xlsx, laid out like the template."""
    caught_up = wait_for_view(request, LibraryView.name, after)
    found = services(request)
    rows: list[dict[str, Any]] = []
    mark: tuple[str, str] | None = None
    with found.views.transaction(write=False) as tx:
        while True:
            chunk = query_records(
                found.engine,
                tx,
                enterprise_id=identity.enterprise_id,
                kind=kind,
                q=None,
                deleted=False,
                after=mark,
                limit=MAX_LIMIT,
            )
            rows += chunk
            if len(chunk) < MAX_LIMIT:
                break
            mark = (chunk[-1]["title"], chunk[-1]["record_id"])
    response = _xlsx(export(Kind(kind), rows), f"{KIND_NAMES[kind]}.xlsx")
    if not caught_up:
        response.headers["X-View-Stale"] = "true"
    return response


KIND_NAMES = {
    "enterprise": "企业资料",
    "delegate": "委托人资料",
    "drug": "药品资料",
    "device": "器械资料",
    "health_food": "保健食品资料",
    "inspection_report": "检验报告",
}


@router.post("/records/{record_id}/proposals")
async def propose_document(
    request: Request,
    record_id: UUID,
    file: UploadFile,
    identity: Identity = Depends(require("documents.recognise")),
) -> Response:
    """Reads an image or PDF meant for a record and proposes its qualification
    type (among the record kind's) and info card, each field with its
    confidence; ``missing`` lists the fields the type needs that were not
    read. Nothing is stored: upload the file with the confirmed values."""
    found = services(request)
    caller = caller_of(request, identity, None)
    dossier = found.library.own(caller, record_id)
    data = await file.read()
    result = await asyncio.wrap_future(
        found.recogniser().submit(data, shown_name(file.filename))
    )
    return OrjsonResponse(propose(dossier.kind, result))


@router.post("/delegates/sync-administrator", status_code=202)
def sync_administrator(
    request: Request,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Creates or updates the delegate record of the enterprise's
    administrator from the enterprise information (同步管理员资料)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).library.sync_administrator(caller))

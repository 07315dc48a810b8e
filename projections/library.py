"""The library views (manual 9): records per kind with search, a record's
files, the recycle bin, the expiry list, and each enterprise's library
settings.

Expiry is not stored as a status. A file's validity date is stored, and the
status (valid, expiring, expired) is computed when the list is read, from the
reader's today and the enterprise's reminder setting: the status changes when
the calendar moves, with no event and no nightly job, and a rebuilt view
cannot disagree with a live one about it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import LIKE_ESCAPE, Tx, contains

DEFAULT_REMINDER_DAYS = 30
LONG_TERM = "long-term"

_TITLE = {
    "enterprise": "name",
    "delegate": "person_name",
    "drug": "product_name",
    "device": "product_name",
    "health_food": "product_name",
    "inspection_report": "product_name",
}
_CODE = {
    "enterprise": "uscc",
    "delegate": "id_number",
    "drug": "approval_no",
    "device": "approval_no",
    "health_food": "approval_no",
    "inspection_report": "batch_no",
}


def search_text(values: Mapping[str, Any]) -> str:
    joined = "\n".join(str(v) for v in values.values() if v)
    return unicodedata.normalize("NFKC", joined).casefold()


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class LibraryView(Projection):
    name = "library"
    tables: ClassVar[Mapping[str, str]] = {
        "records": (
            "CREATE TABLE {records} ("
            " record_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " title TEXT NOT NULL,"
            " code TEXT,"
            " base TEXT NOT NULL,"
            " custom TEXT NOT NULL,"
            " search TEXT NOT NULL,"
            " origin TEXT NOT NULL,"
            " received_from TEXT,"
            " deleted INTEGER NOT NULL,"
            " documents INTEGER NOT NULL,"
            " archived INTEGER NOT NULL,"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " version INTEGER NOT NULL)"
        ),
        "documents": (
            "CREATE TABLE {documents} ("
            " document_id TEXT PRIMARY KEY,"
            " record_id TEXT NOT NULL,"
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " qualification_type TEXT NOT NULL,"
            " name TEXT NOT NULL,"
            " blob TEXT NOT NULL,"
            " media_type TEXT NOT NULL,"
            " size BIGINT NOT NULL,"
            " pages INTEGER NOT NULL,"
            " seals INTEGER NOT NULL DEFAULT 0,"
            " card TEXT NOT NULL,"
            " valid_until TEXT,"
            " status TEXT NOT NULL,"
            " archived INTEGER NOT NULL,"
            " deleted INTEGER NOT NULL,"
            " record_deleted INTEGER NOT NULL,"
            " origin TEXT NOT NULL,"
            " received_from TEXT,"
            " added_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
        # Each enterprise's own credit code, to tell its own enterprise record
        # from partners' and manufacturers'.
        "owners": (
            "CREATE TABLE {owners} ("
            " enterprise_id TEXT PRIMARY KEY,"
            " uscc TEXT NOT NULL)"
        ),
        "settings": (
            "CREATE TABLE {settings} ("
            " enterprise_id TEXT PRIMARY KEY,"
            " reminder_days INTEGER NOT NULL,"
            " custom_fields TEXT NOT NULL,"
            " templates TEXT NOT NULL)"
        ),
    }
    indexes = (
        "CREATE INDEX {records}_list ON {records}"
        " (enterprise_id, kind, deleted, title, record_id)",
        "CREATE INDEX {documents}_record ON {documents} (record_id)",
        "CREATE INDEX {documents}_expiry ON {documents} (enterprise_id, valid_until)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        kind = event.type
        if kind.startswith("Dossier."):
            self._dossier(tx, t, event, kind.removeprefix("Dossier."))
        elif kind == "Enterprise.InformationRecorded":
            tx.execute(
                f"INSERT INTO {t['owners']} (enterprise_id, uscc) VALUES (%s, %s)"
                " ON CONFLICT (enterprise_id) DO UPDATE SET uscc = excluded.uscc",
                (event.enterprise_id, event.data["uscc"]),
            )
        elif kind.startswith("LibrarySettings."):
            self._settings(
                tx, t["settings"], event, kind.removeprefix("LibrarySettings.")
            )

    def _dossier(
        self, tx: Tx, t: Mapping[str, str], event: EventRecord, kind: str
    ) -> None:
        records, documents = t["records"], t["documents"]
        data = event.data
        record = event.originator_id
        when = iso(event.timestamp)
        if kind == "Opened":
            base = data["base"]
            tx.execute(
                f"INSERT INTO {records} (record_id, enterprise_id, kind, title, code,"
                " base, custom, search, origin, received_from, deleted, documents,"
                " archived, created_at, updated_at, version)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, %s, %s, %s)",
                (
                    record,
                    event.enterprise_id,
                    data["kind"],
                    base.get(_TITLE[data["kind"]], ""),
                    base.get(_CODE[data["kind"]]),
                    _json(base),
                    _json(data["custom"]),
                    search_text({**base, **data["custom"]}),
                    data["origin"],
                    data["received_from"],
                    when,
                    when,
                    event.originator_version,
                ),
            )
            return
        row = tx.one(f"SELECT kind FROM {records} WHERE record_id = %s", (record,))
        record_kind = row["kind"] if row else ""
        if kind == "Edited":
            base = data["base"]
            tx.execute(
                f"UPDATE {records} SET title = %s, code = %s, base = %s, custom = %s,"
                " search = %s WHERE record_id = %s",
                (
                    base.get(_TITLE[record_kind], ""),
                    base.get(_CODE[record_kind]),
                    _json(base),
                    _json(data["custom"]),
                    search_text({**base, **data["custom"]}),
                    record,
                ),
            )
        elif kind in ("Binned", "Restored"):
            deleted = 1 if kind == "Binned" else 0
            tx.execute(
                f"UPDATE {records} SET deleted = %s WHERE record_id = %s",
                (deleted, record),
            )
            tx.execute(
                f"UPDATE {documents} SET record_deleted = %s WHERE record_id = %s",
                (deleted, record),
            )
        elif kind == "DocumentAdded":
            card = data["card"]
            tx.execute(
                f"INSERT INTO {documents} (document_id, record_id, enterprise_id, kind,"
                " qualification_type, name, blob, media_type, size, pages, card,"
                " valid_until, status, archived, deleted, record_deleted, origin,"
                " received_from, added_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'in_use',"
                " 0, 0, 0, %s, %s, %s, %s)",
                (
                    data["document_id"],
                    record,
                    event.enterprise_id,
                    record_kind,
                    data["qualification_type"],
                    data["name"],
                    data["blob"],
                    data["media_type"],
                    data["size"],
                    data["pages"],
                    _json(card),
                    card.get("valid_until"),
                    data["origin"],
                    data["received_from"],
                    when,
                    when,
                ),
            )
        elif kind == "CardEdited":
            card = data["card"]
            tx.execute(
                f"UPDATE {documents} SET qualification_type = %s, name = %s, card = %s,"
                " valid_until = %s, updated_at = %s WHERE document_id = %s",
                (
                    data["qualification_type"],
                    data["name"],
                    _json(card),
                    card.get("valid_until"),
                    when,
                    data["document_id"],
                ),
            )
        elif kind == "StatusChanged":
            tx.execute(
                f"UPDATE {documents} SET status = %s, updated_at = %s"
                " WHERE document_id = %s",
                (data["status"], when, data["document_id"]),
            )
        elif kind == "ArchiveChanged":
            tx.executemany(
                f"UPDATE {documents} SET archived = %s, updated_at = %s"
                " WHERE document_id = %s",
                [(1 if data["archived"] else 0, when, d) for d in data["document_ids"]],
            )
        elif kind == "Sealed":
            tx.execute(
                f"UPDATE {documents} SET blob = %s, size = %s, pages = %s,"
                " media_type = 'application/pdf', seals = seals + 1, updated_at = %s"
                " WHERE document_id = %s",
                (data["blob"], data["size"], data["pages"], when, data["document_id"]),
            )
        elif kind in ("DocumentBinned", "DocumentRestored"):
            tx.execute(
                f"UPDATE {documents} SET deleted = %s, updated_at = %s"
                " WHERE document_id = %s",
                (1 if kind == "DocumentBinned" else 0, when, data["document_id"]),
            )
        tx.execute(
            f"UPDATE {records} SET updated_at = %s, version = %s,"
            f" documents = (SELECT COUNT(*) FROM {documents} d"
            "  WHERE d.record_id = %s AND d.deleted = 0),"
            f" archived = (SELECT COUNT(*) FROM {documents} d"
            "  WHERE d.record_id = %s AND d.deleted = 0 AND d.archived = 1)"
            " WHERE record_id = %s",
            (when, event.originator_version, record, record, record),
        )

    def _settings(self, tx: Tx, table: str, event: EventRecord, kind: str) -> None:
        data = event.data
        owner = event.enterprise_id
        if kind == "Opened":
            tx.execute(
                f"INSERT INTO {table} (enterprise_id, reminder_days, custom_fields,"
                " templates) VALUES (%s, %s, '{}', '{}')",
                (owner, DEFAULT_REMINDER_DAYS),
            )
            return
        row = tx.one(
            f"SELECT custom_fields, templates FROM {table} WHERE enterprise_id = %s",
            (owner,),
        )
        if row is None:
            return
        fields = orjson.loads(row["custom_fields"])
        templates = orjson.loads(row["templates"])
        if kind == "ReminderChanged":
            tx.execute(
                f"UPDATE {table} SET reminder_days = %s WHERE enterprise_id = %s",
                (data["days"], owner),
            )
            return
        if kind == "CustomFieldDefined":
            fields[data["field_id"]] = {
                k: data[k] for k in ("field_id", "kind", "name", "show_in_list")
            }
        elif kind == "CustomFieldRemoved":
            fields.pop(data["field_id"], None)
        elif kind == "TemplateDefined":
            templates[data["template_id"]] = {
                k: data[k] for k in ("template_id", "kind", "name", "category", "types")
            }
        tx.execute(
            f"UPDATE {table} SET custom_fields = %s, templates = %s"
            " WHERE enterprise_id = %s",
            (_json(fields), _json(templates), owner),
        )


# --- queries ---------------------------------------------------------------------

_RECORD_COLUMNS = (
    "record_id, kind, title, code, base, custom, origin, received_from, deleted,"
    " documents, archived, created_at, updated_at, version"
)
_DOCUMENT_COLUMNS = (
    "document_id, record_id, kind, qualification_type, name, blob, media_type, size,"
    " pages, seals, card, valid_until, status, archived, deleted, origin,"
    " received_from, added_at, updated_at"
)


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    found = dict(row)
    found["base"] = orjson.loads(found["base"])
    found["custom"] = orjson.loads(found["custom"])
    found["deleted"] = bool(found["deleted"])
    return found


def _document(row: Mapping[str, Any], today: date | None, days: int) -> dict[str, Any]:
    found = dict(row)
    found["card"] = orjson.loads(found["card"])
    found["archived"] = bool(found["archived"])
    found["deleted"] = bool(found["deleted"])
    if today is not None:
        found["expiry"] = expiry_status(found["valid_until"], today, days)
    return found


def expiry_status(valid_until: str | None, today: date, days: int) -> str:
    """valid, expiring (within ``days`` of today, today included) or expired
    (the day after the validity date)."""
    if valid_until is None or valid_until == LONG_TERM:
        return "valid"
    if valid_until < today.isoformat():
        return "expired"
    if valid_until <= (today + timedelta(days=days)).isoformat():
        return "expiring"
    return "valid"


#: Which enterprise records are the enterprise's own, a partner's (typed in
#: here, or received from that partner) or a manufacturer's that came with a
#: partner's products (manual 9.1: received, and not the sender's own).
#: ``o`` is the enterprise's own owner row and ``s`` the sender's.
_RELATION = (
    "CASE WHEN r.kind <> 'enterprise' THEN NULL"
    " WHEN r.code = o.uscc THEN 'own'"
    " WHEN r.origin = 'uploaded' OR r.code = s.uscc THEN 'partner'"
    " ELSE 'manufacturer' END"
)


def _records_with_relation(t: Mapping[str, str]) -> str:
    """The records table with each row's relation, as ``r``."""
    columns = ", ".join("r." + c.strip() for c in _RECORD_COLUMNS.split(","))
    return (
        f"SELECT {columns}, {_RELATION} AS relation FROM {t['records']} r"
        f" LEFT JOIN {t['owners']} o ON o.enterprise_id = r.enterprise_id"
        f" LEFT JOIN {t['owners']} s ON s.enterprise_id = r.received_from"
    )


def query_records(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    kind: str | None,
    q: str | None,
    deleted: bool,
    after: tuple[str, str] | None,
    limit: int,
    relation: str | None = None,
) -> list[dict[str, Any]]:
    """An enterprise's records in title order, a page at a time; enterprise
    records say whether they are the enterprise's own, a partner's or a
    manufacturer's."""
    t = engine.active_tables(tx, LibraryView.name)
    clauses = ["r.enterprise_id = %s", "r.deleted = %s"]
    params: list[Any] = [enterprise_id, 1 if deleted else 0]
    if kind is not None:
        clauses.insert(1, "r.kind = %s")
        params.insert(1, kind)
    if relation is not None:
        clauses.append(f"({_RELATION}) = %s")
        params.append(relation)
    if q:
        clauses.append(f"r.search LIKE %s ESCAPE '{LIKE_ESCAPE}'")
        params.append(contains(unicodedata.normalize("NFKC", q).casefold()))
    if after is not None:
        # A row comparison, so that the index seeks to the cursor instead of
        # reading and discarding every row before it.
        clauses.append("(r.title, r.record_id) > (%s, %s)")
        params += [after[0], after[1]]
    rows = tx.all(
        f"{_records_with_relation(t)} WHERE {' AND '.join(clauses)}"
        " ORDER BY r.title, r.record_id LIMIT %s",
        [*params, limit],
    )
    return [_record(row) for row in rows]


def reminder_days(engine: Engine, tx: Tx, enterprise_id: str) -> int:
    t = engine.active_tables(tx, LibraryView.name)
    row = tx.one(
        f"SELECT reminder_days FROM {t['settings']} WHERE enterprise_id = %s",
        (enterprise_id,),
    )
    return int(row["reminder_days"]) if row else DEFAULT_REMINDER_DAYS


def query_settings(engine: Engine, tx: Tx, enterprise_id: str) -> dict[str, Any]:
    t = engine.active_tables(tx, LibraryView.name)
    row = tx.one(
        f"SELECT reminder_days, custom_fields, templates FROM {t['settings']}"
        " WHERE enterprise_id = %s",
        (enterprise_id,),
    )
    if row is None:
        return {
            "reminder_days": DEFAULT_REMINDER_DAYS,
            "custom_fields": [],
            "templates": [],
        }
    return {
        "reminder_days": row["reminder_days"],
        "custom_fields": sorted(
            orjson.loads(row["custom_fields"]).values(),
            key=lambda f: (f["kind"], f["name"]),
        ),
        "templates": sorted(
            orjson.loads(row["templates"]).values(),
            key=lambda f: (f["kind"], f["name"]),
        ),
    }


def query_record(
    engine: Engine, tx: Tx, *, enterprise_id: str, record_id: str, today: date
) -> dict[str, Any] | None:
    """One record with its live files, each with its expiry status."""
    t = engine.active_tables(tx, LibraryView.name)
    row = tx.one(
        f"{_records_with_relation(t)} WHERE r.record_id = %s AND r.enterprise_id = %s",
        (record_id, enterprise_id),
    )
    if row is None:
        return None
    found = _record(row)
    settings = query_settings(engine, tx, enterprise_id)
    found["template"] = _template_for(
        settings["templates"], found["kind"], found["base"].get("category")
    )
    days = settings["reminder_days"]
    docs = tx.all(
        f"SELECT {_DOCUMENT_COLUMNS} FROM {t['documents']}"
        " WHERE record_id = %s AND deleted = 0 ORDER BY added_at, document_id",
        (record_id,),
    )
    found["files"] = [_document(d, today, days) for d in docs]
    return found


def _template_for(
    templates: list[dict[str, Any]], kind: str, category: str | None
) -> dict[str, Any] | None:
    """The template a record shows its types by: one for its kind and its
    enterprise category, else one for its kind and any category."""
    of_kind = [t for t in templates if t["kind"] == kind]
    exact = [t for t in of_kind if category is not None and t["category"] == category]
    general = [t for t in of_kind if t["category"] is None]
    chosen = exact or general
    return chosen[0] if chosen else None


def query_bin(
    engine: Engine, tx: Tx, *, enterprise_id: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """The recycle bin: deleted records, and deleted files of live records."""
    t = engine.active_tables(tx, LibraryView.name)
    records = tx.all(
        f"SELECT {_RECORD_COLUMNS} FROM {t['records']}"
        " WHERE enterprise_id = %s AND deleted = 1 ORDER BY updated_at DESC LIMIT %s",
        (enterprise_id, limit),
    )
    files = tx.all(
        f"SELECT {_DOCUMENT_COLUMNS} FROM {t['documents']}"
        " WHERE enterprise_id = %s AND deleted = 1 AND record_deleted = 0"
        " ORDER BY updated_at DESC LIMIT %s",
        (enterprise_id, limit),
    )
    return {
        "records": [_record(r) for r in records],
        "files": [_document(f, None, 0) for f in files],
    }


def query_expiry(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    today: date,
    kind: str | None,
    qualification_type: str | None,
    record_id: str | None,
    status: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Files in use that are expiring or expired on ``today``, soonest first,
    each with its record's title and what to do: ``update`` a file uploaded
    here, ``request`` a received one (manual 9.5)."""
    t = engine.active_tables(tx, LibraryView.name)
    days = reminder_days(engine, tx, enterprise_id)
    horizon = (today + timedelta(days=days)).isoformat()
    clauses = [
        "d.enterprise_id = %s",
        "d.status = 'in_use'",
        "d.deleted = 0",
        "d.record_deleted = 0",
        "d.valid_until IS NOT NULL",
        "d.valid_until <> %s",
    ]
    params: list[Any] = [enterprise_id, LONG_TERM]
    if status == "expired":
        clauses.append("d.valid_until < %s")
        params.append(today.isoformat())
    elif status == "expiring":
        clauses.append("d.valid_until >= %s AND d.valid_until <= %s")
        params += [today.isoformat(), horizon]
    else:
        clauses.append("d.valid_until <= %s")
        params.append(horizon)
    for column, value in (
        ("d.kind", kind),
        ("d.qualification_type", qualification_type),
        ("d.record_id", record_id),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if after is not None:
        clauses.append("(d.valid_until, d.document_id) > (%s, %s)")
        params += [after[0], after[1]]
    rows = tx.all(
        f"SELECT {', '.join('d.' + c.strip() for c in _DOCUMENT_COLUMNS.split(','))},"
        f" r.title FROM {t['documents']} d JOIN {t['records']} r"
        " ON r.record_id = d.record_id"
        f" WHERE {' AND '.join(clauses)} ORDER BY d.valid_until, d.document_id"
        " LIMIT %s",
        [*params, limit],
    )
    found = []
    for row in rows:
        item = _document(row, today, days)
        item["record_title"] = item.pop("title")
        item["action"] = "update" if item["origin"] == "uploaded" else "request"
        found.append(item)
    return found


def find_record(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    kind: str,
    key: tuple[str, ...] | None,
) -> str | None:
    """The enterprise's record a received one merges into (manual 6.4): the
    same credit code, ID number, or approval number and manufacturer (batch,
    product and manufacturer for an inspection report); a live record before
    one in the recycle bin."""
    if not key:
        return None
    t = engine.active_tables(tx, LibraryView.name)
    if key[0] == "name":
        clause, value = "title = %s", key[1]
    else:
        clause, value = "code = %s", key[0]
    rows = tx.all(
        f"SELECT record_id, title, base, deleted FROM {t['records']}"
        f" WHERE enterprise_id = %s AND kind = %s AND {clause}"
        " ORDER BY deleted, created_at",
        (enterprise_id, kind, value),
    )
    for row in rows:
        base = orjson.loads(row["base"])
        if kind in ("drug", "device", "health_food") and base.get("manufacturer") != (
            key[1] if len(key) > 1 else None
        ):
            continue
        if kind == "inspection_report" and (
            base.get("product_name"),
            base.get("manufacturer"),
        ) != tuple(key[1:3]):
            continue
        return str(row["record_id"])
    return None

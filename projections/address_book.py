"""The address book view: each enterprise's entries, searchable by name and
contact person, and the reports of its sheet imports."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import LIKE_ESCAPE, Tx, contains

_ENTRY_FIELDS = (
    "name",
    "uscc",
    "contact_person",
    "mobile",
    "email",
    "region",
    "address",
    "remark",
)


def search_text(*parts: str | None) -> str:
    """What ``q`` is matched against: full-width forms folded, case folded, so
    that a search finds a name however it was typed, on either database."""
    joined = "\n".join(p for p in parts if p)
    return unicodedata.normalize("NFKC", joined).casefold()


class AddressBookView(Projection):
    name = "address_book"
    tables: ClassVar[Mapping[str, str]] = {
        "entries": (
            "CREATE TABLE {entries} ("
            " entry_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " name TEXT NOT NULL,"
            " uscc TEXT,"
            " contact_person TEXT,"
            " mobile TEXT,"
            " email TEXT,"
            " region TEXT,"
            " address TEXT,"
            " remark TEXT,"
            " search TEXT NOT NULL,"
            " import_id TEXT,"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " version INTEGER NOT NULL)"
        ),
        "imports": (
            "CREATE TABLE {imports} ("
            " import_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " file_name TEXT NOT NULL,"
            " accepted INTEGER NOT NULL,"
            " rejected INTEGER NOT NULL,"
            " report TEXT NOT NULL,"
            " imported_at TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " position BIGINT NOT NULL)"
        ),
    }
    indexes = (
        "CREATE INDEX {entries}_book ON {entries} (enterprise_id, name)",
        "CREATE INDEX {imports}_book ON {imports} (enterprise_id, imported_at)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        entries = t["entries"]
        when = iso(event.timestamp)
        data = event.data
        kind = event.type
        if kind == "AddressBook.EntryAdded":
            self._insert(tx, entries, event, [data], when, None)
        elif kind == "AddressBook.EntryEdited":
            tx.execute(
                f"UPDATE {entries} SET "
                + ", ".join(f"{f} = %s" for f in _ENTRY_FIELDS)
                + ", search = %s, updated_at = %s, version = %s"
                " WHERE entry_id = %s AND enterprise_id = %s",
                (
                    *(data.get(f) for f in _ENTRY_FIELDS),
                    search_text(data["name"], data.get("contact_person")),
                    when,
                    event.originator_version,
                    data["entry_id"],
                    event.enterprise_id,
                ),
            )
        elif kind == "AddressBook.EntryDeleted":
            tx.execute(
                f"DELETE FROM {entries} WHERE entry_id = %s AND enterprise_id = %s",
                (data["entry_id"], event.enterprise_id),
            )
        elif kind == "AddressBook.Cleared":
            tx.execute(
                f"DELETE FROM {entries} WHERE enterprise_id = %s",
                (event.enterprise_id,),
            )
        elif kind == "AddressBook.Imported":
            self._insert(tx, entries, event, data["entries"], when, data["import_id"])
            self._record_import(tx, t["imports"], event, when)

    @staticmethod
    def _insert(
        tx: Tx,
        table: str,
        event: EventRecord,
        rows: list[dict[str, Any]],
        when: str,
        import_id: str | None,
    ) -> None:
        if not rows:
            return
        columns = ("entry_id", "enterprise_id", *_ENTRY_FIELDS)
        extra = ("search", "import_id", "created_at", "updated_at", "version")
        placeholders = ", ".join(["%s"] * (len(columns) + len(extra)))
        tx.executemany(
            f"INSERT INTO {table} ({', '.join((*columns, *extra))})"
            f" VALUES ({placeholders})",
            [
                (
                    row["entry_id"],
                    event.enterprise_id,
                    *(row.get(f) for f in _ENTRY_FIELDS),
                    search_text(row["name"], row.get("contact_person")),
                    import_id,
                    when,
                    when,
                    event.originator_version,
                )
                for row in rows
            ],
        )

    @staticmethod
    def _record_import(tx: Tx, table: str, event: EventRecord, when: str) -> None:
        data = event.data
        accepted = [
            {
                "row": e["row"],
                "name": e["name"],
                "ok": True,
                "message": "added",
                "code": None,
                "entry_id": e["entry_id"],
            }
            for e in data["entries"]
        ]
        report = sorted([*accepted, *data["rejected"]], key=lambda r: int(r["row"]))
        tx.execute(
            f"INSERT INTO {table} (import_id, enterprise_id, file_name, accepted,"
            " rejected, report, imported_at, actor, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                data["import_id"],
                event.enterprise_id,
                data["file_name"],
                len(accepted),
                len(data["rejected"]),
                orjson.dumps(report).decode(),
                when,
                event.actor,
                event.position,
            ),
        )


def query_entries(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    q: str | None = None,
    entry_id: str | None = None,
    after_name: str | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """One enterprise's entries in name order."""
    t = engine.active_tables(tx, AddressBookView.name)
    clauses, params = ["enterprise_id = %s"], [enterprise_id]
    if q:
        clauses.append(f"search LIKE %s ESCAPE '{LIKE_ESCAPE}'")
        params.append(contains(search_text(q)))
    if entry_id is not None:
        clauses.append("entry_id = %s")
        params.append(entry_id)
    if after_name is not None:
        clauses.append("name > %s")
        params.append(after_name)
    columns = ", ".join(
        ("entry_id", *_ENTRY_FIELDS, "import_id", "created_at", "updated_at", "version")
    )
    sql = (
        f"SELECT {columns} FROM {t['entries']} WHERE {' AND '.join(clauses)}"
        " ORDER BY name LIMIT %s"
    )
    return tx.all(sql, [*params, limit])


def query_import(
    engine: Engine, tx: Tx, *, enterprise_id: str, import_id: str
) -> dict[str, Any] | None:
    """One import of the enterprise, with its row report decoded."""
    t = engine.active_tables(tx, AddressBookView.name)
    row = tx.one(
        f"SELECT import_id, file_name, accepted, rejected, report, imported_at"
        f" FROM {t['imports']} WHERE import_id = %s AND enterprise_id = %s",
        (import_id, enterprise_id),
    )
    if row is None:
        return None
    found = dict(row)
    found["report"] = orjson.loads(found["report"])
    return found

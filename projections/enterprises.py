"""The registrations view: each enterprise's name, code, category and review
status, for the operators' review queue and for the enterprise itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import LIKE_ESCAPE, Tx, contains


class EnterprisesView(Projection):
    name = "enterprises"
    tables: ClassVar[Mapping[str, str]] = {
        "enterprises": (
            "CREATE TABLE {enterprises} ("
            " enterprise_id TEXT PRIMARY KEY,"
            " name TEXT NOT NULL,"
            " uscc TEXT,"
            " category TEXT,"
            " region TEXT,"
            " status TEXT NOT NULL,"
            " rejection_reason TEXT,"
            " complete_by TEXT NOT NULL,"
            " registered_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " version INTEGER NOT NULL)"
        )
    }
    indexes = ("CREATE INDEX {enterprises}_status ON {enterprises} (status, name)",)

    #: The status each event leaves the enterprise in.
    STATUS: ClassVar[Mapping[str, str]] = {
        "Enterprise.Submitted": "pending_review",
        "Enterprise.Approved": "approved",
        "Enterprise.Rejected": "rejected",
    }

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        table = t["enterprises"]
        when = iso(event.timestamp)
        data = event.data
        if event.type == "Enterprise.Registered":
            tx.execute(
                f"INSERT INTO {table} (enterprise_id, name, status, complete_by,"
                " registered_at, updated_at, version)"
                " VALUES (%s, %s, 'incomplete', %s, %s, %s, %s)",
                (
                    event.originator_id,
                    data["name"],
                    iso(data["complete_by"]),
                    when,
                    when,
                    event.originator_version,
                ),
            )
        elif event.type == "Enterprise.InformationRecorded":
            tx.execute(
                f"UPDATE {table} SET uscc = %s, category = %s, region = %s,"
                " updated_at = %s, version = %s WHERE enterprise_id = %s",
                (
                    data["uscc"],
                    data["category"],
                    data["region"],
                    when,
                    event.originator_version,
                    event.originator_id,
                ),
            )
        elif event.type in self.STATUS:
            tx.execute(
                f"UPDATE {table} SET status = %s, rejection_reason = %s,"
                " updated_at = %s, version = %s WHERE enterprise_id = %s",
                (
                    self.STATUS[event.type],
                    data.get("reason"),
                    when,
                    event.originator_version,
                    event.originator_id,
                ),
            )


def query_enterprises(
    engine: Engine,
    tx: Tx,
    *,
    status: str | None,
    enterprise_id: str | None,
    after_name: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    t = engine.active_tables(tx, EnterprisesView.name)
    clauses, params = ["1 = 1"], []
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    if enterprise_id is not None:
        clauses.append("enterprise_id = %s")
        params.append(enterprise_id)
    if after_name is not None:
        clauses.append("name > %s")
        params.append(after_name)
    sql = (
        f"SELECT * FROM {t['enterprises']} WHERE {' AND '.join(clauses)}"
        " ORDER BY name LIMIT %s"
    )
    return tx.all(sql, [*params, limit])


def query_directory(
    engine: Engine,
    tx: Tx,
    *,
    name: str | None,
    region: str | None,
    category: str | None,
    after_name: str | None,
    limit: int,
    enterprise_id: str | None = None,
) -> list[dict[str, Any]]:
    """Verified enterprises as every enterprise may see them: name, region,
    category and the verified mark, nothing private."""
    t = engine.active_tables(tx, EnterprisesView.name)
    clauses, params = ["status = 'approved'"], []
    if enterprise_id is not None:
        clauses.append("enterprise_id = %s")
        params.append(enterprise_id)
    for column, text in (("name", name), ("region", region)):
        if text:
            clauses.append(f"{column} LIKE %s ESCAPE '{LIKE_ESCAPE}'")
            params.append(contains(text))
    if category is not None:
        clauses.append("category = %s")
        params.append(category)
    if after_name is not None:
        clauses.append("name > %s")
        params.append(after_name)
    sql = (
        "SELECT enterprise_id, name, region, category, TRUE AS verified"
        f" FROM {t['enterprises']} WHERE {' AND '.join(clauses)}"
        " ORDER BY name LIMIT %s"
    )
    return tx.all(sql, [*params, limit])

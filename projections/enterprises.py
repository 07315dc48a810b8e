"""The registrations view: each enterprise's name, code, category and review
status, for the operators' review queue and for the enterprise itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx


class EnterprisesView(Projection):
    name = "enterprises"
    tables: ClassVar[Mapping[str, str]] = {
        "enterprises": (
            "CREATE TABLE {enterprises} ("
            " enterprise_id TEXT PRIMARY KEY,"
            " name TEXT NOT NULL,"
            " uscc TEXT NOT NULL,"
            " category TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " rejection_reason TEXT,"
            " registered_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " version INTEGER NOT NULL)"
        )
    }
    indexes = ("CREATE INDEX {enterprises}_status ON {enterprises} (status, name)",)

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        table = t["enterprises"]
        when = iso(event.timestamp)
        if event.type == "Enterprise.Registered":
            tx.execute(
                f"INSERT INTO {table} (enterprise_id, name, uscc, category, status,"
                " registered_at, updated_at, version)"
                " VALUES (%s, %s, %s, %s, 'pending_review', %s, %s, %s)",
                (
                    event.originator_id,
                    event.data["name"],
                    event.data["uscc"],
                    event.data["category"],
                    when,
                    when,
                    event.originator_version,
                ),
            )
        elif event.type in ("Enterprise.Approved", "Enterprise.Rejected"):
            status = "approved" if event.type == "Enterprise.Approved" else "rejected"
            tx.execute(
                f"UPDATE {table} SET status = %s, rejection_reason = %s,"
                " updated_at = %s, version = %s WHERE enterprise_id = %s",
                (
                    status,
                    event.data.get("reason"),
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

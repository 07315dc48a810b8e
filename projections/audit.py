"""The audit view: every event, who caused it, when, and for which enterprise.

Compliance auditors filter it by aggregate, actor, enterprise and time; the
``data`` column keeps the event's own fields (never secrets: events name their
private fields and the decoder leaves them out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx


class AuditView(Projection):
    name = "audit"
    tables: ClassVar[Mapping[str, str]] = {
        "events": (
            "CREATE TABLE {events} ("
            " position BIGINT PRIMARY KEY,"
            " occurred_at TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " enterprise_id TEXT NOT NULL,"
            " aggregate_id TEXT NOT NULL,"
            " aggregate_version INTEGER NOT NULL,"
            " event_type TEXT NOT NULL,"
            " summary TEXT NOT NULL,"
            " correlation_id TEXT NOT NULL,"
            " data TEXT NOT NULL)"
        )
    }
    indexes = (
        "CREATE INDEX {events}_aggregate ON {events} (aggregate_id, aggregate_version)",
        "CREATE INDEX {events}_actor ON {events} (actor, position)",
        "CREATE INDEX {events}_enterprise ON {events} (enterprise_id, position)",
        "CREATE INDEX {events}_time ON {events} (occurred_at)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        self.apply_many(tx, t, [event])

    def apply_many(
        self, tx: Tx, t: Mapping[str, str], events: Sequence[EventRecord]
    ) -> None:
        # Entries never depend on each other, so a batch is one statement.
        tx.executemany(
            f"INSERT INTO {t['events']} (position, occurred_at, actor, enterprise_id,"
            " aggregate_id, aggregate_version, event_type, summary, correlation_id,"
            " data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (position) DO NOTHING",
            [
                (
                    e.position,
                    iso(e.timestamp),
                    e.actor,
                    e.enterprise_id,
                    e.originator_id,
                    e.originator_version,
                    e.type,
                    e.summary,
                    e.correlation_id,
                    e.data_json(),
                )
                for e in events
            ],
        )


@dataclass(frozen=True)
class AuditFilter:
    aggregate_id: str | None = None
    actor: str | None = None
    enterprise_id: str | None = None
    since: str | None = None
    until: str | None = None
    after_position: int = 0


def query_audit(
    engine: Engine, tx: Tx, where: AuditFilter, limit: int
) -> list[dict[str, Any]]:
    """Audit entries in position order, ``limit`` at most, after a position."""
    t = engine.active_tables(tx, AuditView.name)
    clauses = ["position > %s"]
    params: list[Any] = [where.after_position]
    for column, value in (
        ("aggregate_id", where.aggregate_id),
        ("actor", where.actor),
        ("enterprise_id", where.enterprise_id),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if where.since is not None:
        clauses.append("occurred_at >= %s")
        params.append(where.since)
    if where.until is not None:
        clauses.append("occurred_at < %s")
        params.append(where.until)
    params.append(limit)
    rows = tx.all(
        f"SELECT * FROM {t['events']} WHERE {' AND '.join(clauses)}"
        " ORDER BY position LIMIT %s",
        params,
    )
    for row in rows:
        row["data"] = orjson.loads(row["data"])
    return rows

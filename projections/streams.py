"""The streams view: one row per aggregate, with its type, owner, how many
events it has and when it last changed.

It is also the platform's continuity check. Events of one aggregate must reach
a view in version order, each exactly once; an event arriving out of that order
is counted in ``anomalies`` instead of being hidden, so an operator (and the
crash tests) can see a transport that lost, repeated or reordered events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx


class StreamsView(Projection):
    name = "streams"
    tables: ClassVar[Mapping[str, str]] = {
        "streams": (
            "CREATE TABLE {streams} ("
            " aggregate_id TEXT PRIMARY KEY,"
            " aggregate_type TEXT NOT NULL,"
            " enterprise_id TEXT NOT NULL,"
            " events INTEGER NOT NULL,"
            " last_version INTEGER NOT NULL,"
            " last_position BIGINT NOT NULL,"
            " anomalies INTEGER NOT NULL,"
            " first_anomaly TEXT,"
            " updated_at TEXT NOT NULL)"
        )
    }
    indexes = (
        "CREATE INDEX {streams}_owner ON {streams} (enterprise_id, aggregate_type)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        table = t["streams"]
        row = tx.one(
            f"SELECT last_version FROM {table} WHERE aggregate_id = %s",
            (event.originator_id,),
        )
        expected = 1 if row is None else int(row["last_version"]) + 1
        anomaly = 0 if event.originator_version == expected else 1
        note = (
            f"position {event.position}: version {event.originator_version},"
            f" expected {expected}"
            if anomaly
            else None
        )
        tx.execute(
            f"INSERT INTO {table} (aggregate_id, aggregate_type, enterprise_id,"
            " events, last_version, last_position, anomalies, first_anomaly,"
            " updated_at) VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s)"
            " ON CONFLICT (aggregate_id) DO UPDATE SET"
            f" events = {table}.events + 1,"
            " last_version = excluded.last_version,"
            " last_position = excluded.last_position,"
            f" anomalies = {table}.anomalies + excluded.anomalies,"
            f" first_anomaly = COALESCE({table}.first_anomaly,"
            " excluded.first_anomaly),"
            " updated_at = excluded.updated_at",
            (
                event.originator_id,
                event.type.partition(".")[0],
                event.enterprise_id,
                event.originator_version,
                event.position,
                anomaly,
                note,
                iso(event.timestamp),
            ),
        )


def all_streams(engine: Engine, tx: Tx) -> list[dict[str, Any]]:
    t = engine.active_tables(tx, StreamsView.name)
    return tx.all(f"SELECT * FROM {t['streams']} ORDER BY aggregate_id")

"""The SMS gateway of the embedded default: messages go to an outbox table
that operators (and the tests) read, instead of to phones."""

from __future__ import annotations

from typing import Any

from projections.engine import now_text
from projections.store import ViewDatabase

# Each database numbers the rows itself: SQLite's rowid, PostgreSQL's sequence.
_ID = {"sqlite": "INTEGER PRIMARY KEY", "postgres": "BIGSERIAL PRIMARY KEY"}


class OutboxGateway:
    def __init__(self, db: ViewDatabase) -> None:
        self.db = db
        with db.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS sms_outbox ("
                f" id {_ID[tx.dialect]}, mobile TEXT NOT NULL, text TEXT NOT NULL,"
                " sent_at TEXT NOT NULL)"
            )

    def send(self, mobile: str, text: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO sms_outbox (mobile, text, sent_at) VALUES (%s, %s, %s)",
                (mobile, text, now_text()),
            )

    def messages(self, mobile: str | None, limit: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]]
        with self.db.transaction(write=False) as tx:
            if mobile is None:
                rows = tx.all(
                    "SELECT * FROM sms_outbox ORDER BY id DESC LIMIT %s", (limit,)
                )
            else:
                rows = tx.all(
                    "SELECT * FROM sms_outbox WHERE mobile = %s"
                    " ORDER BY id DESC LIMIT %s",
                    (mobile, limit),
                )
        return rows

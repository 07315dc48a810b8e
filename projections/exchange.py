"""The exchange views: each enterprise's outbox (one row per package, or one
per recipient) and inbox (one row per delivery addressed to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx


class ExchangeView(Projection):
    name = "exchange"
    tables: ClassVar[Mapping[str, str]] = {
        "packages": (
            "CREATE TABLE {packages} ("
            " package_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " recipients INTEGER NOT NULL,"
            " files INTEGER NOT NULL,"
            " summary TEXT NOT NULL,"
            " submitter TEXT NOT NULL,"
            " composed_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
        "deliveries": (
            "CREATE TABLE {deliveries} ("
            " delivery_id TEXT PRIMARY KEY,"
            " package_id TEXT NOT NULL,"
            " sender_id TEXT NOT NULL,"
            " recipient_id TEXT,"
            " recipient_name TEXT NOT NULL,"
            " recipient_mobile TEXT,"
            " summary TEXT NOT NULL,"
            " files INTEGER NOT NULL,"
            " message TEXT,"
            " status TEXT NOT NULL,"
            " reason TEXT,"
            " delivered_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
    }
    indexes = (
        "CREATE INDEX {packages}_outbox ON {packages} (enterprise_id, composed_at)",
        "CREATE INDEX {deliveries}_inbox ON {deliveries} (recipient_id, delivered_at)",
        "CREATE INDEX {deliveries}_package ON {deliveries} (package_id)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        kind, data, when = event.type, event.data, iso(event.timestamp)
        packages, deliveries = t["packages"], t["deliveries"]
        if kind == "Package.Composed":
            files = sum(len(i["document_ids"]) for i in data["items"])
            tx.execute(
                f"INSERT INTO {packages} (package_id, enterprise_id, status,"
                " recipients, files, summary, submitter, composed_at, updated_at)"
                " VALUES (%s, %s, 'to_seal', %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.enterprise_id,
                    len(data["recipients"]),
                    files,
                    f"{len(data['items'])} records, {files} files",
                    event.actor,
                    when,
                    when,
                ),
            )
        elif kind in ("Package.Ready", "Package.Sent", "Package.Withdrawn"):
            status = {
                "Package.Ready": "ready_to_send",
                "Package.Sent": "sent",
                "Package.Withdrawn": "withdrawn",
            }[kind]
            tx.execute(
                f"UPDATE {packages} SET status = %s, updated_at = %s"
                " WHERE package_id = %s",
                (status, when, event.originator_id),
            )
        elif kind == "Delivery.Delivered":
            recipient = data["recipient"]
            records = data["records"]
            files = sum(len(r["documents"]) for r in records)
            tx.execute(
                f"INSERT INTO {deliveries} (delivery_id, package_id, sender_id,"
                " recipient_id, recipient_name, recipient_mobile, summary, files,"
                " message, status, reason, delivered_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'waiting', NULL, %s, %s)",
                (
                    event.originator_id,
                    data["package_id"],
                    event.enterprise_id,
                    recipient["enterprise_id"],
                    recipient["name"],
                    recipient["mobile"],
                    "、".join(_title(r) for r in records)[:200],
                    files,
                    recipient["message"],
                    when,
                    when,
                ),
            )
        elif kind in ("Delivery.Accepted", "Delivery.Rejected", "Delivery.Withdrawn"):
            status = kind.removeprefix("Delivery.").lower()
            tx.execute(
                f"UPDATE {deliveries} SET status = %s, reason = %s, updated_at = %s"
                " WHERE delivery_id = %s",
                (status, data.get("reason"), when, event.originator_id),
            )


def _title(record: Mapping[str, Any]) -> str:
    base = record["base"]
    return str(
        base.get("name") or base.get("product_name") or base.get("person_name") or ""
    )


def query_outbox(
    engine: Engine, tx: Tx, *, enterprise_id: str, per_recipient: bool, limit: int
) -> list[dict[str, Any]]:
    """The enterprise's packages newest first, or one row per recipient."""
    t = engine.active_tables(tx, ExchangeView.name)
    if per_recipient:
        return tx.all(
            f"SELECT d.* FROM {t['deliveries']} d WHERE d.sender_id = %s"
            " ORDER BY d.delivered_at DESC, d.delivery_id LIMIT %s",
            (enterprise_id, limit),
        )
    return tx.all(
        f"SELECT * FROM {t['packages']} WHERE enterprise_id = %s"
        " ORDER BY composed_at DESC, package_id LIMIT %s",
        (enterprise_id, limit),
    )


def query_inbox(
    engine: Engine, tx: Tx, *, enterprise_id: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """Deliveries addressed to the enterprise, newest first."""
    t = engine.active_tables(tx, ExchangeView.name)
    clauses, params = ["recipient_id = %s"], [enterprise_id]
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    return tx.all(
        f"SELECT * FROM {t['deliveries']} WHERE {' AND '.join(clauses)}"
        " ORDER BY delivered_at DESC, delivery_id LIMIT %s",
        [*params, limit],
    )

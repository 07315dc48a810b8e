"""The exchange views: each enterprise's outbox (one row per package, or one
per recipient) and inbox (one row per delivery addressed to it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import LIKE_ESCAPE, Tx, contains


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
            " category TEXT NOT NULL,"
            " seal_task_id TEXT,"
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
            " category TEXT NOT NULL,"
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
                " recipients, files, summary, submitter, category, composed_at,"
                " updated_at) VALUES (%s, %s, 'draft', %s, %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.enterprise_id,
                    len(data["recipients"]),
                    files,
                    f"{len(data['items'])} records, {files} files",
                    event.actor,
                    _category(i["kind"] for i in data["items"]),
                    when,
                    when,
                ),
            )
        elif kind in _PACKAGE_STATUS or kind == "Package.Submitted":
            if kind == "Package.Submitted":
                status = "under_review" if data["flow_id"] else "to_seal"
            elif kind == "Package.ReviewFinished":
                status = "to_seal" if data["passed"] else "review_failed"
            else:
                status = _PACKAGE_STATUS[kind]
            tx.execute(
                f"UPDATE {packages} SET status = %s, updated_at = %s"
                " WHERE package_id = %s",
                (status, when, event.originator_id),
            )
            if kind == "Package.Revised":
                files = sum(len(i["document_ids"]) for i in data["items"])
                tx.execute(
                    f"UPDATE {packages} SET recipients = %s, files = %s, summary = %s,"
                    " seal_task_id = NULL WHERE package_id = %s",
                    (
                        len(data["recipients"]),
                        files,
                        f"{len(data['items'])} records, {files} files",
                        event.originator_id,
                    ),
                )
            if kind == "Package.SealStarted":
                tx.execute(
                    f"UPDATE {packages} SET seal_task_id = %s WHERE package_id = %s",
                    (data["task_id"], event.originator_id),
                )
        elif kind in ("SealTask.FileFailed", "SealTask.Resumed"):
            status = "seal_failed" if kind == "SealTask.FileFailed" else "sealing"
            tx.execute(
                f"UPDATE {packages} SET status = %s, updated_at = %s"
                " WHERE seal_task_id = %s AND status IN ('sealing', 'seal_failed')",
                (status, when, event.originator_id),
            )
        elif kind == "Delivery.Delivered":
            recipient = data["recipient"]
            records = data["records"]
            files = sum(len(r["documents"]) for r in records)
            tx.execute(
                f"INSERT INTO {deliveries} (delivery_id, package_id, sender_id,"
                " recipient_id, recipient_name, recipient_mobile, summary, files,"
                " category, message, status, reason, delivered_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'waiting', NULL,"
                " %s, %s)",
                (
                    event.originator_id,
                    data["package_id"],
                    event.enterprise_id,
                    recipient["enterprise_id"],
                    recipient["name"],
                    recipient["mobile"],
                    "、".join(_title(r) for r in records)[:200],
                    files,
                    _category(r["kind"] for r in records),
                    recipient["message"],
                    when,
                    when,
                ),
            )
        elif kind == "Delivery.ReviewStarted":
            tx.execute(
                f"UPDATE {deliveries} SET status = 'under_review', updated_at = %s"
                " WHERE delivery_id = %s",
                (when, event.originator_id),
            )
        elif kind in ("Delivery.Accepted", "Delivery.Rejected", "Delivery.Withdrawn"):
            status = kind.removeprefix("Delivery.").lower()
            tx.execute(
                f"UPDATE {deliveries} SET status = %s, reason = %s, updated_at = %s"
                " WHERE delivery_id = %s",
                (status, data.get("reason"), when, event.originator_id),
            )


#: Package events and the dispatch-queue status they leave it in.
_PACKAGE_STATUS = {
    "Package.ReviewFinished": "",
    "Package.SealStarted": "sealing",
    "Package.Ready": "ready_to_send",
    "Package.Sent": "sent",
    "Package.Withdrawn": "withdrawn",
    "Package.Discarded": "deleted",
    "Package.Revised": "draft",
}
#: What the dispatch queue (签章发送) lists; sent and deleted packages leave it.
QUEUED = (
    "under_review",
    "review_failed",
    "to_seal",
    "sealing",
    "seal_failed",
    "ready_to_send",
)


def _category(kinds: Iterable[str]) -> str:
    """Inspection reports have lists of their own (manual 8)."""
    found = set(kinds)
    return "inspection_report" if found == {"inspection_report"} else "qualification"


def _title(record: Mapping[str, Any]) -> str:
    base = record["base"]
    return str(
        base.get("name") or base.get("product_name") or base.get("person_name") or ""
    )


@dataclass(frozen=True)
class Filters:
    """What the outbox and inbox filter by (manual 6.3, 6.4)."""

    status: str | None = None
    category: str | None = None
    #: Text in the recipient's name or the summary of what was sent.
    text: str | None = None
    since: str | None = None
    until: str | None = None
    submitter: str | None = None
    #: Accounts of the submitter's department (resolved by the caller).
    submitters: tuple[str, ...] | None = None

    def clauses(self, time_column: str) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("status", self.status),
            ("category", self.category),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if self.since is not None:
            clauses.append(f"{time_column} >= %s")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{time_column} < %s")
            params.append(self.until)
        return clauses, params


def query_outbox(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    per_recipient: bool,
    limit: int,
    filters: Filters = Filters(),
) -> list[dict[str, Any]]:
    """The enterprise's sent packages newest first, or one row per
    recipient (with each recipient's state: waiting, accepted, rejected)."""
    t = engine.active_tables(tx, ExchangeView.name)
    if per_recipient:
        clauses, params = filters.clauses("delivered_at")
        clauses.insert(0, "sender_id = %s")
        params.insert(0, enterprise_id)
        if filters.text:
            clauses.append(
                f"(recipient_name LIKE %s ESCAPE '{LIKE_ESCAPE}'"
                f" OR summary LIKE %s ESCAPE '{LIKE_ESCAPE}')"
            )
            params += [contains(filters.text)] * 2
        return tx.all(
            f"SELECT * FROM {t['deliveries']} WHERE {' AND '.join(clauses)}"
            " ORDER BY delivered_at DESC, delivery_id LIMIT %s",
            [*params, limit],
        )
    clauses, params = filters.clauses("composed_at")
    clauses[:0] = ["enterprise_id = %s", "status IN ('sent', 'withdrawn')"]
    params.insert(0, enterprise_id)
    if filters.submitter:
        clauses.append("submitter = %s")
        params.append(filters.submitter)
    if filters.submitters is not None:
        if not filters.submitters:
            return []
        clauses.append(f"submitter IN ({', '.join(['%s'] * len(filters.submitters))})")
        params += list(filters.submitters)
    if filters.text:
        clauses.append(f"summary LIKE %s ESCAPE '{LIKE_ESCAPE}'")
        params.append(contains(filters.text))
    return tx.all(
        f"SELECT * FROM {t['packages']} WHERE {' AND '.join(clauses)}"
        " ORDER BY composed_at DESC, package_id LIMIT %s",
        [*params, limit],
    )


def query_queue(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    status: str | None,
    submitter: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The dispatch queue (签章发送): packages on their way, oldest first."""
    t = engine.active_tables(tx, ExchangeView.name)
    clauses = ["enterprise_id = %s", f"status IN ({', '.join(['%s'] * len(QUEUED))})"]
    params: list[Any] = [enterprise_id, *QUEUED]
    for column, value in (("status", status), ("submitter", submitter)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    return tx.all(
        f"SELECT * FROM {t['packages']} WHERE {' AND '.join(clauses)}"
        " ORDER BY composed_at, package_id LIMIT %s",
        [*params, limit],
    )


def query_inbox(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    status: str | None,
    limit: int,
    mobile: str | None = None,
    filters: Filters | None = None,
) -> list[dict[str, Any]]:
    """Deliveries addressed to the enterprise, newest first; with ``mobile``,
    also those sent to that number before the enterprise was on the platform
    (manual 6.1: it sees them once registered)."""
    t = engine.active_tables(tx, ExchangeView.name)
    found, params = (filters or Filters(status=status)).clauses("delivered_at")
    clauses = [
        "(recipient_id = %s OR (recipient_id IS NULL AND recipient_mobile = %s))",
        *found,
    ]
    params[:0] = [enterprise_id, mobile or "-"]
    if filters is not None and filters.text:
        clauses.append(f"summary LIKE %s ESCAPE '{LIKE_ESCAPE}'")
        params.append(contains(filters.text))
    return tx.all(
        f"SELECT * FROM {t['deliveries']} WHERE {' AND '.join(clauses)}"
        " ORDER BY delivered_at DESC, delivery_id LIMIT %s",
        [*params, limit],
    )

"""The reviews view (manual 6.2 and 6.4, 审核 and "由我审核"): one row per
review with where it stands, and one row per level with its reviewer, lock,
verdicts and opinion.

A review's row says who may act now (the current level's role, named account
and lock holder), so "assigned to me" is one indexed query: the reviews whose
current level names the caller, or whose level is for the caller's role and
not locked by someone else. Levels are rows of their own so that each event
is one upsert, never a read-modify-write of a JSON column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx

#: What a review's subject is called in the answer, per subject kind.
_SUBJECT = {"package": "package_id", "delivery": "delivery_id"}


class ReviewsView(Projection):
    name = "reviews"
    tables: ClassVar[Mapping[str, str]] = {
        "reviews": (
            "CREATE TABLE {reviews} ("
            " review_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " subject_kind TEXT NOT NULL,"
            " subject_id TEXT NOT NULL,"
            " flow_id TEXT NOT NULL,"
            " flow_name TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " levels INTEGER NOT NULL,"
            " current_level INTEGER NOT NULL,"
            " current_role_id TEXT NOT NULL,"
            " current_account_id TEXT,"
            " holder TEXT,"
            " files TEXT NOT NULL,"
            " started_by TEXT NOT NULL,"
            " started_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
        "levels": (
            "CREATE TABLE {levels} ("
            " review_id TEXT NOT NULL,"
            " level INTEGER NOT NULL,"
            " role_id TEXT NOT NULL,"
            " account_id TEXT,"
            " holder TEXT,"
            " verdicts TEXT NOT NULL,"
            " opinion TEXT NOT NULL,"
            " submitted_by TEXT,"
            " submitted_at TEXT,"
            " updated_at TEXT,"
            " PRIMARY KEY (review_id, level))"
        ),
    }
    indexes = (
        "CREATE INDEX {reviews}_mine ON {reviews}"
        " (enterprise_id, status, current_role_id)",
        "CREATE INDEX {reviews}_listed ON {reviews} (enterprise_id, started_at)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        kind, data, when = event.type, event.data, iso(event.timestamp)
        reviews, levels = t["reviews"], t["levels"]
        rid = event.originator_id
        if kind == "Review.Started":
            first = data["levels"][0]
            tx.execute(
                f"INSERT INTO {reviews} (review_id, enterprise_id, subject_kind,"
                " subject_id, flow_id, flow_name, status, levels, current_level,"
                " current_role_id, current_account_id, holder, files, started_by,"
                " started_at, updated_at) VALUES"
                " (%s, %s, %s, %s, %s, %s, 'in_review', %s, 1, %s, %s, NULL, %s,"
                " %s, %s, %s)",
                (
                    rid,
                    event.enterprise_id,
                    data["subject_kind"],
                    data["subject_id"],
                    data["flow_id"],
                    data["flow_name"],
                    len(data["levels"]),
                    first["role_id"],
                    first["account_id"],
                    orjson.dumps(data["files"]).decode(),
                    event.actor,
                    when,
                    when,
                ),
            )
            tx.executemany(
                f"INSERT INTO {levels} (review_id, level, role_id, account_id,"
                " holder, verdicts, opinion) VALUES (%s, %s, %s, %s, NULL, %s, '')",
                [
                    (rid, lv["number"], lv["role_id"], lv["account_id"], "{}")
                    for lv in data["levels"]
                ],
            )
        elif kind == "Review.Opened":
            tx.execute(
                f"UPDATE {levels} SET holder = %s, updated_at = %s"
                " WHERE review_id = %s AND level = %s",
                (data["account_id"], when, rid, data["level"]),
            )
            self._touch(tx, reviews, rid, when, "holder = %s", data["account_id"])
        elif kind in ("Review.Saved", "Review.Submitted"):
            submitted = kind == "Review.Submitted"
            tx.execute(
                f"UPDATE {levels} SET verdicts = %s, opinion = %s, updated_at = %s,"
                " submitted_by = %s, submitted_at = %s"
                " WHERE review_id = %s AND level = %s",
                (
                    orjson.dumps(data["verdicts"]).decode(),
                    data["opinion"],
                    when,
                    data["account_id"] if submitted else None,
                    when if submitted else None,
                    rid,
                    data["level"],
                ),
            )
            if submitted:
                self._next_level(tx, t, rid, data["level"] + 1, when)
        elif kind == "Review.Finished":
            status = "passed" if data["passed"] else "failed"
            self._touch(tx, reviews, rid, when, "status = %s", status)

    @staticmethod
    def _touch(
        tx: Tx, reviews: str, rid: str, when: str, change: str, value: Any
    ) -> None:
        tx.execute(
            f"UPDATE {reviews} SET {change}, updated_at = %s WHERE review_id = %s",
            (value, when, rid),
        )

    @staticmethod
    def _next_level(
        tx: Tx, t: Mapping[str, str], rid: str, number: int, when: str
    ) -> None:
        """Moves the review's turn to level ``number``, if there is one."""
        level = tx.one(
            f"SELECT role_id, account_id FROM {t['levels']}"
            " WHERE review_id = %s AND level = %s",
            (rid, number),
        )
        if level is None:
            return
        tx.execute(
            f"UPDATE {t['reviews']} SET current_level = %s, current_role_id = %s,"
            " current_account_id = %s, holder = NULL, updated_at = %s"
            " WHERE review_id = %s",
            (number, level["role_id"], level["account_id"], when, rid),
        )


def may_act(row: Mapping[str, Any], account_id: str, role_id: str | None) -> bool:
    """Whether the account may act on the review now: its current level names
    the account, or is for the account's role and not locked by another."""
    if row["status"] != "in_review":
        return False
    if row["current_account_id"] is not None:
        return bool(row["current_account_id"] == account_id)
    return row["current_role_id"] == role_id and row["holder"] in (None, account_id)


def query_reviews(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    account_id: str,
    role_id: str | None,
    assigned_to_me: bool,
    status: str | None,
    subject_kind: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The enterprise's reviews, newest first, each saying whether the caller
    may act on it now; ``assigned_to_me`` keeps only those."""
    t = engine.active_tables(tx, ReviewsView.name)
    clauses, params = ["enterprise_id = %s"], [enterprise_id]
    if assigned_to_me:
        clauses.append(
            "status = 'in_review' AND (current_account_id = %s OR"
            " (current_account_id IS NULL AND current_role_id = %s"
            " AND (holder IS NULL OR holder = %s)))"
        )
        params += [account_id, role_id or "", account_id]
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    if subject_kind is not None:
        clauses.append("subject_kind = %s")
        params.append(subject_kind)
    rows = tx.all(
        f"SELECT * FROM {t['reviews']} WHERE {' AND '.join(clauses)}"
        " ORDER BY started_at DESC, review_id LIMIT %s",
        [*params, limit],
    )
    return [_summary(row, account_id, role_id) for row in rows]


def query_review(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    review_id: str,
    account_id: str,
    role_id: str | None,
) -> dict[str, Any] | None:
    """One review of the enterprise with its files and every level's
    reviewer, verdicts and opinion; None when there is no such review."""
    t = engine.active_tables(tx, ReviewsView.name)
    row = tx.one(
        f"SELECT * FROM {t['reviews']} WHERE review_id = %s AND enterprise_id = %s",
        (review_id, enterprise_id),
    )
    if row is None:
        return None
    levels = tx.all(
        f"SELECT * FROM {t['levels']} WHERE review_id = %s ORDER BY level",
        (review_id,),
    )
    found = _summary(row, account_id, role_id)
    found["files"] = orjson.loads(row["files"])
    found["levels"] = [
        {
            "level": lv["level"],
            "role_id": lv["role_id"],
            "account_id": lv["account_id"],
            "any_member": lv["account_id"] is None,
            "final": lv["level"] == row["levels"],
            "holder": lv["holder"],
            "verdicts": orjson.loads(lv["verdicts"]),
            "opinion": lv["opinion"],
            "submitted": lv["submitted_by"] is not None,
            "submitted_by": lv["submitted_by"],
            "submitted_at": lv["submitted_at"],
        }
        for lv in levels
    ]
    return found


def _summary(
    row: Mapping[str, Any], account_id: str, role_id: str | None
) -> dict[str, Any]:
    return {
        "review_id": row["review_id"],
        "subject_kind": row["subject_kind"],
        _SUBJECT[row["subject_kind"]]: row["subject_id"],
        "flow_id": row["flow_id"],
        "flow_name": row["flow_name"],
        "status": row["status"],
        "levels_count": row["levels"],
        "current_level": row["current_level"],
        "current_role_id": row["current_role_id"],
        "current_account_id": row["current_account_id"],
        "holder": row["holder"],
        "files_count": len(orjson.loads(row["files"])),
        "assigned_to_me": may_act(row, account_id, role_id),
        "started_by": row["started_by"],
        "started_at": row["started_at"],
        "updated_at": row["updated_at"],
    }

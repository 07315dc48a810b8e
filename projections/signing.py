"""The signing views: each enterprise's seal images (and the operators'
queue of images waiting for review), its certificates, and seal tasks with
their progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx


class SigningView(Projection):
    name = "signing"
    tables: ClassVar[Mapping[str, str]] = {
        "seals": (
            "CREATE TABLE {seals} ("
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " blob TEXT NOT NULL,"
            " width INTEGER NOT NULL,"
            " height INTEGER NOT NULL,"
            " status TEXT NOT NULL,"
            " reason TEXT,"
            " uploaded_at TEXT NOT NULL,"
            " reviewed_at TEXT,"
            " PRIMARY KEY (enterprise_id, kind))"
        ),
        "certificates": (
            "CREATE TABLE {certificates} ("
            " certificate_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " serial TEXT,"
            " not_after TEXT,"
            " mailing_address TEXT,"
            " fee_due_fen INTEGER NOT NULL,"
            " password_free INTEGER NOT NULL,"
            " replaces TEXT,"
            " applied_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
        "tasks": (
            "CREATE TABLE {tasks} ("
            " task_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " certificate_id TEXT NOT NULL,"
            " seal_kind TEXT,"
            " files TEXT NOT NULL,"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        ),
    }
    indexes = ("CREATE INDEX {seals}_status ON {seals} (status, uploaded_at)",)

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        kind, data, when = event.type, event.data, iso(event.timestamp)
        if kind == "SealImages.Uploaded":
            tx.execute(
                f"INSERT INTO {t['seals']} (enterprise_id, kind, blob, width, height,"
                " status, reason, uploaded_at, reviewed_at)"
                " VALUES (%s, %s, %s, %s, %s, 'pending', NULL, %s, NULL)"
                " ON CONFLICT (enterprise_id, kind) DO UPDATE SET blob = excluded.blob,"
                " width = excluded.width, height = excluded.height,"
                " status = 'pending', reason = NULL,"
                " uploaded_at = excluded.uploaded_at, reviewed_at = NULL",
                (
                    event.enterprise_id,
                    data["kind"],
                    data["blob"],
                    data["width"],
                    data["height"],
                    when,
                ),
            )
        elif kind == "SealImages.Reviewed":
            tx.execute(
                f"UPDATE {t['seals']} SET status = %s, reason = %s, reviewed_at = %s"
                " WHERE enterprise_id = %s AND kind = %s AND blob = %s",
                (
                    "approved" if data["approved"] else "rejected",
                    data["reason"],
                    when,
                    event.enterprise_id,
                    data["kind"],
                    data["blob"],
                ),
            )
        elif kind == "Certificates.Applied":
            tx.execute(
                f"INSERT INTO {t['certificates']} (certificate_id, enterprise_id, kind,"
                " status, serial, not_after, mailing_address, fee_due_fen,"
                " password_free, replaces, applied_at, updated_at)"
                " VALUES (%s, %s, %s, 'applied', NULL, NULL, %s, %s, 0, %s, %s, %s)",
                (
                    data["certificate_id"],
                    event.enterprise_id,
                    data["kind"],
                    data["mailing_address"],
                    data["fee_due_fen"],
                    data["replaces"],
                    when,
                    when,
                ),
            )
        elif kind.startswith("Certificates."):
            changes = {
                "Certificates.Issued": ("status", "serial", "not_after"),
                "Certificates.Renewed": ("serial", "not_after"),
                "Certificates.StatusChanged": ("status",),
                "Certificates.AddressChanged": ("mailing_address",),
                "Certificates.PasswordFreeChanged": ("enabled",),
            }.get(kind)
            if not changes:
                return
            columns = ["password_free" if c == "enabled" else c for c in changes]
            values = [int(data[c]) if c == "enabled" else data[c] for c in changes]
            tx.execute(
                f"UPDATE {t['certificates']} SET "
                + ", ".join(f"{c} = %s" for c in columns)
                + ", updated_at = %s WHERE certificate_id = %s",
                (*values, when, data["certificate_id"]),
            )
        elif kind == "SealTask.Created":
            files = {
                f["document_id"]: {
                    **f,
                    "status": "pending",
                    "code": None,
                    "message": None,
                }
                for f in data["files"]
            }
            tx.execute(
                f"INSERT INTO {t['tasks']} (task_id, enterprise_id, certificate_id,"
                " seal_kind, files, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.enterprise_id,
                    data["certificate_id"],
                    data["seal_kind"],
                    orjson.dumps(files).decode(),
                    when,
                    when,
                ),
            )
        elif kind.startswith("SealTask."):
            row = tx.one(
                f"SELECT files FROM {t['tasks']} WHERE task_id = %s",
                (event.originator_id,),
            )
            if row is None:
                return
            files = orjson.loads(row["files"])
            if kind == "SealTask.FileSealed":
                files[data["document_id"]].update(
                    status="sealed", code=None, message=None
                )
            elif kind == "SealTask.FileFailed":
                files[data["document_id"]].update(
                    status="failed", code=data["code"], message=data["message"]
                )
            elif kind == "SealTask.Resumed":
                for f in files.values():
                    if f["status"] == "failed":
                        f.update(status="pending", code=None, message=None)
            tx.execute(
                f"UPDATE {t['tasks']} SET files = %s, updated_at = %s"
                " WHERE task_id = %s",
                (orjson.dumps(files).decode(), when, event.originator_id),
            )


def query_seals(
    engine: Engine, tx: Tx, *, enterprise_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    t = engine.active_tables(tx, SigningView.name)
    clauses, params = ["1 = 1"], []
    if enterprise_id is not None:
        clauses.append("enterprise_id = %s")
        params.append(enterprise_id)
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    return tx.all(
        f"SELECT * FROM {t['seals']} WHERE {' AND '.join(clauses)}"
        " ORDER BY uploaded_at, enterprise_id, kind LIMIT %s",
        [*params, limit],
    )


def query_certificates(
    engine: Engine, tx: Tx, enterprise_id: str
) -> list[dict[str, Any]]:
    t = engine.active_tables(tx, SigningView.name)
    rows = tx.all(
        f"SELECT * FROM {t['certificates']} WHERE enterprise_id = %s"
        " ORDER BY applied_at",
        (enterprise_id,),
    )
    for row in rows:
        row["password_free"] = bool(row["password_free"])
    return rows


def query_task(
    engine: Engine, tx: Tx, enterprise_id: str, task_id: str
) -> dict[str, Any] | None:
    """A seal task with each file's status and the task's: sealing, seal
    failed, or sealed."""
    t = engine.active_tables(tx, SigningView.name)
    row = tx.one(
        f"SELECT * FROM {t['tasks']} WHERE task_id = %s AND enterprise_id = %s",
        (task_id, enterprise_id),
    )
    if row is None:
        return None
    files = list(orjson.loads(row["files"]).values())
    states = {f["status"] for f in files}
    status = (
        "seal_failed"
        if "failed" in states
        else "sealed"
        if states == {"sealed"}
        else "sealing"
    )
    done = sum(1 for f in files if f["status"] == "sealed")
    return {
        **{k: v for k, v in row.items() if k != "files"},
        "status": status,
        "progress": {"sealed": done, "total": len(files)},
        "files": files,
    }

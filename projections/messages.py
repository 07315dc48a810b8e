"""The message centre (manual 13, 消息中心): one row per message per receiving
enterprise, derived from the events that concern it, with what its accounts did
with each message (read, unread again, deleted).

Where messages come from:

- a delivery arrived (``Delivery.Delivered``): to the recipient, when it is on
  the platform (one named only by a mobile number is told by SMS);
- a recipient accepted or rejected it (``Delivery.Accepted``/``Rejected``): to
  the sender, with the reason of a rejection;
- the sender withdrew it (``Delivery.Withdrawn``): to the recipient;
- a package's review finished (``Package.ReviewFinished``): the final opinion
  reaches the sending enterprise (manual 6.1, 审核);
- a file failed to seal (``SealTask.FileFailed``): to the sealing enterprise.

A message's id is derived from the event it comes from and the enterprise it
is for, so a rebuilt view gives every message the id it had before, and the
mailbox events recorded against those ids (``Mailbox.MarkedRead``,
``MarkedUnread``, ``Deleted``) find their rows again. A mailbox event changes
only rows of its own enterprise and ignores ids it does not find there.

Titles name the other party, so the view keeps the enterprises' registered
names and, per delivery, who sent it to whom. A sender whose registration the
view has not seen yet (Kafka delivers partitions independently) is named by
what the delivery holds instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, uuid5

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx

SUMMARY_MAX_LENGTH = 200
MAILBOX_EVENTS = frozenset(
    {"Mailbox.MarkedRead", "Mailbox.MarkedUnread", "Mailbox.Deleted"}
)

_MESSAGES = uuid5(NAMESPACE_URL, "urn:shouying:message")


class MessageKind(enum.StrEnum):
    ARRIVAL = "arrival"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVIEW_RESULT = "review_result"
    SEAL_FAILED = "seal_failed"


def message_id(event: EventRecord, enterprise_id: str) -> str:
    """The id of the message ``event`` gives ``enterprise_id``."""
    source = f"{event.originator_id}:{event.originator_version}:{enterprise_id}"
    return str(uuid5(_MESSAGES, source))


def contents(records: Sequence[Mapping[str, Any]]) -> str:
    """What a delivery holds, by its records' names: "发件医药、阿莫西林胶囊"."""
    names = []
    for record in records:
        base = record.get("base") or {}
        name = base.get("name") or base.get("product_name") or base.get("person_name")
        if name:
            names.append(str(name))
    text = "、".join(names) or f"{len(records)}份资料"
    if len(text) > SUMMARY_MAX_LENGTH:
        text = text[: SUMMARY_MAX_LENGTH - 1] + "…"
    return text


class MessagesView(Projection):
    name = "messages"
    tables: ClassVar[Mapping[str, str]] = {
        "messages": (
            "CREATE TABLE {messages} ("
            " message_id TEXT PRIMARY KEY,"
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " title TEXT NOT NULL,"
            " body TEXT NOT NULL,"
            " subject_id TEXT NOT NULL,"
            " created_at TEXT NOT NULL,"
            " read_at TEXT,"
            " deleted INTEGER NOT NULL DEFAULT 0)"
        ),
        "deliveries": (
            "CREATE TABLE {deliveries} ("
            " delivery_id TEXT PRIMARY KEY,"
            " sender_id TEXT NOT NULL,"
            " sender_name TEXT NOT NULL,"
            " recipient_id TEXT,"
            " recipient_name TEXT NOT NULL,"
            " contents TEXT NOT NULL)"
        ),
        "enterprises": (
            "CREATE TABLE {enterprises} ("
            " enterprise_id TEXT PRIMARY KEY,"
            " name TEXT NOT NULL)"
        ),
    }
    indexes = (
        "CREATE INDEX {messages}_box ON {messages}"
        " (enterprise_id, deleted, created_at, message_id)",
    )

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        kind = event.type
        if kind == "Enterprise.Registered":
            tx.execute(
                f"INSERT INTO {t['enterprises']} (enterprise_id, name) VALUES (%s, %s)"
                " ON CONFLICT (enterprise_id) DO UPDATE SET name = excluded.name",
                (event.originator_id, event.data["name"]),
            )
        elif kind == "Delivery.Delivered":
            self._delivered(tx, t, event)
        elif kind in ("Delivery.Accepted", "Delivery.Rejected", "Delivery.Withdrawn"):
            self._delivery_changed(tx, t, event)
        elif kind == "Package.ReviewFinished":
            self._reviewed(tx, t, event)
        elif kind == "SealTask.FileFailed":
            self._seal_failed(tx, t, event)
        elif kind in MAILBOX_EVENTS:
            self._mailbox(tx, t, event)

    # Deriving messages ----------------------------------------------------

    def _delivered(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        data = event.data
        recipient = data["recipient"]
        what = contents(data["records"])
        sender = self._name_of(tx, t, event.enterprise_id) or what
        tx.execute(
            f"INSERT INTO {t['deliveries']} (delivery_id, sender_id, sender_name,"
            " recipient_id, recipient_name, contents) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (delivery_id) DO NOTHING",
            (
                event.originator_id,
                event.enterprise_id,
                sender,
                recipient["enterprise_id"],
                recipient["name"],
                what,
            ),
        )
        if recipient["enterprise_id"] is None:
            return
        body = f"{sender}向贵企业发送了首营资料：{what}，请及时查收。"
        if recipient.get("message"):
            body += f"留言：{recipient['message']}"
        self._post(
            tx,
            t,
            event,
            to=recipient["enterprise_id"],
            kind=MessageKind.ARRIVAL,
            title=f"收到首营资料：{sender}",
            body=body,
        )

    def _delivery_changed(
        self, tx: Tx, t: Mapping[str, str], event: EventRecord
    ) -> None:
        delivery = tx.one(
            f"SELECT * FROM {t['deliveries']} WHERE delivery_id = %s",
            (event.originator_id,),
        )
        if delivery is None:
            return
        recipient, what = delivery["recipient_name"], delivery["contents"]
        if event.type == "Delivery.Accepted":
            self._post(
                tx,
                t,
                event,
                to=delivery["sender_id"],
                kind=MessageKind.ACCEPTED,
                title=f"首营资料已被查收：{recipient}",
                body=f"{recipient}已查收贵企业发送的首营资料：{what}。",
            )
        elif event.type == "Delivery.Rejected":
            self._post(
                tx,
                t,
                event,
                to=delivery["sender_id"],
                kind=MessageKind.REJECTED,
                title=f"首营资料被拒收：{recipient}",
                body=(
                    f"{recipient}拒收了贵企业发送的首营资料：{what}。"
                    f"拒收原因：{event.data['reason']}"
                ),
            )
        elif delivery["recipient_id"] is not None:
            sender = delivery["sender_name"]
            self._post(
                tx,
                t,
                event,
                to=delivery["recipient_id"],
                kind=MessageKind.WITHDRAWN,
                title=f"首营资料已撤回：{sender}",
                body=f"{sender}撤回了发送给贵企业的首营资料：{what}。",
            )

    def _reviewed(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        data = event.data
        if data["passed"]:
            title = "首营资料审核通过"
            body = "贵企业提交的首营资料已审核通过，可签章发送。"
        else:
            title = "首营资料审核未通过"
            body = "贵企业提交的首营资料未通过审核，请修改后重新提交。"
        if data.get("opinion"):
            body += f"审核意见：{data['opinion']}"
        self._post(
            tx,
            t,
            event,
            to=event.enterprise_id,
            kind=MessageKind.REVIEW_RESULT,
            title=title,
            body=body,
        )

    def _seal_failed(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        code, message = event.data["code"], event.data["message"]
        self._post(
            tx,
            t,
            event,
            to=event.enterprise_id,
            kind=MessageKind.SEAL_FAILED,
            title=f"签章失败：{code}",
            body=f"签章任务中有文件未能签章（{code}）：{message}。处理后可重新签章。",
        )

    @staticmethod
    def _name_of(tx: Tx, t: Mapping[str, str], enterprise_id: str) -> str | None:
        row = tx.one(
            f"SELECT name FROM {t['enterprises']} WHERE enterprise_id = %s",
            (enterprise_id,),
        )
        return None if row is None else str(row["name"])

    @staticmethod
    def _post(
        tx: Tx,
        t: Mapping[str, str],
        event: EventRecord,
        *,
        to: str,
        kind: MessageKind,
        title: str,
        body: str,
    ) -> None:
        tx.execute(
            f"INSERT INTO {t['messages']} (message_id, enterprise_id, kind, title,"
            " body, subject_id, created_at, read_at, deleted)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, 0)"
            " ON CONFLICT (message_id) DO NOTHING",
            (
                message_id(event, to),
                to,
                kind.value,
                title,
                body,
                event.originator_id,
                iso(event.timestamp),
            ),
        )

    # The mailbox ----------------------------------------------------------

    @staticmethod
    def _mailbox(tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        ids = list(event.data["message_ids"])
        if not ids:
            return
        if event.type == "Mailbox.MarkedRead":
            change, values = "read_at = COALESCE(read_at, %s)", [iso(event.timestamp)]
        elif event.type == "Mailbox.MarkedUnread":
            change, values = "read_at = NULL", []
        else:
            change, values = "deleted = 1", []
        marks = ", ".join(["%s"] * len(ids))
        # The mailbox's enterprise bounds the rows: ids of another enterprise's
        # messages, or of none, match nothing.
        tx.execute(
            f"UPDATE {t['messages']} SET {change} WHERE enterprise_id = %s"
            f" AND deleted = 0 AND message_id IN ({marks})",
            [*values, event.enterprise_id, *ids],
        )


#: The columns a reader sees.
COLUMNS = "message_id, kind, title, body, subject_id, created_at, read_at"


def query_messages(
    engine: Engine,
    tx: Tx,
    *,
    enterprise_id: str,
    unread: bool | None = None,
    kind: str | None = None,
    before: tuple[str, str] | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """The enterprise's messages, newest first; ``before`` is the
    (created_at, message_id) of the last message of the previous page."""
    t = engine.active_tables(tx, MessagesView.name)
    clauses, params = ["enterprise_id = %s", "deleted = 0"], [enterprise_id]
    if unread is not None:
        clauses.append("read_at IS NULL" if unread else "read_at IS NOT NULL")
    if kind is not None:
        clauses.append("kind = %s")
        params.append(kind)
    if before is not None:
        clauses.append("(created_at < %s OR (created_at = %s AND message_id < %s))")
        params.extend([before[0], before[0], before[1]])
    return tx.all(
        f"SELECT {COLUMNS} FROM {t['messages']} WHERE {' AND '.join(clauses)}"
        " ORDER BY created_at DESC, message_id DESC LIMIT %s",
        [*params, limit],
    )


def count_unread(engine: Engine, tx: Tx, *, enterprise_id: str) -> int:
    t = engine.active_tables(tx, MessagesView.name)
    row = tx.one(
        f"SELECT COUNT(*) AS unread FROM {t['messages']}"
        " WHERE enterprise_id = %s AND deleted = 0 AND read_at IS NULL",
        (enterprise_id,),
    )
    return int(row["unread"]) if row else 0

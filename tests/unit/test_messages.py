"""The message centre without a server: messages derived from hand-made events
in the embedded view store, the mailbox's rules, and marks made through the
commands reaching the view."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates.base import acting
from aggregates.errors import InvalidValue
from aggregates.mailbox import MAX_IDS, Mailbox, check_message_ids, mailbox_id
from aggregates.package import Delivery, Recipient
from commands.messages import MarkAction, MessageCommands
from commands.platform import Caller, CommandRunner, Platform
from projections.engine import WHOLE_LOG, Engine, LogFollower
from projections.events import EventDecoder, EventRecord
from projections.messages import (
    MessagesView,
    count_unread,
    message_id,
    query_messages,
)
from projections.store import SqliteViews

SENDER = "11111111-1111-4111-8111-111111111111"
RECEIVER = "22222222-2222-4222-8222-222222222222"
OTHER = "33333333-3333-4333-8333-333333333333"
START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
RECORDS = [
    {"record_id": "r1", "kind": "enterprise", "base": {"name": "发件医药"}},
    {"record_id": "r2", "kind": "drug", "base": {"product_name": "阿莫西林胶囊"}},
]


class Log:
    """Events as the engine reads them, numbered in order; it serves as the
    recorder and the decoder of a rebuild too."""

    def __init__(self) -> None:
        self.events: list[EventRecord] = []

    def add(
        self,
        kind: str,
        originator: str,
        enterprise: str,
        data: dict[str, Any] | None = None,
        version: int = 1,
    ) -> EventRecord:
        position = len(self.events) + 1
        event = EventRecord(
            position=position,
            originator_id=originator,
            originator_version=version,
            topic=f"tests:{kind}",
            type=kind,
            timestamp=START + timedelta(minutes=position),
            actor="account-1",
            enterprise_id=enterprise,
            correlation_id="",
            summary=kind,
            data=data or {},
        )
        self.events.append(event)
        return event

    def select_notifications(
        self, start: int, limit: int, inclusive_of_start: bool = True, **_: Any
    ) -> list[EventRecord]:
        first = start if inclusive_of_start else start + 1
        return [e for e in self.events if e.position >= first][:limit]

    def max_notification_id(self) -> int:
        return len(self.events)

    def decode(self, notification: EventRecord) -> EventRecord:
        return notification


def new_engine(path: Path) -> Engine:
    engine = Engine(SqliteViews(path / "views.sqlite"), [MessagesView()])
    engine.setup()
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return new_engine(tmp_path)


def catch_up(engine: Engine, log: Log) -> None:
    engine.apply(MessagesView.name, WHOLE_LOG, log.events)


def messages(engine: Engine, enterprise: str, **where: Any) -> list[dict[str, Any]]:
    with engine.db.transaction(write=False) as tx:
        return query_messages(
            engine, tx, enterprise_id=enterprise, limit=where.pop("limit", 50), **where
        )


def unread(engine: Engine, enterprise: str) -> int:
    with engine.db.transaction(write=False) as tx:
        return count_unread(engine, tx, enterprise_id=enterprise)


def delivered(
    log: Log,
    recipient: str | None = RECEIVER,
    *,
    message: str | None = None,
    delivery: str | None = None,
) -> EventRecord:
    return log.add(
        "Delivery.Delivered",
        delivery or str(uuid4()),
        SENDER,
        {
            "package_id": "package-1",
            "recipient": {
                "name": "收件药房",
                "enterprise_id": recipient,
                "contact": None if recipient else "王五",
                "mobile": None if recipient else "13700001111",
                "message": message,
            },
            "records": RECORDS,
        },
    )


def mark(log: Log, enterprise: str, kind: str, ids: list[str]) -> EventRecord:
    return log.add(
        f"Mailbox.{kind}", str(mailbox_id(enterprise)), enterprise, {"message_ids": ids}
    )


# --- deriving messages -------------------------------------------------------------


def test_an_arrival_reaches_the_recipient_named_by_the_senders_name(
    engine: Engine,
) -> None:
    log = Log()
    log.add("Enterprise.Registered", SENDER, SENDER, {"name": "广州发件医药有限公司"})
    event = delivered(log, message="请尽快查收")

    catch_up(engine, log)

    [arrival] = messages(engine, RECEIVER)
    assert arrival["kind"] == "arrival"
    assert arrival["title"] == "收到首营资料：广州发件医药有限公司"
    assert "发件医药、阿莫西林胶囊" in arrival["body"]
    assert "请尽快查收" in arrival["body"]
    assert arrival["subject_id"] == event.originator_id
    assert arrival["message_id"] == message_id(event, RECEIVER)
    assert arrival["read_at"] is None
    assert messages(engine, SENDER) == []
    assert unread(engine, RECEIVER) == 1


def test_an_arrival_from_an_unnamed_sender_is_titled_by_what_it_holds(
    engine: Engine,
) -> None:
    log = Log()
    delivered(log)

    catch_up(engine, log)

    [arrival] = messages(engine, RECEIVER)
    assert arrival["title"] == "收到首营资料：发件医药、阿莫西林胶囊"


def test_a_recipient_not_on_the_platform_gets_no_message(engine: Engine) -> None:
    log = Log()
    event = delivered(log, recipient=None)
    log.add("Delivery.Withdrawn", event.originator_id, SENDER, version=2)

    catch_up(engine, log)

    with engine.db.transaction(write=False) as tx:
        table = engine.active_tables(tx, MessagesView.name)["messages"]
        assert tx.all(f"SELECT * FROM {table}") == []


def test_an_acceptance_and_a_rejection_reach_the_sender_with_the_reason(
    engine: Engine,
) -> None:
    log = Log()
    first, second = delivered(log), delivered(log, recipient=OTHER)
    log.add("Delivery.Accepted", first.originator_id, SENDER, {"into": {}}, version=2)
    log.add(
        "Delivery.Rejected",
        second.originator_id,
        SENDER,
        {"reason": "资料不全"},
        version=2,
    )

    catch_up(engine, log)

    rejected, accepted = messages(engine, SENDER)
    assert (accepted["kind"], accepted["subject_id"]) == (
        "accepted",
        first.originator_id,
    )
    assert accepted["title"] == "首营资料已被查收：收件药房"
    assert (rejected["kind"], rejected["subject_id"]) == (
        "rejected",
        second.originator_id,
    )
    assert rejected["body"].endswith("拒收原因：资料不全")
    assert [m["kind"] for m in messages(engine, OTHER)] == ["arrival"]


def test_a_withdrawal_reaches_the_recipient(engine: Engine) -> None:
    log = Log()
    log.add("Enterprise.Registered", SENDER, SENDER, {"name": "广州发件医药有限公司"})
    event = delivered(log)
    log.add("Delivery.Withdrawn", event.originator_id, SENDER, version=2)

    catch_up(engine, log)

    withdrawn, arrival = messages(engine, RECEIVER)
    assert withdrawn["kind"] == "withdrawn"
    assert withdrawn["title"] == "首营资料已撤回：广州发件医药有限公司"
    assert withdrawn["subject_id"] == arrival["subject_id"] == event.originator_id
    assert messages(engine, SENDER) == []


def test_a_finished_review_reaches_the_sending_enterprise(engine: Engine) -> None:
    log = Log()
    log.add("Package.ReviewFinished", "package-1", SENDER, {"passed": True}, 3)
    log.add(
        "Package.ReviewFinished",
        "package-2",
        SENDER,
        {"passed": False, "opinion": "缺少营业执照"},
        3,
    )

    catch_up(engine, log)

    failed, passed = messages(engine, SENDER, kind="review_result")
    assert (passed["title"], passed["subject_id"]) == ("首营资料审核通过", "package-1")
    assert failed["title"] == "首营资料审核未通过"
    assert failed["body"].endswith("审核意见：缺少营业执照")


def test_a_file_that_failed_to_seal_reaches_the_sealing_enterprise_with_its_code(
    engine: Engine,
) -> None:
    log = Log()
    log.add(
        "SealTask.FileFailed",
        "task-1",
        SENDER,
        {"document_id": "d1", "code": "CERTIFICATE_EXPIRED", "message": "证书已过期"},
        2,
    )

    catch_up(engine, log)

    [failed] = messages(engine, SENDER)
    assert failed["kind"] == "seal_failed"
    assert failed["title"] == "签章失败：CERTIFICATE_EXPIRED"
    assert "证书已过期" in failed["body"]
    assert failed["subject_id"] == "task-1"


# --- the mailbox in the view -------------------------------------------------------


def test_marks_change_only_the_mailbox_enterprises_messages(engine: Engine) -> None:
    log = Log()
    theirs = message_id(delivered(log, recipient=OTHER), OTHER)
    mine = message_id(delivered(log), RECEIVER)

    mark(log, RECEIVER, "MarkedRead", [mine, theirs])
    mark(log, RECEIVER, "Deleted", [theirs])
    catch_up(engine, log)

    assert [m["read_at"] is not None for m in messages(engine, RECEIVER)] == [True]
    assert [m["read_at"] for m in messages(engine, OTHER)] == [None]
    assert (unread(engine, RECEIVER), unread(engine, OTHER)) == (0, 1)


def test_a_message_read_again_keeps_when_it_was_first_read(engine: Engine) -> None:
    log = Log()
    mine = message_id(delivered(log), RECEIVER)
    first = mark(log, RECEIVER, "MarkedRead", [mine])
    mark(log, RECEIVER, "MarkedRead", [mine])
    catch_up(engine, log)

    [read] = messages(engine, RECEIVER)
    assert read["read_at"] == first.timestamp.isoformat(timespec="microseconds")


def test_unread_again_and_deleted_messages_leave_the_lists(engine: Engine) -> None:
    log = Log()
    first = message_id(delivered(log), RECEIVER)
    second = message_id(delivered(log), RECEIVER)
    mark(log, RECEIVER, "MarkedRead", [first, second])
    mark(log, RECEIVER, "MarkedUnread", [first])
    mark(log, RECEIVER, "Deleted", [second, str(uuid4())])
    mark(log, RECEIVER, "MarkedUnread", [second])
    catch_up(engine, log)

    assert [m["message_id"] for m in messages(engine, RECEIVER)] == [first]
    assert [m["message_id"] for m in messages(engine, RECEIVER, unread=True)] == [first]
    assert messages(engine, RECEIVER, unread=False) == []
    assert unread(engine, RECEIVER) == 1


def test_pages_follow_each_other_newest_first(engine: Engine) -> None:
    log = Log()
    ids = [message_id(delivered(log), RECEIVER) for _ in range(5)]
    catch_up(engine, log)

    seen: list[str] = []
    before = None
    while True:
        rows = messages(engine, RECEIVER, limit=2, before=before)
        seen += [r["message_id"] for r in rows]
        if len(rows) < 2:
            break
        before = (rows[-1]["created_at"], rows[-1]["message_id"])

    assert seen == list(reversed(ids))


def all_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.db.transaction(write=False) as tx:
        table = engine.active_tables(tx, MessagesView.name)["messages"]
        rows: list[dict[str, Any]] = tx.all(
            f"SELECT * FROM {table} ORDER BY message_id"
        )
    return rows


def test_rebuilding_from_the_same_events_gives_the_same_rows(engine: Engine) -> None:
    log = Log()
    log.add("Enterprise.Registered", SENDER, SENDER, {"name": "广州发件医药有限公司"})
    first, second = delivered(log), delivered(log, recipient=OTHER)
    log.add("Delivery.Rejected", first.originator_id, SENDER, {"reason": "过期"}, 2)
    log.add("Delivery.Withdrawn", second.originator_id, SENDER, version=2)
    log.add("Package.ReviewFinished", "package-1", SENDER, {"passed": True}, 3)
    mark(log, RECEIVER, "MarkedRead", [message_id(first, RECEIVER)])
    mark(log, OTHER, "Deleted", [message_id(second, OTHER)])
    catch_up(engine, log)
    before = all_rows(engine)

    generation = engine.rebuild(MessagesView.name, log, log)  # type: ignore[arg-type]

    assert generation == 2
    assert all_rows(engine) == before
    assert len(before) == 5
    assert sum(r["read_at"] is not None for r in before) == 1
    assert sum(r["deleted"] for r in before) == 1


# --- the mailbox's rules -----------------------------------------------------------


def test_a_mark_names_1_to_200_message_ids() -> None:
    ids = [str(uuid4()) for _ in range(MAX_IDS + 1)]

    with pytest.raises(InvalidValue) as too_many:
        check_message_ids(ids)
    with pytest.raises(InvalidValue):
        check_message_ids([])

    assert too_many.value.code == "TOO_MANY_MESSAGES"
    assert len(check_message_ids(ids[:MAX_IDS])) == MAX_IDS


def test_a_message_named_twice_is_marked_once_and_ids_must_be_uuids() -> None:
    one = uuid4()

    checked = check_message_ids([str(one).upper(), str(one)])
    with pytest.raises(InvalidValue) as bad:
        check_message_ids(["not-an-id"])

    assert checked == [str(one)]
    assert bad.value.field == "message_ids"


def test_a_mailbox_belongs_to_one_enterprise() -> None:
    with acting("account-1", ""):
        mailbox = Mailbox.open(RECEIVER)
        mailbox.delete([str(uuid4())])

    assert mailbox.id == mailbox_id(RECEIVER) != mailbox_id(OTHER)
    assert mailbox.enterprise_id == RECEIVER
    assert mailbox.version == 2


# --- through the commands ----------------------------------------------------------


@pytest.fixture
def platform() -> Iterator[Platform]:
    app = Platform()
    yield app
    app.close()


def caller(enterprise: str) -> Caller:
    return Caller(account_id="account-1", enterprise_id=enterprise, role="admin")


def test_marks_made_through_the_commands_open_the_mailbox_and_reach_the_view(
    platform: Platform, engine: Engine
) -> None:
    with acting("account-9", ""):
        delivery = Delivery.deliver(
            delivery=uuid4(),
            sender_id=SENDER,
            package_id=uuid4(),
            recipient=Recipient(name="收件药房", enterprise_id=RECEIVER),
            records=RECORDS,
        )
    platform.save(delivery)
    follower = LogFollower(engine, platform.recorder, EventDecoder(platform.mapper))
    follower.step()
    [arrival] = messages(engine, RECEIVER)
    commands = MessageCommands(CommandRunner(platform))

    read = commands.mark(caller(RECEIVER), [arrival["message_id"]], MarkAction.READ)
    follower.step()
    read_count = unread(engine, RECEIVER)
    commands.mark(caller(OTHER), [arrival["message_id"]], "unread")
    commands.mark(caller(RECEIVER), [arrival["message_id"]], "delete")
    follower.step()

    assert read.version == 2
    assert read.extra == {"count": 1}
    assert read_count == 0
    assert messages(engine, RECEIVER) == []
    assert isinstance(platform.repository.get(mailbox_id(OTHER)), Mailbox)
    assert platform.repository.get(mailbox_id(RECEIVER)).version == 3


# --- many marks at once ------------------------------------------------------------

ACTIONS = st.sampled_from(["MarkedRead", "MarkedUnread", "Deleted"])
MARKS = st.lists(
    st.tuples(
        st.sampled_from([RECEIVER, OTHER]),
        ACTIONS,
        st.sets(st.integers(0, 5), min_size=1),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(marks=MARKS)
def test_any_sequence_of_marks_leaves_each_enterprise_its_own_state(
    marks: list[tuple[str, str, set[int]]],
) -> None:
    log = Log()
    # Messages 0-2 are the receiver's, 3-5 the other enterprise's.
    ids = [
        message_id(delivered(log, recipient=RECEIVER if n < 3 else OTHER), owner)
        for n, owner in enumerate([RECEIVER] * 3 + [OTHER] * 3)
    ]
    owner_of = {ids[n]: RECEIVER if n < 3 else OTHER for n in range(6)}
    state = {i: "unread" for i in ids}
    for enterprise, action, chosen in marks:
        named = [ids[n] for n in sorted(chosen)]
        mark(log, enterprise, action, named)
        for i in named:
            if owner_of[i] != enterprise or state[i] == "deleted":
                continue
            state[i] = {"MarkedRead": "read", "MarkedUnread": "unread"}.get(
                action, "deleted"
            )

    with tempfile.TemporaryDirectory() as folder:
        engine = new_engine(Path(folder))
        catch_up(engine, log)
        shown = {
            m["message_id"]: "unread" if m["read_at"] is None else "read"
            for enterprise in (RECEIVER, OTHER)
            for m in messages(engine, enterprise)
        }
        engine.db.close()

    assert shown == {i: s for i, s in state.items() if s != "deleted"}


def test_message_ids_are_uuids_the_mailbox_accepts() -> None:
    log = Log()

    found = message_id(delivered(log), RECEIVER)

    assert check_message_ids([found]) == [str(UUID(found))]

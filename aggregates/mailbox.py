"""An enterprise's mailbox in the message centre (manual 13, 消息中心): what
its accounts did with the messages it received: read, unread again, deleted.

The messages themselves are not here. They are derived by the messages view
from the events that concern the enterprise (a package arrived, a recipient
accepted or rejected one, a review finished, a file failed to seal), and their
ids are the view's. The mailbox only records, per command, which of those ids
changed state; ids the view does not hold for this enterprise are ignored
there, so a mailbox can never reach another enterprise's messages.

One mailbox per enterprise, whose id is derived from the enterprise's id and
which is opened on first use. Every mark adds an event that the next mark
replays, so a mailbox grows slower to load over the years; the platform takes
no snapshots yet, and snapshotting mailboxes every few hundred events is what
would keep that cost bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue

#: Message ids one command changes at most (a page of the message list).
MAX_IDS = 200

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:mailbox")


def mailbox_id(enterprise_id: str) -> UUID:
    """The id of an enterprise's mailbox."""
    return uuid5(_NAMESPACE, enterprise_id)


def check_message_ids(message_ids: Iterable[str]) -> list[str]:
    """1 to :data:`MAX_IDS` message ids in canonical form, each once, in the
    order given."""
    found: dict[str, None] = {}
    for raw in message_ids:
        try:
            found[str(UUID(str(raw)))] = None
        except ValueError:
            raise InvalidValue(
                f"{raw!r} is not a message id; message ids are UUIDs",
                field="message_ids",
            ) from None
    if not found:
        raise InvalidValue("choose at least one message", field="message_ids")
    if len(found) > MAX_IDS:
        raise InvalidValue(
            f"at most {MAX_IDS} messages at a time, not {len(found)}",
            field="message_ids",
            code="TOO_MANY_MESSAGES",
        )
    return list(found)


class Mailbox(TracedAggregate):
    class Opened(TracedAggregate.Created):
        def summary(self) -> str:
            return "mailbox opened"

    class Marked(TracedAggregate.Event):
        """Messages whose state changed; the view ignores ids it does not hold
        for the mailbox's enterprise."""

        message_ids: list[str]

    class MarkedRead(Marked):
        def summary(self) -> str:
            return f"marked {len(self.message_ids)} messages read"

    class MarkedUnread(Marked):
        def summary(self) -> str:
            return f"marked {len(self.message_ids)} messages unread"

    class Deleted(Marked):
        def summary(self) -> str:
            return f"deleted {len(self.message_ids)} messages"

    @classmethod
    def open(cls, enterprise_id: str) -> Mailbox:
        return cls._create(
            cls.Opened, id=mailbox_id(enterprise_id), enterprise_id=enterprise_id
        )

    def mark_read(self, message_ids: Iterable[str]) -> list[str]:
        return self._mark(self.MarkedRead, message_ids)

    def mark_unread(self, message_ids: Iterable[str]) -> list[str]:
        return self._mark(self.MarkedUnread, message_ids)

    def delete(self, message_ids: Iterable[str]) -> list[str]:
        return self._mark(self.Deleted, message_ids)

    def _mark(self, event: type[Marked], message_ids: Iterable[str]) -> list[str]:
        checked = check_message_ids(message_ids)
        self.trigger_event(event, message_ids=checked)
        return checked

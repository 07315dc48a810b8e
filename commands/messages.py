"""The message centre's commands: marking an enterprise's messages read or
unread, and deleting them (manual 13)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from aggregates.mailbox import Mailbox, mailbox_id
from commands.errors import Conflict
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

logger = logging.getLogger(__name__)

#: Attempts at a mark that loses a race on the mailbox.
ATTEMPTS = 3


class MarkAction(enum.StrEnum):
    READ = "read"
    UNREAD = "unread"
    DELETE = "delete"


class MessageCommands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def mark(
        self, caller: Caller, message_ids: Sequence[str], action: MarkAction | str
    ) -> CommandResult:
        """Marks up to 200 of the caller's enterprise's messages read or unread,
        or deletes them; the mailbox is opened on first use."""
        action = MarkAction(action)

        def work() -> Outcome:
            mailbox = self._mailbox(caller)
            if action is MarkAction.READ:
                marked = mailbox.mark_read(message_ids)
            elif action is MarkAction.UNREAD:
                marked = mailbox.mark_unread(message_ids)
            else:
                marked = mailbox.delete(message_ids)
            return Outcome([mailbox], {}, mailbox, extra={"count": len(marked)})

        arguments = {"message_ids": list(message_ids), "action": action.value}
        # Every account of an enterprise shares its mailbox, so two marks at
        # once conflict on it. A mark changes no rule's outcome and repeating
        # it is harmless, so a lost race is run again on the mailbox as the
        # winner left it rather than handed back to the client.
        for _ in range(ATTEMPTS - 1):
            try:
                return self.runner.run(caller, f"mark_{action.value}", arguments, work)
            except Conflict:
                logger.debug("mailbox of %s busy; retrying", caller.enterprise_id)
        return self.runner.run(caller, f"mark_{action.value}", arguments, work)

    def _mailbox(self, caller: Caller) -> Mailbox:
        try:
            found: Any = self.runner.app.repository.get(
                mailbox_id(caller.enterprise_id)
            )
        except AggregateNotFoundError:
            return Mailbox.open(caller.enterprise_id)
        mailbox: Mailbox = found
        return mailbox

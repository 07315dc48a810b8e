"""The platform's event-sourced application and how commands run on it.

Every command handler follows the same steps: state who acts, load, call one
aggregate method, save. :class:`CommandRunner` adds what each of them needs
around those steps: idempotency keys, the ``If-Match`` version check, and the
translation of a lost race on the store into :class:`~commands.errors.Conflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError, Recording

from aggregates.base import TracedAggregate, acting
from aggregates.errors import DomainError
from commands.errors import CommandError, Conflict, IdempotencyKeyReused, NotFound


class Platform(Application[UUID]):
    """One application, one notification log: every aggregate of the platform
    is recorded in one table of events, whose notification ids are the
    positions that views track."""

    name = "Platform"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=env)
        self.saved_listeners: list[Callable[[], None]] = []

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        # Lets an in-process view follower wake at once instead of polling.
        for listener in self.saved_listeners:
            listener()

    def notification_position(self, originator_id: UUID, version: int) -> int | None:
        """The notification id under which one event was recorded."""
        recorder: Any = self.recorder
        table = recorder.events_table_name
        if type(recorder).__module__.endswith("sqlite"):
            # SQLite's recorder numbers notifications with the table's rowid
            # and keeps ids as hex text.
            statement = f"SELECT rowid AS position FROM {table} WHERE originator_id = ?"
            key: Any = originator_id.hex
        else:
            statement = (
                f"SELECT notification_id AS position FROM {table}"
                " WHERE originator_id = %s"
            )
            key = originator_id
        statement += " AND originator_version = " + ("?" if "?" in statement else "%s")
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (key, version))
            row = curs.fetchone()
        if row is None:
            return None
        return int(row["position"] if isinstance(row, dict) else row[0])


@dataclass(frozen=True)
class Caller:
    """Who sends a command, as the API authenticated them."""

    account_id: str
    enterprise_id: str
    role: str
    correlation_id: str = ""
    idempotency_key: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class CommandResult:
    """What a command answers: the ids it touched, the position it wrote (so a
    client can wait for its write to reach a view) and the main aggregate's
    version after the command."""

    ids: Mapping[str, str]
    position: int
    version: int | None = None
    replayed: bool = False
    created: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            **self.ids,
            "position": self.position,
            "version": self.version,
            **self.extra,
        }


_REPLY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:idempotent-reply")


class IdempotentReply(TracedAggregate):
    """The first answer to a command sent with an ``Idempotency-Key``, saved in
    the same transaction as the command's events, so that either both exist or
    neither does."""

    class Recorded(TracedAggregate.Created):
        fingerprint: str
        reply: dict[str, Any]

        def summary(self) -> str:
            return "idempotency key recorded"

    def __init__(self, fingerprint: str, reply: dict[str, Any]) -> None:
        self.fingerprint = fingerprint
        self.reply = reply


def reply_id(account_id: str, key: str) -> UUID:
    return uuid5(_REPLY_NAMESPACE, f"{account_id}:{key}")


def fingerprint(command: str, arguments: Mapping[str, Any]) -> str:
    payload = orjson.dumps(
        {"command": command, "arguments": arguments}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()


@dataclass
class Outcome:
    """What a handler's work produced: the aggregates to save and the ids to
    answer with."""

    aggregates: Sequence[TracedAggregate]
    ids: dict[str, str]
    main: TracedAggregate | None = None
    created: bool = False
    #: Further members of the answer (an account's new invite code).
    extra: dict[str, Any] = field(default_factory=dict)


class CommandRunner:
    def __init__(self, app: Platform) -> None:
        self.app = app

    def load(self, aggregate_id: UUID, kind: type[TracedAggregate]) -> Any:
        try:
            found: Any = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.__name__.lower()} {aggregate_id}") from None
        if not isinstance(found, kind):
            raise NotFound(f"no {kind.__name__.lower()} {aggregate_id}")
        return found

    def exists(self, aggregate_id: UUID) -> bool:
        try:
            self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    @staticmethod
    def check_version(caller: Caller, aggregate: TracedAggregate) -> None:
        expected = caller.expected_version
        if expected is not None and aggregate.version != expected:
            raise Conflict(
                f"{type(aggregate).__name__} {aggregate.id} is at version "
                f"{aggregate.version}, not {expected}; reload it and try again"
            )

    def run(
        self,
        caller: Caller,
        command: str,
        arguments: Mapping[str, Any],
        work: Callable[[], Outcome],
    ) -> CommandResult:
        """Runs ``work`` as ``caller`` and saves what it produced atomically."""
        key = caller.idempotency_key
        request_print = fingerprint(command, arguments)
        if key is not None:
            earlier = self._earlier_reply(caller.account_id, key, request_print)
            if earlier is not None:
                return earlier

        try:
            with acting(caller.account_id, caller.correlation_id):
                outcome = work()
                version = outcome.main.version if outcome.main else None
                to_save: list[TracedAggregate] = list(outcome.aggregates)
                if key is not None:
                    to_save.append(
                        IdempotentReply._create(
                            IdempotentReply.Recorded,
                            id=reply_id(caller.account_id, key),
                            enterprise_id=caller.enterprise_id,
                            fingerprint=request_print,
                            reply={
                                "ids": outcome.ids,
                                "version": version,
                                "created": outcome.created,
                                "extra": outcome.extra,
                            },
                        )
                    )
                recordings = self.app.save(*to_save)
        except (RecordConflictError, DomainError, CommandError) as e:
            # A request repeated while its first copy was still running loses
            # the race on the store, or finds the work already done (an
            # approval approved). Either way the first copy's answer is ours.
            if key is not None:
                earlier = self._earlier_reply(caller.account_id, key, request_print)
                if earlier is not None:
                    return earlier
            if isinstance(e, RecordConflictError):
                raise Conflict(
                    "another command changed the same record at the same time; "
                    "reload it and try again"
                ) from e
            raise

        position = (
            max((r.notification.id or 0) for r in recordings) if recordings else 0
        )
        return CommandResult(
            ids=outcome.ids,
            position=position,
            version=version,
            created=outcome.created,
            extra=outcome.extra,
        )

    def _earlier_reply(
        self, account_id: str, key: str, request_print: str
    ) -> CommandResult | None:
        rid = reply_id(account_id, key)
        try:
            earlier: IdempotentReply = self.app.repository.get(rid)
        except AggregateNotFoundError:
            return None
        if earlier.fingerprint != request_print:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was first used for a different request; "
                "use a new key for a new request"
            )
        position = self.app.notification_position(rid, 1) or 0
        return CommandResult(
            ids=earlier.reply["ids"],
            position=position,
            version=earlier.reply["version"],
            created=earlier.reply["created"],
            extra=earlier.reply.get("extra", {}),
            replayed=True,
        )

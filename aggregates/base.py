"""The base every aggregate of the platform stands on.

Documents are legal evidence, so each event must answer who did what, when and
for whom. Every event therefore carries, beside eventsourcing's id, version and
timestamp, the acting account, the enterprise the aggregate belongs to and the
correlation id of the request that caused it.

The acting account and correlation id are not business arguments of any method,
so the command layer states them once per command with :func:`acting`; the
aggregate reads them when it triggers an event. Aggregates themselves do no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Acting:
    """Who acts in the current command, and the request it belongs to."""

    actor: str
    correlation_id: str


_SYSTEM = Acting(actor=SYSTEM_ACTOR, correlation_id="")
_acting: ContextVar[Acting] = ContextVar("acting", default=_SYSTEM)


@contextmanager
def acting(actor: str, correlation_id: str) -> Iterator[Acting]:
    """States the acting account and correlation id for the events triggered
    inside the block."""
    token = _acting.set(Acting(actor=actor, correlation_id=correlation_id))
    try:
        yield _acting.get()
    finally:
        _acting.reset(token)


def current_acting() -> Acting:
    return _acting.get()


class TracedAggregate(Aggregate):
    """An aggregate whose events say who acted, for which enterprise, and why."""

    #: Attributes never shown by :meth:`public_state` (secrets, hashes).
    private_fields: ClassVar[frozenset[str]] = frozenset()

    class Event(Aggregate.Event):
        #: Fields kept in the store but never shown in views (password hashes).
        private_fields: ClassVar[frozenset[str]] = frozenset()

        actor: str
        enterprise_id: str
        correlation_id: str

        def summary(self) -> str:
            """One readable line for the audit view."""
            return type(self).__name__

    class Created(Event, Aggregate.Created):
        pass

    def __base_init__(  # type: ignore[override]  # adds the owning enterprise
        self,
        originator_id: Any,
        originator_version: int,
        timestamp: datetime,
        enterprise_id: str,
    ) -> None:
        super().__base_init__(originator_id, originator_version, timestamp)
        self.enterprise_id = enterprise_id

    @classmethod
    def _create(
        cls,
        event_class: type[Any],
        *,
        id: UUID | None = None,
        **kwargs: Any,
    ) -> Self:
        now = current_acting()
        kwargs.update(actor=now.actor, correlation_id=now.correlation_id)
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        now = current_acting()
        kwargs.update(
            actor=now.actor,
            correlation_id=now.correlation_id,
            enterprise_id=self.enterprise_id,
        )
        super().trigger_event(event_class, **kwargs)

    def public_state(self) -> dict[str, Any]:
        """The aggregate's state as an auditor may see it."""
        state: dict[str, Any] = {
            "id": str(self.id),
            "type": type(self).__name__,
            "version": self.version,
            "created_on": self.created_on,
            "modified_on": self.modified_on,
        }
        for name, value in vars(self).items():
            if not name.startswith("_") and name not in self.private_fields:
                state[name] = value
        return state

"""Replaying an aggregate's history for auditors: its state as it was after a
given version, or at a given time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.base import TracedAggregate
from commands.errors import NotFound
from commands.platform import Platform


class History:
    def __init__(self, app: Platform) -> None:
        self.app = app

    def owner_of(self, aggregate_id: UUID) -> str:
        """The enterprise an aggregate belongs to (for permission checks)."""
        first = list(self.app.events.get(aggregate_id, lte=1))
        if not first:
            raise NotFound(f"no record {aggregate_id}")
        return str(first[0].enterprise_id)  # type: ignore[attr-defined]

    def state(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        if at is not None:
            version = self._version_at(aggregate_id, at)
        try:
            aggregate: Any = self.app.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no record {aggregate_id} at that version") from None
        if not isinstance(aggregate, TracedAggregate):
            raise NotFound(f"no record {aggregate_id}")
        return aggregate.public_state()

    def _version_at(self, aggregate_id: UUID, at: datetime) -> int:
        version = 0
        for event in self.app.events.get(aggregate_id):
            if event.timestamp > at:  # type: ignore[attr-defined]
                break
            version = event.originator_version
        if version == 0:
            raise NotFound(f"record {aggregate_id} did not exist at {at.isoformat()}")
        return version

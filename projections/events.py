"""Events as projections see them: a flat, JSON-ready record.

Projections never reach into aggregates. They receive each stored event decoded
by the application's mapper (which also upcasts old versions) and flattened into
an :class:`EventRecord`, whatever transport brought it: the notification log
read in-process, or a Kafka message published by the relay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification

_BASE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "actor",
        "enterprise_id",
        "correlation_id",
    }
)


@dataclass(slots=True)
class EventRecord:
    """One event, flat. Treated as immutable; not frozen only because frozen
    dataclasses are several times slower to build, and rebuilds build one per
    stored event."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    type: str
    timestamp: datetime
    actor: str
    enterprise_id: str
    correlation_id: str
    summary: str
    data: dict[str, Any]

    def data_json(self) -> str:
        return orjson.dumps(self.data, default=str).decode()


def event_type(topic: str) -> str:
    """``aggregates.enterprise:Enterprise.Registered`` -> ``Enterprise.Registered``."""
    return topic.rpartition(":")[2]


class EventDecoder:
    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        # Per topic: its short type name and the fields a view never sees.
        self._hidden: dict[str, tuple[str, frozenset[str]]] = {}

    def decode(self, notification: Notification) -> EventRecord:
        event: Any = self.mapper.to_domain_event(notification)
        topic = notification.topic
        try:
            kind, hidden = self._hidden[topic]
        except KeyError:
            private: frozenset[str] = getattr(
                type(event), "private_fields", frozenset()
            )
            kind, hidden = event_type(topic), _BASE_FIELDS | private
            self._hidden[topic] = (kind, hidden)
        state: dict[str, Any] = event.__dict__
        summary: Callable[[], str] | None = getattr(event, "summary", None)
        return EventRecord(
            position=int(notification.id),
            originator_id=str(notification.originator_id),
            originator_version=notification.originator_version,
            topic=topic,
            type=kind,
            timestamp=state["timestamp"],
            actor=str(state.get("actor", "")),
            enterprise_id=str(state.get("enterprise_id", "")),
            correlation_id=str(state.get("correlation_id", "")),
            summary=summary() if summary else kind,
            data={k: v for k, v in state.items() if k not in hidden},
        )


_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def iso(moment: datetime) -> str:
    """Timestamps are stored as fixed-width UTC text, so that they sort and
    compare correctly as text on both databases."""
    return moment.astimezone(UTC).strftime(_FORMAT)

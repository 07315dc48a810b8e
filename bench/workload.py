"""What the benchmarks write: a small aggregate shaped like the platform's own,
and the exact rows it becomes in the store, so that raw baselines insert rows
of the same topic and size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from aggregates.base import TracedAggregate
from aggregates.enterprise import Enterprise, Information
from aggregates.identifiers import (
    organisation_code_check_character,
    uscc_check_character,
)
from commands.platform import Platform

NAME = "华南基准测试医药有限公司第一分公司"
NOTE = (
    "GSP qualification bundle for the annual review: business licence, "
    "drug trading licence, quality system certificate, authorisation letter."
)


class BenchItem(TracedAggregate):
    """About 200 bytes of business state in its first event, like a
    registration; ``Noted`` events make long streams cheaply."""

    class Created(TracedAggregate.Created):
        name: str
        category: str
        note: str

        def summary(self) -> str:
            return f"bench item {self.name} created"

    class Noted(TracedAggregate.Event):
        note: str

        def summary(self) -> str:
            return "bench item noted"

        def apply(self, aggregate: Any) -> None:
            aggregate.notes += 1

    def __init__(self, name: str, category: str, note: str) -> None:
        self.name = name
        self.category = category
        self.note = note
        self.notes = 0

    @classmethod
    def new(cls, events: int = 1) -> BenchItem:
        """A new item carrying ``events`` pending events in all."""
        item_id = uuid4()
        item = cls._create(
            cls.Created,
            id=item_id,
            enterprise_id=str(item_id),
            name=NAME,
            category="retail_pharmacy",
            note=NOTE,
        )
        for _ in range(events - 1):
            item.trigger_event(cls.Noted, note=NOTE)
        return item


@dataclass(frozen=True)
class RowShape:
    """The topic and serialised state of one stored event."""

    topic: str
    state: bytes


def row_shapes(app: Platform, aggregate: TracedAggregate) -> list[RowShape]:
    """The rows the application would store for the aggregate's pending events
    (which this collects, so pass a throwaway aggregate)."""
    stored = [app.mapper.to_stored_event(e) for e in aggregate.collect_events()]
    return [RowShape(s.topic, s.state) for s in stored]


def credit_code(serial: int) -> str:
    """A valid unified social credit code, distinct per serial."""
    organisation = f"{serial:08d}"
    organisation += organisation_code_check_character(organisation)
    first17 = "91" + "440100" + organisation
    return first17 + uscc_check_character(first17)


def new_enterprise(serial: int) -> Enterprise:
    """An enterprise registered, its information recorded and submitted: the
    state in which an operator approves it."""
    now = datetime.now(UTC)
    enterprise = Enterprise.register(
        name=f"基准测试医药有限公司{serial}号", admin_account_id=uuid4(), now=now
    )
    enterprise.record_information(
        Information.checked(
            now.date(),
            category="enterprise",
            uscc=credit_code(serial),
            legal_representative="王建国",
            address="广州市天河区",
            admin_name="李四",
            admin_id_number="11010519491231002X",
        ),
        now,
    )
    enterprise.submit(now)
    return enterprise

"""Claims on values that must be unique across the platform.

An event store cannot answer "is this name free?" inside a transaction, so a
unique value is claimed by creating an aggregate whose id is derived from the
value itself. Two claims on the same value collide on the store's primary key
in the same transaction that records the owner's events, and only one commits.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:unique-claim")


def normalise_name(name: str) -> str:
    """The form under which two names count as the same: full-width and
    half-width characters folded (NFKC), case folded, white space removed."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(folded.split())


def claim_id(kind: str, value: str) -> UUID:
    return uuid5(_NAMESPACE, f"{kind}:{value}")


class UniqueClaim(TracedAggregate):
    """A value of some kind (enterprise name, credit code, username, mobile
    number) held by one aggregate. A released value can be taken again, by
    anyone."""

    class Claimed(TracedAggregate.Created):
        # The value may be personal (a mobile number): it stays in the store.
        private_fields = frozenset({"value"})

        kind: str
        value: str
        holder_id: str

        def summary(self) -> str:
            return f"{self.kind} claimed"

    class Released(TracedAggregate.Event):
        def summary(self) -> str:
            return "claim released"

        def apply(self, aggregate: Any) -> None:
            aggregate.released = True

    class Retaken(TracedAggregate.Event):
        holder_id: str

        def summary(self) -> str:
            return "claim taken again"

        def apply(self, aggregate: Any) -> None:
            aggregate.holder_id = self.holder_id
            aggregate.enterprise_id = self.enterprise_id
            aggregate.released = False

    def __init__(self, kind: str, value: str, holder_id: str) -> None:
        self.kind = kind
        self.value = value
        self.holder_id = holder_id
        self.released = False

    @classmethod
    def claim(
        cls, kind: str, value: str, holder_id: UUID, enterprise_id: str
    ) -> UniqueClaim:
        return cls._create(
            cls.Claimed,
            id=claim_id(kind, value),
            kind=kind,
            value=value,
            holder_id=str(holder_id),
            enterprise_id=enterprise_id,
        )

    def release(self) -> None:
        if not self.released:
            self.trigger_event(self.Released)

    def retake(self, holder_id: UUID, enterprise_id: str) -> None:
        """Gives a released value to a new holder. The event belongs to the
        new holder's enterprise, so the old one never sees who took it."""
        if not self.released:
            raise ValueError(f"{self.kind} claim {self.id} is held")
        self.enterprise_id = enterprise_id
        self.trigger_event(self.Retaken, holder_id=str(holder_id))

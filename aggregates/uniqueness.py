"""Claims on values that must be unique across the platform.

An event store cannot answer "is this name free?" inside a transaction, so a
unique value is claimed by creating an aggregate whose id is derived from the
value itself. Two claims on the same value collide on the store's primary key
in the same transaction that records the owner's events, and only one commits.
"""

from __future__ import annotations

import unicodedata
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
    """A value of some kind (enterprise name, credit code, username) held by one
    aggregate."""

    class Claimed(TracedAggregate.Created):
        kind: str
        value: str
        holder_id: str

        def summary(self) -> str:
            return f"{self.kind} {self.value!r} claimed"

    def __init__(self, kind: str, value: str, holder_id: str) -> None:
        self.kind = kind
        self.value = value
        self.holder_id = holder_id

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

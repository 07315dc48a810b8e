"""A guest: a company not on the platform, signed in by its name and a mobile
number proven by an SMS code (manual 5.5). A guest sees only the list of
records sent to it, never the files; it registers to see more.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.enterprise import check_name
from aggregates.uniqueness import normalise_name

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:guest")


def guest_id(name: str, mobile: str) -> UUID:
    return uuid5(_NAMESPACE, f"{normalise_name(name)}:{mobile}")


class Guest(TracedAggregate):
    class Started(TracedAggregate.Created):
        private_fields = frozenset({"mobile"})

        name: str
        mobile: str

        def summary(self) -> str:
            return f"guest {self.name} first signed in"

    def __init__(self, name: str, mobile: str) -> None:
        self.name = name
        self.mobile = mobile

    @classmethod
    def start(cls, name: str, mobile: str) -> Guest:
        cleaned = check_name(name)
        gid = guest_id(cleaned, mobile)
        return cls._create(
            cls.Started, id=gid, enterprise_id=str(gid), name=cleaned, mobile=mobile
        )

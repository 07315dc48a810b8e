"""Accounts that act on the platform.

This slice knows two roles: the platform operator, who reviews registrations,
and an enterprise's administrator. Passwords arrive here already hashed: the
aggregate stores the hash and never sees the password.
"""

from __future__ import annotations

import enum
import re
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue

PLATFORM = "platform"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,40}$")


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ENTERPRISE_ADMIN = "enterprise_admin"


def check_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise InvalidValue(
            f"username {username!r} must be 3 to 40 letters, digits or _.@-",
            field="username",
        )
    return username


class Account(TracedAggregate):
    private_fields = frozenset({"password_hash"})

    class Opened(TracedAggregate.Created):
        private_fields = frozenset({"password_hash"})

        username: str
        password_hash: str
        role: str

        def summary(self) -> str:
            return f"account {self.username} opened as {self.role}"

    def __init__(self, username: str, password_hash: str, role: str) -> None:
        self.username = username
        self.password_hash = password_hash
        self.role = Role(role)

    @classmethod
    def open(
        cls,
        *,
        username: str,
        password_hash: str,
        role: Role,
        enterprise_id: str,
        account_id: UUID | None = None,
    ) -> Account:
        return cls._create(
            cls.Opened,
            id=account_id or uuid4(),
            enterprise_id=enterprise_id,
            username=check_username(username),
            password_hash=password_hash,
            role=role.value,
        )

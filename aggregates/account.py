"""Accounts that act on the platform.

This slice knows two roles: the platform operator, who reviews registrations,
and an enterprise's administrator. Passwords arrive here already hashed: the
aggregate stores the hash and never sees the password.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Any
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue

PLATFORM = "platform"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,40}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = str.maketrans("", "", " -()")


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


def check_mobile(mobile: str) -> str:
    """A mainland mobile number as its 11 digits (starting 13 to 19).
    Full-width digits, spaces, hyphens, brackets and a leading +86 are
    tolerated."""
    digits = unicodedata.normalize("NFKC", mobile).strip().translate(_SEPARATORS)
    digits = digits.removeprefix("+86")
    if not _MOBILE.match(digits):
        raise InvalidValue(
            f"{mobile!r} is not a mainland mobile number (11 digits starting with "
            "13 to 19)",
            field="mobile",
            code="INVALID_MOBILE",
        )
    return digits


class Account(TracedAggregate):
    private_fields = frozenset({"password_hash"})

    class Opened(TracedAggregate.Created):
        # The audit names accounts by id and username; the hash and the
        # mobile number stay in the store only.
        private_fields = frozenset({"password_hash", "mobile"})

        username: str
        password_hash: str
        role: str
        mobile: str
        invite_code: str
        invited_by: str | None

        def summary(self) -> str:
            return f"account {self.username} opened as {self.role}"

    class PasswordChanged(TracedAggregate.Event):
        private_fields = frozenset({"password_hash"})

        password_hash: str
        how: str

        def summary(self) -> str:
            return f"password changed ({self.how})"

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = self.password_hash

    def __init__(
        self,
        username: str,
        password_hash: str,
        role: str,
        mobile: str,
        invite_code: str,
        invited_by: str | None,
    ) -> None:
        self.username = username
        self.password_hash = password_hash
        self.role = Role(role)
        self.mobile = mobile
        self.invite_code = invite_code
        self.invited_by = invited_by

    @classmethod
    def open(
        cls,
        *,
        username: str,
        password_hash: str,
        role: Role,
        enterprise_id: str,
        invite_code: str,
        mobile: str = "",
        invited_by: UUID | None = None,
        account_id: UUID | None = None,
    ) -> Account:
        return cls._create(
            cls.Opened,
            id=account_id or uuid4(),
            enterprise_id=enterprise_id,
            username=check_username(username),
            password_hash=password_hash,
            role=role.value,
            mobile=check_mobile(mobile) if mobile else "",
            invite_code=invite_code,
            invited_by=str(invited_by) if invited_by else None,
        )

    def change_password(self, password_hash: str, how: str) -> None:
        """Replaces the password; ``how`` says by what (a reset by SMS code)."""
        self.trigger_event(self.PasswordChanged, password_hash=password_hash, how=how)

"""Accounts that act on the platform.

Three kinds: the platform operator, who reviews registrations; an
enterprise's administrator; and an enterprise's sub-accounts (members), whose
permissions come from the role the organisation gives them. Passwords arrive
here already hashed: the aggregate stores the hash and never sees the
password. A sub-account starts with a default password that must be changed
at first sign-in.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Any
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue, StateConflict

PLATFORM = "platform"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,40}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = str.maketrans("", "", " -()")
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
EMAIL_MAX_LENGTH = 254


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ENTERPRISE_ADMIN = "enterprise_admin"
    MEMBER = "member"


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


def check_email(email: str) -> str:
    cleaned = email.strip()
    if len(cleaned) > EMAIL_MAX_LENGTH or not _EMAIL.match(cleaned):
        raise InvalidValue(
            f"{email!r} is not an e-mail address", field="email", code="INVALID_EMAIL"
        )
    return cleaned


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
        inviter_from_link: bool
        must_change_password: bool

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 knew only codes typed by hand.
            state["inviter_from_link"] = False

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # Version 2 knew no default passwords: every account chose its own.
            state["must_change_password"] = False

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
            aggregate.must_change_password = False

    class PasswordReset(TracedAggregate.Event):
        """The administrator gave a sub-account a new default password, to be
        changed at the next sign-in."""

        private_fields = frozenset({"password_hash"})

        password_hash: str

        def summary(self) -> str:
            return "password reset to a default by the administrator"

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.must_change_password = True

    class Closed(TracedAggregate.Event):
        def summary(self) -> str:
            return "account deleted"

        def apply(self, aggregate: Any) -> None:
            aggregate.closed = True

    class MobileChanged(TracedAggregate.Event):
        private_fields = frozenset({"mobile", "username"})

        mobile: str
        username: str

        def summary(self) -> str:
            return "mobile number changed"

        def apply(self, aggregate: Any) -> None:
            aggregate.mobile = self.mobile
            aggregate.username = self.username

    class InviterChanged(TracedAggregate.Event):
        invited_by: str

        def summary(self) -> str:
            return "inviter changed"

        def apply(self, aggregate: Any) -> None:
            aggregate.invited_by = self.invited_by

    class EmailChanged(TracedAggregate.Event):
        private_fields = frozenset({"email"})

        email: str

        def summary(self) -> str:
            return "e-mail changed"

        def apply(self, aggregate: Any) -> None:
            aggregate.email = self.email

    def __init__(
        self,
        username: str,
        password_hash: str,
        role: str,
        mobile: str,
        invite_code: str,
        invited_by: str | None,
        inviter_from_link: bool,
        must_change_password: bool,
    ) -> None:
        self.username = username
        self.password_hash = password_hash
        self.role = Role(role)
        self.mobile = mobile
        self.invite_code = invite_code
        self.invited_by = invited_by
        self.inviter_from_link = inviter_from_link
        self.email = ""
        self.must_change_password = must_change_password
        self.closed = False

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
        inviter_from_link: bool = False,
        account_id: UUID | None = None,
        must_change_password: bool = False,
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
            inviter_from_link=inviter_from_link and invited_by is not None,
            must_change_password=must_change_password,
        )

    def change_mobile(self, mobile: str) -> str:
        """Changes the mobile number; a username that was the old number
        follows it (manual 12). Returns the username after the change."""
        number = check_mobile(mobile)
        username = number if self.username == self.mobile else self.username
        if number != self.mobile:
            self.trigger_event(self.MobileChanged, mobile=number, username=username)
        return username

    def change_inviter(self, inviter: UUID, *, enterprise_approved: bool) -> None:
        """Manual 12: an invite code typed by hand may change until the
        enterprise is first approved; one carried by an invite link may not."""
        if self.inviter_from_link or enterprise_approved:
            raise StateConflict(
                "the invite code is fixed: it came with an invite link, or the "
                "enterprise has been approved",
                code="INVITE_CODE_LOCKED",
            )
        if inviter == self.id:
            raise InvalidValue(
                "an account cannot invite itself",
                field="invite_code",
                code="UNKNOWN_INVITE_CODE",
            )
        if str(inviter) != self.invited_by:
            self.trigger_event(self.InviterChanged, invited_by=str(inviter))

    def change_email(self, email: str) -> None:
        self.trigger_event(self.EmailChanged, email=check_email(email))

    def change_password(self, password_hash: str, how: str) -> None:
        """Replaces the password; ``how`` says by what (a reset by SMS code)."""
        self.trigger_event(self.PasswordChanged, password_hash=password_hash, how=how)

    def reset_password(self, password_hash: str) -> None:
        """A new default password set by the administrator (a sub-account's
        only way back in when it has no mobile number)."""
        self._check_open()
        if self.role is not Role.MEMBER:
            raise StateConflict(
                "only a sub-account's password is reset by its administrator",
                code="NOT_A_SUB_ACCOUNT",
            )
        self.trigger_event(self.PasswordReset, password_hash=password_hash)

    def close(self) -> None:
        """Deletes a sub-account: it can no longer sign in."""
        self._check_open()
        if self.role is not Role.MEMBER:
            raise StateConflict(
                "only sub-accounts are deleted", code="NOT_A_SUB_ACCOUNT"
            )
        self.trigger_event(self.Closed)

    def _check_open(self) -> None:
        if self.closed:
            raise StateConflict("the account has been deleted", code="ACCOUNT_CLOSED")

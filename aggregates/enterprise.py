"""The enterprise: a company or medical institution that trades on the platform.

An enterprise registers with its full name and unified social credit code, then
waits for a platform operator to approve or reject it (manual 5.1, 12). Only an
approved enterprise may do business on the platform.
"""

from __future__ import annotations

import enum
from typing import Any
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue, StateConflict
from aggregates.identifiers import InvalidIdentifier, check_uscc

NAME_MAX_LENGTH = 100
REASON_MAX_LENGTH = 500


class Category(enum.StrEnum):
    """Enterprise categories of manual 12 (企业类别)."""

    ENTERPRISE = "enterprise"
    RETAIL_PHARMACY = "retail_pharmacy"
    PUBLIC_HOSPITAL = "public_hospital"
    PRIVATE_HOSPITAL = "private_hospital"
    CLINIC = "clinic"
    OTHER_MEDICAL = "other_medical"


class Status(enum.StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidValue("the enterprise name is empty", field="name")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidValue(
            f"the enterprise name has {len(cleaned)} characters; "
            f"at most {NAME_MAX_LENGTH} are allowed",
            field="name",
        )
    return cleaned


def check_credit_code(code: str) -> str:
    try:
        return check_uscc(code)
    except InvalidIdentifier as e:
        raise InvalidValue(str(e), field="uscc", code="INVALID_USCC") from e


def check_category(category: str) -> Category:
    try:
        return Category(category)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise InvalidValue(
            f"unknown category {category!r}; choose one of {allowed}",
            field="category",
        ) from None


class Enterprise(TracedAggregate):
    class Registered(TracedAggregate.Created):
        """Version 2 added the category; the first registrations were all
        pharmaceutical enterprises, so version 1 events upcast to that."""

        class_version = 2

        name: str
        uscc: str
        category: str
        admin_account_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["category"] = Category.ENTERPRISE.value

        def summary(self) -> str:
            return f"registered {self.name} ({self.uscc}) as {self.category}"

    class Approved(TracedAggregate.Event):
        def summary(self) -> str:
            return "approved by the platform"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.APPROVED
            aggregate.rejection_reason = None

    class Rejected(TracedAggregate.Event):
        reason: str

        def summary(self) -> str:
            return f"rejected: {self.reason}"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.REJECTED
            aggregate.rejection_reason = self.reason

    def __init__(
        self, name: str, uscc: str, category: str, admin_account_id: str
    ) -> None:
        self.name = name
        self.uscc = uscc
        self.category = Category(category)
        self.admin_account_id = admin_account_id
        self.status = Status.PENDING_REVIEW
        self.rejection_reason: str | None = None

    @classmethod
    def register(
        cls, *, name: str, uscc: str, category: str, admin_account_id: UUID
    ) -> Enterprise:
        enterprise_id = uuid4()
        return cls._create(
            cls.Registered,
            id=enterprise_id,
            enterprise_id=str(enterprise_id),
            name=check_name(name),
            uscc=check_credit_code(uscc),
            category=check_category(category).value,
            admin_account_id=str(admin_account_id),
        )

    @property
    def is_verified(self) -> bool:
        return self.status is Status.APPROVED

    def approve(self) -> None:
        self.check_pending("approve")
        self.trigger_event(self.Approved)

    def reject(self, reason: str) -> None:
        self.check_pending("reject")
        reason = reason.strip()
        if not reason:
            raise InvalidValue("a rejection needs a reason", field="reason")
        if len(reason) > REASON_MAX_LENGTH:
            raise InvalidValue(
                f"the reason has {len(reason)} characters; "
                f"at most {REASON_MAX_LENGTH} are allowed",
                field="reason",
            )
        self.trigger_event(self.Rejected, reason=reason)

    def check_pending(self, action: str) -> None:
        if self.status is not Status.PENDING_REVIEW:
            raise StateConflict(
                f"cannot {action} enterprise {self.name}: it is {self.status.value},"
                " not pending review",
                code="ENTERPRISE_NOT_PENDING",
            )

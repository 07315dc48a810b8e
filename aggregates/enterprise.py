"""The enterprise: a company or medical institution that trades on the platform.

Its life follows manual 5.1 and 12. An account registers with the enterprise's
full name and becomes its administrator; within 24 hours the administrator
records the enterprise's information (category, business licence data, the
administrator's identity) and submits it; a platform operator approves or
rejects it. Only an approved enterprise may do business. After approval the
category is fixed, and a change to the licence data or the administrator's
identity sends the enterprise back to review.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError, InvalidValue, StateConflict
from aggregates.identifiers import InvalidIdentifier, check_id_number, check_uscc

NAME_MAX_LENGTH = 100
TEXT_MAX_LENGTH = 200
REASON_MAX_LENGTH = 500
COMPLETION_WINDOW = timedelta(hours=24)


class NotVerified(DomainError):
    """Manual 5.1: until the platform approves the enterprise, its accounts
    may complete its information and nothing else."""

    code = "ENTERPRISE_NOT_VERIFIED"
    status = 403


class Category(enum.StrEnum):
    """Enterprise categories of manual 12 (企业类别)."""

    ENTERPRISE = "enterprise"
    RETAIL_PHARMACY = "retail_pharmacy"
    PUBLIC_HOSPITAL = "public_hospital"
    PRIVATE_HOSPITAL = "private_hospital"
    CLINIC = "clinic"
    OTHER_MEDICAL = "other_medical"


class Status(enum.StrEnum):
    INCOMPLETE = "incomplete"
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


def check_text(value: str, field: str, *, required: bool = True) -> str:
    cleaned = " ".join(value.split())
    if required and not cleaned:
        raise InvalidValue(f"{field} is required", field=field)
    if len(cleaned) > TEXT_MAX_LENGTH:
        raise InvalidValue(
            f"{field} has {len(cleaned)} characters; at most {TEXT_MAX_LENGTH}",
            field=field,
        )
    return cleaned


@dataclass(frozen=True)
class Information:
    """What the administrator records about the enterprise (企业信息)."""

    #: Changing one of these after approval needs the platform's review again.
    REVIEWED: ClassVar[tuple[str, ...]] = ("uscc", "admin_name", "admin_id_number")

    category: str
    uscc: str
    legal_representative: str
    address: str
    admin_name: str
    admin_id_number: str
    region: str = ""

    @classmethod
    def checked(cls, today: date, **fields: str) -> Information:
        try:
            id_number = check_id_number(fields.get("admin_id_number", ""), today)
        except InvalidIdentifier as e:
            raise InvalidValue(
                str(e), field="admin_id_number", code="INVALID_ID_NUMBER"
            ) from e
        return cls(
            category=check_category(fields.get("category", "")).value,
            uscc=check_credit_code(fields.get("uscc", "")),
            legal_representative=check_text(
                fields.get("legal_representative", ""), "legal_representative"
            ),
            address=check_text(fields.get("address", ""), "address"),
            admin_name=check_text(fields.get("admin_name", ""), "admin_name"),
            admin_id_number=id_number,
            region=check_text(fields.get("region", ""), "region", required=False),
        )


def mask_id_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:] if len(number) == 18 else number


class Enterprise(TracedAggregate):
    class Registered(TracedAggregate.Created):
        """Version 2 records the deadline for completing the information; the
        first release always allowed 24 hours from registration, which is what
        version 1 events upcast to."""

        class_version = 2

        name: str
        admin_account_id: str
        complete_by: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["complete_by"] = state["timestamp"] + COMPLETION_WINDOW

        def summary(self) -> str:
            return f"registered {self.name}"

    class InformationRecorded(TracedAggregate.Event):
        # The administrator's ID number stays in the store, out of every view.
        private_fields = frozenset({"admin_id_number"})

        category: str
        uscc: str
        legal_representative: str
        address: str
        region: str
        admin_name: str
        admin_id_number: str

        def summary(self) -> str:
            return f"information recorded: {self.uscc}, {self.category}"

        def apply(self, aggregate: Any) -> None:
            aggregate.information = Information(
                category=self.category,
                uscc=self.uscc,
                legal_representative=self.legal_representative,
                address=self.address,
                region=self.region,
                admin_name=self.admin_name,
                admin_id_number=self.admin_id_number,
            )

    class Submitted(TracedAggregate.Event):
        def summary(self) -> str:
            return "submitted for review"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.PENDING_REVIEW

    class Approved(TracedAggregate.Event):
        def summary(self) -> str:
            return "approved by the platform"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.APPROVED
            aggregate.ever_approved = True
            aggregate.rejection_reason = None

    class Rejected(TracedAggregate.Event):
        reason: str

        def summary(self) -> str:
            return f"rejected: {self.reason}"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = Status.REJECTED
            aggregate.rejection_reason = self.reason

    class RequestSettingsChanged(TracedAggregate.Event):
        """Manual 12 (产品资料索取设置): who may ask for the product records."""

        allow_platform: bool
        allow_partners: bool

        def summary(self) -> str:
            return (
                f"product requests: platform {'on' if self.allow_platform else 'off'},"
                f" partners {'on' if self.allow_partners else 'off'}"
            )

        def apply(self, aggregate: Any) -> None:
            aggregate.allow_platform_requests = self.allow_platform
            aggregate.allow_partner_requests = self.allow_partners

    def __init__(self, name: str, admin_account_id: str, complete_by: datetime) -> None:
        self.name = name
        self.admin_account_id = admin_account_id
        self.complete_by = complete_by
        self.status = Status.INCOMPLETE
        self.information: Information | None = None
        self.ever_approved = False
        self.rejection_reason: str | None = None
        self.allow_platform_requests = False
        self.allow_partner_requests = False

    @classmethod
    def register(
        cls, *, name: str, admin_account_id: UUID, now: datetime
    ) -> Enterprise:
        enterprise_id = uuid4()
        return cls._create(
            cls.Registered,
            id=enterprise_id,
            enterprise_id=str(enterprise_id),
            name=check_name(name),
            admin_account_id=str(admin_account_id),
            complete_by=now + COMPLETION_WINDOW,
        )

    @property
    def is_verified(self) -> bool:
        return self.status is Status.APPROVED

    def record_information(self, information: Information, now: datetime) -> None:
        """Records the enterprise's information; after approval, a change the
        platform must review sends the enterprise back to review."""
        self.check_within_deadline(now)
        if self.status is Status.PENDING_REVIEW:
            raise StateConflict(
                "the information is under review and cannot change until the "
                "review ends",
                code="ENTERPRISE_UNDER_REVIEW",
            )
        before = self.information
        if self.ever_approved and before and information.category != before.category:
            raise StateConflict(
                f"the category is {before.category} since approval and cannot change",
                code="CATEGORY_LOCKED",
            )
        if information == before:
            return
        self.trigger_event(self.InformationRecorded, **asdict(information))
        if (
            self.ever_approved
            and before is not None
            and any(
                getattr(information, f) != getattr(before, f)
                for f in Information.REVIEWED
            )
        ):
            self.trigger_event(self.Submitted)

    def submit(self, now: datetime) -> None:
        self.check_within_deadline(now)
        if self.status not in (Status.INCOMPLETE, Status.REJECTED):
            raise StateConflict(
                f"enterprise {self.name} is {self.status.value}; only an incomplete "
                "or rejected enterprise is submitted",
                code="INVALID_STATE",
            )
        if self.information is None:
            raise StateConflict(
                "record the enterprise's information before submitting it",
                code="INFORMATION_MISSING",
            )
        self.trigger_event(self.Submitted)

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

    def set_request_settings(
        self, *, allow_platform: bool, allow_partners: bool
    ) -> None:
        if (allow_platform, allow_partners) != (
            self.allow_platform_requests,
            self.allow_partner_requests,
        ):
            self.trigger_event(
                self.RequestSettingsChanged,
                allow_platform=allow_platform,
                allow_partners=allow_partners,
            )

    def admits_product_request(self, *, verified: bool, partner: bool) -> bool:
        """Whether an enterprise may ask for this one's product records: any
        verified enterprise when platform requests are on, a partner (one whose
        records are in this library) when partner requests are on."""
        return (verified and self.allow_platform_requests) or (
            partner and self.allow_partner_requests
        )

    def check_pending(self, action: str) -> None:
        if self.status is not Status.PENDING_REVIEW:
            raise StateConflict(
                f"cannot {action} enterprise {self.name}: it is {self.status.value},"
                " not pending review",
                code="ENTERPRISE_NOT_PENDING",
            )

    def check_within_deadline(self, now: datetime) -> None:
        """Manual 5.1: the information is completed within 24 hours of
        registering; an enterprise approved once is past that rule."""
        if not self.ever_approved and now > self.complete_by:
            raise StateConflict(
                "the 24 hours to complete the enterprise's information ended at "
                f"{self.complete_by.isoformat()}; register again",
                code="REGISTRATION_EXPIRED",
            )

    def check_verified(self) -> None:
        if not self.is_verified:
            raise NotVerified(
                f"enterprise {self.name} is {self.status.value}; the platform must "
                "approve it before it does business"
            )

    def public_state(self) -> dict[str, Any]:
        state = super().public_state()
        if self.information is not None:
            shown = asdict(self.information)
            shown["admin_id_number"] = mask_id_number(shown["admin_id_number"])
            state["information"] = shown
        return state

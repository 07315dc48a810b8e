"""First-business exchange (manual 6): a package of qualification documents
an enterprise sends to up to a hundred counterparts, and each counterpart's
delivery of it.

The sender's side is one :class:`Package`: what is sent (records of the
sender's library and the files chosen from them), to whom, and where it is
on its way (to seal, sealed, sent, withdrawn). Each recipient's side is one
:class:`Delivery`, created when the package is sent: a snapshot of the
records and sealed files as sent, and what the recipient did with it. A
delivery per recipient, because recipients act at the same moment and must
never conflict with each other; withdrawing the package changes every
delivery in one transaction, so a withdrawal and an acceptance racing on the
same delivery cannot both win.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from aggregates.account import check_mobile
from aggregates.base import TracedAggregate
from aggregates.catalogue import PRODUCT_KINDS, Kind, tidy
from aggregates.errors import InvalidValue, StateConflict

MAX_RECIPIENTS = 100
MAX_PRODUCTS = 50
MAX_ENTERPRISE_DOSSIERS = 1
MAX_REPORTS = 50
MESSAGE_MAX_LENGTH = 500

_DELIVERIES = uuid5(NAMESPACE_URL, "urn:shouying:delivery")


def delivery_id(package_id: UUID | str, recipient_key: str, round_: int = 1) -> UUID:
    """A recipient's copy of the package's ``round_``-th sending (a package
    withdrawn and sent again reaches each recipient anew)."""
    suffix = "" if round_ == 1 else f":{round_}"
    return uuid5(_DELIVERIES, f"{package_id}:{recipient_key}{suffix}")


class PackageStatus(enum.StrEnum):
    #: Composed, not yet submitted (edited, or withdrawn and back here).
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    REVIEW_FAILED = "review_failed"
    TO_SEAL = "to_seal"
    READY = "ready_to_send"
    SENT = "sent"
    WITHDRAWN = "withdrawn"


class DeliveryStatus(enum.StrEnum):
    WAITING = "waiting"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Recipient:
    """A counterpart: an enterprise on the platform, or one named by its
    name, contact and mobile number, which sees the package once it
    registers (manual 6.1)."""

    name: str
    enterprise_id: str | None = None
    contact: str | None = None
    mobile: str | None = None
    department_id: str | None = None
    person_id: str | None = None
    message: str | None = None

    @property
    def key(self) -> str:
        """Who the recipient is, for telling duplicates apart."""
        return self.enterprise_id or f"mobile:{self.mobile}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "enterprise_id": self.enterprise_id,
            "contact": self.contact,
            "mobile": self.mobile,
            "department_id": self.department_id,
            "person_id": self.person_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class Item:
    """One record of the sender's library and the files chosen from it."""

    record_id: str
    kind: Kind
    document_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "kind": self.kind.value,
            "document_ids": list(self.document_ids),
        }


def check_recipient(raw: Mapping[str, Any], number: int) -> Recipient:
    where = f"recipients[{number}]"
    name = tidy(raw.get("name"))
    if name is None or len(name) > 100:
        raise InvalidValue("a recipient has a name of 1 to 100 characters", field=where)
    enterprise_id = tidy(raw.get("enterprise_id"))
    mobile = tidy(raw.get("mobile"))
    contact = tidy(raw.get("contact"))
    if enterprise_id is None:
        if mobile is None or contact is None:
            raise InvalidValue(
                "a recipient not on the platform is named with a contact and a "
                "mobile number, to be told by SMS",
                field=where,
            )
        mobile = check_mobile(mobile)
    message = tidy(raw.get("message"))
    if message is not None and len(message) > MESSAGE_MAX_LENGTH:
        raise InvalidValue(
            f"a message has at most {MESSAGE_MAX_LENGTH} characters",
            field=f"{where}.message",
        )
    return Recipient(
        name=name,
        enterprise_id=enterprise_id,
        contact=contact,
        mobile=mobile,
        department_id=tidy(raw.get("department_id")),
        person_id=tidy(raw.get("person_id")),
        message=message,
    )


def check_contents(recipients: Sequence[Recipient], items: Sequence[Item]) -> None:
    """The manual's limits (6.1, 8.1): 1 to 100 recipients, each once; at
    most 50 products and one enterprise dossier, or at most 50 inspection
    reports; at least one file."""
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise InvalidValue(
            f"choose 1 to {MAX_RECIPIENTS} recipients, not {len(recipients)}",
            field="recipients",
            code="TOO_MANY_RECIPIENTS",
        )
    keys = [r.key for r in recipients]
    if len(set(keys)) != len(keys):
        raise InvalidValue(
            "a recipient is chosen twice",
            field="recipients",
            code="DUPLICATE_RECIPIENT",
        )
    products = sum(1 for i in items if i.kind in PRODUCT_KINDS)
    dossiers = sum(1 for i in items if i.kind is Kind.ENTERPRISE)
    reports = sum(1 for i in items if i.kind is Kind.INSPECTION_REPORT)
    if products > MAX_PRODUCTS:
        raise InvalidValue(
            f"at most {MAX_PRODUCTS} products a package, not {products}",
            field="items",
            code="TOO_MANY_PRODUCTS",
        )
    if dossiers > MAX_ENTERPRISE_DOSSIERS:
        raise InvalidValue(
            "at most one enterprise dossier a package",
            field="items",
            code="TOO_MANY_ENTERPRISE_DOSSIERS",
        )
    if reports > MAX_REPORTS:
        raise InvalidValue(
            f"at most {MAX_REPORTS} inspection reports a package, not {reports}",
            field="items",
            code="TOO_MANY_REPORTS",
        )
    if not any(i.document_ids for i in items):
        raise InvalidValue("choose at least one file", field="items", code="NO_FILES")
    records = [i.record_id for i in items]
    if len(set(records)) != len(records):
        raise InvalidValue("a record is chosen twice", field="items")


def _check_package(
    enterprise_id: str, recipients: Sequence[Recipient], items: Sequence[Item]
) -> None:
    check_contents(recipients, items)
    if any(r.enterprise_id == enterprise_id for r in recipients):
        raise InvalidValue("an enterprise does not send to itself", field="recipients")


class Package(TracedAggregate):
    class Composed(TracedAggregate.Created):
        recipients: list[dict[str, Any]]
        items: list[dict[str, Any]]
        #: The package this one supplements (补发): more files, same recipients.
        supplements: str | None

        def summary(self) -> str:
            files = sum(len(i["document_ids"]) for i in self.items)
            return f"package of {files} files to {len(self.recipients)} recipients"

    class Submitted(TracedAggregate.Event):
        """Submitted for sealing: through a review flow, or skipping review
        where the enterprise allows it (``flow_id`` None)."""

        flow_id: str | None

        def summary(self) -> str:
            return "submitted for review" if self.flow_id else "submitted, no review"

        def apply(self, aggregate: Any) -> None:
            aggregate.flow_id = self.flow_id
            aggregate.status = (
                PackageStatus.UNDER_REVIEW if self.flow_id else PackageStatus.TO_SEAL
            )

    class ReviewFinished(TracedAggregate.Event):
        passed: bool
        #: The final level's opinion, which reaches the sender as a message.
        opinion: str

        def summary(self) -> str:
            return "review passed" if self.passed else "review failed"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = (
                PackageStatus.TO_SEAL if self.passed else PackageStatus.REVIEW_FAILED
            )

    class Discarded(TracedAggregate.Event):
        def summary(self) -> str:
            return "deleted from the dispatch queue"

        def apply(self, aggregate: Any) -> None:
            aggregate.discarded = True

    class SealStarted(TracedAggregate.Event):
        task_id: str

        def summary(self) -> str:
            return "sealing started"

        def apply(self, aggregate: Any) -> None:
            aggregate.seal_task_id = self.task_id

    class Ready(TracedAggregate.Event):
        def summary(self) -> str:
            return "sealed, ready to send"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = PackageStatus.READY

    class Sent(TracedAggregate.Event):
        deliveries: list[str]

        def summary(self) -> str:
            return f"sent to {len(self.deliveries)} recipients"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = PackageStatus.SENT
            aggregate.deliveries = list(self.deliveries)
            aggregate.rounds += 1

    class Revised(TracedAggregate.Event):
        """A withdrawn or unsubmitted package edited: it is submitted, reviewed
        and sealed again."""

        recipients: list[dict[str, Any]]
        items: list[dict[str, Any]]

        def summary(self) -> str:
            return "package edited"

        def apply(self, aggregate: Any) -> None:
            aggregate._contents(self.recipients, self.items)
            aggregate.revisions += 1
            aggregate.status = PackageStatus.DRAFT
            aggregate.flow_id = None
            aggregate.seal_task_id = None

    class Withdrawn(TracedAggregate.Event):
        def summary(self) -> str:
            return "withdrawn"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = PackageStatus.WITHDRAWN

    def __init__(
        self,
        recipients: list[dict[str, Any]],
        items: list[dict[str, Any]],
        supplements: str | None,
    ) -> None:
        self._contents(recipients, items)
        self.supplements = supplements
        self.rounds = 0
        #: Edits after a withdrawal; each edited package is reviewed anew.
        self.revisions = 0
        self.status = PackageStatus.DRAFT
        self.flow_id: str | None = None
        self.seal_task_id: str | None = None
        self.deliveries: list[str] = []
        self.discarded = False

    def _contents(
        self, recipients: list[dict[str, Any]], items: list[dict[str, Any]]
    ) -> None:
        self.recipients = [Recipient(**r) for r in recipients]
        self.items = [
            Item(i["record_id"], Kind(i["kind"]), tuple(i["document_ids"]))
            for i in items
        ]

    @classmethod
    def compose(
        cls,
        *,
        enterprise_id: str,
        recipients: Sequence[Recipient],
        items: Sequence[Item],
        supplements: str | None = None,
    ) -> Package:
        _check_package(enterprise_id, recipients, items)
        return cls._create(
            cls.Composed,
            id=uuid4(),
            enterprise_id=enterprise_id,
            recipients=[r.as_dict() for r in recipients],
            items=[i.as_dict() for i in items],
            supplements=supplements,
        )

    def supplement(self, items: Sequence[Item]) -> Package:
        """A new package of more files to this one's recipients (补发),
        through review again where a flow applies."""
        if self.status is not PackageStatus.SENT:
            raise StateConflict(
                "only a sent package is supplemented", code="PACKAGE_STATE"
            )
        return Package.compose(
            enterprise_id=self.enterprise_id,
            recipients=self.recipients,
            items=items,
            supplements=str(self.id),
        )

    def revise(self, recipients: Sequence[Recipient], items: Sequence[Item]) -> None:
        """Edits a package not yet submitted, or withdrawn."""
        self._in({PackageStatus.DRAFT, PackageStatus.WITHDRAWN}, "edited")
        _check_package(self.enterprise_id, recipients, items)
        self.trigger_event(
            self.Revised,
            recipients=[r.as_dict() for r in recipients],
            items=[i.as_dict() for i in items],
        )

    def submit(self, flow_id: str | None) -> None:
        self._in({PackageStatus.DRAFT}, "submitted")
        self.trigger_event(self.Submitted, flow_id=flow_id)

    def finish_review(self, passed: bool, opinion: str = "") -> None:
        """The final level's verdict: sealing may go on, or is blocked."""
        self._in({PackageStatus.UNDER_REVIEW}, "reviewed")
        self.trigger_event(self.ReviewFinished, passed=passed, opinion=opinion)

    def discard(self) -> None:
        """Deletes a task from the dispatch queue: one whose review failed,
        or one not yet sealed or sent."""
        self._in(
            {
                PackageStatus.DRAFT,
                PackageStatus.REVIEW_FAILED,
                PackageStatus.TO_SEAL,
                PackageStatus.WITHDRAWN,
            },
            "deleted",
        )
        if self.seal_task_id is not None and self.status is PackageStatus.TO_SEAL:
            raise StateConflict("the package is being sealed", code="PACKAGE_STATE")
        self.trigger_event(self.Discarded)

    def files(self) -> list[tuple[str, str]]:
        return [(i.record_id, d) for i in self.items for d in i.document_ids]

    def start_sealing(self, task_id: str) -> None:
        self._in({PackageStatus.TO_SEAL}, "sealed")
        self.trigger_event(self.SealStarted, task_id=task_id)

    def sealed(self) -> None:
        """Its seal task sealed every file (each once, whatever the number of
        recipients)."""
        self._in({PackageStatus.TO_SEAL}, "marked sealed")
        if self.seal_task_id is None:
            raise StateConflict("the package was not sealed", code="PACKAGE_NOT_SEALED")
        self.trigger_event(self.Ready)

    def send(self) -> list[UUID]:
        """The deliveries to create, one per recipient. A withdrawn package
        may be sent again as it is (its files are sealed)."""
        self._in({PackageStatus.READY, PackageStatus.WITHDRAWN}, "sent")
        ids = [delivery_id(self.id, r.key, self.rounds + 1) for r in self.recipients]
        self.trigger_event(self.Sent, deliveries=[str(i) for i in ids])
        return ids

    def withdraw(self) -> None:
        """Allowed while no recipient has accepted; the command checks the
        deliveries and withdraws each in the same transaction."""
        self._in({PackageStatus.SENT}, "withdrawn")
        self.trigger_event(self.Withdrawn)

    def _in(self, allowed: set[PackageStatus], what: str) -> None:
        if self.discarded:
            raise StateConflict("the package was deleted", code="PACKAGE_DELETED")
        if self.status not in allowed:
            raise StateConflict(
                f"a package that is {self.status.value} cannot be {what}",
                code="PACKAGE_STATE",
            )


class Delivery(TracedAggregate):
    """One recipient's copy of a sent package. Its ``enterprise_id`` is the
    sender's; the recipient is named by ``recipient``."""

    class Delivered(TracedAggregate.Created):
        package_id: str
        recipient: dict[str, Any]
        #: The records as sent: kind, base information and the sealed files.
        records: list[dict[str, Any]]

        def summary(self) -> str:
            return f"delivered to {self.recipient['name']}"

    class Accepted(TracedAggregate.Event):
        #: Sent record id -> the recipient's record it went into.
        into: dict[str, str]

        def summary(self) -> str:
            return f"accepted into {len(self.into)} records"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DeliveryStatus.ACCEPTED
            aggregate.into = dict(self.into)

    class Rejected(TracedAggregate.Event):
        reason: str

        def summary(self) -> str:
            return f"rejected: {self.reason}"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DeliveryStatus.REJECTED
            aggregate.reason = self.reason

    class Withdrawn(TracedAggregate.Event):
        def summary(self) -> str:
            return "withdrawn by the sender"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DeliveryStatus.WITHDRAWN

    def __init__(
        self, package_id: str, recipient: dict[str, Any], records: list[dict[str, Any]]
    ) -> None:
        self.package_id = package_id
        self.recipient = Recipient(**recipient)
        self.records = records
        self.status = DeliveryStatus.WAITING
        self.into: dict[str, str] = {}
        self.reason: str | None = None
        self.flow_id: str | None = None

    @classmethod
    def deliver(
        cls,
        *,
        delivery: UUID,
        sender_id: str,
        package_id: UUID,
        recipient: Recipient,
        records: list[dict[str, Any]],
    ) -> Delivery:
        return cls._create(
            cls.Delivered,
            id=delivery,
            enterprise_id=sender_id,
            package_id=str(package_id),
            recipient=recipient.as_dict(),
            records=records,
        )

    def is_for(self, enterprise_id: str, mobile: str | None = None) -> bool:
        """Addressed to the enterprise; or, named by a mobile number before it
        was on the platform, to the holder of that number."""
        if self.recipient.enterprise_id is not None:
            return self.recipient.enterprise_id == enterprise_id
        return mobile is not None and self.recipient.mobile == mobile

    class ReviewStarted(TracedAggregate.Event):
        flow_id: str

        def summary(self) -> str:
            return "accept-side review started"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DeliveryStatus.UNDER_REVIEW
            aggregate.flow_id = self.flow_id

    def start_review(self, flow_id: str) -> None:
        """Accepting through the recipient's review flow: the files reach the
        library when its final level passes them."""
        self._waiting("reviewed")
        self.trigger_event(self.ReviewStarted, flow_id=flow_id)

    def accept(self, into: Mapping[str, str]) -> None:
        if self.status is not DeliveryStatus.UNDER_REVIEW:
            self._waiting("accepted")
        self.trigger_event(self.Accepted, into=dict(into))

    def reject(self, reason: str) -> None:
        if self.status is not DeliveryStatus.UNDER_REVIEW:
            self._waiting("rejected")
        cleaned = tidy(reason)
        if cleaned is None or len(cleaned) > MESSAGE_MAX_LENGTH:
            raise InvalidValue(
                f"a rejection has a reason of 1 to {MESSAGE_MAX_LENGTH} characters",
                field="reason",
            )
        self.trigger_event(self.Rejected, reason=cleaned)

    def withdraw(self) -> None:
        if self.status is DeliveryStatus.ACCEPTED:
            raise StateConflict(
                f"{self.recipient.name} has accepted the package; it can no longer "
                "be withdrawn",
                code="PACKAGE_ACCEPTED",
            )
        if self.status is DeliveryStatus.UNDER_REVIEW:
            raise StateConflict(
                f"{self.recipient.name} is reviewing the package; it can no longer "
                "be withdrawn",
                code="PACKAGE_UNDER_REVIEW",
            )
        if self.status is DeliveryStatus.WAITING:
            self.trigger_event(self.Withdrawn)

    def _waiting(self, what: str) -> None:
        if self.status is not DeliveryStatus.WAITING:
            code = (
                "PACKAGE_ALREADY_ACCEPTED"
                if self.status is DeliveryStatus.ACCEPTED
                else "PACKAGE_WITHDRAWN"
                if self.status is DeliveryStatus.WITHDRAWN
                else "PACKAGE_ALREADY_REJECTED"
            )
            raise StateConflict(
                f"the package is {self.status.value} and cannot be {what}", code=code
            )

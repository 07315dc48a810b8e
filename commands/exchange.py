"""Sending packages and receiving them (manual 6): compose, seal, send;
accept into the library, reject; withdraw.

Accepting puts each sent record's files into the recipient's library: into
its record of the same enterprise (credit code), product (approval number
and manufacturer) or delegate (ID number), restored from the recycle bin
first if it is there, else into a new record; files are kept as received
from the sender, and accepting the same file twice keeps two copies (manual
6.4). File contents are not copied: the blob store keeps each once by digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError

from aggregates.base import TracedAggregate
from aggregates.catalogue import PRODUCT_KINDS, Kind
from aggregates.dossier import Dossier, Origin, Status
from aggregates.errors import InvalidValue, StateConflict
from aggregates.organisation import Organisation, organisation_id
from aggregates.package import (
    Delivery,
    DeliveryStatus,
    Item,
    Package,
    PackageStatus,
    Recipient,
    check_recipient,
)
from commands.errors import NotFound
from commands.library import LibraryCommands
from commands.platform import Caller, CommandResult, CommandRunner, Outcome
from commands.sealing import SealingCommands
from commands.sms import SmsGateway
from projections.engine import Engine
from projections.library import find_record
from projections.store import ViewDatabase

_RECEIVED = uuid5(NAMESPACE_URL, "urn:shouying:received-record")


def match_key(kind: Kind, base: Mapping[str, str]) -> tuple[str, ...] | None:
    """What makes a received record the same as one already held."""
    if kind is Kind.ENTERPRISE:
        code = base.get("uscc")
        return (code,) if code else ("name", base.get("name", ""))
    if kind is Kind.DELEGATE:
        return (base.get("id_number", ""),)
    if kind in PRODUCT_KINDS:
        return (base.get("approval_no", ""), base.get("manufacturer", ""))
    return (
        base.get("batch_no", ""),
        base.get("product_name", ""),
        base.get("manufacturer", ""),
    )


class ExchangeCommands:
    def __init__(
        self,
        runner: CommandRunner,
        library: LibraryCommands,
        sealing: SealingCommands,
        views: ViewDatabase,
        engine: Engine,
        sms: SmsGateway | None = None,
    ) -> None:
        self.runner = runner
        self.library = library
        self.sealing = sealing
        self.views = views
        self.engine = engine
        self.sms = sms

    # --- the sender ---------------------------------------------------------------

    def compose(
        self,
        caller: Caller,
        recipients: Sequence[Mapping[str, Any]],
        items: Sequence[Mapping[str, Any]],
    ) -> CommandResult:
        """A package of records and chosen files of the caller's library to up
        to 100 recipients. Deprecated files cannot be chosen."""
        checked = [check_recipient(r, n) for n, r in enumerate(recipients)]
        for number, recipient in enumerate(checked):
            self._check_receiver(recipient, number)
        chosen = self._items(caller, items)

        def work() -> Outcome:
            package = Package.compose(
                enterprise_id=caller.enterprise_id, recipients=checked, items=chosen
            )
            return Outcome(
                [package], {"package_id": str(package.id)}, package, created=True
            )

        arguments = {
            "recipients": [r.as_dict() for r in checked],
            "items": [i.as_dict() for i in chosen],
        }
        return self.runner.run(caller, "compose_package", arguments, work)

    def submit(
        self, caller: Caller, package_id: UUID, flow_id: str | None
    ) -> CommandResult:
        """Submits a composed package: skipping review (no flow), or into the
        review of a send-triggered flow of the enterprise (see
        :mod:`commands.review`)."""
        if flow_id is not None:
            raise InvalidValue(
                "review before sending is started by the review commands",
                field="flow_id",
            )

        def work() -> Outcome:
            package = self.own(caller, package_id)
            package.submit(None)
            return Outcome([package], {"package_id": str(package_id)}, package)

        return self.runner.run(
            caller, "submit_package", {"package": str(package_id)}, work
        )

    def seal(
        self,
        caller: Caller,
        package_id: UUID,
        *,
        certificate: str,
        password: str | None,
    ) -> dict[str, Any]:
        """Seals the package's files once, whatever the number of recipients:
        with the cloud certificate at once; with a token, the returned task is
        driven through the device bridge, then :meth:`confirm_sealed`."""
        package = self.own(caller, package_id)
        if package.status is not PackageStatus.TO_SEAL:
            raise StateConflict(
                f"a package that is {package.status.value} is not sealed",
                code="PACKAGE_STATE",
            )
        if package.seal_task_id is None:
            started = self.sealing.start(
                caller,
                [(UUID(r), d) for r, d in package.files()],
                seal_kind=None,
                placements=[],
                certificate=certificate,
            )
            task_id = started.ids["task_id"]

            def work() -> Outcome:
                current = self.own(caller, package_id)
                current.start_sealing(task_id)
                return Outcome([current], {"package_id": str(package_id)}, current)

            self.runner.run(caller, "seal_package", {"package": str(package_id)}, work)
        else:
            task_id = package.seal_task_id
        if certificate == "cloud":
            summary = self.sealing.run_cloud(caller, UUID(task_id), password)
            if summary["status"] == "sealed":
                self.confirm_sealed(caller, package_id)
            return summary
        return self.sealing.summary(caller, UUID(task_id))

    def confirm_sealed(self, caller: Caller, package_id: UUID) -> CommandResult:
        def work() -> Outcome:
            package = self.own(caller, package_id)
            if package.seal_task_id is None:
                raise StateConflict(
                    "the package was not sealed", code="PACKAGE_NOT_SEALED"
                )
            task = self.sealing.task(caller, UUID(package.seal_task_id))
            if task.status.value != "sealed":
                raise StateConflict(
                    "the package's files are not all sealed", code="PACKAGE_NOT_SEALED"
                )
            package.sealed()
            return Outcome([package], {"package_id": str(package_id)}, package)

        return self.runner.run(
            caller, "package_sealed", {"package": str(package_id)}, work
        )

    def send(self, caller: Caller, package_id: UUID) -> CommandResult:
        """Delivers the sealed package to every recipient: each gets a copy of
        the records as they are now and of the sealed files."""

        def work() -> Outcome:
            package = self.own(caller, package_id)
            snapshot = [self._snapshot(caller, item) for item in package.items]
            ids = package.send()
            deliveries = [
                Delivery.deliver(
                    delivery=delivery,
                    sender_id=caller.enterprise_id,
                    package_id=package.id,
                    recipient=recipient,
                    records=snapshot,
                )
                for delivery, recipient in zip(ids, package.recipients, strict=True)
            ]
            return Outcome(
                [package, *deliveries],
                {"package_id": str(package_id)},
                package,
                extra={"deliveries": [str(d) for d in ids]},
            )

        result = self.runner.run(
            caller, "send_package", {"package": str(package_id)}, work
        )
        if not result.replayed:
            self._tell_unregistered(caller, package_id)
        return result

    def _tell_unregistered(self, caller: Caller, package_id: UUID) -> None:
        """Recipients not on the platform learn of the package by SMS; they
        see it as guests, or once they register (manual 6.1)."""
        if self.sms is None:
            return
        package = self.own(caller, package_id)
        sender: Any = self.runner.app.repository.get(UUID(caller.enterprise_id))
        for recipient in package.recipients:
            if recipient.enterprise_id is None and recipient.mobile:
                self.sms.send(
                    recipient.mobile,
                    f"【首营平台】{sender.name}向{recipient.name}发送了首营资料，"
                    "请以本手机号登录首营平台查看。",
                )

    def mobile_of(self, caller: Caller) -> str | None:
        """The caller's mobile number: a guest's, or its account's."""
        try:
            found: Any = self.runner.app.repository.get(UUID(caller.account_id))
        except (AggregateNotFoundError, ValueError):
            return None
        mobile = getattr(found, "mobile", None)
        return str(mobile) if mobile else None

    def withdraw(self, caller: Caller, package_id: UUID) -> CommandResult:
        """Takes a sent package back while no recipient has accepted it."""

        def work() -> Outcome:
            package = self.own(caller, package_id)
            deliveries: list[Delivery] = [
                self.runner.load(UUID(d), Delivery) for d in package.deliveries
            ]
            for delivery in deliveries:
                delivery.withdraw()
            package.withdraw()
            return Outcome(
                [package, *deliveries], {"package_id": str(package_id)}, package
            )

        return self.runner.run(
            caller, "withdraw_package", {"package": str(package_id)}, work
        )

    # --- the recipient ------------------------------------------------------------

    def accept(self, caller: Caller, delivery_id: UUID) -> CommandResult:
        """Takes a delivery into the caller's library."""

        def work() -> Outcome:
            delivery = self._delivery(caller, delivery_id)
            _check_not_in_review(delivery, "accepted")
            changed, into = self.take_into_library(caller, delivery)
            delivery.accept(into)
            to_save: list[TracedAggregate] = [delivery, *changed]
            return Outcome(
                to_save,
                {"delivery_id": str(delivery_id)},
                delivery,
                extra={"into": into},
            )

        return self.runner.run(
            caller, "accept_delivery", {"delivery": str(delivery_id)}, work
        )

    def reject(self, caller: Caller, delivery_id: UUID, reason: str) -> CommandResult:
        def work() -> Outcome:
            delivery = self._delivery(caller, delivery_id)
            _check_not_in_review(delivery, "rejected")
            delivery.reject(reason)
            return Outcome([delivery], {"delivery_id": str(delivery_id)}, delivery)

        arguments = {"delivery": str(delivery_id), "reason": reason}
        return self.runner.run(caller, "reject_delivery", arguments, work)

    def take_into_library(
        self, caller: Caller, delivery: Delivery
    ) -> tuple[list[Dossier], dict[str, str]]:
        """Merges a delivery's files into the caller's library: the records
        changed or opened, and the sent record id -> the record it went into.
        Also how an accept-side review that passes ends (commands.review)."""
        changed: dict[str, Dossier] = {}
        into: dict[str, str] = {}
        for record in delivery.records:
            target = self._target(caller, record, changed, delivery.enterprise_id)
            for doc in record["documents"]:
                target.add_document(
                    qualification_type=doc["qualification_type"],
                    name=doc["name"],
                    blob=doc["blob"],
                    media_type=doc["media_type"],
                    size=doc["size"],
                    pages=doc["pages"],
                    card=doc["card"],
                    today=self.library.today(),
                    origin=Origin.RECEIVED,
                    received_from=delivery.enterprise_id,
                )
            changed[str(target.id)] = target
            into[record["record_id"]] = str(target.id)
        return list(changed.values()), into

    def supplement(
        self, caller: Caller, package_id: UUID, items: Sequence[Mapping[str, Any]]
    ) -> CommandResult:
        """More files to a sent package's recipients (补发): a package of its
        own, submitted, reviewed and sealed like any other."""
        chosen = self._items(caller, items)

        def work() -> Outcome:
            more = self.own(caller, package_id).supplement(chosen)
            return Outcome([more], {"package_id": str(more.id)}, more, created=True)

        arguments = {"package": str(package_id), "items": [i.as_dict() for i in chosen]}
        return self.runner.run(caller, "supplement_package", arguments, work)

    def revise(
        self,
        caller: Caller,
        package_id: UUID,
        recipients: Sequence[Mapping[str, Any]],
        items: Sequence[Mapping[str, Any]],
    ) -> CommandResult:
        """Edits a package not yet submitted, or withdrawn."""
        checked = [check_recipient(r, n) for n, r in enumerate(recipients)]
        chosen = self._items(caller, items)

        def work() -> Outcome:
            package = self.own(caller, package_id)
            package.revise(checked, chosen)
            return Outcome([package], {"package_id": str(package_id)}, package)

        arguments = {
            "package": str(package_id),
            "recipients": [r.as_dict() for r in checked],
            "items": [i.as_dict() for i in chosen],
        }
        return self.runner.run(caller, "revise_package", arguments, work)

    def delivery_files(
        self, caller: Caller, delivery_id: UUID
    ) -> list[tuple[str, bytes]]:
        """An accepted delivery's files, for its zip (manual 6.4: downloadable
        once accepted)."""
        delivery = self._delivery(caller, delivery_id)
        if delivery.status.value != "accepted":
            raise StateConflict(
                "accept the package before downloading it", code="PACKAGE_NOT_ACCEPTED"
            )
        return [
            (doc["name"], self.library.blobs.get(doc["blob"]))
            for record in delivery.records
            for doc in record["documents"]
        ]

    # --- plumbing -------------------------------------------------------------------

    def _check_receiver(self, recipient: Recipient, number: int) -> None:
        """A receiving department or person may be named only where the
        recipient shows them to senders (manual 12, 是否显示); a recipient
        named on the platform must be a verified enterprise."""
        if recipient.enterprise_id is None:
            return
        try:
            enterprise: Any = self.runner.app.repository.get(
                UUID(recipient.enterprise_id)
            )
        except (AggregateNotFoundError, ValueError):
            enterprise = None
        if not getattr(enterprise, "is_verified", False):
            raise InvalidValue(
                f"{recipient.name} is not a verified enterprise on the platform",
                field=f"recipients[{number}].enterprise_id",
                code="UNKNOWN_RECIPIENT",
            )
        if recipient.department_id is None and recipient.person_id is None:
            return
        try:
            organisation: Organisation = self.runner.app.repository.get(
                organisation_id(recipient.enterprise_id)
            )
        except AggregateNotFoundError:
            shown: list[Any] = []
            departments: set[str | None] = set()
        else:
            shown = [
                m
                for m in organisation.members.values()
                if m.visible and m.role_id in organisation.roles
            ]
            departments = {organisation.roles[m.role_id].department_id for m in shown}
        if recipient.person_id is not None and not any(
            m.account_id == recipient.person_id for m in shown
        ):
            raise InvalidValue(
                f"{recipient.name} shows no such receiving person",
                field=f"recipients[{number}].person_id",
                code="UNKNOWN_RECEIVER",
            )
        if (
            recipient.department_id is not None
            and recipient.department_id not in departments
        ):
            raise InvalidValue(
                f"{recipient.name} shows no such receiving department",
                field=f"recipients[{number}].department_id",
                code="UNKNOWN_RECEIVER",
            )

    def _items(self, caller: Caller, items: Sequence[Mapping[str, Any]]) -> list[Item]:
        """The chosen records of the caller's library and their files;
        deprecated files cannot be chosen (manual 6.1)."""
        chosen: list[Item] = []
        for number, raw in enumerate(items):
            record = self.library.own(caller, UUID(str(raw["record_id"])))
            documents = tuple(str(d) for d in raw.get("document_ids", ()))
            for document_id in documents:
                doc = record.document(document_id)
                if doc.deleted:
                    raise NotFound(f"no file {document_id} in record {record.id}")
                if doc.status is Status.DEPRECATED:
                    raise InvalidValue(
                        f"the file {doc.name} is deprecated and cannot be sent",
                        field=f"items[{number}].document_ids",
                        code="DOCUMENT_DEPRECATED",
                    )
            chosen.append(Item(str(record.id), record.kind, documents))
        return chosen

    def own(self, caller: Caller, package_id: UUID) -> Package:
        found: Any
        try:
            found = self.runner.app.repository.get(package_id)
        except AggregateNotFoundError:
            found = None
        if (
            not isinstance(found, Package)
            or found.enterprise_id != caller.enterprise_id
        ):
            raise NotFound(f"no package {package_id}")
        return found

    def _delivery(self, caller: Caller, delivery_id: UUID) -> Delivery:
        found: Any
        try:
            found = self.runner.app.repository.get(delivery_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, Delivery) or not found.is_for(
            caller.enterprise_id, self.mobile_of(caller)
        ):
            raise NotFound(f"no package {delivery_id} in the inbox")
        return found

    def _snapshot(self, caller: Caller, item: Item) -> dict[str, Any]:
        record = self.library.own(caller, UUID(item.record_id))
        documents = []
        for document_id in item.document_ids:
            doc = record.document(document_id)
            if doc.deleted or doc.status is Status.DEPRECATED:
                raise StateConflict(
                    f"the file {doc.name} was deleted or deprecated since the "
                    "package was composed",
                    code="DOCUMENT_CHANGED",
                )
            documents.append(
                {
                    "document_id": doc.document_id,
                    "qualification_type": doc.qualification_type,
                    "name": doc.name,
                    "blob": doc.blob,
                    "media_type": doc.media_type,
                    "size": doc.size,
                    "pages": doc.pages,
                    "card": dict(doc.card),
                }
            )
        return {
            "record_id": item.record_id,
            "kind": record.kind.value,
            "base": dict(record.base),
            "documents": documents,
        }

    def _target(
        self,
        caller: Caller,
        record: Mapping[str, Any],
        changed: dict[str, Dossier],
        sender: str,
    ) -> Dossier:
        """The recipient's record the sent one merges into: one it holds
        (restored from the recycle bin if there), else a new one."""
        kind = Kind(record["kind"])
        key = match_key(kind, record["base"])
        with self.views.transaction(write=False) as tx:
            held = find_record(
                self.engine,
                tx,
                enterprise_id=caller.enterprise_id,
                kind=kind.value,
                key=key,
            )
        record_id = (
            UUID(held)
            if held
            else uuid5(_RECEIVED, f"{caller.enterprise_id}:{kind.value}:{key}")
        )
        if str(record_id) in changed:
            return changed[str(record_id)]
        try:
            found: Any = self.runner.app.repository.get(record_id)
        except AggregateNotFoundError:
            found = None
        if isinstance(found, Dossier) and found.enterprise_id == caller.enterprise_id:
            if found.deleted:
                found.restore()
            return found
        return Dossier.open(
            enterprise_id=caller.enterprise_id,
            kind=kind.value,
            base=record["base"],
            custom={},
            today=self.library.today(),
            origin=Origin.RECEIVED,
            received_from=sender,
            dossier_id=record_id,
        )


def _check_not_in_review(delivery: Delivery, what: str) -> None:
    """A delivery under the recipient's review is decided by its final
    reviewer alone; accepting or rejecting it directly would skip the review
    and leave its flow locked (see commands.review)."""
    if delivery.status is DeliveryStatus.UNDER_REVIEW:
        raise StateConflict(
            f"the package is under review and cannot be {what} directly; its "
            "final reviewer decides",
            code="PACKAGE_UNDER_REVIEW",
        )

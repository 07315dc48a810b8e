"""Reviewing packages before they are sealed and deliveries before they are
accepted (manual 6.2, 6.4; flows of manual 12).

Starting a review changes three aggregates in one transaction: the subject
enters review, the organisation records the flow as in use (so it is neither
changed nor deleted meanwhile), and a :class:`~aggregates.review.Review`
starts. Each reviewer's step is one transaction too: the review, the
organisation's record of who holds it, and, when the final level submits, the
subject's outcome (a package ready to seal or blocked; a delivery merged into
the library or rejected with the final opinion).

Reviewing needs no permission of the catalogue: who may review follows from
the flow. The command reads the role the caller holds now from the
organisation and the review checks it against the level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.base import TracedAggregate
from aggregates.errors import StateConflict
from aggregates.organisation import Flow, Organisation, UnknownPart, organisation_id
from aggregates.package import Delivery, Package
from aggregates.review import NotYourReview, Review, ReviewFile, SubjectKind
from commands.errors import NotFound
from commands.exchange import ExchangeCommands
from commands.platform import Caller, CommandResult, CommandRunner, Outcome


class ReviewCommands:
    def __init__(self, runner: CommandRunner, exchange: ExchangeCommands) -> None:
        self.runner = runner
        self.exchange = exchange

    # --- starting a review ------------------------------------------------------

    def submit_package(
        self, caller: Caller, package_id: UUID, flow_id: str
    ) -> CommandResult:
        """Submits a composed package into the review of one of the
        enterprise's send-triggered flows."""

        def work() -> Outcome:
            package = self.exchange.own(caller, package_id)
            organisation = self._organisation(caller)
            flow = _flow(organisation, flow_id)
            review = Review.start(
                enterprise_id=caller.enterprise_id,
                subject_kind=SubjectKind.PACKAGE,
                subject_id=str(package_id),
                flow_id=flow_id,
                flow_name=flow.name,
                trigger=flow.trigger.value,
                levels=[(lv.role_id, lv.account_id) for lv in flow.levels],
                files=self._package_files(caller, package),
                attempt=package.revisions + 1,
            )
            package.submit(flow_id)
            organisation.start_review(str(package_id), flow_id)
            return Outcome(
                [package, organisation, review],
                {"package_id": str(package_id), "review_id": str(review.id)},
                package,
            )

        arguments = {"package": str(package_id), "flow_id": flow_id}
        return self.runner.run(caller, "submit_package_for_review", arguments, work)

    def accept_with_review(
        self, caller: Caller, delivery_id: UUID, flow_id: str
    ) -> CommandResult:
        """Accepts a delivery through one of the enterprise's accept-triggered
        flows: its files reach the library when the final level passes them."""

        def work() -> Outcome:
            delivery = self._delivery(caller, delivery_id)
            organisation = self._organisation(caller)
            flow = _flow(organisation, flow_id)
            review = Review.start(
                enterprise_id=caller.enterprise_id,
                subject_kind=SubjectKind.DELIVERY,
                subject_id=str(delivery_id),
                flow_id=flow_id,
                flow_name=flow.name,
                trigger=flow.trigger.value,
                levels=[(lv.role_id, lv.account_id) for lv in flow.levels],
                files=[
                    ReviewFile(doc["document_id"], doc["name"], record["record_id"])
                    for record in delivery.records
                    for doc in record["documents"]
                ],
            )
            delivery.start_review(flow_id)
            organisation.start_review(str(delivery_id), flow_id)
            return Outcome(
                [delivery, organisation, review],
                {"delivery_id": str(delivery_id), "review_id": str(review.id)},
                delivery,
            )

        arguments = {"delivery": str(delivery_id), "flow_id": flow_id}
        return self.runner.run(caller, "accept_with_review", arguments, work)

    # --- reviewing ----------------------------------------------------------------

    def open(self, caller: Caller, rid: UUID) -> CommandResult:
        """Opens the current level for the caller; the first member to open
        an any-member level locks it."""
        return self._step(
            caller,
            "open_review",
            {"review": str(rid)},
            rid,
            lambda r, role: r.open(caller.account_id, role),
        )

    def save(
        self,
        caller: Caller,
        rid: UUID,
        verdicts: Mapping[str, str],
        opinion: str | None,
    ) -> CommandResult:
        """Keeps the caller's verdicts and opinion so far, to go on later."""
        arguments = {"review": str(rid), "verdicts": dict(verdicts), "opinion": opinion}
        return self._step(
            caller,
            "save_review",
            arguments,
            rid,
            lambda r, role: r.save(caller.account_id, role, verdicts, opinion),
        )

    def submit(
        self,
        caller: Caller,
        rid: UUID,
        verdicts: Mapping[str, str],
        opinion: str | None,
    ) -> CommandResult:
        """Passes the level on; from the final level, decides the subject."""
        arguments = {"review": str(rid), "verdicts": dict(verdicts), "opinion": opinion}
        return self._step(
            caller,
            "submit_review",
            arguments,
            rid,
            lambda r, role: r.submit(caller.account_id, role, verdicts, opinion),
        )

    # --- the dispatch queue -------------------------------------------------------

    def discard_failed(self, caller: Caller, rid: UUID) -> CommandResult:
        """The final reviewer of a failed send review deletes the package's
        task (manual 6.2), whatever their other permissions."""

        def work() -> Outcome:
            review = self._review(caller, rid)
            if review.subject_kind is not SubjectKind.PACKAGE or review.passed:
                raise StateConflict(
                    "only a package whose review failed is deleted by its reviewer",
                    code="REVIEW_NOT_FAILED",
                )
            if (
                not review.finished
                or review.states[-1].submitted_by != caller.account_id
            ):
                raise NotYourReview("only the final reviewer deletes the task")
            package = self.exchange.own(caller, UUID(review.subject_id))
            package.discard()
            return Outcome([package], {"package_id": review.subject_id}, package)

        return self.runner.run(caller, "discard_reviewed", {"review": str(rid)}, work)

    def discard_package(self, caller: Caller, package_id: UUID) -> CommandResult:
        """Deletes a task from the dispatch queue: one whose review failed
        (manual 6.2: not kept, not recoverable), or one not yet sealed."""

        def work() -> Outcome:
            package = self.exchange.own(caller, package_id)
            package.discard()
            return Outcome([package], {"package_id": str(package_id)}, package)

        return self.runner.run(
            caller, "discard_package", {"package": str(package_id)}, work
        )

    # --- reading ------------------------------------------------------------------

    def role_of(self, enterprise_id: str, account_id: str) -> str | None:
        """The role an account holds now, or None when it is no member."""
        try:
            found: Organisation = self.runner.app.repository.get(
                organisation_id(enterprise_id)
            )
        except AggregateNotFoundError:
            return None
        member = found.members.get(account_id)
        return member.role_id if member is not None else None

    # --- plumbing -----------------------------------------------------------------

    def _step(
        self,
        caller: Caller,
        command: str,
        arguments: Mapping[str, Any],
        rid: UUID,
        act: Callable[[Review, str], None],
    ) -> CommandResult:
        """One reviewer's step: the review acts, the organisation learns who
        holds it, and a final submission decides the subject."""

        def work() -> Outcome:
            review = self._review(caller, rid)
            organisation = self._organisation(caller)
            role = organisation.member(caller.account_id).role_id
            holder = review.holder

            act(review, role)

            to_save: list[TracedAggregate] = [review]
            if review.finished:
                organisation.end_review(review.subject_id)
                to_save += self._decide(caller, review)
            elif review.holder != holder:
                # The account opening a level holds the review: it is not
                # deleted until the review ends (manual 12).
                organisation.take_review(review.subject_id, caller.account_id)
            to_save.append(organisation)
            return Outcome(
                to_save,
                {"review_id": str(rid)},
                review,
                extra={"status": review.status.value, "level": review.current_level},
            )

        return self.runner.run(caller, command, arguments, work)

    def _decide(self, caller: Caller, review: Review) -> list[TracedAggregate]:
        """The subject's outcome once the final level has submitted."""
        subject = UUID(review.subject_id)
        if review.subject_kind is SubjectKind.PACKAGE:
            package = self.exchange.own(caller, subject)
            package.finish_review(review.passed, review.final_opinion)
            return [package]
        delivery = self._delivery(caller, subject)
        if not review.passed:
            delivery.reject(review.final_opinion)
            return [delivery]
        changed, into = self.exchange.take_into_library(caller, delivery)
        delivery.accept(into)
        return [delivery, *changed]

    def _review(self, caller: Caller, rid: UUID) -> Review:
        found: Any
        try:
            found = self.runner.app.repository.get(rid)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, Review) or found.enterprise_id != caller.enterprise_id:
            raise NotFound(f"no review {rid}")
        return found

    def _delivery(self, caller: Caller, delivery_id: UUID) -> Delivery:
        """A delivery addressed to the caller's enterprise (only enterprises
        on the platform have review flows)."""
        found: Any
        try:
            found = self.runner.app.repository.get(delivery_id)
        except AggregateNotFoundError:
            found = None
        if (
            not isinstance(found, Delivery)
            or found.recipient.enterprise_id != caller.enterprise_id
        ):
            raise NotFound(f"no package {delivery_id} in the inbox")
        return found

    def _organisation(self, caller: Caller) -> Organisation:
        try:
            found: Organisation = self.runner.app.repository.get(
                organisation_id(caller.enterprise_id)
            )
        except AggregateNotFoundError:
            raise NotFound(
                "the enterprise has no review flows; add one in the review settings"
            ) from None
        return found

    def _package_files(self, caller: Caller, package: Package) -> list[ReviewFile]:
        files = []
        for record_id, document_id in package.files():
            record = self.exchange.library.own(caller, UUID(record_id))
            name = record.document(document_id).name
            files.append(ReviewFile(document_id, name, record_id))
        return files


def _flow(organisation: Organisation, flow_id: str) -> Flow:
    flow = organisation.flows.get(flow_id)
    if flow is None:
        raise UnknownPart(f"no review flow {flow_id}", field="flow_id")
    return flow

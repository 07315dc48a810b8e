"""Reviewing exchanged documents (manual 6.2 and 6.4, 审核; flows of manual
12): a package on the sender's side before it is sealed, a received delivery
on the recipient's side before its files enter the library.

One :class:`Review` per reviewed thing, its id derived from the thing, owned
by the reviewing enterprise (the sender for a package, the recipient for a
delivery), so that audit and views scope its events to whoever reviews. It
keeps a snapshot of the flow's levels and of the files under review: a flow
cannot change while in use, and the files a reviewer judged must stay the
files the verdicts name.

Who may act. A level names a role and either any member of it or one account.
At an any-member level the first member to open the review locks the level to
themselves; the others may look but not act (``REVIEW_LOCKED``). A level
naming an account opens for that account only. The aggregate knows accounts by
id alone, so the command layer tells it the role the acting account holds now
(read from the organisation), and the rule itself is checked here.

The outcome. A non-final level may submit with files left unprocessed, and
the flow moves on whatever it judged (the manual: "不管审核是否通过，审核流均会
继续流向下级"); its verdicts and opinion are advice that later levels read. The
final level must judge every file (``REVIEW_INCOMPLETE``), and its judgement
alone decides: the review passes exactly when the final level failed no file.
A level that fails a file says why in its opinion (``OPINION_REQUIRED``).

A thing is reviewed once: a package enters review only from draft and a
delivery only while waiting, and neither goes back, so the derived id never
has to name a second review of the same thing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError, InvalidValue, StateConflict

OPINION_MAX_LENGTH = 500

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:review")


class SubjectKind(enum.StrEnum):
    #: The sender's package, reviewed before it is sealed (trigger "send").
    PACKAGE = "package"
    #: A received delivery, reviewed before it is accepted (trigger "accept").
    DELIVERY = "delivery"


#: The flow trigger each kind of subject is reviewed under.
TRIGGER_OF = {SubjectKind.PACKAGE: "send", SubjectKind.DELIVERY: "accept"}


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"


class ReviewStatus(enum.StrEnum):
    IN_REVIEW = "in_review"
    PASSED = "passed"
    FAILED = "failed"


def review_id(
    kind: SubjectKind | str, subject_id: UUID | str, attempt: int = 1
) -> UUID:
    """A subject's ``attempt``-th review (a package edited after it was
    withdrawn is reviewed again)."""
    suffix = "" if attempt == 1 else f":{attempt}"
    return uuid5(_NAMESPACE, f"{SubjectKind(kind).value}:{subject_id}{suffix}")


class NotYourReview(DomainError):
    """The acting account is not a reviewer of the review's current level."""

    code = "NOT_YOUR_REVIEW"
    status = 403


@dataclass(frozen=True)
class ReviewLevel:
    """A level as the flow defined it when the review started."""

    number: int
    role_id: str
    account_id: str | None

    @property
    def any_member(self) -> bool:
        return self.account_id is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "role_id": self.role_id,
            "account_id": self.account_id,
        }


@dataclass(frozen=True)
class ReviewFile:
    document_id: str
    name: str
    #: The record holding the file, where the subject has records.
    record_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "name": self.name,
            "record_id": self.record_id,
        }


@dataclass(frozen=True)
class LevelState:
    """What a level has done so far."""

    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    opinion: str = ""
    #: Who opened the level first; at an any-member level, its lock.
    holder: str | None = None
    submitted_by: str | None = None


class Review(TracedAggregate):
    class Started(TracedAggregate.Created):
        subject_kind: str
        subject_id: str
        flow_id: str
        flow_name: str
        levels: list[dict[str, Any]]
        files: list[dict[str, Any]]

        def summary(self) -> str:
            return (
                f"review of {self.subject_kind} {self.subject_id} started: "
                f"{len(self.levels)} levels, {len(self.files)} files"
            )

    class Opened(TracedAggregate.Event):
        level: int
        account_id: str

        def summary(self) -> str:
            return f"level {self.level} opened"

        def apply(self, aggregate: Any) -> None:
            aggregate._change_level(self.level, holder=self.account_id)

    class Saved(TracedAggregate.Event):
        level: int
        verdicts: dict[str, str]
        opinion: str

        def summary(self) -> str:
            return f"level {self.level} saved {len(self.verdicts)} verdicts"

        def apply(self, aggregate: Any) -> None:
            aggregate._change_level(
                self.level,
                verdicts={d: Verdict(v) for d, v in self.verdicts.items()},
                opinion=self.opinion,
            )

    class Submitted(TracedAggregate.Event):
        level: int
        account_id: str
        verdicts: dict[str, str]
        opinion: str

        def summary(self) -> str:
            failed = sum(1 for v in self.verdicts.values() if v == Verdict.FAIL)
            return (
                f"level {self.level} submitted: {len(self.verdicts)} judged, "
                f"{failed} failed"
            )

        def apply(self, aggregate: Any) -> None:
            aggregate._change_level(
                self.level,
                verdicts={d: Verdict(v) for d, v in self.verdicts.items()},
                opinion=self.opinion,
                submitted_by=self.account_id,
            )
            if self.level < len(aggregate.levels):
                aggregate.current_level = self.level + 1

    class Finished(TracedAggregate.Event):
        passed: bool

        def summary(self) -> str:
            return "review passed" if self.passed else "review failed"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = (
                ReviewStatus.PASSED if self.passed else ReviewStatus.FAILED
            )

    def __init__(
        self,
        subject_kind: str,
        subject_id: str,
        flow_id: str,
        flow_name: str,
        levels: list[dict[str, Any]],
        files: list[dict[str, Any]],
    ) -> None:
        self.subject_kind = SubjectKind(subject_kind)
        self.subject_id = subject_id
        self.flow_id = flow_id
        self.flow_name = flow_name
        self.levels = [
            ReviewLevel(lv["number"], lv["role_id"], lv["account_id"]) for lv in levels
        ]
        self.files = [
            ReviewFile(f["document_id"], f["name"], f["record_id"]) for f in files
        ]
        self.states = [LevelState() for _ in self.levels]
        self.current_level = 1
        self.status = ReviewStatus.IN_REVIEW

    @classmethod
    def start(
        cls,
        *,
        enterprise_id: str,
        subject_kind: SubjectKind,
        subject_id: str,
        flow_id: str,
        flow_name: str,
        trigger: str,
        levels: Sequence[tuple[str, str | None]],
        files: Sequence[ReviewFile],
        attempt: int = 1,
    ) -> Review:
        """A review of ``subject_id`` by ``enterprise_id`` under a flow whose
        levels are (role id, named account or None), first level first;
        ``attempt`` counts the subject's reviews."""
        expected = TRIGGER_OF[subject_kind]
        if trigger != expected:
            raise InvalidValue(
                f"a {subject_kind.value} is reviewed with a flow triggered by "
                f"{expected!r}, not {trigger!r}; choose another flow",
                field="flow_id",
                code="REVIEW_FLOW_TRIGGER",
            )
        if not levels:
            raise InvalidValue("a review flow has at least one level", field="flow_id")
        if not files:
            raise InvalidValue("there is no file to review", field="files")
        return cls._create(
            cls.Started,
            id=review_id(subject_kind, subject_id, attempt),
            enterprise_id=enterprise_id,
            subject_kind=subject_kind.value,
            subject_id=subject_id,
            flow_id=flow_id,
            flow_name=flow_name,
            levels=[
                ReviewLevel(n, role, account).as_dict()
                for n, (role, account) in enumerate(levels, start=1)
            ],
            files=[f.as_dict() for f in files],
        )

    # --- reading ------------------------------------------------------------

    @property
    def level(self) -> ReviewLevel:
        """The level whose turn it is (the final one once finished)."""
        return self.levels[self.current_level - 1]

    @property
    def state(self) -> LevelState:
        return self.states[self.current_level - 1]

    @property
    def finished(self) -> bool:
        return self.status is not ReviewStatus.IN_REVIEW

    @property
    def passed(self) -> bool:
        return self.status is ReviewStatus.PASSED

    @property
    def holder(self) -> str | None:
        """Who opened the current level, if anyone has."""
        return self.state.holder

    @property
    def final_opinion(self) -> str:
        return self.states[-1].opinion

    # --- reviewing ------------------------------------------------------------

    def open(self, account_id: str, role_id: str) -> None:
        """Opens the current level for ``account_id``, who holds ``role_id``
        now; the first opener of an any-member level locks it."""
        first = self._check_may_act(account_id, role_id)
        if first:
            self._lock(account_id)

    def save(
        self,
        account_id: str,
        role_id: str,
        verdicts: Mapping[str, str],
        opinion: str | None,
    ) -> None:
        """Keeps the level's progress without passing it on. ``verdicts`` are
        the level's whole judgement so far; files not named are unprocessed."""
        first = self._check_may_act(account_id, role_id)
        checked = self._check_verdicts(verdicts)
        text = _check_opinion(opinion)
        if first:
            self._lock(account_id)
        self.trigger_event(
            self.Saved,
            level=self.current_level,
            verdicts={d: v.value for d, v in checked.items()},
            opinion=text,
        )

    def submit(
        self,
        account_id: str,
        role_id: str,
        verdicts: Mapping[str, str],
        opinion: str | None,
    ) -> None:
        """Passes the level's judgement on to the next level or, from the
        final level, decides the review (see the module's outcome rule)."""
        first = self._check_may_act(account_id, role_id)
        checked = self._check_verdicts(verdicts)
        text = _check_opinion(opinion)
        final = self.current_level == len(self.levels)
        if final:
            self._check_complete(checked)
        if Verdict.FAIL in checked.values() and not text:
            raise InvalidValue(
                "a level that fails a file says why in its opinion",
                field="opinion",
                code="OPINION_REQUIRED",
            )
        if first:
            self._lock(account_id)
        self.trigger_event(
            self.Submitted,
            level=self.current_level,
            account_id=account_id,
            verdicts={d: v.value for d, v in checked.items()},
            opinion=text,
        )
        if final:
            self.trigger_event(
                self.Finished, passed=Verdict.FAIL not in checked.values()
            )

    # --- rules ----------------------------------------------------------------

    def _check_may_act(self, account_id: str, role_id: str) -> bool:
        """Whether the account may act at the current level; True when it is
        the first to open it."""
        if self.finished:
            raise StateConflict(
                f"the review has finished ({self.status.value})",
                code="REVIEW_FINISHED",
            )
        level, holder = self.level, self.holder
        if level.account_id is not None:
            if account_id != level.account_id:
                raise NotYourReview(
                    f"level {level.number} is reviewed by one named account only"
                )
        elif role_id != level.role_id:
            raise NotYourReview(
                f"level {level.number} is reviewed by the members of another role"
            )
        elif holder is not None and holder != account_id:
            raise StateConflict(
                f"level {level.number} was opened by another member first; it is "
                "theirs to review",
                code="REVIEW_LOCKED",
            )
        return holder is None

    def _check_verdicts(self, verdicts: Mapping[str, str]) -> dict[str, Verdict]:
        known = {f.document_id for f in self.files}
        checked: dict[str, Verdict] = {}
        for document_id, verdict in verdicts.items():
            if document_id not in known:
                raise InvalidValue(
                    f"no file {document_id} is under this review",
                    field=f"verdicts.{document_id}",
                )
            try:
                checked[document_id] = Verdict(verdict)
            except ValueError:
                raise InvalidValue(
                    f"a verdict is 'pass' or 'fail', not {verdict!r}",
                    field=f"verdicts.{document_id}",
                ) from None
        return checked

    def _check_complete(self, verdicts: Mapping[str, Verdict]) -> None:
        unprocessed = [f.name for f in self.files if f.document_id not in verdicts]
        if unprocessed:
            raise InvalidValue(
                f"the final level judges every file; {len(unprocessed)} are "
                f"unprocessed: {', '.join(unprocessed)}",
                field="verdicts",
                code="REVIEW_INCOMPLETE",
            )

    def _lock(self, account_id: str) -> None:
        self.trigger_event(self.Opened, level=self.current_level, account_id=account_id)

    def _change_level(self, number: int, **changes: Any) -> None:
        self.states[number - 1] = replace(self.states[number - 1], **changes)


def _check_opinion(opinion: str | None) -> str:
    text = (opinion or "").strip()
    if len(text) > OPINION_MAX_LENGTH:
        raise InvalidValue(
            f"an opinion has at most {OPINION_MAX_LENGTH} characters",
            field="opinion",
        )
    return text

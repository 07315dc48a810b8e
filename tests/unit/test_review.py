"""Reviews with no I/O: a hypothesis state machine lets random accounts open,
save and submit in random order under a random flow, and checks after each
step that a refusal came exactly when a rule says so (and changed nothing),
that no review finishes while its final level left a file unprocessed, and
that the review read back from its events equals the live one."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from aggregates.errors import DomainError, InvalidValue
from aggregates.organisation import ADMIN_ROLE
from aggregates.review import (
    Review,
    ReviewFile,
    ReviewStatus,
    SubjectKind,
    Verdict,
    review_id,
)

#: Account -> the role it holds; two members for some roles, so that the
#: lock of an any-member level has someone to keep out.
ROLE_OF = {
    "admin": ADMIN_ROLE,
    "a1": "r1",
    "a2": "r1",
    "b1": "r2",
    "b2": "r2",
    "c1": "r3",
    "outsider": "r4",
}
ROLES = [ADMIN_ROLE, "r1", "r2", "r3"]
ACCOUNTS = sorted(ROLE_OF)


def files(count: int) -> list[ReviewFile]:
    return [ReviewFile(f"doc{n}", f"资质{n}.pdf", "record") for n in range(count)]


def started(
    levels: list[tuple[str, str | None]],
    count: int = 2,
    kind: SubjectKind = SubjectKind.PACKAGE,
) -> Review:
    return Review.start(
        enterprise_id="sender",
        subject_kind=kind,
        subject_id=str(uuid4()),
        flow_id="flow",
        flow_name="发送审核",
        trigger="send" if kind is SubjectKind.PACKAGE else "accept",
        levels=levels,
        files=files(count),
    )


def outcome(action: Any) -> str | None:
    """The code of the refusal, or None when the action was allowed."""
    try:
        action()
    except DomainError as e:
        return e.code
    return None


verdicts = st.dictionaries(
    st.sampled_from([f"doc{n}" for n in range(3)]), st.sampled_from(["pass", "fail"])
)
opinions = st.sampled_from(["", "资料齐全", "营业执照已过期"])


class ReviewRules(RuleBasedStateMachine):
    """Keeps its own plain model (level, holders, finished) beside the
    aggregate and predicts each answer from it."""

    def __init__(self) -> None:
        super().__init__()
        self.app = Application[UUID]()

    @initialize(data=st.data(), count=st.integers(1, 3))
    def start(self, data: st.DataObject, count: int) -> None:
        roles = data.draw(
            st.lists(st.sampled_from(ROLES), min_size=1, max_size=4, unique=True)
        )
        self.levels: list[tuple[str, str | None]] = []
        for role in roles:
            holders = sorted(a for a, r in ROLE_OF.items() if r == role)
            named = data.draw(st.none() | st.sampled_from(holders))
            self.levels.append((role, named))
        self.count = count
        self.review = started(self.levels, count)
        self.current = 1
        self.holders: dict[int, str] = {}
        self.finished = False

    # --- the model --------------------------------------------------------------

    def refusal(self, account: str) -> str | None:
        """Why ``account`` may not act now, by the rules as the manual says."""
        if self.finished:
            return "REVIEW_FINISHED"
        role, named = self.levels[self.current - 1]
        if named is not None:
            return None if account == named else "NOT_YOUR_REVIEW"
        if ROLE_OF[account] != role:
            return "NOT_YOUR_REVIEW"
        holder = self.holders.get(self.current)
        return "REVIEW_LOCKED" if holder not in (None, account) else None

    def judged(self, given: dict[str, str]) -> dict[str, str]:
        return {d: v for d, v in given.items() if int(d[3:]) < self.count}

    def act(self, account: str, expected: str | None, action: Any) -> None:
        before = self.review.version

        code = outcome(action)

        assert code == expected
        if code is None:
            self.holders.setdefault(self.current, account)
        else:
            assert self.review.version == before

    # --- steps --------------------------------------------------------------------

    @rule(account=st.sampled_from(ACCOUNTS))
    def open(self, account: str) -> None:
        self.act(
            account,
            self.refusal(account),
            lambda: self.review.open(account, ROLE_OF[account]),
        )

    @rule(account=st.sampled_from(ACCOUNTS), given=verdicts, opinion=opinions)
    def save(self, account: str, given: dict[str, str], opinion: str) -> None:
        judged = self.judged(given)
        self.act(
            account,
            self.refusal(account),
            lambda: self.review.save(account, ROLE_OF[account], judged, opinion),
        )

    @rule(account=st.sampled_from(ACCOUNTS), given=verdicts, opinion=opinions)
    def submit(self, account: str, given: dict[str, str], opinion: str) -> None:
        judged = self.judged(given)
        final = self.current == len(self.levels)
        expected = self.refusal(account)
        if expected is None and final and len(judged) < self.count:
            expected = "REVIEW_INCOMPLETE"
        if expected is None and "fail" in judged.values() and not opinion:
            expected = "OPINION_REQUIRED"

        self.act(
            account,
            expected,
            lambda: self.review.submit(account, ROLE_OF[account], judged, opinion),
        )

        if expected is None:
            if final:
                self.finished = True
                assert self.review.passed == ("fail" not in judged.values())
            else:
                self.current += 1

    def reviewer(self) -> str:
        """Someone who may act at the current level."""
        role, named = self.levels[self.current - 1]
        account = named or self.holders.get(self.current)
        return account or next(a for a in ACCOUNTS if ROLE_OF[a] == role)

    @precondition(lambda self: not self.finished)
    @rule(given=verdicts, opinion=opinions)
    def a_reviewer_of_the_level_submits(
        self, given: dict[str, str], opinion: str
    ) -> None:
        """Reaches further levels, and the final one, more often than
        accounts drawn at random would."""
        self.submit(self.reviewer(), given, opinion)

    @precondition(lambda self: not self.finished)
    @rule()
    def a_reviewer_of_the_level_passes_everything(self) -> None:
        everything = {f"doc{n}": "pass" for n in range(self.count)}
        self.submit(self.reviewer(), everything, "")

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def the_model_and_the_review_agree(self) -> None:
        assert self.review.current_level == self.current
        assert self.review.finished == self.finished
        for number, state in enumerate(self.review.states, start=1):
            assert state.holder == self.holders.get(number)

    @invariant()
    def every_holder_was_a_reviewer_of_their_level(self) -> None:
        for level, state in zip(self.review.levels, self.review.states, strict=True):
            if state.holder is None:
                continue
            if level.account_id is not None:
                assert state.holder == level.account_id
            else:
                assert ROLE_OF[state.holder] == level.role_id

    @invariant()
    def a_finished_review_has_every_file_judged_at_the_final_level(self) -> None:
        if self.review.finished:
            final = self.review.states[-1]
            assert set(final.verdicts) == {f"doc{n}" for n in range(self.count)}
            assert final.submitted_by is not None

    @invariant()
    def replay_equals_live(self) -> None:
        self.app.save(self.review)
        copy: Review = self.app.repository.get(self.review.id)
        for part in ("levels", "files", "states", "current_level", "status"):
            assert getattr(copy, part) == getattr(self.review, part), part


TestReviewRules = ReviewRules.TestCase
TestReviewRules.settings = settings(
    max_examples=80, stateful_step_count=25, deadline=None
)


# --- single rules ------------------------------------------------------------


def test_a_later_level_reads_the_opinion_an_earlier_one_submitted() -> None:
    review = started([("r1", None), ("r2", "b1")])

    review.submit("a1", "r1", {"doc0": "fail"}, "经营范围不符")

    assert review.current_level == 2
    assert review.states[0].opinion == "经营范围不符"
    assert review.states[0].verdicts == {"doc0": Verdict.FAIL}


def test_the_final_levels_judgement_alone_decides() -> None:
    review = started([("r1", None), ("r2", None)])

    review.submit("a1", "r1", {"doc0": "fail", "doc1": "fail"}, "不合格")
    review.submit("b2", "r2", {"doc0": "pass", "doc1": "pass"}, "")

    assert review.status is ReviewStatus.PASSED


def test_a_failed_file_at_the_final_level_fails_the_review() -> None:
    review = started([("r1", "a2")])

    review.submit("a2", "r1", {"doc0": "pass", "doc1": "fail"}, "批件过期")

    assert review.status is ReviewStatus.FAILED
    assert review.final_opinion == "批件过期"


def test_a_review_is_started_only_with_a_flow_of_its_sides_trigger() -> None:
    with pytest.raises(InvalidValue) as refused:
        Review.start(
            enterprise_id="recipient",
            subject_kind=SubjectKind.DELIVERY,
            subject_id="d1",
            flow_id="flow",
            flow_name="发送审核",
            trigger="send",
            levels=[("r1", None)],
            files=files(1),
        )

    assert refused.value.code == "REVIEW_FLOW_TRIGGER"


def test_a_verdict_on_a_file_not_under_review_is_refused() -> None:
    review = started([("r1", None)])

    with pytest.raises(InvalidValue) as refused:
        review.save("a1", "r1", {"other": "pass"}, "")

    assert refused.value.field == "verdicts.other"
    assert review.holder is None


def test_the_id_follows_from_the_subject() -> None:
    review = started([("r1", None)], kind=SubjectKind.DELIVERY)

    assert review.id == review_id("delivery", review.subject_id)
    assert review.id != review_id("package", review.subject_id)

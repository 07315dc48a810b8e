"""The review rules under any sequence of decisions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from aggregates.enterprise import Enterprise, Information, Status
from aggregates.errors import DomainError
from tests.examples import information

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

actions = st.lists(
    st.one_of(
        st.just(("approve", "")),
        st.just(("submit", "")),
        st.tuples(st.just("reject"), st.text(max_size=600)),
    ),
    max_size=10,
)


@given(attempts=actions)
def test_status_follows_only_the_decisions_that_were_allowed(
    attempts: list[tuple[str, str]],
) -> None:
    enterprise = Enterprise.register(name="某医院", admin_account_id=uuid4(), now=NOW)
    enterprise.record_information(
        Information.checked(NOW.date(), **information(1)), NOW
    )
    expected = Status.INCOMPLETE

    for action, reason in attempts:
        try:
            if action == "approve":
                enterprise.approve()
            elif action == "submit":
                enterprise.submit(NOW)
            else:
                enterprise.reject(reason)
        except DomainError:
            continue
        # A command that was not refused moved the status as the rules say.
        if action == "submit":
            assert expected in (Status.INCOMPLETE, Status.REJECTED)
            expected = Status.PENDING_REVIEW
        else:
            assert expected is Status.PENDING_REVIEW
            expected = Status.APPROVED if action == "approve" else Status.REJECTED
            if action == "reject":
                assert 0 < len(reason.strip()) <= 500

    assert enterprise.status is expected
    events = [type(e).__name__ for e in enterprise.collect_events()]
    decided = [e for e in events if e in ("Approved", "Rejected")]
    assert len(decided) == events.count("Submitted") or (
        expected is Status.PENDING_REVIEW
        and len(decided) == events.count("Submitted") - 1
    )

"""The review rules under any sequence of decisions (hypothesis)."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from aggregates.enterprise import Enterprise, Status
from aggregates.errors import DomainError
from tests.examples import credit_code

decisions = st.lists(
    st.one_of(
        st.just(("approve", "")),
        st.tuples(st.just("reject"), st.text(max_size=600)),
    ),
    max_size=8,
)


@given(attempts=decisions)
def test_an_enterprise_is_decided_at_most_once_by_its_first_valid_decision(
    attempts: list[tuple[str, str]],
) -> None:
    enterprise = Enterprise.register(
        name="某医院",
        uscc=credit_code(1),
        category="public_hospital",
        admin_account_id=uuid4(),
    )
    first_valid = next(
        (
            (action, reason.strip())
            for action, reason in attempts
            if action == "approve" or 0 < len(reason.strip()) <= 500
        ),
        None,
    )

    for action, reason in attempts:
        try:
            if action == "approve":
                enterprise.approve()
            else:
                enterprise.reject(reason)
        except DomainError:
            pass

    events = [type(e).__name__ for e in enterprise.collect_events()]
    assert events[0] == "Registered"
    assert len(events) <= 2
    if first_valid is None:
        assert enterprise.status is Status.PENDING_REVIEW
    elif first_valid[0] == "approve":
        assert enterprise.status is Status.APPROVED
    else:
        assert enterprise.status is Status.REJECTED
        assert enterprise.rejection_reason == first_valid[1]

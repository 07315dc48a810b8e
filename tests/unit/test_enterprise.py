"""The enterprise aggregate's rules, with no I/O."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application

from aggregates.base import acting
from aggregates.enterprise import Enterprise, Status
from aggregates.errors import InvalidValue, StateConflict
from tests.examples import credit_code


def new_enterprise(**overrides: Any) -> Enterprise:
    arguments: dict[str, Any] = {
        "name": "  广州  白云山医药有限公司 ",
        "uscc": credit_code(),
        "category": "retail_pharmacy",
        "admin_account_id": uuid4(),
    }
    arguments.update(overrides)
    return Enterprise.register(**arguments)


def test_a_registered_enterprise_waits_for_review_with_a_tidied_name() -> None:
    enterprise = new_enterprise()

    assert enterprise.status is Status.PENDING_REVIEW
    assert enterprise.name == "广州 白云山医药有限公司"
    assert not enterprise.is_verified


def test_every_event_names_the_actor_the_enterprise_and_the_request() -> None:
    with acting("account-7", "req-42"):
        enterprise = new_enterprise()
        enterprise.approve()

    events = enterprise.collect_events()

    assert [type(e).__name__ for e in events] == ["Registered", "Approved"]
    for event in events:
        assert event.actor == "account-7"  # type: ignore[attr-defined]
        assert event.correlation_id == "req-42"  # type: ignore[attr-defined]
        assert event.enterprise_id == str(enterprise.id)  # type: ignore[attr-defined]


def test_an_invalid_credit_code_is_refused_with_its_own_code() -> None:
    with pytest.raises(InvalidValue) as refused:
        new_enterprise(uscc="91350100M000100Y44")

    assert refused.value.code == "INVALID_USCC"
    assert refused.value.field == "uscc"


def test_an_unknown_category_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(InvalidValue, match="retail_pharmacy"):
        new_enterprise(category="casino")


def test_an_approved_enterprise_cannot_be_approved_or_rejected_again() -> None:
    enterprise = new_enterprise()
    enterprise.approve()

    with pytest.raises(StateConflict) as again:
        enterprise.approve()
    with pytest.raises(StateConflict):
        enterprise.reject("late")

    assert again.value.code == "ENTERPRISE_NOT_PENDING"
    assert enterprise.status is Status.APPROVED


def test_a_rejection_needs_a_reason_and_keeps_it() -> None:
    enterprise = new_enterprise()

    with pytest.raises(InvalidValue):
        enterprise.reject("   ")
    enterprise.reject("营业执照照片不清晰")

    assert enterprise.status is Status.REJECTED
    assert enterprise.rejection_reason == "营业执照照片不清晰"


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    app: Application[Any] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
    )
    enterprise = new_enterprise()
    enterprise.reject("缺少授权委托书")
    app.save(enterprise)

    replayed = app.repository.get(enterprise.id)

    assert replayed.public_state() == enterprise.public_state()


def test_a_version_1_registration_upcasts_to_the_enterprise_category() -> None:
    state: dict[str, Any] = {"name": "x", "uscc": credit_code()}

    Enterprise.Registered.upcast_v1_v2(state)

    assert state["category"] == "enterprise"

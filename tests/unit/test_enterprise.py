"""The enterprise aggregate's rules, with no I/O and a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import given
from hypothesis import strategies as st

from aggregates.base import acting
from aggregates.enterprise import (
    COMPLETION_WINDOW,
    Enterprise,
    Information,
    Status,
)
from aggregates.errors import DomainError, InvalidValue, StateConflict
from tests.examples import credit_code, information

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def registered(name: str = "  广州  白云山医药有限公司 ") -> Enterprise:
    return Enterprise.register(name=name, admin_account_id=uuid4(), now=NOW)


def info(**overrides: str) -> Information:
    return Information.checked(NOW.date(), **information(1, **overrides))


def submitted() -> Enterprise:
    enterprise = registered()
    enterprise.record_information(info(), NOW)
    enterprise.submit(NOW)
    return enterprise


def approved() -> Enterprise:
    enterprise = submitted()
    enterprise.approve()
    return enterprise


def test_a_registered_enterprise_is_incomplete_with_a_tidied_name() -> None:
    enterprise = registered()

    assert enterprise.status is Status.INCOMPLETE
    assert enterprise.name == "广州 白云山医药有限公司"
    assert enterprise.complete_by == NOW + COMPLETION_WINDOW


def test_every_event_names_the_actor_the_enterprise_and_the_request() -> None:
    with acting("account-7", "req-42"):
        enterprise = submitted()

    events = enterprise.collect_events()

    assert [type(e).__name__ for e in events] == [
        "Registered",
        "InformationRecorded",
        "Submitted",
    ]
    for event in events:
        assert event.actor == "account-7"  # type: ignore[attr-defined]
        assert event.correlation_id == "req-42"  # type: ignore[attr-defined]
        assert event.enterprise_id == str(enterprise.id)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("uscc", "91350100M000100Y44", "INVALID_USCC"),
        ("admin_id_number", "110105194912310021", "INVALID_ID_NUMBER"),
        ("category", "casino", "INVALID_VALUE"),
        ("address", "   ", "INVALID_VALUE"),
    ],
)
def test_invalid_information_is_refused_with_its_own_code(
    field: str, value: str, code: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        info(**{field: value})

    assert refused.value.code == code
    assert refused.value.field == field


def test_information_after_the_24_hours_is_refused() -> None:
    enterprise = registered()
    late = NOW + COMPLETION_WINDOW + timedelta(seconds=1)

    with pytest.raises(StateConflict) as refused:
        enterprise.record_information(info(), late)

    assert refused.value.code == "REGISTRATION_EXPIRED"


def test_submitting_needs_the_information_first() -> None:
    enterprise = registered()

    with pytest.raises(StateConflict) as refused:
        enterprise.submit(NOW)

    assert refused.value.code == "INFORMATION_MISSING"


def test_the_category_is_fixed_once_approved() -> None:
    enterprise = approved()

    with pytest.raises(StateConflict) as refused:
        enterprise.record_information(info(category="clinic"), NOW)

    assert refused.value.code == "CATEGORY_LOCKED"


def test_changing_reviewed_information_after_approval_goes_back_to_review() -> None:
    enterprise = approved()
    later = NOW + timedelta(days=30)

    enterprise.record_information(info(uscc=credit_code(99_991)), later)

    assert enterprise.status is Status.PENDING_REVIEW
    assert not enterprise.is_verified


def test_changing_the_address_after_approval_stays_approved() -> None:
    enterprise = approved()

    enterprise.record_information(info(address="广州市越秀区1号"), NOW)

    assert enterprise.status is Status.APPROVED


def test_information_under_review_cannot_change() -> None:
    enterprise = submitted()

    with pytest.raises(StateConflict) as refused:
        enterprise.record_information(info(address="别处"), NOW)

    assert refused.value.code == "ENTERPRISE_UNDER_REVIEW"


def test_an_approved_enterprise_cannot_be_approved_or_rejected_again() -> None:
    enterprise = approved()

    with pytest.raises(StateConflict) as again:
        enterprise.approve()
    with pytest.raises(StateConflict):
        enterprise.reject("late")

    assert again.value.code == "ENTERPRISE_NOT_PENDING"


def test_a_rejected_enterprise_is_corrected_and_submitted_again() -> None:
    enterprise = submitted()
    enterprise.reject("营业执照照片不清晰")

    enterprise.record_information(info(address="广州市越秀区2号"), NOW)
    enterprise.submit(NOW)

    assert enterprise.status is Status.PENDING_REVIEW


def test_business_is_refused_until_the_platform_approves() -> None:
    enterprise = submitted()

    with pytest.raises(DomainError) as refused:
        enterprise.check_verified()
    enterprise.approve()
    enterprise.check_verified()

    assert refused.value.code == "ENTERPRISE_NOT_VERIFIED"


def test_the_public_state_masks_the_administrators_id_number() -> None:
    enterprise = submitted()

    shown = enterprise.public_state()["information"]["admin_id_number"]

    assert shown == "110105********002X"


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    app: Application[Any] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
    )
    enterprise = submitted()
    enterprise.reject("缺少授权委托书")
    app.save(enterprise)

    replayed = app.repository.get(enterprise.id)

    assert replayed.public_state() == enterprise.public_state()


def test_a_version_1_registration_upcasts_to_a_24_hour_deadline() -> None:
    state: dict[str, Any] = {"name": "x", "admin_account_id": "a", "timestamp": NOW}

    Enterprise.Registered.upcast_v1_v2(state)

    assert state["complete_by"] == NOW + COMPLETION_WINDOW


@given(
    platform=st.booleans(),
    partners=st.booleans(),
    verified=st.booleans(),
    partner=st.booleans(),
)
def test_product_requests_follow_the_two_switches(
    platform: bool, partners: bool, verified: bool, partner: bool
) -> None:
    enterprise = approved()
    enterprise.set_request_settings(allow_platform=platform, allow_partners=partners)

    admitted = enterprise.admits_product_request(verified=verified, partner=partner)

    assert admitted == ((platform and verified) or (partners and partner))


def test_unchanged_request_settings_record_nothing() -> None:
    enterprise = approved()
    enterprise.collect_events()

    enterprise.set_request_settings(allow_platform=False, allow_partners=False)

    assert enterprise.collect_events() == []

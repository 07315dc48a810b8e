"""Accounts, passwords and what an auditor may see of them."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest
from eventsourcing.application import Application

from aggregates.account import Account, Role, check_mobile
from aggregates.errors import InvalidValue
from commands.passwords import check_password_rules, hash_password, verify_password


def test_a_password_hash_is_argon2_and_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct-horse-1")

    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct-horse-1")
    assert not verify_password(hashed, "correct-horse-2")


def test_verifying_against_no_account_fails_like_a_wrong_password() -> None:
    assert not verify_password(None, "anything-1")


@pytest.mark.parametrize("password", ["short1", "onlyletters", "1234567890"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_password_rules(password)

    assert refused.value.code == "WEAK_PASSWORD"


def test_an_accounts_public_state_never_shows_the_password_hash() -> None:
    account = Account.open(
        username="op-1",
        password_hash=hash_password("secret-pass-1"),
        role=Role.OPERATOR,
        enterprise_id="platform",
        invite_code="ABCD2345",
    )

    state = account.public_state()

    assert state["username"] == "op-1"
    assert "password_hash" not in state


@pytest.mark.parametrize("username", ["ab", "has space", "名字", "x" * 41])
def test_malformed_usernames_are_refused(username: str) -> None:
    with pytest.raises(InvalidValue):
        Account.open(
            username=username,
            password_hash="h",
            role=Role.ENTERPRISE_ADMIN,
            enterprise_id="e",
            invite_code="ABCD2345",
        )


@pytest.mark.parametrize(
    "mobile", ["1380013800", "23800138000", "1380013800a", "12800138000"]
)
def test_malformed_mobile_numbers_are_refused(mobile: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_mobile(mobile)

    assert refused.value.code == "INVALID_MOBILE"


def test_a_mobile_number_with_the_country_code_and_spaces_is_normalised() -> None:
    assert check_mobile("+86 138 0013 8000") == "13800138000"


def test_a_version_1_account_upcasts_to_a_typed_invite_code() -> None:
    state: dict[str, object] = {"username": "u", "invited_by": "x"}

    Account.Opened.upcast_v1_v2(state)

    assert state["inviter_from_link"] is False


def test_a_stored_version_2_account_reads_back_with_its_own_password() -> None:
    app = Application[UUID]()
    account = Account.open(
        username="zhang",
        password_hash="hash",
        role=Role.ENTERPRISE_ADMIN,
        enterprise_id="e1",
        invite_code="ABCDEFGH",
    )
    app.save(account)
    stored = app.recorder.select_events(account.id)[0]
    # The event as release 2 wrote it: no default-password flag.
    state = app.mapper.transcoder.decode(stored.state)
    del state["must_change_password"]
    state["class_version"] = 2
    old = replace(stored, state=app.mapper.transcoder.encode(state))

    event = app.mapper.to_domain_event(old)
    copy = event.mutate(None)

    assert copy is not None
    assert copy.must_change_password is False
    assert copy.closed is False
    assert copy.username == "zhang"

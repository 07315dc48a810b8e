"""An account changing its own password, mobile number and e-mail, on
PostgreSQL; released numbers and usernames can be taken again."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from read_api.settings import Settings
from tests.examples import registration
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def test_a_password_change_needs_the_current_password(api: Api) -> None:
    registered = api.register()
    body = registered["body"]

    wrong = api.client.post(
        "/api/v1/accounts/me/password",
        json={"old_password": "not-it-123", "new_password": "brand-new-9"},
        headers=registered["headers"],
    )
    changed = api.client.post(
        "/api/v1/accounts/me/password",
        json={"old_password": body["password"], "new_password": "brand-new-9"},
        headers=registered["headers"],
    )

    assert wrong.json()["code"] == "WRONG_PASSWORD"
    assert changed.status_code == 202
    assert api.sign_in(body["username"], "brand-new-9")


def test_a_username_that_was_the_mobile_follows_it_and_the_old_one_is_free(
    api: Api,
) -> None:
    mobile = "13912345678"
    api.register(username=mobile, mobile=mobile)
    headers = api.sign_in(mobile, "pass-word-1")

    code = api.new_mobile_code(headers, "139 8765 4321")
    changed = api.client.post(
        "/api/v1/accounts/me/mobile",
        json={"mobile": "139 8765 4321", "code": code},
        headers=headers,
    )
    old_name = api.client.post(
        "/api/v1/sessions", json={"username": mobile, "password": "pass-word-1"}
    )
    reused = api.client.post(
        "/api/v1/accounts", json=registration(username=mobile, mobile=mobile)
    )

    assert changed.status_code == 202
    assert changed.json()["username"] == "13987654321"
    assert api.sign_in("13987654321", "pass-word-1")
    assert old_name.status_code == 401
    assert reused.status_code == 201


def test_a_mobile_number_of_another_account_is_refused(api: Api) -> None:
    first = api.register()
    second = api.register()

    taken = api.client.post(
        "/api/v1/accounts/me/mobile/code",
        json={"mobile": first["body"]["mobile"]},
        headers=second["headers"],
    )

    assert taken.status_code == 409
    assert taken.json()["code"] == "MOBILE_TAKEN"


def test_an_email_is_checked_and_kept(api: Api) -> None:
    registered = api.register()

    bad = api.client.post(
        "/api/v1/accounts/me/email",
        json={"email": "not-an-address"},
        headers=registered["headers"],
    )
    good = api.client.post(
        "/api/v1/accounts/me/email",
        json={"email": "zhang@example.cn"},
        headers=registered["headers"],
    )
    account = api.services.app.repository.get(UUID(registered["account_id"]))

    assert bad.json()["code"] == "INVALID_EMAIL"
    assert good.status_code == 202
    assert account.email == "zhang@example.cn"


def test_the_administrator_sets_who_may_request_product_records(api: Api) -> None:
    registered = api.register()
    enterprise = registered["enterprise_id"]

    changed = api.client.post(
        f"/api/v1/enterprises/{enterprise}/request-settings",
        json={"allow_platform": True, "allow_partners": False},
        headers=registered["headers"],
    )
    state = api.client.get(
        f"/api/v1/aggregates/{enterprise}/state", headers=registered["headers"]
    )

    assert changed.status_code == 202
    assert state.json()["allow_platform_requests"] is True
    assert state.json()["allow_partner_requests"] is False


def test_a_typed_invite_code_changes_until_approval_and_a_linked_one_never(
    api: Api,
) -> None:
    inviter = api.client.post("/api/v1/accounts", json=registration()).json()
    other = api.client.post("/api/v1/accounts", json=registration()).json()
    typed_body = registration(invite_code=inviter["invite_code"])
    linked_body = registration(invite_code=inviter["invite_code"])
    api.client.post("/api/v1/accounts", json=typed_body)
    api.client.post("/api/v1/accounts", json={**linked_body, "invite_from_link": True})
    typed = api.sign_in(typed_body["username"], typed_body["password"])
    linked = api.sign_in(linked_body["username"], linked_body["password"])

    corrected = api.client.post(
        "/api/v1/accounts/me/inviter",
        json={"invite_code": other["invite_code"]},
        headers=typed,
    )
    refused = api.client.post(
        "/api/v1/accounts/me/inviter",
        json={"invite_code": other["invite_code"]},
        headers=linked,
    )

    assert corrected.status_code == 202
    assert refused.status_code == 409
    assert refused.json()["code"] == "INVITE_CODE_LOCKED"

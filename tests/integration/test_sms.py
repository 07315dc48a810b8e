"""SMS codes through the API on PostgreSQL: signing in with one, resetting a
password with one, and the limits on both."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def last_code(api: Api, operator: dict[str, str], mobile: str) -> str | None:
    outbox = api.client.get(
        "/api/v1/sms-outbox", params={"mobile": mobile}, headers=operator
    )
    items = outbox.json()["items"]
    if not items:
        return None
    found = re.search(r"\d{6}", items[0]["text"])
    return found.group(0) if found else None


def ask(api: Api, mobile: str, purpose: str = "login") -> int:
    response = api.client.post(
        "/api/v1/sms-codes", json={"mobile": mobile, "purpose": purpose}
    )
    return response.status_code


def test_an_account_signs_in_with_the_code_sent_to_its_mobile(api: Api) -> None:
    operator = api.operator()
    mobile = api.register()["body"]["mobile"]

    asked = ask(api, mobile)
    code = last_code(api, operator, mobile)
    signed_in = api.client.post(
        "/api/v1/sessions/sms", json={"mobile": mobile, "code": code}
    )
    again = api.client.post(
        "/api/v1/sessions/sms", json={"mobile": mobile, "code": code}
    )

    assert asked == 202
    assert code is not None
    assert signed_in.status_code == 201
    assert signed_in.json()["role"] == "enterprise_admin"
    assert again.json()["code"] == "SMS_CODE_INVALID"


def test_asking_for_an_unknown_number_answers_alike_and_sends_nothing(
    api: Api,
) -> None:
    operator = api.operator()

    asked = ask(api, "13700000001")

    assert asked == 202
    assert last_code(api, operator, "13700000001") is None


def test_a_number_gets_one_code_a_minute(api: Api) -> None:
    mobile = api.register()["body"]["mobile"]

    first = ask(api, mobile)
    second = api.client.post(
        "/api/v1/sms-codes", json={"mobile": mobile, "purpose": "login"}
    )

    assert first == 202
    assert second.status_code == 429
    assert second.json()["code"] == "SMS_TOO_FREQUENT"


def test_five_wrong_codes_end_the_code(api: Api) -> None:
    operator = api.operator()
    mobile = api.register()["body"]["mobile"]
    ask(api, mobile)
    code = last_code(api, operator, mobile)
    wrong = "000000" if code != "000000" else "111111"

    tries = [
        api.client.post(
            "/api/v1/sessions/sms", json={"mobile": mobile, "code": wrong}
        ).json()["code"]
        for _ in range(5)
    ]
    right = api.client.post(
        "/api/v1/sessions/sms", json={"mobile": mobile, "code": code}
    )

    assert tries == ["SMS_CODE_WRONG"] * 5
    assert right.status_code == 422
    assert right.json()["code"] == "SMS_CODE_INVALID"


def test_a_forgotten_password_is_reset_with_a_code(api: Api) -> None:
    operator = api.operator()
    body = api.register()["body"]
    ask(api, body["mobile"], "reset_password")
    code = last_code(api, operator, body["mobile"])

    reset = api.client.post(
        "/api/v1/accounts/password-reset",
        json={"mobile": body["mobile"], "code": code, "new_password": "new-pass-22"},
    )
    old = api.client.post(
        "/api/v1/sessions",
        json={"username": body["username"], "password": body["password"]},
    )
    new = api.client.post(
        "/api/v1/sessions",
        json={"username": body["username"], "password": "new-pass-22"},
    )

    assert reset.status_code == 202
    assert old.status_code == 401
    assert new.status_code == 201


def test_only_operators_read_the_sms_outbox(api: Api) -> None:
    admin = api.register()["headers"]

    response = api.client.get("/api/v1/sms-outbox", headers=admin)

    assert response.status_code == 403


def test_a_company_not_on_the_platform_signs_in_as_a_guest(api: Api) -> None:
    operator = api.operator()
    mobile = "13655556666"
    ask(api, mobile, "guest")
    code = last_code(api, operator, mobile)

    guest = api.client.post(
        "/api/v1/sessions/guest",
        json={"enterprise_name": "某某大药房", "mobile": mobile, "code": code},
    )
    headers = {"Authorization": f"Bearer {guest.json()['access_token']}"}
    enterprises = api.client.get("/api/v1/enterprises", headers=headers)
    out = api.client.post("/api/v1/sessions/current/sign-out", headers=headers)

    assert guest.status_code == 201
    assert guest.json()["role"] == "guest"
    assert enterprises.status_code == 403
    assert out.status_code == 202


def test_a_registered_enterprise_cannot_sign_in_as_a_guest(api: Api) -> None:
    operator = api.operator()
    name = api.register()["body"]["enterprise_name"]
    mobile = "13655557777"
    ask(api, mobile, "guest")
    code = last_code(api, operator, mobile)

    refused = api.client.post(
        "/api/v1/sessions/guest",
        json={"enterprise_name": name, "mobile": mobile, "code": code},
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "ENTERPRISE_EXISTS"

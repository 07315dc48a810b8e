"""Signing in, refreshing and signing out through the API on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def sign_in(api: Api, username: str, password: str) -> dict[str, str]:
    response = api.client.post(
        "/api/v1/sessions", json={"username": username, "password": password}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_a_refresh_token_works_once_and_is_replaced(api: Api) -> None:
    body = api.register()["body"]
    first = sign_in(api, body["username"], body["password"])

    second = api.client.post(
        "/api/v1/sessions/refresh", json={"refresh_token": first["refresh_token"]}
    )
    replayed = api.client.post(
        "/api/v1/sessions/refresh", json={"refresh_token": first["refresh_token"]}
    )
    third = api.client.post(
        "/api/v1/sessions/refresh",
        json={"refresh_token": second.json()["refresh_token"]},
    )

    assert second.status_code == 201
    assert second.json()["session_id"] == first["session_id"]
    assert second.headers["cache-control"] == "no-store"
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "REFRESH_TOKEN_REUSED"
    assert third.status_code == 201


def test_signing_out_ends_the_access_and_refresh_tokens_at_once(api: Api) -> None:
    body = api.register()["body"]
    tokens = sign_in(api, body["username"], body["password"])
    other = sign_in(api, body["username"], body["password"])

    out = api.client.post("/api/v1/sessions/current/sign-out", headers=bearer(tokens))
    after = api.client.get("/api/v1/enterprises", headers=bearer(tokens))
    refreshed = api.client.post(
        "/api/v1/sessions/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    still = api.client.get("/api/v1/enterprises", headers=bearer(other))

    assert out.status_code == 202
    assert after.status_code == 401
    assert refreshed.json()["code"] == "SESSION_CLOSED"
    assert still.status_code == 200


@pytest.mark.parametrize("token", ["nonsense", "not-a-uuid.secret", "0" * 36 + ".x"])
def test_a_malformed_or_unknown_refresh_token_is_refused(api: Api, token: str) -> None:
    response = api.client.post(
        "/api/v1/sessions/refresh", json={"refresh_token": token}
    )

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


def test_the_audit_shows_sign_ins_without_the_refresh_hash(api: Api) -> None:
    operator = api.operator()
    body = api.register()["body"]
    tokens = sign_in(api, body["username"], body["password"])

    trail = api.client.get(
        "/api/v1/audit-events",
        params={"aggregate_id": tokens["session_id"], "after": tokens["position"]},
        headers=operator,
    )

    entries = trail.json()["items"]
    assert [e["event_type"] for e in entries] == ["Session.Opened"]
    assert entries[0]["actor"] == tokens["account_id"]
    assert "refresh_hash" not in entries[0]["data"]


def test_after_three_failures_a_sign_in_needs_a_captcha_once(api: Api) -> None:
    body = api.register()["body"]
    wrong = {"username": body["username"], "password": "wrong-pass-1"}
    right = {"username": body["username"], "password": body["password"]}
    failures = [api.client.post("/api/v1/sessions", json=wrong) for _ in range(3)]

    blocked = api.client.post("/api/v1/sessions", json=right)
    picture = api.client.get("/api/v1/sessions/captchas")
    known = api.services.sessions.captchas.issue("ABCD")
    bad_answer = api.client.post(
        "/api/v1/sessions",
        json={**right, "captcha_id": known.captcha_id, "captcha_answer": "WXYZ"},
    )
    solved = api.client.post(
        "/api/v1/sessions",
        json={**right, "captcha_id": known.captcha_id, "captcha_answer": "abcd"},
    )

    assert [f.status_code for f in failures] == [401, 401, 401]
    assert blocked.status_code == 401
    assert blocked.json()["code"] == "CAPTCHA_REQUIRED"
    assert picture.json()["image"].startswith("data:image/png;base64,")
    assert bad_answer.json()["code"] == "CAPTCHA_REQUIRED"
    assert solved.status_code == 201


def test_an_unknown_username_is_guarded_exactly_like_a_known_one(api: Api) -> None:
    wrong = {"username": "nobody-here", "password": "wrong-pass-1"}

    answers = [api.client.post("/api/v1/sessions", json=wrong) for _ in range(4)]

    assert [a.json()["code"] for a in answers] == [
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "CAPTCHA_REQUIRED",
    ]

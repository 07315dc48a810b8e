"""Registration and review through the API on PostgreSQL, with the audit trail,
idempotency, optimistic concurrency, history and bad input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
import pytest

from read_api.settings import Settings
from tests.examples import information, registration
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def test_an_operator_approves_a_registration_and_the_audit_names_each_actor(
    api: Api,
) -> None:
    operator = api.operator()
    registered = api.register()
    enterprise_id = registered["enterprise_id"]

    approved = api.client.post(
        f"/api/v1/enterprises/{enterprise_id}/approve",
        headers={**operator, "X-Request-ID": "approve-1"},
    )
    position = approved.json()["position"]
    listed = api.client.get(
        f"/api/v1/enterprises/{enterprise_id}?after={position}", headers=operator
    )
    trail = api.client.get(
        f"/api/v1/audit-events?aggregate_id={enterprise_id}&after={position}",
        headers=operator,
    )

    assert approved.status_code == 202
    assert approved.headers["x-request-id"] == "approve-1"
    assert listed.json()["status"] == "approved"
    entries = trail.json()["items"]
    assert [e["event_type"] for e in entries] == [
        "Enterprise.Registered",
        "Enterprise.InformationRecorded",
        "Enterprise.Submitted",
        "Enterprise.Approved",
    ]
    admin = registered["account_id"]
    assert [e["actor"] for e in entries[:3]] == ["anonymous", admin, admin]
    assert entries[3]["actor"] not in ("anonymous", admin)
    assert entries[3]["correlation_id"] == "approve-1"
    assert all(e["enterprise_id"] == enterprise_id for e in entries)
    assert "admin_id_number" not in entries[1]["data"]


def test_a_rejection_keeps_its_reason_and_blocks_a_later_approval(api: Api) -> None:
    operator = api.operator()
    enterprise_id = api.register()["enterprise_id"]

    rejected = api.client.post(
        f"/api/v1/enterprises/{enterprise_id}/reject",
        json={"reason": "营业执照已过期"},
        headers=operator,
    )
    approved = api.client.post(
        f"/api/v1/enterprises/{enterprise_id}/approve", headers=operator
    )
    shown = api.client.get(
        f"/api/v1/enterprises/{enterprise_id}?after={rejected.json()['position']}",
        headers=operator,
    )

    assert rejected.status_code == 202
    assert approved.status_code == 409
    assert approved.json()["code"] == "ENTERPRISE_NOT_PENDING"
    assert shown.json()["rejection_reason"] == "营业执照已过期"


def test_a_name_mobile_username_or_code_already_held_is_refused(api: Api) -> None:
    operator = api.operator()
    first = api.register(serial=501)
    name = first["body"]["enterprise_name"]

    pending_name = api.client.post(
        "/api/v1/accounts",
        json=registration(502, enterprise_name=" " + name.replace("有限", "有 限")),
    )
    api.client.post(
        f"/api/v1/enterprises/{first['enterprise_id']}/approve", headers=operator
    )
    verified_name = api.client.post(
        "/api/v1/accounts", json=registration(503, enterprise_name=name)
    )
    same_user = api.client.post(
        "/api/v1/accounts",
        json=registration(504, username=first["body"]["username"].upper()),
    )
    same_mobile = api.client.post(
        "/api/v1/accounts", json=registration(505, mobile=first["body"]["mobile"])
    )
    fresh = api.client.post("/api/v1/accounts", json=registration(506)).json()
    same_code = api.client.post(
        f"/api/v1/enterprises/{fresh['enterprise_id']}/information",
        json=information(501),
        headers=api.sign_in("admin506", "pass-word-1"),
    )

    assert pending_name.status_code == 409
    assert pending_name.json()["code"] == "ENTERPRISE_NAME_TAKEN"
    assert verified_name.json()["code"] == "ENTERPRISE_EXISTS"
    assert verified_name.json()["title"] == "该企业已存在，不可重复注册"
    assert same_user.json()["code"] == "USERNAME_TAKEN"
    assert same_mobile.json()["code"] == "MOBILE_TAKEN"
    assert same_code.json()["code"] == "USCC_TAKEN"


def test_an_invite_code_links_the_new_account_to_its_inviter(api: Api) -> None:
    inviter = api.client.post("/api/v1/accounts", json=registration())
    code = inviter.json()["invite_code"]

    invited = api.client.post(
        "/api/v1/accounts", json=registration(invite_code=code.lower())
    )
    unknown = api.client.post(
        "/api/v1/accounts", json=registration(invite_code="ZZZZ2222")
    )
    account = api.services.app.repository.get(UUID(invited.json()["account_id"]))

    assert len(code) == 8
    assert account.invited_by == inviter.json()["account_id"]
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "UNKNOWN_INVITE_CODE"


def test_information_is_the_administrators_to_record_and_needs_valid_codes(
    api: Api,
) -> None:
    mine = api.register()
    theirs = api.register()

    other = api.client.post(
        f"/api/v1/enterprises/{theirs['enterprise_id']}/information",
        json=information(),
        headers=mine["headers"],
    )
    bad_id = api.client.post(
        f"/api/v1/enterprises/{mine['enterprise_id']}/information",
        json=information(admin_id_number="110105194912310021"),
        headers=mine["headers"],
    )
    under_review = api.client.post(
        f"/api/v1/enterprises/{mine['enterprise_id']}/information",
        json=information(),
        headers=mine["headers"],
    )

    assert other.status_code == 404
    assert bad_id.json()["code"] == "INVALID_ID_NUMBER"
    assert under_review.json()["code"] == "ENTERPRISE_UNDER_REVIEW"


def test_a_repeated_idempotency_key_returns_the_first_answer_and_writes_nothing(
    api: Api,
) -> None:
    body = registration()
    headers = {"Idempotency-Key": "register-once"}
    first = api.client.post("/api/v1/accounts", json=body, headers=headers)
    written = api.event_count()

    again = api.client.post("/api/v1/accounts", json=body, headers=headers)
    other = api.client.post("/api/v1/accounts", json=registration(), headers=headers)

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.event_count() == written


def test_the_same_key_sent_concurrently_writes_once(api: Api) -> None:
    operator = api.operator()
    enterprise_id = api.register()["enterprise_id"]
    answers: list[dict[str, object]] = []

    def approve() -> None:
        response = api.client.post(
            f"/api/v1/enterprises/{enterprise_id}/approve",
            headers={**operator, "Idempotency-Key": "approve-race"},
        )
        answers.append({"status": response.status_code, **response.json()})

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {a["status"] for a in answers} == {202}
    assert {a["position"] for a in answers} == {answers[0]["position"]}
    history = api.services.app.events.get(UUID(enterprise_id))
    assert [type(e).__name__ for e in history][-2:] == ["Submitted", "Approved"]


def test_a_stale_if_match_version_is_a_conflict(api: Api) -> None:
    operator = api.operator()
    enterprise_id = api.register()["enterprise_id"]

    stale = api.client.post(
        f"/api/v1/enterprises/{enterprise_id}/approve",
        headers={**operator, "If-Match": '"7"'},
    )
    current = api.client.post(
        f"/api/v1/enterprises/{enterprise_id}/approve",
        headers={**operator, "If-Match": '"3"'},
    )

    assert stale.status_code == 409
    assert stale.json()["code"] == "CONFLICT"
    assert current.status_code == 202
    assert current.headers["etag"] == '"4"'


def test_racing_reviews_leave_exactly_one_decision(api: Api) -> None:
    operator = api.operator()
    enterprise_id = api.register()["enterprise_id"]
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def decide(action: str) -> None:
        barrier.wait()
        response = api.client.post(
            f"/api/v1/enterprises/{enterprise_id}/{action}",
            json={"reason": "资料不全"} if action == "reject" else None,
            headers=operator,
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=decide, args=(a,))
        for a in ("approve", "reject", "approve", "reject")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [202, 409, 409, 409]
    history = list(api.services.app.events.get(UUID(enterprise_id)))
    assert len(history) == 4


def test_an_auditor_sees_a_record_as_it_was_at_a_version_and_a_time(
    api: Api,
) -> None:
    operator = api.operator()
    enterprise_id = api.register()["enterprise_id"]
    between = datetime.now(UTC)
    api.client.post(f"/api/v1/enterprises/{enterprise_id}/approve", headers=operator)

    first = api.client.get(
        f"/api/v1/aggregates/{enterprise_id}/state?version=1", headers=operator
    )
    at_time = api.client.get(
        f"/api/v1/aggregates/{enterprise_id}/state",
        params={"at": between.isoformat()},
        headers=operator,
    )
    now = api.client.get(f"/api/v1/aggregates/{enterprise_id}/state", headers=operator)

    assert first.json()["status"] == "incomplete"
    assert at_time.json()["status"] == "pending_review"
    assert now.json()["status"] == "approved"
    assert now.json()["version"] == 4


def test_a_stored_version_1_registration_is_upcast_when_read(api: Api) -> None:
    operator = api.operator()
    registered = api.register()
    enterprise_id = UUID(registered["enterprise_id"])
    datastore = api.services.app.recorder.datastore  # type: ignore[attr-defined]
    table = api.services.app.recorder.events_table_name  # type: ignore[attr-defined]

    # Rewrite the stored event as the first release wrote it: no deadline and
    # no class_version.
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(
            f"SELECT state FROM {table} WHERE originator_id = %s"
            " AND originator_version = 1",
            (enterprise_id,),
        )
        state = orjson.loads(bytes(cursor.fetchone()["state"]))
        del state["complete_by"], state["class_version"]
        cursor.execute(
            f"UPDATE {table} SET state = %s WHERE originator_id = %s"
            " AND originator_version = 1",
            (orjson.dumps(state), enterprise_id),
        )
    shown = api.client.get(
        f"/api/v1/aggregates/{enterprise_id}/state", headers=operator
    )

    assert shown.status_code == 200
    created = datetime.fromisoformat(shown.json()["created_on"])
    deadline = datetime.fromisoformat(shown.json()["complete_by"])
    assert deadline - created == timedelta(hours=24)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"name": "x",', "application/json", 400, "MALFORMED_JSON"),
        (b'{"name": 5}', "application/json", 422, "VALIDATION_FAILED"),
        (b"[1, 2]", "application/json", 422, "VALIDATION_FAILED"),
        (b"name=x", "application/x-www-form-urlencoded", 422, "VALIDATION_FAILED"),
        (b'{"name": "' + b"x" * 2_000_000 + b'"}', "application/json", 413, None),
    ],
)
def test_bad_input_is_a_problem_document_and_writes_nothing(
    api: Api, content: bytes, content_type: str, status: int, code: str | None
) -> None:
    before = api.event_count()

    response = api.client.post(
        "/api/v1/accounts", content=content, headers={"content-type": content_type}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == (code or "BODY_TOO_LARGE")
    assert api.event_count() == before


def test_unknown_fields_are_refused(api: Api) -> None:
    body = {**registration(), "is_verified": True}

    response = api.client.post("/api/v1/accounts", json=body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "is_verified"


def test_wrong_credentials_never_tell_whether_the_account_exists(api: Api) -> None:
    api.register(serial=900)

    wrong_password = api.client.post(
        "/api/v1/sessions", json={"username": "admin900", "password": "nope-nope-1"}
    )
    no_account = api.client.post(
        "/api/v1/sessions", json={"username": "ghost", "password": "nope-nope-1"}
    )

    assert wrong_password.status_code == no_account.status_code == 401
    assert wrong_password.json()["detail"] == no_account.json()["detail"]


def test_an_enterprise_sees_only_its_own_registration_and_trail(api: Api) -> None:
    mine = api.register()
    theirs = api.register()

    listed = api.client.get(
        f"/api/v1/enterprises?after={theirs['position']}", headers=mine["headers"]
    )
    other = api.client.get(
        f"/api/v1/enterprises/{theirs['enterprise_id']}", headers=mine["headers"]
    )
    other_trail = api.client.get(
        f"/api/v1/audit-events?enterprise_id={theirs['enterprise_id']}",
        headers=mine["headers"],
    )
    other_state = api.client.get(
        f"/api/v1/aggregates/{theirs['enterprise_id']}/state", headers=mine["headers"]
    )
    approve = api.client.post(
        f"/api/v1/enterprises/{mine['enterprise_id']}/approve", headers=mine["headers"]
    )

    assert [e["enterprise_id"] for e in listed.json()["items"]] == [
        mine["enterprise_id"]
    ]
    assert other.status_code == other_trail.status_code == 404
    assert other_state.status_code == 404
    assert approve.status_code == 403
    assert approve.json()["code"] == "FORBIDDEN"

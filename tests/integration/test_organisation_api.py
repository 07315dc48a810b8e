"""Departments, roles, sub-accounts and review flows through the API on
PostgreSQL (manual 12): the deletion rules, default passwords, permissions
that follow the role at once, and the directory's receiving persons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration

ORG = "/api/v1/organisation"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def code_of(response: Any) -> str:
    return str(response.json()["code"])


def new_accounts(role_id: str, *names: str, visible: bool = True) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "username": n,
                "person_name": f"{n}的姓名",
                "role_id": role_id,
                "visible": visible,
            }
            for n in names
        ]
    }


def test_sub_accounts_get_a_default_password_they_must_change_first(api: Api) -> None:
    admin = api.verified()["headers"]
    role = api.role(admin, ["address_book.read"])

    created = api.client.post(
        f"{ORG}/accounts",
        json=new_accounts(role["role_id"], "zhang_san", "li_si"),
        headers=admin,
    )
    accounts = created.json()["accounts"]
    signed_in = api.client.post(
        "/api/v1/sessions",
        json={"username": "zhang_san", "password": accounts[0]["default_password"]},
    ).json()
    first = {"Authorization": f"Bearer {signed_in['access_token']}"}
    before = api.client.get("/api/v1/address-book", headers=first)
    changed = api.client.post(
        "/api/v1/accounts/me/password",
        json={
            "old_password": accounts[0]["default_password"],
            "new_password": "mine-now-1",
        },
        headers=first,
    )
    refreshed = api.client.post(
        "/api/v1/sessions/refresh", json={"refresh_token": signed_in["refresh_token"]}
    ).json()
    own = {"Authorization": f"Bearer {refreshed['access_token']}"}
    after = api.client.get("/api/v1/address-book", headers=own)
    add = api.client.post(
        "/api/v1/address-book", json={"name": "某医药公司"}, headers=own
    )

    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert [a["username"] for a in accounts] == ["zhang_san", "li_si"]
    assert all(len(a["default_password"]) == 12 for a in accounts)
    assert accounts[0]["default_password"] != accounts[1]["default_password"]
    assert signed_in["must_change_password"] is True
    assert refreshed["must_change_password"] is False
    assert code_of(before) == "PASSWORD_CHANGE_REQUIRED"
    assert changed.status_code == 202
    assert after.status_code == 200
    assert code_of(add) == "FORBIDDEN"


def test_a_role_change_takes_effect_on_the_next_request(api: Api) -> None:
    admin = api.verified()["headers"]
    role = api.role(admin, ["address_book.read"])
    member = api.sub_account(admin, role["role_id"])

    refused = api.client.post(
        "/api/v1/address-book", json={"name": "甲公司"}, headers=member["headers"]
    )
    widened = api.client.patch(
        f"{ORG}/roles/{role['role_id']}",
        json={
            "name": "通讯录维护",
            "department_id": role["department_id"],
            "permissions": ["address_book.read", "address_book.manage"],
        },
        headers=admin,
    )
    allowed = api.client.post(
        "/api/v1/address-book", json={"name": "甲公司"}, headers=member["headers"]
    )

    assert code_of(refused) == "FORBIDDEN"
    assert widened.status_code == 202
    assert allowed.status_code == 201


def test_administrator_permissions_cannot_be_granted_and_batches_are_limited(
    api: Api,
) -> None:
    admin = api.verified()["headers"]
    department = api.post(f"{ORG}/departments", admin, {"name": "质量部"}, 201)[
        "department_id"
    ]
    role = api.role(admin, [], department_id=department)

    for permission in (
        "organisation.manage",
        "enterprise.manage",
        "review_flows.manage",
        "no.such",
    ):
        granted = api.client.post(
            f"{ORG}/roles",
            json={
                "name": f"角色 {permission}",
                "department_id": department,
                "permissions": [permission],
            },
            headers=admin,
        )
        assert code_of(granted) == "INVALID_PERMISSION", permission
    eleven = api.client.post(
        f"{ORG}/accounts",
        json=new_accounts(role["role_id"], *(f"user_{i}" for i in range(11))),
        headers=admin,
    )
    twice = api.client.post(
        f"{ORG}/accounts",
        json=new_accounts(role["role_id"], "same_one", "Same_One"),
        headers=admin,
    )
    as_admin = api.client.post(
        f"{ORG}/accounts",
        json=new_accounts("administrator", "second_admin"),
        headers=admin,
    )
    taken = api.client.post(
        f"{ORG}/departments", json={"name": "质量部"}, headers=admin
    )

    assert code_of(eleven) == "TOO_MANY_ACCOUNTS", eleven.text
    assert code_of(twice) == "USERNAME_TAKEN"
    assert code_of(as_admin) == "ADMIN_ROLE_FIXED"
    assert code_of(taken) == "DEPARTMENT_NAME_TAKEN"
    sign_in = api.client.post(
        "/api/v1/sessions", json={"username": "user_1", "password": "x" * 12}
    )
    assert sign_in.status_code == 401


def test_the_deletion_rules(api: Api) -> None:
    registered = api.verified()
    admin = registered["headers"]
    role = api.role(admin, ["address_book.read"])
    reviewer = api.sub_account(admin, role["role_id"])
    flow = api.post(
        "/api/v1/review-flows",
        admin,
        {
            "name": "发送审核",
            "trigger": "send",
            "levels": [
                {"role_id": role["role_id"], "account_id": reviewer["account_id"]}
            ],
        },
        201,
    )["flow_id"]

    department_with_role = api.client.post(
        f"{ORG}/departments/{role['department_id']}/delete", headers=admin
    )
    role_with_account = api.client.post(
        f"{ORG}/roles/{role['role_id']}/delete", headers=admin
    )
    named_account = api.client.post(
        f"{ORG}/accounts/{reviewer['account_id']}/delete", headers=admin
    )
    moved_reviewer = api.client.patch(
        f"{ORG}/accounts/{reviewer['account_id']}",
        json={"role_id": api.role(admin, [])["role_id"]},
        headers=admin,
    )
    admin_role = api.client.post(f"{ORG}/roles/administrator/delete", headers=admin)
    admin_account = api.client.post(
        f"{ORG}/accounts/{registered['account_id']}/delete", headers=admin
    )

    assert code_of(department_with_role) == "DEPARTMENT_HAS_ROLES"
    assert code_of(role_with_account) == "ROLE_HAS_ACCOUNTS"
    assert code_of(named_account) == "ACCOUNT_IN_REVIEW_FLOW"
    assert code_of(moved_reviewer) == "ACCOUNT_IN_REVIEW_FLOW"
    assert code_of(admin_role) == "ADMIN_ROLE_FIXED"
    assert code_of(admin_account) == "ADMIN_ACCOUNT_FIXED"

    # Undo in order: the flow, then the account, then the role, then the
    # department; each step is allowed once the one before it is done.
    api.post(f"/api/v1/review-flows/{flow}/delete", admin)
    api.post(f"{ORG}/accounts/{reviewer['account_id']}/delete", admin)
    gone = api.client.get("/api/v1/address-book", headers=reviewer["headers"])
    sign_in = api.client.post(
        "/api/v1/sessions",
        json={"username": reviewer["username"], "password": reviewer["password"]},
    )
    api.post(f"{ORG}/roles/{role['role_id']}/delete", admin)
    last = api.post(f"{ORG}/departments/{role['department_id']}/delete", admin)
    view = api.client.get(f"{ORG}?after={last['position']}", headers=admin).json()

    assert code_of(gone) == "UNAUTHENTICATED"
    assert sign_in.status_code == 401
    assert [a["account_id"] for a in view["accounts"]] == [registered["account_id"]]
    assert view["accounts"][0]["administrator"] is True
    assert role["department_id"] not in {
        d["department_id"] for d in view["departments"]
    }
    assert view["review_flows"] == []


def test_a_deleted_username_can_be_given_again(api: Api) -> None:
    admin = api.verified()["headers"]
    role = api.role(admin, [])["role_id"]
    first = api.post(f"{ORG}/accounts", admin, new_accounts(role, "wang_wu"), 201)[
        "accounts"
    ][0]

    api.post(f"{ORG}/accounts/{first['account_id']}/delete", admin)
    again = api.client.post(
        f"{ORG}/accounts", json=new_accounts(role, "wang_wu"), headers=admin
    )

    assert again.status_code == 201
    assert again.json()["accounts"][0]["account_id"] != first["account_id"]


def test_review_flow_rules(api: Api) -> None:
    admin = api.verified()["headers"]
    roles = [api.role(admin, [])["role_id"] for _ in range(6)]
    member = api.sub_account(admin, roles[0])
    flows = "/api/v1/review-flows"

    six = api.client.post(
        flows,
        json={
            "name": "六级",
            "trigger": "send",
            "levels": [{"role_id": r} for r in roles],
        },
        headers=admin,
    )
    repeated = api.client.post(
        flows,
        json={
            "name": "重复",
            "trigger": "send",
            "levels": [{"role_id": roles[0]}, {"role_id": roles[0]}],
        },
        headers=admin,
    )
    stranger = api.client.post(
        flows,
        json={
            "name": "错人",
            "trigger": "accept",
            "levels": [{"role_id": roles[1], "account_id": member["account_id"]}],
        },
        headers=admin,
    )
    five = api.client.post(
        flows,
        json={
            "name": "五级查收审核",
            "trigger": "accept",
            "levels": [{"role_id": roles[0], "account_id": member["account_id"]}]
            + [{"role_id": r} for r in roles[1:5]],
        },
        headers=admin,
    )
    by_member = api.client.post(
        flows,
        json={"name": "越权", "trigger": "send", "levels": [{"role_id": roles[0]}]},
        headers=member["headers"],
    )
    listed = api.client.get(
        f"{flows}?trigger=accept&after={five.json()['position']}", headers=admin
    ).json()["items"]
    role_in_flow = api.client.post(f"{ORG}/roles/{roles[3]}/delete", headers=admin)

    assert code_of(six) == "INVALID_REVIEW_FLOW"
    assert code_of(repeated) == "INVALID_REVIEW_FLOW"
    assert code_of(stranger) == "INVALID_REVIEW_FLOW"
    assert five.status_code == 201
    assert code_of(by_member) == "FORBIDDEN"
    assert [f["name"] for f in listed] == ["五级查收审核"]
    levels = listed[0]["levels"]
    assert [lv["level"] for lv in levels] == [1, 2, 3, 4, 5]
    assert levels[0]["account_id"] == member["account_id"]
    assert levels[0]["any_member"] is False and levels[1]["any_member"] is True
    assert code_of(role_in_flow) == "ROLE_IN_REVIEW_FLOW"


def test_the_directory_shows_receiving_persons_who_chose_to_be_shown(api: Api) -> None:
    receiver = api.verified()
    sender = api.verified()
    admin = receiver["headers"]
    quality = api.role(admin, ["address_book.read"], name="质量专员")
    shown = api.sub_account(admin, quality["role_id"], visible=True)
    hidden = api.sub_account(admin, quality["role_id"], visible=False)

    entry = api.client.get(
        f"/api/v1/directory/{receiver['enterprise_id']}", headers=sender["headers"]
    )
    pending = api.register()
    unverified = api.client.get(
        f"/api/v1/directory/{pending['enterprise_id']}", headers=sender["headers"]
    )

    assert entry.status_code == 200
    receivers = entry.json()["receivers"]
    assert len(receivers) == 1
    assert receivers[0]["department_id"] == quality["department_id"]
    persons = {p["account_id"] for p in receivers[0]["persons"]}
    assert persons == {shown["account_id"]}
    assert hidden["account_id"] not in persons
    assert unverified.status_code == 404


def test_organisation_changes_need_a_verified_enterprise_and_are_audited(
    api: Api,
) -> None:
    pending = api.register()
    refused = api.client.post(
        f"{ORG}/departments", json={"name": "采购部"}, headers=pending["headers"]
    )
    verified = api.verified()
    added = api.post(
        f"{ORG}/departments",
        {**verified["headers"], "X-Request-ID": "dept-1"},
        {"name": "采购部"},
        201,
    )

    trail = api.client.get(
        f"/api/v1/audit-events?enterprise_id={verified['enterprise_id']}&after={added['position']}&limit=200",
        headers=verified["headers"],
    ).json()["items"]

    assert code_of(refused) == "ENTERPRISE_NOT_VERIFIED"
    event = next(e for e in trail if e["event_type"] == "Organisation.DepartmentAdded")
    assert event["actor"] == verified["account_id"]
    assert event["correlation_id"] == "dept-1"
    assert event["data"]["name"] == "采购部"


def test_a_new_mobile_number_is_confirmed_by_a_code_sent_to_it(api: Api) -> None:
    admin = api.verified()["headers"]
    member = api.sub_account(admin, api.role(admin, [])["role_id"])
    headers = member["headers"]
    new = "13712345678"

    code = api.new_mobile_code(headers, new)
    wrong = api.client.post(
        "/api/v1/accounts/me/mobile",
        json={"mobile": new, "code": "000000" if code != "000000" else "111111"},
        headers=headers,
    )
    changed = api.client.post(
        "/api/v1/accounts/me/mobile",
        json={"mobile": new, "code": code},
        headers=headers,
    )
    by_sms = api.client.post(
        "/api/v1/sms-codes", json={"mobile": new, "purpose": "login"}
    )
    other = api.register()
    taken = api.client.post(
        "/api/v1/accounts/me/mobile/code",
        json={"mobile": new},
        headers=other["headers"],
    )

    assert code_of(wrong) == "SMS_CODE_WRONG"
    assert changed.status_code == 202
    assert by_sms.status_code == 202
    assert code_of(taken) == "MOBILE_TAKEN"

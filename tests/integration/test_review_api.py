"""Review flows at work through the API on PostgreSQL (manual 6.2 and 6.4):
a package reviewed before it is sealed, by any member of a role and then by
one named account; a received package reviewed before it enters the
library. Locks, unprocessed files, the final level's decision, flows locked
while in use, and the side effects on sealing, withdrawal and the library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api
from tests.integration.test_exchange_api import a_package, composed, inbox
from tests.integration.test_sealing_api import ready_enterprise

pytestmark = pytest.mark.integration
LIB = "/api/v1/library"
REVIEWS = "/api/v1/reviews"
FLOWS = "/api/v1/review-flows"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def code_of(response: Any) -> str:
    return str(response.json()["code"])


def flow(api: Api, admin: dict[str, str], trigger: str, levels: list[Any]) -> str:
    return str(
        api.post(
            FLOWS,
            admin,
            {"name": f"{trigger}审核", "trigger": trigger, "levels": levels},
            201,
        )["flow_id"]
    )


@pytest.fixture
def sending(api: Api) -> dict[str, Any]:
    """Enterprise A with two members of role R1 and one named member of R2,
    a package submitted under a two-level send flow: level 1 any member of
    R1, level 2 only the R2 member."""
    sender = ready_enterprise(api)
    admin = sender["headers"]
    r1 = api.role(admin, [], name="初审员")["role_id"]
    r2 = api.role(admin, [], name="终审员")["role_id"]
    first, second = api.sub_account(admin, r1), api.sub_account(admin, r1)
    final = api.sub_account(admin, r2)
    flow_id = flow(
        api,
        admin,
        "send",
        [{"role_id": r1}, {"role_id": r2, "account_id": final["account_id"]}],
    )
    recipient = api.verified()
    package, licence, certificate = composed(
        api, sender, [{"name": "收件医药", "enterprise_id": recipient["enterprise_id"]}]
    )
    submitted = api.post(
        f"/api/v1/packages/{package}/submit", admin, {"flow_id": flow_id}
    )
    return {
        "admin": admin,
        "first": first["headers"],
        "second": second["headers"],
        "final": final["headers"],
        "flow_id": flow_id,
        "package": package,
        "licence": licence,
        "certificate": certificate,
        "review": submitted["review_id"],
        "position": submitted["position"],
    }


def step(
    api: Api, review: str, action: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    """A reviewer's step (open, save, submit) as ``headers``' account."""
    path = f"{REVIEWS}/{review}/{action}"
    response: httpx.Response = api.client.post(path, json=body, headers=headers)
    return response


def test_the_first_member_to_open_an_any_member_level_locks_it(
    api: Api, sending: dict[str, Any]
) -> None:
    review = sending["review"]

    opened = step(api, review, "open", sending["first"])
    again = step(api, review, "open", sending["first"])
    locked = step(api, review, "open", sending["second"])
    saved = step(api, review, "save", sending["second"], verdicts={})
    named_elsewhere = step(api, review, "open", sending["final"])
    shown = api.client.get(
        f"{REVIEWS}/{review}",
        params={"after": opened.json()["position"]},
        headers=sending["second"],
    ).json()

    assert opened.status_code == again.status_code == 202
    assert code_of(locked) == code_of(saved) == "REVIEW_LOCKED"
    assert code_of(named_elsewhere) == "NOT_YOUR_REVIEW"
    assert named_elsewhere.status_code == 403
    assert shown["levels"][0]["holder"] is not None
    assert shown["assigned_to_me"] is False


def test_assigned_to_me_lists_the_reviews_the_caller_may_act_on_now(
    api: Api, sending: dict[str, Any]
) -> None:
    def mine(headers: dict[str, str], position: int) -> list[str]:
        found = api.client.get(
            REVIEWS,
            params={"assigned_to_me": True, "after": position},
            headers=headers,
        ).json()["items"]
        return [r["review_id"] for r in found]

    review = sending["review"]
    before = {
        who: mine(sending[who], sending["position"])
        for who in ("first", "second", "final")
    }
    opened = step(api, review, "open", sending["first"]).json()["position"]
    while_locked = mine(sending["second"], opened)
    passed_on = step(
        api,
        review,
        "submit",
        sending["first"],
        verdicts={sending["licence"]: "pass"},
    ).json()["position"]
    after = {who: mine(sending[who], passed_on) for who in ("first", "final")}

    assert before == {"first": [review], "second": [review], "final": []}
    assert while_locked == []
    assert after == {"first": [], "final": [review]}


def test_only_the_final_level_must_judge_every_file(
    api: Api, sending: dict[str, Any]
) -> None:
    review, licence = sending["review"], sending["licence"]

    first = step(
        api,
        review,
        "submit",
        sending["first"],
        verdicts={licence: "pass"},
        opinion="执照无误，注册证未看",
    )
    final = step(api, review, "submit", sending["final"], verdicts={licence: "pass"})
    shown = api.client.get(
        f"{REVIEWS}/{review}",
        params={"after": first.json()["position"]},
        headers=sending["final"],
    ).json()

    assert first.status_code == 202
    assert first.json()["level"] == 2
    assert code_of(final) == "REVIEW_INCOMPLETE"
    assert final.status_code == 422
    assert shown["current_level"] == 2
    assert shown["assigned_to_me"] is True
    assert shown["levels"][0]["opinion"] == "执照无误，注册证未看"
    assert shown["levels"][0]["verdicts"] == {licence: "pass"}
    assert [f["name"] for f in shown["files"]] == ["资质.pdf", "资质.pdf"]


def test_a_passed_review_lets_the_package_be_sealed_and_frees_the_flow(
    api: Api, sending: dict[str, Any]
) -> None:
    review, admin = sending["review"], sending["admin"]
    everything = {sending["licence"]: "pass", sending["certificate"]: "pass"}
    step(api, review, "submit", sending["first"], verdicts={})

    in_use = api.client.post(f"{FLOWS}/{sending['flow_id']}/delete", headers=admin)
    early_seal = api.client.post(
        f"/api/v1/packages/{sending['package']}/seal",
        json={"password": "sign-pass-1"},
        headers=admin,
    )
    decided = step(api, review, "submit", sending["final"], verdicts=everything)
    sealed = api.post(
        f"/api/v1/packages/{sending['package']}/seal",
        admin,
        {"password": "sign-pass-1"},
    )
    freed = api.client.post(f"{FLOWS}/{sending['flow_id']}/delete", headers=admin)

    assert code_of(in_use) == "REVIEW_FLOW_IN_USE"
    assert code_of(early_seal) == "PACKAGE_STATE"
    assert decided.json()["status"] == "passed"
    assert sealed["status"] == "sealed"
    assert freed.status_code == 202


def test_a_failed_final_review_blocks_sealing_and_the_task_can_be_deleted(
    api: Api, sending: dict[str, Any]
) -> None:
    review, admin, package = sending["review"], sending["admin"], sending["package"]
    step(api, review, "submit", sending["first"], verdicts={})
    verdicts = {sending["licence"]: "pass", sending["certificate"]: "fail"}

    silent = step(api, review, "submit", sending["final"], verdicts=verdicts)
    failed = step(
        api, review, "submit", sending["final"], verdicts=verdicts, opinion="注册证过期"
    )
    seal = api.client.post(
        f"/api/v1/packages/{package}/seal",
        json={"password": "sign-pass-1"},
        headers=admin,
    )
    not_theirs = api.client.post(
        f"{REVIEWS}/{review}/delete-package", headers=sending["first"]
    )
    deleted = api.client.post(
        f"{REVIEWS}/{review}/delete-package", headers=sending["final"]
    )
    again = api.client.post(f"/api/v1/packages/{package}/delete", headers=admin)
    messages = api.client.get(
        "/api/v1/messages",
        params={"kind": "review_result", "after": failed.json()["position"]},
        headers=admin,
    ).json()["items"]
    listed = api.client.get(
        REVIEWS,
        params={"status": "failed", "after": failed.json()["position"]},
        headers=admin,
    ).json()["items"]

    assert code_of(silent) == "OPINION_REQUIRED"
    assert failed.json()["status"] == "failed"
    assert code_of(seal) == "PACKAGE_STATE"
    assert code_of(not_theirs) == "NOT_YOUR_REVIEW"
    assert deleted.status_code == 202
    assert any("注册证过期" in m["body"] for m in messages)
    assert code_of(again) == "PACKAGE_DELETED"
    assert [r["package_id"] for r in listed] == [package]


def test_another_enterprise_sees_and_touches_no_review(
    api: Api, sending: dict[str, Any]
) -> None:
    stranger = api.verified()["headers"]
    review = sending["review"]

    read = api.client.get(f"{REVIEWS}/{review}", headers=stranger)
    opened = step(api, review, "open", stranger)
    listed = api.client.get(REVIEWS, headers=stranger).json()["items"]
    deleted = api.client.post(
        f"/api/v1/packages/{sending['package']}/delete", headers=stranger
    )

    assert read.status_code == opened.status_code == deleted.status_code == 404
    assert listed == []


# --- the accepting side -------------------------------------------------------


@pytest.fixture
def receiving(api: Api) -> dict[str, Any]:
    """A sent package that B accepts through a two-level accept flow, each
    level any member of its role."""
    sender = ready_enterprise(api)
    receiver = api.verified()
    admin = receiver["headers"]
    q1 = api.role(admin, [], name="收货初审")["role_id"]
    q2 = api.role(admin, [], name="质量终审")["role_id"]
    first, final = api.sub_account(admin, q1), api.sub_account(admin, q2)
    flow_id = flow(api, admin, "accept", [{"role_id": q1}, {"role_id": q2}])
    package = a_package(
        api, sender, [{"name": "收件医药", "enterprise_id": receiver["enterprise_id"]}]
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    delivery = inbox(api, admin, sent["position"])[0]["delivery_id"]
    started = api.post(
        f"/api/v1/inbox/{delivery}/accept-with-review", admin, {"flow_id": flow_id}
    )
    shown = api.client.get(
        f"{REVIEWS}/{started['review_id']}",
        params={"after": started["position"]},
        headers=admin,
    ).json()
    return {
        "sender": sender["headers"],
        "admin": admin,
        "first": first["headers"],
        "final": final["headers"],
        "package": package,
        "delivery": delivery,
        "review": started["review_id"],
        "documents": [f["document_id"] for f in shown["files"]],
    }


def test_a_delivery_passed_by_the_final_level_enters_the_library(
    api: Api, receiving: dict[str, Any]
) -> None:
    review = receiving["review"]
    everything = dict.fromkeys(receiving["documents"], "pass")
    step(api, review, "submit", receiving["first"], verdicts={})

    decided = step(api, review, "submit", receiving["final"], verdicts=everything)
    records = api.client.get(
        f"{LIB}/records",
        params={"after": decided.json()["position"]},
        headers=receiving["admin"],
    ).json()["items"]
    delivered = inbox(api, receiving["admin"], decided.json()["position"])

    assert decided.json()["status"] == "passed"
    assert len(receiving["documents"]) == 2
    assert {r["kind"] for r in records} == {"enterprise", "drug"}
    assert [d["status"] for d in delivered] == ["accepted"]


def test_a_delivery_failed_by_the_final_level_is_rejected_with_its_opinion(
    api: Api, receiving: dict[str, Any]
) -> None:
    review = receiving["review"]
    verdicts = dict.fromkeys(receiving["documents"], "fail")
    step(api, review, "submit", receiving["first"], verdicts={})

    decided = step(
        api, review, "submit", receiving["final"], verdicts=verdicts, opinion="资料不全"
    )
    delivered = inbox(api, receiving["admin"], decided.json()["position"])
    records = api.client.get(f"{LIB}/records", headers=receiving["admin"]).json()

    assert decided.json()["status"] == "failed"
    assert [(d["status"], d["reason"]) for d in delivered] == [("rejected", "资料不全")]
    assert records["items"] == []


def test_nobody_skips_the_recipients_review(
    api: Api, receiving: dict[str, Any]
) -> None:
    delivery = receiving["delivery"]

    withdrawn = api.client.post(
        f"/api/v1/packages/{receiving['package']}/withdraw",
        headers=receiving["sender"],
    )
    accepted = api.client.post(
        f"/api/v1/inbox/{delivery}/accept", headers=receiving["admin"]
    )
    rejected = api.client.post(
        f"/api/v1/inbox/{delivery}/reject",
        json={"reason": "不要了"},
        headers=receiving["admin"],
    )

    assert code_of(withdrawn) == "PACKAGE_UNDER_REVIEW"
    assert code_of(accepted) == code_of(rejected) == "PACKAGE_UNDER_REVIEW"

"""Sending a sealed package and receiving it, through the API on PostgreSQL:
compose, seal once, send to several recipients (one not on the platform);
accept into the library (merging into a record in the recycle bin), reject,
and a withdrawal refused after an acceptance."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from read_api.settings import Settings
from tests.examples import credit_code
from tests.integration.helpers import Api, running_api
from tests.integration.test_sealing_api import pdf, ready_enterprise

pytestmark = pytest.mark.integration
LIB = "/api/v1/library"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def upload(api: Api, headers: dict[str, str], record: str, card: str, kind: str) -> str:
    response = api.client.post(
        f"{LIB}/records/{record}/documents",
        files={"file": ("资质.pdf", pdf(), "application/pdf")},
        data={"qualification_type": kind, "card": card},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def composed(
    api: Api, sender: dict[str, Any], recipients: list[dict[str, Any]]
) -> tuple[str, str, str]:
    """Sender's enterprise dossier (business licence) and a drug with its
    registration certificate, composed, with a cloud certificate to seal
    them: the package, the licence and the certificate."""
    headers = sender["headers"]
    api.post("/api/v1/certificates/cloud", headers, {"password": "sign-pass-1"}, 201)
    own = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "enterprise", "base": {"name": "发件医药", "uscc": credit_code(501)}},
        201,
    )["record_id"]
    licence = upload(
        api,
        headers,
        own,
        orjson.dumps({"uscc": credit_code(501), "valid_until": "长期"}).decode(),
        "business_licence",
    )
    drug = api.post(
        f"{LIB}/records",
        headers,
        {
            "kind": "drug",
            "base": {
                "product_name": "阿莫西林胶囊",
                "approval_no": "国药准字H44021518",
                "manufacturer": "某某制药厂",
            },
        },
        201,
    )["record_id"]
    certificate = upload(
        api,
        headers,
        drug,
        '{"licence_no": "国药准字H44021518", "valid_until": "2029-01-01"}',
        "drug_registration_certificate",
    )
    package = api.post(
        "/api/v1/packages",
        headers,
        {
            "recipients": recipients,
            "items": [
                {"record_id": own, "document_ids": [licence]},
                {"record_id": drug, "document_ids": [certificate]},
            ],
        },
        201,
    )["package_id"]
    return str(package), licence, certificate


def a_package(
    api: Api, sender: dict[str, Any], recipients: list[dict[str, Any]]
) -> str:
    """The package of :func:`composed`, submitted without review and sealed
    with the cloud certificate."""
    package, _, _ = composed(api, sender, recipients)
    headers = sender["headers"]
    api.post(f"/api/v1/packages/{package}/submit", headers, {"flow_id": None})
    sealed = api.post(
        f"/api/v1/packages/{package}/seal", headers, {"password": "sign-pass-1"}
    )
    assert sealed["status"] == "sealed", sealed
    return package


def inbox(api: Api, headers: dict[str, str], position: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get(
        "/api/v1/inbox", params={"after": position}, headers=headers
    ).json()["items"]
    return items


def test_a_sealed_package_is_sent_accepted_into_the_library_and_rejected(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    other = api.verified()
    rh = receiver["headers"]
    binned = api.post(
        f"{LIB}/records",
        rh,
        {"kind": "enterprise", "base": {"name": "发件医药", "uscc": credit_code(501)}},
        201,
    )["record_id"]
    api.post(f"{LIB}/records/{binned}/delete", rh)
    package = a_package(
        api,
        sender,
        [
            {"name": "收件一", "enterprise_id": receiver["enterprise_id"]},
            {"name": "收件二", "enterprise_id": other["enterprise_id"]},
            {"name": "未注册药房", "contact": "王五", "mobile": "13700001111"},
        ],
    )

    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    waiting = inbox(api, rh, sent["position"])
    delivery = waiting[0]["delivery_id"]
    accepted = api.post(f"/api/v1/inbox/{delivery}/accept", rh)
    twice = api.client.post(f"/api/v1/inbox/{delivery}/accept", headers=rh)
    theirs = inbox(api, other["headers"], sent["position"])[0]["delivery_id"]
    rejected = api.post(
        f"/api/v1/inbox/{theirs}/reject", other["headers"], {"reason": "资料不全"}
    )
    withdraw = api.client.post(
        f"/api/v1/packages/{package}/withdraw", headers=sender["headers"]
    )
    records = api.client.get(
        f"{LIB}/records", params={"after": rejected["position"]}, headers=rh
    ).json()["items"]
    outbox = api.client.get(
        "/api/v1/outbox", params={"per_recipient": True}, headers=sender["headers"]
    ).json()["items"]

    assert len(sent["deliveries"]) == 3
    assert [(i["status"], i["files"]) for i in waiting] == [("waiting", 2)]
    assert code_of(twice) == "PACKAGE_ALREADY_ACCEPTED"
    assert code_of(withdraw) == "PACKAGE_ACCEPTED"
    assert accepted["into"]
    enterprise = next(r for r in records if r["kind"] == "enterprise")
    assert enterprise["record_id"] == binned
    assert enterprise["relation"] == "partner"
    assert {r["kind"] for r in records} == {"enterprise", "drug"}
    shown = api.client.get(f"{LIB}/records/{binned}", headers=rh).json()
    assert [f["origin"] for f in shown["files"]] == ["received"]
    assert shown["files"][0]["received_from"] == sender["enterprise_id"]
    report = api.client.get(
        f"{LIB}/records/{binned}/documents/{shown['files'][0]['document_id']}/verification",
        headers=rh,
    ).json()
    assert report["valid"] is True
    statuses = sorted(o["status"] for o in outbox)
    assert statuses == ["accepted", "rejected", "waiting"]
    assert rejected["delivery_id"] == theirs


def code_of(response: Any) -> str:
    return str(response.json()["code"])


def test_a_package_waiting_everywhere_is_withdrawn_and_recipients_accept_at_once(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    receivers = [api.verified() for _ in range(4)]
    package = a_package(
        api,
        sender,
        [
            {"name": f"收件{n}", "enterprise_id": r["enterprise_id"]}
            for n, r in enumerate(receivers)
        ],
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    deliveries = [inbox(api, r["headers"], sent["position"])[0] for r in receivers]
    answers: list[int] = []

    def accept(receiver: dict[str, Any], delivery: dict[str, Any]) -> None:
        response = api.client.post(
            f"/api/v1/inbox/{delivery['delivery_id']}/accept",
            headers=receiver["headers"],
        )
        answers.append(response.status_code)

    threads = [
        threading.Thread(target=accept, args=(r, d))
        for r, d in zip(receivers[:3], deliveries[:3], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other = ready_enterprise(api)
    second = a_package(
        api, other, [{"name": "收件", "enterprise_id": receivers[3]["enterprise_id"]}]
    )
    api.post(f"/api/v1/packages/{second}/send", other["headers"])
    withdrawn = api.post(f"/api/v1/packages/{second}/withdraw", other["headers"])
    left = inbox(api, receivers[3]["headers"], withdrawn["position"])

    assert answers == [202, 202, 202]
    assert sorted(i["status"] for i in left) == ["waiting", "withdrawn"]


def test_an_unregistered_recipient_is_told_by_sms_and_sees_it_as_guest_and_member(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    mobile = "13712340000"
    package = a_package(
        api, sender, [{"name": "新开药房", "contact": "赵六", "mobile": mobile}]
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    operator = api.operator("smsreader-exchange")
    texts = api.client.get(
        "/api/v1/sms-outbox", params={"mobile": mobile}, headers=operator
    ).json()["items"]

    api.client.post("/api/v1/sms-codes", json={"mobile": mobile, "purpose": "guest"})
    code = re.search(
        r"\d{6}",
        api.client.get(
            "/api/v1/sms-outbox", params={"mobile": mobile}, headers=operator
        ).json()["items"][0]["text"],
    )
    assert code is not None
    guest = api.client.post(
        "/api/v1/sessions/guest",
        json={"enterprise_name": "新开药房", "mobile": mobile, "code": code.group(0)},
    ).json()
    as_guest = {"Authorization": f"Bearer {guest['access_token']}"}
    seen = api.client.get(
        "/api/v1/guest/inbox", params={"after": sent["position"]}, headers=as_guest
    ).json()["items"]
    files = api.client.get("/api/v1/inbox", headers=as_guest)
    registered = api.register(mobile=mobile)
    approved = api.post(
        f"/api/v1/enterprises/{registered['enterprise_id']}/approve", operator
    )
    theirs = inbox(api, registered["headers"], approved["position"])
    accepted = api.post(
        f"/api/v1/inbox/{theirs[0]['delivery_id']}/accept", registered["headers"]
    )

    assert any("首营资料" in t["text"] for t in texts)
    assert [i["files"] for i in seen] == [2]
    assert "blob" not in seen[0]
    assert files.status_code == 403
    assert accepted["into"]


def test_the_dispatch_queue_shows_where_each_package_is_and_a_page_is_accepted(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    headers = sender["headers"]
    package = a_package(
        api, sender, [{"name": "收件", "enterprise_id": receiver["enterprise_id"]}]
    )
    queued = api.client.get(
        "/api/v1/dispatch-queue",
        params={"status": "ready_to_send", "after": api.event_count()},
        headers=headers,
    ).json()["items"]
    sent = api.post("/api/v1/packages/send-batch", headers, {"ids": [package]})
    after = api.client.get(
        "/api/v1/dispatch-queue",
        params={"after": api.event_count()},
        headers=headers,
    ).json()["items"]
    waiting = inbox(api, receiver["headers"], api.event_count())
    batch = api.post(
        "/api/v1/inbox/accept-batch",
        receiver["headers"],
        {"ids": [waiting[0]["delivery_id"], str(uuid.uuid4())]},
    )

    assert [q["package_id"] for q in queued] == [package]
    assert sent["items"][0]["ok"] is True
    assert package not in [q["package_id"] for q in after]
    assert [(i["ok"], i["code"]) for i in batch["items"]] == [
        (True, None),
        (False, "NOT_FOUND"),
    ]


def test_a_withdrawn_package_is_sent_again_and_a_sent_one_supplemented(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    headers = sender["headers"]
    package = a_package(
        api, sender, [{"name": "收件", "enterprise_id": receiver["enterprise_id"]}]
    )
    api.post(f"/api/v1/packages/{package}/send", headers)
    api.post(f"/api/v1/packages/{package}/withdraw", headers)

    again = api.post(f"/api/v1/packages/{package}/send", headers)
    record = api.client.get(
        f"{LIB}/records", params={"kind": "drug"}, headers=headers
    ).json()["items"][0]
    files = api.client.get(
        f"{LIB}/records/{record['record_id']}", headers=headers
    ).json()
    more = api.post(
        f"/api/v1/packages/{package}/supplement",
        headers,
        {
            "items": [
                {
                    "record_id": record["record_id"],
                    "document_ids": [files["files"][0]["document_id"]],
                }
            ]
        },
        201,
    )
    listed = api.client.get(
        "/api/v1/inbox",
        params={"after": again["position"], "status": "waiting", "q": "阿莫西林"},
        headers=receiver["headers"],
    ).json()["items"]
    reports = api.client.get(
        "/api/v1/inbox",
        params={"category": "inspection_report"},
        headers=receiver["headers"],
    ).json()["items"]

    department = api.role(headers, [])["department_id"]
    by_department = api.client.get(
        "/api/v1/outbox", params={"department_id": department}, headers=headers
    ).json()["items"]
    by_submitter = api.client.get(
        "/api/v1/outbox",
        params={"submitter": sender["account_id"], "status": "sent"},
        headers=headers,
    ).json()["items"]

    assert by_department == []
    assert [p["package_id"] for p in by_submitter] == [package]
    assert len(again["deliveries"]) == 1
    assert [i["delivery_id"] for i in listed] == again["deliveries"]
    assert more["package_id"] != package
    assert reports == []


def test_a_receiving_person_is_named_only_where_the_recipient_shows_them(
    api: Api,
) -> None:
    sender = api.verified()
    receiver = api.verified()
    admin = receiver["headers"]
    role = api.role(admin, [])
    shown = api.sub_account(admin, role["role_id"], visible=True)
    hidden = api.sub_account(admin, role["role_id"], visible=False)
    record = api.post(
        f"{LIB}/records",
        sender["headers"],
        {"kind": "enterprise", "base": {"name": "发件医药"}},
        201,
    )["record_id"]
    document = upload(api, sender["headers"], record, "{}", "other")

    def compose(**recipient: Any) -> Any:
        return api.client.post(
            "/api/v1/packages",
            json={
                "recipients": [{"name": "收件", **recipient}],
                "items": [{"record_id": record, "document_ids": [document]}],
            },
            headers=sender["headers"],
        )

    to_shown = compose(
        enterprise_id=receiver["enterprise_id"],
        department_id=role["department_id"],
        person_id=shown["account_id"],
    )
    to_hidden = compose(
        enterprise_id=receiver["enterprise_id"], person_id=hidden["account_id"]
    )
    to_nobody = compose(enterprise_id=str(uuid.uuid4()))

    assert to_shown.status_code == 201
    assert code_of(to_hidden) == "UNKNOWN_RECEIVER"
    assert code_of(to_nobody) == "UNKNOWN_RECIPIENT"


def test_the_exchange_views_rebuild_to_what_was_built_live(api: Api) -> None:
    from tests.integration.test_rebuild import snapshot

    sender = ready_enterprise(api)
    receivers = [api.verified() for _ in range(2)]
    package = a_package(
        api,
        sender,
        [
            {"name": f"收件{n}", "enterprise_id": r["enterprise_id"]}
            for n, r in enumerate(receivers)
        ],
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    first = inbox(api, receivers[0]["headers"], sent["position"])[0]["delivery_id"]
    second = inbox(api, receivers[1]["headers"], sent["position"])[0]["delivery_id"]
    api.post(f"/api/v1/inbox/{first}/accept", receivers[0]["headers"])
    last = api.post(
        f"/api/v1/inbox/{second}/reject", receivers[1]["headers"], {"reason": "不全"}
    )
    found = api.services
    views = ("exchange", "messages", "library", "signing")
    for view in views:
        assert wait_until(lambda v=view: found.engine.has_reached(v, last["position"]))
    live = {k: v for k, v in snapshot(found).items() if k.split(".")[0] in views}

    for view in views:
        found.engine.rebuild(view, found.app.recorder, found.decoder)
    rebuilt = {k: v for k, v in snapshot(found).items() if k.split(".")[0] in views}

    assert rebuilt == live
    assert live["exchange.deliveries"]


def wait_until(condition: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False

"""The exchange end to end on PostgreSQL, Kafka and a SoftHSM token: A, with
a two-level send review, sends three products and its enterprise dossier to
100 recipients (70 not registered); the files are sealed once through the
device bridge; 20 recipients accept at the same time and one rejects; B's
two-level accept review passes; B's library holds the files with valid
seals; a withdrawal after an acceptance is refused; the audit view shows
every step with its actor. Views are kept by `shouying relay` and
`shouying project` workers through Kafka."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from device_bridge.agent import create_agent
from device_bridge.token import Tokens
from read_api.settings import Settings
from tests.examples import credit_code
from tests.integration.helpers import Api, running_api
from tests.integration.test_kafka_transport import Processes
from tests.integration.test_sealing_api import pdf, ready_enterprise
from tests.softhsm import softhsm

pytestmark = pytest.mark.integration

LIB = "/api/v1/library"
REVIEWS = "/api/v1/reviews"
ORIGIN = "https://shouying.example"
VIEWS = (
    "enterprises",
    "organisation",
    "library",
    "signing",
    "exchange",
    "reviews",
    "audit",
)


@pytest.fixture
def api(kafka_settings: Settings, tmp_path: Path) -> Iterator[Api]:
    children = Processes(kafka_settings, tmp_path)
    children.start("relay")
    for view in VIEWS:
        children.start("project", view)
    try:
        with running_api(replace(kafka_settings, wait_timeout_seconds=30)) as driver:
            yield driver
    finally:
        children.stop_all()


def record_with_file(
    api: Api,
    headers: dict[str, str],
    record: dict[str, Any],
    kind: str,
    card: dict[str, str],
) -> dict[str, Any]:
    record_id = api.post(f"{LIB}/records", headers, record, 201)["record_id"]
    response = api.client.post(
        f"{LIB}/records/{record_id}/documents",
        files={"file": ("资质.pdf", pdf(), "application/pdf")},
        data={"qualification_type": kind, "card": orjson.dumps(card).decode()},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return {"record_id": record_id, "document_ids": [response.json()["document_id"]]}


def eventually(fetch: Any, until: Any = bool, seconds: float = 30) -> Any:
    """What ``fetch`` answers once ``until`` holds. A save of many aggregates
    spans Kafka partitions, and ``?after=`` waits for the partition of the
    position given only; the others follow within moments."""
    deadline = time.monotonic() + seconds
    while True:
        found = fetch()
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def step(
    api: Api, review: str, headers: dict[str, str], verdicts: dict[str, str]
) -> Any:
    return api.post(f"{REVIEWS}/{review}/submit", headers, {"verdicts": verdicts})


def test_a_package_to_100_recipients_through_review_token_seal_and_acceptance(
    api: Api,
) -> None:
    sender = ready_enterprise(api)
    admin = sender["headers"]
    r1 = api.role(admin, [], name="初审员")["role_id"]
    r2 = api.role(admin, [], name="终审员")["role_id"]
    first, final = api.sub_account(admin, r1), api.sub_account(admin, r2)
    send_flow = api.post(
        "/api/v1/review-flows",
        admin,
        {
            "name": "发送审核",
            "trigger": "send",
            "levels": [
                {"role_id": r1},
                {"role_id": r2, "account_id": final["account_id"]},
            ],
        },
        201,
    )["flow_id"]
    registered = [api.verified() for _ in range(30)]
    b = registered[0]
    q1 = api.role(b["headers"], [], name="收货初审")["role_id"]
    q2 = api.role(b["headers"], [], name="质量终审")["role_id"]
    b_first, b_final = (
        api.sub_account(b["headers"], q1),
        api.sub_account(b["headers"], q2),
    )
    accept_flow = api.post(
        "/api/v1/review-flows",
        b["headers"],
        {
            "name": "查收审核",
            "trigger": "accept",
            "levels": [{"role_id": q1}, {"role_id": q2}],
        },
        201,
    )["flow_id"]

    items = [
        record_with_file(
            api,
            admin,
            {
                "kind": "enterprise",
                "base": {"name": "发件医药", "uscc": credit_code(777)},
            },
            "business_licence",
            {"uscc": credit_code(777), "valid_until": "长期"},
        )
    ] + [
        record_with_file(
            api,
            admin,
            {
                "kind": "drug",
                "base": {
                    "product_name": name,
                    "approval_no": f"国药准字H4402151{n}",
                    "manufacturer": "某某制药厂",
                },
            },
            "drug_registration_certificate",
            {"licence_no": f"国药准字H4402151{n}", "valid_until": "2029-01-01"},
        )
        for n, name in enumerate(["阿莫西林胶囊", "布洛芬缓释胶囊", "头孢克肟片"])
    ]
    recipients = [
        {"name": f"收件{n}", "enterprise_id": r["enterprise_id"]}
        for n, r in enumerate(registered)
    ] + [
        {"name": f"药房{n}", "contact": "联系人", "mobile": f"1370000{n:04d}"}
        for n in range(70)
    ]
    package = api.post(
        "/api/v1/packages", admin, {"recipients": recipients, "items": items}, 201
    )["package_id"]
    files = [d for item in items for d in item["document_ids"]]

    # Two-level send review.
    review = api.post(
        f"/api/v1/packages/{package}/submit", admin, {"flow_id": send_flow}
    )["review_id"]
    step(api, review, first["headers"], {})
    passed = step(api, review, final["headers"], dict.fromkeys(files, "pass"))
    assert passed["status"] == "passed"

    # Sealed once, with the token through the device bridge.
    with softhsm() as hsm:
        token = hsm.add_token("ec_p256")
        public = token.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cid = api.post(
            "/api/v1/certificates/token", admin, {"mailing_address": "广州"}, 201
        )["certificate_id"]
        api.post(
            f"/api/v1/certificates/{cid}/issue", admin, {"public_key": public.decode()}
        )
        api.post(f"/api/v1/certificates/{cid}/actions", admin, {"action": "activate"})
        task = api.post(
            f"/api/v1/packages/{package}/seal", admin, {"certificate": "token"}
        )
        tokens = Tokens(token.module)
        try:
            bridge = TestClient(
                create_agent(tokens, {ORIGIN}),
                base_url="http://127.0.0.1:17890",
                headers={"Origin": ORIGIN},
            )
            for document in files:
                base = f"/api/v1/seal-tasks/{task['task_id']}/files/{document}"
                staged = api.post(f"{base}/prepare", admin)
                signed = bridge.post(
                    f"/tokens/{token.slot}/sign",
                    json={
                        "key_id": token.key_id_hex,
                        "pin": token.pin,
                        "data": staged["data_to_sign"],
                    },
                )
                assert signed.status_code == 200, signed.text
                api.post(
                    f"{base}/complete", admin, {"signature": signed.json()["signature"]}
                )
        finally:
            tokens.close()
    api.post(f"/api/v1/packages/{package}/sealed", admin)
    sent = api.post(f"/api/v1/packages/{package}/send", admin)
    assert len(sent["deliveries"]) == 100

    def waiting(enterprise: dict[str, Any]) -> str:
        items = eventually(
            lambda: api.client.get(
                "/api/v1/inbox",
                params={"after": sent["position"]},
                headers=enterprise["headers"],
            ).json()["items"]
        )
        return str(items[0]["delivery_id"])

    # B's two-level accept review.
    started = api.post(
        f"/api/v1/inbox/{waiting(b)}/accept-with-review",
        b["headers"],
        {"flow_id": accept_flow},
    )
    shown = api.client.get(
        f"{REVIEWS}/{started['review_id']}",
        params={"after": started["position"]},
        headers=b["headers"],
    ).json()
    step(api, started["review_id"], b_first["headers"], {})
    decided = step(
        api,
        started["review_id"],
        b_final["headers"],
        {f["document_id"]: "pass" for f in shown["files"]},
    )

    # Twenty accept at the same time; one rejects.
    answers: list[int] = []
    deliveries = [(r, waiting(r)) for r in registered[1:21]]

    def accept(enterprise: dict[str, Any], delivery: str) -> None:
        response = api.client.post(
            f"/api/v1/inbox/{delivery}/accept", headers=enterprise["headers"]
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=accept, args=pair) for pair in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rejected = api.post(
        f"/api/v1/inbox/{waiting(registered[21])}/reject",
        registered[21]["headers"],
        {"reason": "资料不全"},
    )
    withdraw = api.client.post(f"/api/v1/packages/{package}/withdraw", headers=admin)

    assert decided["status"] == "passed"
    assert answers == [202] * 20
    assert withdraw.json()["code"] == "PACKAGE_ACCEPTED"

    # B's library holds the files, with valid seals.
    records = eventually(
        lambda: api.client.get(
            f"{LIB}/records",
            params={"after": decided["position"]},
            headers=b["headers"],
        ).json()["items"],
        until=lambda found: len(found) == 4,
    )
    assert sorted(r["kind"] for r in records) == ["drug", "drug", "drug", "enterprise"]
    for record in records:
        detail = eventually(
            lambda r=record: api.client.get(
                f"{LIB}/records/{r['record_id']}", headers=b["headers"]
            ).json(),
            until=lambda found: bool(found["files"]),
        )
        for file in detail["files"]:
            report = api.client.get(
                f"{LIB}/records/{record['record_id']}/documents/{file['document_id']}/verification",
                headers=b["headers"],
            ).json()
            assert report["valid"] is True
            assert len(report["signatures"]) == 1

    # Every step in the audit view, with its actor.
    trail = eventually(
        lambda: api.client.get(
            "/api/v1/audit-events",
            params={
                "aggregate_id": package,
                "after": rejected["position"],
                "limit": 200,
            },
            headers=admin,
        ).json()["items"],
        until=lambda found: len(found) >= 6,
    )
    steps = [(e["event_type"], e["actor"]) for e in trail]
    admin_id = sender["account_id"]
    assert steps == [
        ("Package.Composed", admin_id),
        ("Package.Submitted", admin_id),
        ("Package.ReviewFinished", final["account_id"]),
        ("Package.SealStarted", admin_id),
        ("Package.Ready", admin_id),
        ("Package.Sent", admin_id),
    ]

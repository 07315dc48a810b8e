"""The message centre through the API on PostgreSQL: a package's arrival,
reading it, its rejection reaching the sender, and another enterprise that
neither sees nor changes the messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api
from tests.integration.test_exchange_api import a_package
from tests.integration.test_sealing_api import ready_enterprise

pytestmark = pytest.mark.integration
MESSAGES = "/api/v1/messages"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def listed(
    api: Api, who: dict[str, Any], position: int, **params: Any
) -> list[dict[str, Any]]:
    response = api.client.get(
        MESSAGES, params={"after": position, **params}, headers=who["headers"]
    )
    assert response.status_code == 200, response.text
    assert "X-View-Stale" not in response.headers
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def unread(api: Api, who: dict[str, Any], position: int) -> int:
    response = api.client.get(
        f"{MESSAGES}/unread-count", params={"after": position}, headers=who["headers"]
    )
    assert response.status_code == 200, response.text
    return int(response.json()["unread"])


def test_an_arrival_is_read_and_its_rejection_reaches_the_sender(api: Api) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    package = a_package(
        api, sender, [{"name": "收件药房", "enterprise_id": receiver["enterprise_id"]}]
    )

    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    [arrival] = listed(api, receiver, sent["position"])
    before = unread(api, receiver, sent["position"])
    read = api.post(
        f"{MESSAGES}/read",
        receiver["headers"],
        {"message_ids": [arrival["message_id"]]},
    )
    after = unread(api, receiver, read["position"])
    rejected = api.post(
        f"/api/v1/inbox/{arrival['subject_id']}/reject",
        receiver["headers"],
        {"reason": "资料不全"},
    )
    answers = listed(api, sender, rejected["position"], kind="rejected")

    assert arrival["kind"] == "arrival"
    assert arrival["title"] == f"收到首营资料：{sender['body']['enterprise_name']}"
    assert arrival["subject_id"] == sent["deliveries"][0]
    assert (before, after) == (1, 0)
    assert read["count"] == 1
    assert listed(api, receiver, read["position"], unread=True) == []
    assert listed(api, receiver, read["position"])[0]["read_at"] is not None
    [answer] = answers
    assert answer["title"] == "首营资料被拒收：收件药房"
    assert answer["body"].endswith("拒收原因：资料不全")
    assert answer["subject_id"] == arrival["subject_id"]


def test_another_enterprise_neither_sees_nor_changes_the_messages(api: Api) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    other = api.verified()
    package = a_package(
        api, sender, [{"name": "收件药房", "enterprise_id": receiver["enterprise_id"]}]
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    [arrival] = listed(api, receiver, sent["position"])
    ids = {"message_ids": [arrival["message_id"]]}

    marked = [
        api.post(f"{MESSAGES}/{action}", other["headers"], ids)
        for action in ("read", "delete")
    ]
    position = marked[-1]["position"]

    assert listed(api, other, position) == []
    assert unread(api, other, position) == 0
    assert listed(api, receiver, position) == [arrival]
    assert unread(api, receiver, position) == 1


def test_a_deleted_message_leaves_the_list_and_marks_are_bounded(api: Api) -> None:
    sender = ready_enterprise(api)
    receiver = api.verified()
    package = a_package(
        api, sender, [{"name": "收件药房", "enterprise_id": receiver["enterprise_id"]}]
    )
    sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
    [arrival] = listed(api, receiver, sent["position"])
    ids = {"message_ids": [arrival["message_id"]]}

    unread_again = api.post(f"{MESSAGES}/unread", receiver["headers"], ids)
    deleted = api.post(f"{MESSAGES}/delete", receiver["headers"], ids)
    too_many = api.client.post(
        f"{MESSAGES}/read",
        json={"message_ids": [str(uuid4()) for _ in range(201)]},
        headers=receiver["headers"],
    )
    not_ids = api.client.post(
        f"{MESSAGES}/read", json={"message_ids": ["x"]}, headers=receiver["headers"]
    )

    assert unread(api, receiver, unread_again["position"]) == 1
    assert listed(api, receiver, deleted["position"]) == []
    assert unread(api, receiver, deleted["position"]) == 0
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "TOO_MANY_MESSAGES"
    assert not_ids.status_code == 422

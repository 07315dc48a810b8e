"""The directory of verified enterprises through the API on PostgreSQL."""

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


def test_the_directory_lists_only_verified_enterprises_and_public_fields(
    api: Api,
) -> None:
    seeker = api.verified()
    other = api.verified()
    pending = api.register()

    listed = api.client.get(
        "/api/v1/directory",
        params={"name": "测试医药", "after": other["position"]},
        headers=seeker["headers"],
    )

    items = listed.json()["items"]
    ids = {i["enterprise_id"] for i in items}
    assert {seeker["enterprise_id"], other["enterprise_id"]} <= ids
    assert pending["enterprise_id"] not in ids
    assert all(i["verified"] is True for i in items)
    assert set(items[0]) == {"enterprise_id", "name", "region", "category", "verified"}


def test_the_directory_filters_by_region_and_category_and_escapes_patterns(
    api: Api,
) -> None:
    seeker = api.verified()

    by_region = api.client.get(
        "/api/v1/directory",
        params={"region": "广州", "after": seeker["position"]},
        headers=seeker["headers"],
    )
    other_category = api.client.get(
        "/api/v1/directory",
        params={"category": "clinic"},
        headers=seeker["headers"],
    )
    wildcard = api.client.get(
        "/api/v1/directory", params={"name": "%"}, headers=seeker["headers"]
    )

    assert [i["enterprise_id"] for i in by_region.json()["items"]] == [
        seeker["enterprise_id"]
    ]
    assert other_category.json()["items"] == []
    assert wildcard.json()["items"] == []


def test_an_enterprise_under_review_cannot_search_the_directory(api: Api) -> None:
    pending = api.register()

    response = api.client.get("/api/v1/directory", headers=pending["headers"])

    assert response.status_code == 403
    assert response.json()["code"] == "ENTERPRISE_NOT_VERIFIED"

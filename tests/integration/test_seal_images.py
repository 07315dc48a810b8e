"""Seal images through the API on PostgreSQL: a transparent PNG waits for an
operator's review, a replacement goes back to review, and images that are
not transparent PNGs are refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageDraw

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def seal_png(colour: str = "red", transparent: bool = True) -> bytes:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0) if transparent else "white")
    ImageDraw.Draw(image).ellipse((10, 10, 290, 290), outline=colour, width=12)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def upload(
    api: Api, headers: dict[str, str], data: bytes, kind: str = "official"
) -> Any:
    return api.client.post(
        "/api/v1/seal-images",
        data={"kind": kind},
        files={"file": ("seal.png", data, "image/png")},
        headers=headers,
    )


def test_a_seal_image_is_usable_after_review_and_a_replacement_waits_again(
    api: Api,
) -> None:
    enterprise = api.verified()
    headers = enterprise["headers"]
    operator = api.operator("sealreviewer")

    first = upload(api, headers, seal_png()).json()
    queue = api.client.get(
        "/api/v1/seal-image-reviews",
        params={"after": first["position"]},
        headers=operator,
    ).json()["items"]
    shown = api.client.get(
        f"/api/v1/enterprises/{enterprise['enterprise_id']}/seal-images/content",
        params={"kind": "official"},
        headers=operator,
    )
    approved = api.post(
        f"/api/v1/enterprises/{enterprise['enterprise_id']}/seal-images/review",
        operator,
        {"kind": "official", "blob": first["blob"], "approved": True},
    )
    replaced = upload(api, headers, seal_png("darkred")).json()
    stale = api.client.post(
        f"/api/v1/enterprises/{enterprise['enterprise_id']}/seal-images/review",
        json={"kind": "official", "blob": first["blob"], "approved": True},
        headers=operator,
    )
    mine = api.client.get(
        "/api/v1/seal-images", params={"after": replaced["position"]}, headers=headers
    ).json()["items"]

    assert [
        i["blob"] for i in queue if i["enterprise_id"] == enterprise["enterprise_id"]
    ] == [first["blob"]]
    assert shown.content == seal_png()
    assert approved["kind"] == "official"
    assert stale.json()["code"] == "SEAL_IMAGE_REPLACED"
    assert [(i["kind"], i["status"]) for i in mine] == [("official", "pending")]


def test_seal_images_that_are_not_transparent_pngs_are_refused(api: Api) -> None:
    headers = api.verified()["headers"]
    jpeg = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(jpeg, "JPEG")

    opaque = upload(api, headers, seal_png(transparent=False))
    not_png = upload(api, headers, jpeg.getvalue())
    tiny = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(tiny, "PNG")
    small = upload(api, headers, tiny.getvalue())

    assert opaque.json()["code"] == "SEAL_IMAGE_NOT_TRANSPARENT"
    assert not_png.json()["code"] == "UNSUPPORTED_FILE"
    assert small.json()["code"] == "SEAL_IMAGE_SIZE"

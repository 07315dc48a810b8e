"""Recognition through the API: an enterprise uploads a licence image and gets
the proposed type and fields; bad files answer problem documents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from ocr_service.samples import render
from read_api.settings import Settings
from tests.integration.helpers import Api, running_api
from tests.integration.test_ocr_recognition import VALID_USCC, licence_png


@pytest.fixture
def api(sqlite_settings: Settings) -> Iterator[Api]:
    with running_api(replace(sqlite_settings, ocr_workers=1)) as driver:
        yield driver


def upload(api: Api, headers: dict[str, str], name: str, data: bytes) -> httpx.Response:
    return api.client.post("/api/v1/ocr", files={"file": (name, data)}, headers=headers)


def test_an_uploaded_licence_comes_back_as_a_typed_info_card(api: Api) -> None:
    admin = api.verified()["headers"]

    response = upload(api, admin, "../../营业执照.png", licence_png(VALID_USCC))

    assert response.status_code == 200
    result = response.json()
    assert result["type"] == "business_licence"
    assert result["fields"]["uscc"]["value"] == VALID_USCC
    assert len(result["fields"]["uscc"]["box"]) == 4


def test_a_renamed_executable_is_refused_by_its_content(api: Api) -> None:
    admin = api.verified()["headers"]

    response = upload(api, admin, "licence.jpg", b"\x7fELF\x02\x01\x01" + b"\0" * 400)

    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_FILE"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    admin = api.register()["headers"]

    response = upload(api, admin, "big.pdf", b"%PDF-1.7\n" + b"0" * (22 * 1024 * 1024))

    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"


def test_an_enterprise_not_yet_approved_cannot_use_recognition(api: Api) -> None:
    admin = api.register()["headers"]

    response = upload(api, admin, "x.png", licence_png(VALID_USCC))

    assert response.status_code == 403
    assert response.json()["code"] == "ENTERPRISE_NOT_VERIFIED"


def test_recognition_needs_a_signed_in_enterprise(api: Api) -> None:
    response = upload(api, {}, "x.png", licence_png(VALID_USCC))

    assert response.status_code == 401


def test_a_licence_meant_for_a_record_is_proposed_as_its_type_and_card(
    api: Api,
) -> None:
    admin = api.verified()["headers"]
    record = api.post(
        "/api/v1/library/records",
        admin,
        {"kind": "enterprise", "base": {"name": "某某医药有限公司"}},
        201,
    )["record_id"]
    drug = api.post(
        "/api/v1/library/records",
        admin,
        {
            "kind": "drug",
            "base": {
                "product_name": "甲",
                "approval_no": "国药准字H1",
                "manufacturer": "乙",
            },
        },
        201,
    )["record_id"]

    proposal = api.client.post(
        f"/api/v1/library/records/{record}/proposals",
        files={"file": ("营业执照.png", licence_png(VALID_USCC))},
        headers=admin,
    ).json()
    elsewhere = api.client.post(
        f"/api/v1/library/records/{drug}/proposals",
        files={"file": ("营业执照.png", licence_png(VALID_USCC))},
        headers=admin,
    ).json()

    assert proposal["qualification_type"] == "business_licence"
    assert proposal["card"]["uscc"]["value"] == VALID_USCC
    assert 0 < proposal["card"]["uscc"]["confidence"] <= 1
    assert elsewhere["qualification_type"] is None


def test_an_id_card_meant_for_a_delegate_proposes_the_persons_name_number_and_validity(
    api: Api,
) -> None:
    front, back = render("id_card_front", 3), render("id_card_back", 3)
    admin = api.verified()["headers"]
    delegate = api.post(
        "/api/v1/library/records",
        admin,
        {
            "kind": "delegate",
            "base": {
                "person_name": front.truth["person_name"],
                "id_number": front.truth["id_number"],
                "enterprise_name": "某某医药有限公司",
            },
        },
        201,
    )["record_id"]

    proposals = [
        api.client.post(
            f"/api/v1/library/records/{delegate}/proposals",
            files={"file": (name, sample.encode("JPEG"))},
            headers=admin,
        ).json()
        for name, sample in (("身份证正面.jpg", front), ("身份证反面.jpg", back))
    ]

    assert [p["qualification_type"] for p in proposals] == ["id_card", "id_card"]
    assert proposals[0]["base"]["person_name"] == front.truth["person_name"]
    assert proposals[0]["base"]["id_number"] == front.truth["id_number"]
    assert proposals[0]["card"]["id_number"]["value"] == front.truth["id_number"]
    assert proposals[1]["card"]["valid_until"]["value"] == back.truth["valid_until"]

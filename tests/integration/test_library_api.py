"""The library through the API on PostgreSQL: records of each kind, files
judged by content, archive, deprecate, the recycle bin, downloads, history,
and expiry that changes as a controlled clock moves."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from openpyxl import load_workbook
from PIL import Image

from read_api.settings import Settings
from tests.examples import credit_code, information
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration

LIB = "/api/v1/library"
BAD_USCC = "91350100M000100Y44"

BASES: dict[str, dict[str, str]] = {
    "enterprise": {"name": "广州某某医药有限公司", "uscc": credit_code(901)},
    "delegate": {
        "person_name": "张三",
        "id_number": "11010519491231002X",
        "enterprise_name": "广州某某医药有限公司",
    },
    "drug": {
        "product_name": "阿莫西林胶囊",
        "approval_no": "国药准字H44021518",
        "manufacturer": "某某制药厂",
    },
    "device": {
        "product_name": "医用口罩",
        "approval_no": "粤械注准20192140001",
        "manufacturer": "某某器械公司",
    },
    "health_food": {
        "product_name": "维生素C片",
        "approval_no": "国食健注G20190001",
        "manufacturer": "某某食品公司",
    },
    "inspection_report": {
        "batch_no": "20261101",
        "product_name": "阿莫西林胶囊",
        "manufacturer": "某某制药厂",
    },
}


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


CARD = orjson.dumps({"uscc": credit_code(901), "valid_until": "长期"}).decode()


def png(colour: str = "red", size: tuple[int, int] = (60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def pdf() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 300), "white").save(buffer, "PDF")
    return buffer.getvalue()


def code_of(response: Any) -> str:
    return str(response.json()["code"])


def new_record(api: Api, headers: dict[str, str], kind: str = "enterprise") -> str:
    body = {"kind": kind, "base": BASES[kind]}
    return str(api.post(f"{LIB}/records", headers, body, 201)["record_id"])


def upload(
    api: Api,
    headers: dict[str, str],
    record: str,
    data: bytes,
    *,
    name: str = "营业执照.png",
    qualification_type: str = "business_licence",
    card: str = CARD,
) -> Any:
    return api.client.post(
        f"{LIB}/records/{record}/documents",
        files={"file": (name, data, "application/octet-stream")},
        data={"qualification_type": qualification_type, "card": card},
        headers=headers,
    )


def blob_count(settings: Settings) -> int:
    root = settings.data_dir / "blobs"
    return sum(1 for p in Path(root).rglob("*") if p.is_file()) if root.exists() else 0


def detail(api: Api, headers: dict[str, str], record: str, position: int) -> Any:
    return api.client.get(
        f"{LIB}/records/{record}", params={"after": position}, headers=headers
    ).json()


def test_records_of_each_kind_are_listed_and_searched(api: Api) -> None:
    headers = api.verified()["headers"]
    for kind in BASES:
        new_record(api, headers, kind)
    last = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "drug", "base": {**BASES["drug"], "product_name": "布洛芬缓释胶囊"}},
        201,
    )

    drugs = api.client.get(
        f"{LIB}/records",
        params={"kind": "drug", "after": last["position"]},
        headers=headers,
    ).json()["items"]
    found = api.client.get(
        f"{LIB}/records", params={"kind": "drug", "q": "布洛芬"}, headers=headers
    ).json()["items"]
    missing = api.client.post(
        f"{LIB}/records",
        json={"kind": "drug", "base": {"product_name": "x"}},
        headers=headers,
    )
    bad_code = api.client.post(
        f"{LIB}/records",
        json={
            "kind": "enterprise",
            "base": {"name": "x", "uscc": "91350100M000100Y44"},
        },
        headers=headers,
    )

    assert [d["title"] for d in drugs] == ["布洛芬缓释胶囊", "阿莫西林胶囊"]
    assert [d["title"] for d in found] == ["布洛芬缓释胶囊"]
    assert missing.status_code == 422
    assert code_of(bad_code) == "INVALID_USCC"


def test_a_file_is_stored_once_by_content_and_downloaded_under_its_name(
    api: Api, pg_settings: Settings
) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    image = png()

    first = upload(api, headers, record, image)
    second = upload(api, headers, record, image, name="营业执照.png")
    files = detail(api, headers, record, second.json()["position"])["files"]
    content = api.client.get(
        f"{LIB}/records/{record}/documents/{files[0]['document_id']}/content",
        headers=headers,
    )
    archive = api.client.get(f"{LIB}/records/{record}/download", headers=headers)

    assert first.status_code == second.status_code == 201
    assert blob_count(pg_settings) == 1
    assert [f["media_type"] for f in files] == ["image/png", "image/png"]
    assert files[0]["card"]["valid_until"] == "long-term"
    assert files[0]["origin"] == "uploaded"
    assert content.content == image
    assert "filename*=UTF-8''" in content.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert names == ["营业执照.png", "营业执照 (2).png"]


def test_hostile_and_broken_files_are_refused_and_nothing_is_stored(
    api: Api, pg_settings: Settings
) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    whole = pdf()
    cases = {
        "UNSUPPORTED_FILE": (b"MZ" + bytes(4000), "licence.jpg"),
        "BROKEN_FILE": (whole[: len(whole) // 2], "licence.pdf"),
        "FILE_TOO_LARGE": (png()[:16] + bytes(11 * 1024 * 1024), "big.png"),
    }
    events = api.event_count()

    answers = {
        code: upload(api, headers, record, data, name=name)
        for code, (data, name) in cases.items()
    }
    incomplete = upload(api, headers, record, png(), card='{"valid_until": "长期"}')
    not_json = upload(api, headers, record, png(), card="{oops")

    for code, response in answers.items():
        assert code_of(response) == code
        assert response.headers["content-type"] == "application/problem+json"
    assert code_of(incomplete) == "INFO_CARD_INCOMPLETE"
    assert not_json.status_code == 422
    assert api.event_count() == events
    assert blob_count(pg_settings) <= 1


def test_archived_files_block_editing_and_deleting_their_record(api: Api) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    upload(api, headers, record, pdf(), name="营业执照.pdf")

    archived = api.post(f"{LIB}/records/{record}/archive", headers, {"archived": True})
    edit = api.client.patch(
        f"{LIB}/records/{record}",
        json={"base": {**BASES["enterprise"], "region": "广州"}},
        headers=headers,
    )
    delete = api.client.post(f"{LIB}/records/{record}/delete", headers=headers)
    shown = detail(api, headers, record, archived["position"])
    api.post(f"{LIB}/records/{record}/archive", headers, {"archived": False})
    edited = api.client.patch(
        f"{LIB}/records/{record}",
        json={"base": {**BASES["enterprise"], "region": "广州"}},
        headers=headers,
    )

    assert code_of(edit) == "RECORD_ARCHIVED"
    assert code_of(delete) == "RECORD_ARCHIVED"
    assert shown["archived"] == 1 and shown["files"][0]["archived"] is True
    assert edited.status_code == 202


def test_deleting_and_restoring_a_record_brings_its_files_back_whole(
    api: Api,
) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    upload(api, headers, record, png("blue"))
    upload(api, headers, record, pdf(), name="营业执照.pdf")

    deleted = api.post(f"{LIB}/records/{record}/delete", headers)
    listed = api.client.get(
        f"{LIB}/records", params={"after": deleted["position"]}, headers=headers
    ).json()["items"]
    binned = api.client.get(f"{LIB}/recycle-bin", headers=headers).json()
    restored = api.post(f"{LIB}/records/{record}/restore", headers)
    back = detail(api, headers, record, restored["position"])

    assert record not in [r["record_id"] for r in listed]
    assert [r["record_id"] for r in binned["records"]] == [record]
    assert len(back["files"]) == 2
    assert back["deleted"] is False


def test_a_file_is_deprecated_restored_binned_and_brought_back(api: Api) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    document = upload(api, headers, record, png()).json()["document_id"]
    base = f"{LIB}/records/{record}/documents/{document}"

    deprecated = api.post(f"{base}/deprecate", headers)
    status_after_deprecate = detail(api, headers, record, deprecated["position"])
    api.post(f"{base}/undeprecate", headers)
    binned = api.post(f"{base}/delete", headers)
    in_bin = api.client.get(
        f"{LIB}/recycle-bin", params={"after": binned["position"]}, headers=headers
    ).json()["files"]
    restored = api.post(f"{base}/restore", headers)
    history = api.client.get(
        f"{base}/history", params={"after": restored["position"]}, headers=headers
    ).json()["items"]

    assert status_after_deprecate["files"][0]["status"] == "deprecated"
    assert [f["document_id"] for f in in_bin] == [document]
    assert [e["event_type"].split(".")[1] for e in history] == [
        "DocumentAdded",
        "StatusChanged",
        "StatusChanged",
        "DocumentBinned",
        "DocumentRestored",
    ]
    assert all(e["actor"] for e in history)


def test_expiry_follows_the_calendar_and_dismissing_deprecates(api: Api) -> None:
    headers = api.verified()["headers"]
    record = new_record(api, headers)
    card = '{"licence_no": "粤20160001", "valid_until": "2027-01-31"}'
    document = upload(
        api,
        headers,
        record,
        png(),
        name="药品经营许可证.png",
        qualification_type="drug_distribution_licence",
        card=card,
    ).json()
    clock = api.services.clock

    def expiry(day: str) -> list[str]:
        clock.set(datetime.fromisoformat(f"{day}T12:00:00+08:00").astimezone(UTC))
        items = api.client.get(
            f"{LIB}/expiry", params={"after": document["position"]}, headers=headers
        ).json()["items"]
        return [i["expiry"] for i in items]

    try:
        far = expiry("2026-12-01")
        near = expiry("2027-01-05")
        last_day = expiry("2027-01-31")
        after = expiry("2027-02-01")
        reminder = api.post(f"{LIB}/settings/reminder", headers, {"reminder_days": 10})
        shorter = api.client.get(
            f"{LIB}/expiry",
            params={"after": reminder["position"]},
            headers=headers,
        )
        clock.set(datetime(2027, 1, 15, 4, tzinfo=UTC))
        ten_days = api.client.get(f"{LIB}/expiry", headers=headers).json()["items"]
        dismissed = api.post(
            f"{LIB}/records/{record}/documents/{document['document_id']}/dismiss-reminder",
            headers,
        )
        gone = api.client.get(
            f"{LIB}/expiry", params={"after": dismissed["position"]}, headers=headers
        ).json()["items"]
    finally:
        clock.set(None)

    assert far == []
    assert near == ["expiring"]
    assert last_day == ["expiring"]
    assert after == ["expired"]
    assert shorter.status_code == 200
    assert ten_days == []
    assert gone == []


def filled_template(api: Api, headers: dict[str, str], rows: list[list[Any]]) -> bytes:
    template = api.client.get(
        f"{LIB}/templates", params={"kind": "drug"}, headers=headers
    )
    book = load_workbook(io.BytesIO(template.content))
    sheet: Any = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_import_of_rows_then_folders_stores_what_matches_and_reports_the_rest(
    api: Api,
) -> None:
    headers = api.verified()["headers"]
    sheet = filled_template(
        api,
        headers,
        [
            [
                1,
                "阿莫西林胶囊",
                None,
                "国药准字H44021518",
                None,
                None,
                "某某制药厂",
                None,
            ],
            [
                2,
                "布洛芬缓释胶囊",
                None,
                "国药准字H10900089",
                None,
                None,
                "某某药业",
                None,
            ],
            [3, "缺厂家", None, "国药准字H1", None, None, None, None],
        ],
    )

    imported = api.client.post(
        f"{LIB}/imports",
        params={"kind": "drug"},
        files={"file": ("药品.xlsx", sheet, "application/octet-stream")},
        headers=headers,
    )
    import_id = imported.json()["import_id"]
    folders = api.client.post(
        f"{LIB}/imports/{import_id}/folders",
        files={
            "archive": (
                "资料.zip",
                zipped(
                    {
                        "资料/1-阿莫西林/说明书及包装标签.pdf": pdf(),
                        "资料/1-阿莫西林/药品注册证书.png": png(),
                        "资料/2/notes.txt": b"not a licence",
                        "资料/9/orphan.png": png("green"),
                    }
                ),
                "application/zip",
            )
        },
        headers=headers,
    )
    report = api.client.get(f"{LIB}/imports/{import_id}", headers=headers).json()
    log = api.client.get(f"{LIB}/imports/{import_id}/report", headers=headers)

    assert imported.status_code == 201
    body = imported.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [r["ok"] for r in body["rows"]] == [True, True, False]
    assert folders.status_code == 202
    files = {f["path"]: f for f in folders.json()["files"]}
    assert files["1-阿莫西林/说明书及包装标签.pdf"]["qualification_type"] == (
        "drug_package_insert"
    )
    assert files["1-阿莫西林/药品注册证书.png"]["qualification_type"] == "other"
    assert files["2/notes.txt"]["code"] == "UNSUPPORTED_FILE"
    assert files["9/orphan.png"]["code"] == "FOLDER_UNMATCHED"
    assert len(report["folders"][0]) == 4
    assert log.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )


def test_a_hostile_folder_archive_is_refused_whole(api: Api) -> None:
    headers = api.verified()["headers"]
    sheet = filled_template(
        api,
        headers,
        [[1, "阿莫西林胶囊", None, "国药准字H1", None, None, "某厂", None]],
    )
    import_id = api.client.post(
        f"{LIB}/imports",
        params={"kind": "drug"},
        files={"file": ("药品.xlsx", sheet, "application/octet-stream")},
        headers=headers,
    ).json()["import_id"]
    events = api.event_count()

    slip = api.client.post(
        f"{LIB}/imports/{import_id}/folders",
        files={
            "archive": ("x.zip", zipped({"1/../../evil.png": png()}), "application/zip")
        },
        headers=headers,
    )
    absolute = api.client.post(
        f"{LIB}/imports/{import_id}/folders",
        files={"files": ("/etc/1/a.png", png(), "image/png")},
        headers=headers,
    )
    bomb = api.client.post(
        f"{LIB}/imports/{import_id}/folders",
        files={
            "archive": (
                "x.zip",
                deflated({"1/a.pdf": bytes(30 * 1024 * 1024)}),
                "application/zip",
            )
        },
        headers=headers,
    )

    assert code_of(slip) == "ZIP_UNSAFE_PATH"
    assert code_of(absolute) == "ZIP_UNSAFE_PATH"
    assert code_of(bomb) == "ZIP_BOMB"
    assert api.event_count() == events


def deflated(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_records_export_to_a_sheet_laid_out_like_the_template(api: Api) -> None:
    headers = api.verified()["headers"]
    new_record(api, headers, "drug")
    last = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "drug", "base": {**BASES["drug"], "product_name": "布洛芬缓释胶囊"}},
        201,
    )

    exported = api.client.get(
        f"{LIB}/export",
        params={"kind": "drug", "after": last["position"]},
        headers=headers,
    )
    sheet: Any = load_workbook(io.BytesIO(exported.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]

    assert rows[0][:3] == ["序号", "产品名称*", "通用名称"]
    assert [r[1] for r in rows[1:]] == ["布洛芬缓释胶囊", "阿莫西林胶囊"]


def test_the_administrator_becomes_a_delegate_whose_id_card_fills_itself(
    api: Api,
) -> None:
    registered = api.verified()
    headers = registered["headers"]

    synced = api.post(f"{LIB}/delegates/sync-administrator", headers, status=201)
    again = api.post(f"{LIB}/delegates/sync-administrator", headers)
    record = synced["record_id"]
    card = upload(
        api,
        headers,
        record,
        png(),
        name="身份证.png",
        qualification_type="id_card",
        card='{"valid_until": "2035-06-30"}',
    )
    shown = detail(api, headers, record, card.json()["position"])

    assert again["record_id"] == record
    base = shown["base"]
    assert base["person_name"] == information()["admin_name"]
    assert card.status_code == 201
    assert shown["files"][0]["card"]["id_number"] == base["id_number"]
    assert shown["files"][0]["card"]["person_name"] == base["person_name"]


def test_enterprise_records_tell_own_from_partners_and_templates_choose_types(
    api: Api,
) -> None:
    registered = api.verified(7)
    headers = registered["headers"]
    own = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "enterprise", "base": {"name": "本企业", "uscc": credit_code(7)}},
        201,
    )["record_id"]
    partner = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "enterprise", "base": {"name": "合作企业", "category": "零售药店"}},
        201,
    )["record_id"]
    template = api.post(
        f"{LIB}/settings/templates",
        headers,
        {
            "kind": "enterprise",
            "name": "零售药店模板",
            "category": "零售药店",
            "types": ["business_licence", "drug_distribution_licence"],
        },
        201,
    )

    mine = api.client.get(
        f"{LIB}/records",
        params={"relation": "own", "after": template["position"]},
        headers=headers,
    ).json()["items"]
    partners = api.client.get(
        f"{LIB}/records", params={"relation": "partner"}, headers=headers
    ).json()["items"]
    shown = detail(api, headers, partner, template["position"])
    plain = detail(api, headers, own, template["position"])

    assert [r["record_id"] for r in mine] == [own]
    assert mine[0]["relation"] == "own"
    assert [r["record_id"] for r in partners] == [partner]
    assert [t["code"] for t in shown["qualification_types"]] == [
        "business_licence",
        "drug_distribution_licence",
    ]
    assert len(plain["qualification_types"]) > 2


def test_an_imported_file_whose_name_says_nothing_is_recognised(api: Api) -> None:
    from tests.integration.test_ocr_recognition import VALID_USCC, licence_png

    headers = api.verified()["headers"]
    template = api.client.get(
        f"{LIB}/templates", params={"kind": "enterprise"}, headers=headers
    )
    book = load_workbook(io.BytesIO(template.content))
    sheet: Any = book.active
    sheet.append([1, "福州康宁医药有限公司", VALID_USCC])
    buffer = io.BytesIO()
    book.save(buffer)
    import_id = api.client.post(
        f"{LIB}/imports",
        params={"kind": "enterprise"},
        files={"file": ("企业.xlsx", buffer.getvalue(), "application/octet-stream")},
        headers=headers,
    ).json()["import_id"]

    uploaded = api.client.post(
        f"{LIB}/imports/{import_id}/folders",
        files={
            "archive": (
                "x.zip",
                zipped({"1/scan-0001.png": licence_png(VALID_USCC)}),
                "application/zip",
            )
        },
        headers=headers,
    ).json()
    folders = uploaded["files"]

    assert folders[0]["ok"] is True
    assert folders[0]["qualification_type"] == "business_licence"
    record = folders[0]["record_id"]
    shown = api.client.get(
        f"{LIB}/records/{record}",
        params={"after": uploaded["position"]},
        headers=headers,
    ).json()
    assert shown["files"][0]["card"]["uscc"] == VALID_USCC
    assert shown["files"][0]["card"]["valid_until"] == "long-term"

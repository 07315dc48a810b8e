"""The address book through the API: entries added, edited, deleted and
cleared, kept apart per enterprise, and imported from the template sheet with
a per-row report; on SQLite, and the main path again on PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from commands.address_book import COLUMNS, MAX_FILE_BYTES
from read_api.settings import Settings
from tests.examples import credit_code
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration

BOOK = "/api/v1/address-book"


@pytest.fixture
def api(sqlite_settings: Settings) -> Iterator[Api]:
    with running_api(sqlite_settings) as driver:
        yield driver


def add(api: Api, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = api.client.post(BOOK, json=fields, headers=headers)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def listed(api: Api, headers: dict[str, str], after: int, **query: Any) -> Any:
    response = api.client.get(BOOK, params={"after": after, **query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def sheet(*rows: list[Any]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    page: Any = book.active
    page.append([title for title, _ in COLUMNS])
    for row in rows:
        page.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(
    api: Api, headers: dict[str, str], data: bytes, name: str = "通讯录.xlsx"
) -> Any:
    return api.client.post(
        f"{BOOK}/import",
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
    )


def open_xlsx(data: bytes) -> Any:
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(data), read_only=True)


def test_an_entry_is_added_edited_with_its_version_and_deleted(api: Api) -> None:
    me = api.register()["headers"]

    added = add(
        api,
        me,
        name="广州某某医药有限公司",
        mobile="138 0013 8000",
        uscc=credit_code(5),
    )
    entry = f"{BOOK}/{added['entry_id']}"
    shown = api.client.get(f"{entry}?after={added['position']}", headers=me)
    edited = api.client.patch(
        entry,
        json={"contact_person": "李四", "email": None},
        headers={**me, "If-Match": shown.headers["etag"]},
    )
    stale = api.client.patch(
        entry, json={"remark": "迟到的修改"}, headers={**me, "If-Match": '"1"'}
    )
    after_edit = listed(api, me, edited.json()["position"])["items"]
    deleted = api.client.post(f"{entry}/delete", headers=me)
    gone = api.client.get(f"{entry}?after={deleted.json()['position']}", headers=me)

    assert shown.json()["mobile"] == "13800138000"
    assert shown.json()["uscc"] == credit_code(5)
    assert edited.status_code == 202
    assert edited.headers["etag"] == f'"{edited.json()["version"]}"'
    assert stale.status_code == 409
    assert stale.json()["code"] == "CONFLICT"
    assert [(e["name"], e["contact_person"]) for e in after_edit] == [
        ("广州某某医药有限公司", "李四")
    ]
    assert deleted.status_code == 202
    assert gone.status_code == 404


def test_the_same_counterpart_name_twice_is_refused(api: Api) -> None:
    me = api.register()["headers"]
    add(api, me, name="深圳某某药业有限公司")

    again = api.client.post(BOOK, json={"name": "深圳某某药业 有限公司"}, headers=me)

    assert again.status_code == 409
    assert again.json()["code"] == "ADDRESS_ENTRY_EXISTS"


def test_invalid_fields_are_refused_with_their_own_codes(api: Api) -> None:
    me = api.register()["headers"]
    cases = {
        "INVALID_MOBILE": {"name": "甲", "mobile": "02088886666"},
        "INVALID_EMAIL": {"name": "甲", "email": "not-an-address"},
        "INVALID_USCC": {"name": "甲", "uscc": "91350100M000100Y44"},
        "INVALID_VALUE": {"name": "甲" * 101},
    }

    for code, body in cases.items():
        response = api.client.post(BOOK, json=body, headers=me)

        assert response.status_code == 422, code
        assert response.json()["code"] == code
        assert response.json()["errors"][0]["field"] in body
    unknown = api.client.post(BOOK, json={"name": "甲", "fax": "1"}, headers=me)
    assert unknown.json()["code"] == "VALIDATION_FAILED"


def test_another_enterprise_neither_sees_nor_changes_an_entry(api: Api) -> None:
    mine = api.register()["headers"]
    theirs = api.register()["headers"]
    added = add(api, mine, name="甲公司")
    entry = f"{BOOK}/{added['entry_id']}"
    add(api, theirs, name="乙公司")

    seen = api.client.get(f"{entry}?after={added['position']}", headers=theirs)
    edited = api.client.patch(entry, json={"remark": "x"}, headers=theirs)
    deleted = api.client.post(f"{entry}/delete", headers=theirs)
    cleared = api.client.post(f"{BOOK}/clear", headers=theirs)
    still = listed(api, mine, cleared.json()["position"])["items"]

    assert seen.status_code == edited.status_code == deleted.status_code == 404
    assert [e["name"] for e in still] == ["甲公司"]


def test_clearing_empties_the_callers_book_only(api: Api) -> None:
    mine = api.register()["headers"]
    theirs = api.register()["headers"]
    for name in ("甲公司", "乙公司", "丙公司"):
        add(api, mine, name=name)
    kept = add(api, theirs, name="丁公司")

    cleared = api.client.post(f"{BOOK}/clear", headers=mine)
    again = api.client.post(f"{BOOK}/clear", headers=mine)
    position = cleared.json()["position"]

    assert cleared.status_code == 202
    assert cleared.json()["removed"] == 3
    assert again.json()["removed"] == 0
    assert listed(api, mine, position)["items"] == []
    assert [e["name"] for e in listed(api, theirs, kept["position"])["items"]] == [
        "丁公司"
    ]


def test_a_search_finds_a_part_of_the_name_or_the_contact_and_pages_on(
    api: Api,
) -> None:
    me = api.register()["headers"]
    add(api, me, name="广州白云山医药", contact_person="Wang Fang")
    add(api, me, name="广州医药100%公司")
    last = add(api, me, name="深圳海王药业", contact_person="李白云")

    by_name = listed(api, me, last["position"], q="白云")["items"]
    by_contact = listed(api, me, last["position"], q="wang")["items"]
    literal = listed(api, me, last["position"], q="100%")["items"]
    first = listed(api, me, last["position"], limit=2)
    rest = listed(api, me, 0, limit=2, cursor=first["next_cursor"])

    assert sorted(e["name"] for e in by_name) == ["广州白云山医药", "深圳海王药业"]
    assert [e["name"] for e in by_contact] == ["广州白云山医药"]
    assert [e["name"] for e in literal] == ["广州医药100%公司"]
    names = [e["name"] for e in first["items"] + rest["items"]]
    assert sorted(names) == names
    assert len(set(names)) == 3
    assert rest["next_cursor"] is None


def test_the_template_downloads_as_a_workbook_with_a_chinese_header(api: Api) -> None:
    me = api.register()["headers"]

    response = api.client.get(f"{BOOK}/template", headers=me)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "通讯录导入模板.xlsx"
    rows = list(open_xlsx(response.content).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "企业名称*"
    assert list(rows[0][1:]) == [title for title, _ in COLUMNS[1:]]
    assert rows[1][0].startswith("示例")


def test_an_import_stores_the_good_rows_and_reports_the_bad_one(api: Api) -> None:
    me = api.register()["headers"]
    add(api, me, name="已有公司")
    data = sheet(
        ["甲公司", credit_code(11), "张三", "13800138000", None, "广东", None, None],
        ["乙公司", None, "李四", "1380013800", None, None, None, None],
        ["丙公司", None, None, 13900139000, "c@example.com", None, None, "备注"],
    )

    response = upload(api, me, data)
    body = response.json()
    stored = listed(api, me, body["position"])["items"]
    report = api.client.get(body["report_url"], headers=me)

    assert response.status_code == 202, response.text
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [(r["row"], r["status"]) for r in body["report"]] == [
        (2, "ok"),
        (3, "error"),
        (4, "ok"),
    ]
    assert body["report"][1]["code"] == "INVALID_MOBILE"
    assert sorted(e["name"] for e in stored) == ["丙公司", "已有公司", "甲公司"]
    assert {e["mobile"] for e in stored if e["name"] == "丙公司"} == {"13900139000"}
    assert report.status_code == 200
    lines = list(open_xlsx(report.content).worksheets[0].iter_rows(values_only=True))
    assert [line[:3] for line in lines[1:]] == [
        (2, "成功", "甲公司"),
        (3, "失败", "乙公司"),
        (4, "成功", "丙公司"),
    ]


def test_a_repeated_import_with_the_same_key_answers_the_same_report(
    api: Api,
) -> None:
    me = api.register()["headers"]
    data = sheet(["甲公司"], ["甲公司"])
    keyed = {**me, "Idempotency-Key": "import-once"}

    first = upload(api, keyed, data)
    written = api.event_count()
    again = upload(api, keyed, data)

    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["report"] == first.json()["report"]
    assert api.event_count() == written


def test_another_enterprises_import_report_is_not_found(api: Api) -> None:
    mine = api.register()["headers"]
    theirs = api.register()["headers"]
    body = upload(api, mine, sheet(["甲公司"])).json()

    response = api.client.get(body["report_url"], headers=theirs)

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, 415, "UNSUPPORTED_FILE"),
        ("企业名称\n甲公司\n".encode(), 415, "UNSUPPORTED_FILE"),
        (b"PK\x03\x04" + b"\0" * MAX_FILE_BYTES, 413, "FILE_TOO_LARGE"),
    ],
    ids=["renamed-png", "renamed-csv", "over-2-mb"],
)
def test_a_file_that_is_not_a_small_workbook_is_refused_and_nothing_is_stored(
    api: Api, data: bytes, status: int, code: str
) -> None:
    me = api.register()["headers"]
    written = api.event_count()

    response = upload(api, me, data, name="通讯录.xlsx")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert api.event_count() == written


def test_every_address_book_route_needs_a_signed_in_caller(api: Api) -> None:
    responses = [
        api.client.get(BOOK),
        api.client.get(f"{BOOK}/template"),
        api.client.post(BOOK, json={"name": "甲"}),
        api.client.post(f"{BOOK}/clear"),
        upload(api, {}, sheet(["甲"])),
    ]

    assert {r.status_code for r in responses} == {401}


def test_an_operator_has_no_address_book(api: Api) -> None:
    operator = api.operator()

    response = api.client.get(BOOK, headers=operator)

    assert response.status_code == 403


@pytest.fixture
def pg_api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def test_on_postgresql_entries_imports_and_clearing_survive_a_view_rebuild(
    pg_api: Api,
) -> None:
    api = pg_api
    mine = api.register()["headers"]
    theirs = api.register()["headers"]
    add(api, mine, name="甲公司", contact_person="Zhang San")
    duplicate = api.client.post(BOOK, json={"name": "甲 公司"}, headers=mine)
    imported = upload(api, mine, sheet(["乙公司"], ["丙公司", None, None, "1"])).json()
    searched = listed(api, mine, imported["position"], q="ZHANG")["items"]
    add(api, theirs, name="丁公司")
    cleared = api.client.post(f"{BOOK}/clear", headers=theirs).json()
    before = listed(api, mine, cleared["position"])["items"]

    found = api.services
    found.engine.rebuild("address_book", found.app.recorder, found.decoder)
    after = listed(api, mine, 0)["items"]

    assert duplicate.json()["code"] == "ADDRESS_ENTRY_EXISTS"
    assert (imported["accepted"], imported["rejected"]) == (1, 1)
    assert [e["name"] for e in searched] == ["甲公司"]
    assert sorted(e["name"] for e in before) == ["乙公司", "甲公司"]
    assert after == before
    assert listed(api, theirs, 0)["items"] == []

"""Classification and field extraction from given text lines (no Tesseract)."""

from __future__ import annotations

from datetime import date

import pytest

from ocr_service.classify import UNKNOWN, classify, classify_text
from ocr_service.fields import Reread, extract, rows_from_text
from ocr_service.normalise import LONG_TERM
from ocr_service.text import Row

TODAY = date(2025, 6, 1)


def values(lines: list[str], kind: str | None = None) -> dict[str, str]:
    rows = rows_from_text(lines)
    found = extract(rows, kind or classify(rows).kind, today=TODAY)
    return {key: field.value for key, field in found.items()}


BUSINESS_LICENCE = [
    "统一社会信用代码 9135O1OOMOOO1OOY43",
    "营 业 执 照",
    "名    称  福州康宁医药有限公司",
    "类    型  有限责任公司(自然人投资或控股)",
    "法定代表人  王建国",
    "成立日期  2015年03月12日",
    "营业期限  2015年03月12日至长期",
    "住    所  福建省福州市鼓楼区五四路128号",
    "登记机关  福州市市场监督管理局",
    "2020年1月2日",
]


def test_a_business_licence_yields_its_normalised_fields() -> None:
    found = values(BUSINESS_LICENCE)

    assert found == {
        "enterprise_name": "福州康宁医药有限公司",
        "uscc": "91350100M000100Y43",
        "legal_representative": "王建国",
        "address": "福建省福州市鼓楼区五四路128号",
        "established_on": "2015-03-12",
        "term_from": "2015-03-12",
        "term_to": LONG_TERM,
        "issuing_authority": "福州市市场监督管理局",
        "issued_on": "2020-01-02",
    }


def test_a_value_stops_at_the_next_label_of_a_two_column_row() -> None:
    lines = [
        "营业执照",
        "名    称  福州康宁医药有限公司      注册资本  伍佰万元整",
        "法定代表人  王建国                成立日期  2015年03月12日",
    ]

    found = values(lines)

    assert found["enterprise_name"] == "福州康宁医药有限公司"
    assert found["legal_representative"] == "王建国"
    assert found["established_on"] == "2015-03-12"


def test_an_address_continues_on_the_row_below_its_value() -> None:
    lines = [
        "姓名  张三",
        "住址  福建省福州市鼓楼区",
        "      五四路128号",
        "公民身份号码  35010219900102002X",
    ]

    found = values(lines, "id_card_front")

    assert found["address"] == "福建省福州市鼓楼区五四路128号"


def test_an_id_card_front_takes_birth_date_and_sex_from_a_valid_number() -> None:
    lines = [
        "姓名  张三",
        "性别  女      民族  汉",
        "出生  1990 年 1 月 3 日",
        "公民身份号码  35010219900102002X",
    ]

    found = values(lines, "id_card_front")

    assert found["birth_date"] == "1990-01-02"
    assert found["sex"] == "女"
    assert found["ethnicity"] == "汉"
    assert found["id_number"] == "35010219900102002X"


def test_an_invalid_credit_code_is_not_proposed() -> None:
    lines = ["营业执照", "统一社会信用代码  91350100M000100Y47", "名称  某某公司"]

    found = values(lines)

    assert "uscc" not in found


def test_an_id_card_back_yields_its_authority_and_validity() -> None:
    lines = [
        "中华人民共和国",
        "居 民 身 份 证",
        "签发机关  福州市公安局鼓楼分局",
        "有效期限  2015.03.12-2035.03.12",
    ]

    found = values(lines)

    assert found == {
        "issuing_authority": "福州市公安局鼓楼分局",
        "valid_from": "2015-03-12",
        "valid_until": "2035-03-12",
    }


def test_a_value_printed_below_its_label_is_found() -> None:
    lines = ["药品经营许可证", "有效期至", "2029年12月31日"]

    found = values(lines)

    assert found["valid_until"] == "2029-12-31"


def test_field_boxes_cover_the_value_not_the_label() -> None:
    rows = rows_from_text(["法定代表人  王建国"])

    found = extract(rows, "business_licence")

    assert found["legal_representative"].box == (70, 0, 100, 20)


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("营业执照", "business_licence"),
        ("药品生产许可证", "drug_manufacturing_licence"),
        ("药品经营许可证", "drug_distribution_licence"),
        ("中华人民共和国医疗器械注册证", "device_registration_certificate"),
        ("医疗器械经营许可证", "device_distribution_licence"),
        ("第二类医疗器械经营备案凭证", "device_distribution_licence"),
        ("授权委托书", "power_of_attorney"),
        ("检验报告书", "inspection_report"),
    ],
)
def test_a_page_is_classified_by_its_title(title: str, kind: str) -> None:
    lines = [title, "企业名称  福州康宁医药有限公司", "发证日期  2020年01月02日"]

    classification = classify_text(lines)

    assert classification.kind == kind
    assert classification.confidence >= 0.5


def test_a_title_with_one_misread_character_still_classifies() -> None:
    classification = classify_text(["号业执照", "名称  某某公司", "注册资本  伍佰万元"])

    assert classification.kind == "business_licence"


def test_id_card_sides_are_told_apart_by_their_labels() -> None:
    front = ["姓名 张三", "性别 男 民族 汉", "出生 1990年1月2日", "公民身份号码 1"]
    back = ["中华人民共和国", "居民身份证", "签发机关 某某公安局", "有效期限 长期"]

    kinds = (classify_text(front).kind, classify_text(back).kind)

    assert kinds == ("id_card_front", "id_card_back")


def test_a_title_quoted_in_a_sentence_far_down_does_not_decide_the_kind() -> None:
    lines = ["通知", "", "", "", "各位同事:", "请于本周提交营业执照复印件。"]

    classification = classify_text(lines)

    assert classification.kind == UNKNOWN


def test_no_rows_are_unknown() -> None:
    classification = classify([])

    assert classification.kind == UNKNOWN


def reading(text: str) -> tuple[list[tuple[tuple[int, int, int, int], ...]], Reread]:
    """A second reading that always finds ``text``, and the boxes asked of it."""
    asked: list[tuple[tuple[int, int, int, int], ...]] = []

    def reread(boxes: tuple[tuple[int, int, int, int], ...], reads: str) -> str:
        asked.append(boxes)
        return text

    return asked, reread


LICENCE = [
    "药品生产许可证",
    "编    号  间20222070",
    "企业名称  福州康宁医药有限公司",
    "法定代表人  王建国",
    "发证日期  2020年1月2日",
]


def test_a_number_without_a_province_prefix_takes_the_prefixed_second_reading() -> None:
    asked, reread = reading("闽20222070")

    found = extract(
        rows_from_text(LICENCE), "drug_manufacturing_licence", reread=reread
    )

    assert found["licence_no"].value == "闽20222070"
    assert len(asked) == 1


def test_only_the_prefix_is_taken_from_a_second_reading_that_garbled_the_rest() -> None:
    _, reread = reading("闽闽2O2E22070")

    found = extract(
        rows_from_text(LICENCE), "drug_manufacturing_licence", reread=reread
    )

    assert found["licence_no"].value == "闽20222070"


def test_a_second_reading_without_the_prefix_does_not_replace_the_first() -> None:
    _, reread = reading("20222070")

    found = extract(
        rows_from_text(LICENCE), "drug_manufacturing_licence", reread=reread
    )

    assert found["licence_no"].value == "间20222070"


def test_names_and_values_that_read_well_are_not_read_again() -> None:
    lines = [*LICENCE]
    lines[1] = "编    号  闽20222070"
    asked, reread = reading("粤19990101")

    found = extract(rows_from_text(lines), "drug_manufacturing_licence", reread=reread)

    assert asked == []
    assert found["legal_representative"].value == "王建国"
    assert found["issued_on"].value == "2020-01-02"


def test_a_date_the_first_reading_missed_comes_from_the_second() -> None:
    lines = [*LICENCE]
    lines[4] = "发证日期  2020年1月?日"
    _, reread = reading("2020年1月2日")

    found = extract(rows_from_text(lines), "drug_manufacturing_licence", reread=reread)

    assert found["issued_on"].value == "2020-01-02"


def test_a_quotation_mark_read_inside_a_spaced_label_does_not_hide_it() -> None:
    found = values(["药品经营许可证", "证  “  号  鲁AB4835529"])

    assert found["licence_no"] == "鲁AB4835529"


def test_a_label_wrapped_against_the_second_column_is_found_by_alignment() -> None:
    lines = [
        "营业执照",
        "名    称  福州康宁医药有限公司   注册资本  壹佰万元整",
        "类    型  有限责任公司(自然人投资或成立日期  2015年03月12日",
    ]

    found = values(lines, "business_licence")

    assert found["established_on"] == "2015-03-12"


def test_a_long_label_missing_its_first_character_is_still_read() -> None:
    found = values(["检验报告书", "产品名称  阿莫西林胶囊", "告日期:2022年02月21日"])

    assert found["issued_on"] == "2022-02-21"


def test_one_date_alone_below_every_label_is_the_date_of_issue() -> None:
    lines = ["检验报告书", "产品名称  阿莫西林胶囊", "批准文号  国药准字H20990001"]

    found = values([*lines, "               2022年02月21日"])
    ambiguous = values([*lines, "2022年02月21日", "2027年02月20日"])

    assert found["issued_on"] == "2022-02-21"
    assert "issued_on" not in ambiguous


def test_a_label_with_nothing_read_beside_it_is_read_again_to_its_right() -> None:
    lines = ["药品生产许可证", "法定代表人", "企业负责人  李明"]
    asked, reread = reading("王建国")

    found = extract(rows_from_text(lines), "drug_manufacturing_licence", reread=reread)

    assert found["legal_representative"].value == "王建国"
    assert found["legal_representative"].confidence == 0.5
    (box,) = asked[0]
    assert box[0] >= 50 and box[2] - box[0] >= 100


PROXY = [
    "授权委托书",
    "委托单位:福州康宁医药有限公司",
    "法定代表人:喜桂军",
]


def test_a_name_not_starting_with_a_surname_takes_a_second_reading_of_it() -> None:
    asked, reread = reading("袁桂年")

    found = extract(rows_from_text(PROXY), "power_of_attorney", reread=reread)

    # Only the surname is taken: the given name stays as first read.
    assert found["legal_representative"].value == "袁桂军"
    assert len(asked) == 1


def test_a_stray_glyph_read_before_a_surname_is_dropped() -> None:
    lines = [*PROXY]
    lines[2] = "法定代表人:和孔文玉"
    _, reread = reading("孔文玉")

    found = extract(rows_from_text(lines), "power_of_attorney", reread=reread)

    assert found["legal_representative"].value == "孔文玉"


@pytest.mark.parametrize("second", ["效桂军", "袁桂", "", "12"])
def test_a_name_keeps_its_first_reading_unless_the_second_starts_with_a_surname(
    second: str,
) -> None:
    _, reread = reading(second)

    found = extract(rows_from_text(PROXY), "power_of_attorney", reread=reread)

    assert found["legal_representative"].value == "喜桂军"


def test_a_term_label_two_characters_wrong_is_confirmed_by_its_value() -> None:
    lines = [
        "中华人民共和国",
        "居民身份证",
        "签发机关  福州市公安局鼓楼分局",
        "有效贿良。2023.08.14-2043.08.14",
    ]

    found = values(lines, "id_card_back")

    assert found["valid_from"] == "2023-08-14"
    assert found["valid_until"] == "2043-08-14"


def test_a_row_unlike_any_date_label_is_not_taken_for_one() -> None:
    lines = [
        "中华人民共和国",
        "居民身份证",
        "签发机关  福州市公安局鼓楼分局",
        "电话号码  2023.08.14",
    ]

    found = values(lines, "id_card_back")

    assert "valid_from" not in found and "valid_until" not in found


def readings(
    answers: dict[str, str],
) -> tuple[list[tuple[tuple[tuple[int, int, int, int], ...], str]], Reread]:
    """A second reading that finds ``answers[reads]`` (nothing for another
    kind of reading), and each box and kind asked of it."""
    asked: list[tuple[tuple[tuple[int, int, int, int], ...], str]] = []

    def reread(boxes: tuple[tuple[int, int, int, int], ...], reads: str) -> str | None:
        asked.append((boxes, reads))
        return answers.get(reads)

    return asked, reread


def test_a_bare_guo_before_digits_is_no_national_prefix_and_is_read_again() -> None:
    lines = [*LICENCE]
    lines[1] = "编    号  国20222070"
    asked, reread = readings({"number": "闽20222070"})

    found = extract(rows_from_text(lines), "drug_manufacturing_licence", reread=reread)

    assert found["licence_no"].value == "闽20222070"
    assert [reads for _, reads in asked] == ["number"]


REPORT = [
    "检验报告书",
    "产品名称  复方甘草片",
    "批准文号  国药准字了再20995731",
    "生产企业  福州康宁医药有限公司",
]


def test_an_approval_number_off_its_grammar_is_read_again_with_its_alphabet() -> None:
    asked, reread = readings({"approval": "国药准字H20995731"})

    found = extract(rows_from_text(REPORT), "inspection_report", reread=reread)

    assert found["approval_no"].value == "国药准字H20995731"
    assert [reads for _, reads in asked] == ["approval"]


def test_an_approval_number_stays_as_first_read_when_the_second_is_off_too() -> None:
    _, reread = readings({"approval": "国药准字20995731"})

    found = extract(rows_from_text(REPORT), "inspection_report", reread=reread)

    assert found["approval_no"].value == "国药准字了再20995731"


def test_an_approval_number_in_its_grammar_is_not_read_again() -> None:
    lines = [*REPORT]
    lines[2] = "批准文号  国药准字H20995731"
    asked, reread = readings({})

    extract(rows_from_text(lines), "inspection_report", reread=reread)

    assert asked == []


def test_specks_between_a_label_and_its_value_do_not_start_the_value() -> None:
    lines = [
        "营业执照",
        "营业期限。。    2003年01月21日至2033年0",
        "          1月20日",
        "住所。   福建省厦门市海沧区和平路",
        "      300号",
    ]

    found = values(lines, "business_licence")

    assert found["term_to"] == "2033-01-20"
    assert found["address"] == "福建省厦门市海沧区和平路300号"


LOST_ROW = [
    "药品经营许可证",
    "企业名称  济南仁世医药科技有限公司",
    "",
    "发证机关  山东省药品监督管理局",
]


def test_a_row_the_first_reading_lost_between_labels_is_read_again() -> None:
    asked, reread = readings({"row": "法定代表人龚霞慧"})

    found = extract(
        rows_from_text(LOST_ROW), "drug_distribution_licence", reread=reread
    )

    assert found["legal_representative"].value == "龚霞慧"
    (((_, y0, _, y1),), reads) = asked[-1]
    assert reads == "row"
    # The band between the two rows: below 企业名称's, above 发证机关's.
    assert y0 >= 40 + 20 and y1 <= 3 * 40


def test_rows_standing_as_close_as_rows_do_are_not_read_for_a_lost_one() -> None:
    lines = [line for line in LOST_ROW if line]
    asked, reread = readings({"row": "法定代表人龚霞慧"})

    found = extract(rows_from_text(lines), "drug_distribution_licence", reread=reread)

    assert "legal_representative" not in found
    assert all(reads != "row" for _, reads in asked)


ID_FRONT = [
    "姓名  吴丽军",
    "性别  女  民族  满",
    "住址  广东省广州市白云区五四路120号",
    "公民身份模a9局30106199110224963",
]


def test_an_id_number_failing_its_check_is_read_again_from_its_digit_run() -> None:
    asked, reread = readings({"id": "330106199110224963"})

    found = extract(rows_from_text(ID_FRONT), "id_card_front", reread=reread)

    assert found["id_number"].value == "330106199110224963"
    (((x0, _, x1, _),), reads) = asked[-1]
    assert reads == "id"
    # The run's box, widened to take in a digit merged with its neighbour.
    assert x0 < ID_FRONT[3].index("3") * 10 < x1


def test_a_digit_run_read_again_that_still_fails_its_check_gives_nothing() -> None:
    _, reread = readings({"id": "30106199110224963"})

    found = extract(rows_from_text(ID_FRONT), "id_card_front", reread=reread)

    assert "id_number" not in found


@pytest.mark.parametrize(
    ("read", "name"),
    [
        ("南京康和医药科技有限责任公", "南京康和医药科技有限责任公司"),
        ("武汉德仁药业有限责任公局", "武汉德仁药业有限责任公司"),
        ("南京寿正健康产业股份有限", "南京寿正健康产业股份有限公司"),
        ("济南宁安医药科技有有限公司", "济南宁安医药科技有限公司"),
        ("厦门瑞和股份有限公司", "厦门瑞和股份有限公司"),
    ],
)
def test_a_company_name_ends_in_its_legal_form(read: str, name: str) -> None:
    found = values(["营 业 执 照", f"名    称  {read}", "法定代表人  王建国"])

    assert found["enterprise_name"] == name


def test_an_authority_ending_in_gong_is_no_company() -> None:
    found = values(
        ["营 业 执 照", "名    称  福州康宁医药有限公司", "登记机关  福州市公"]
    )

    assert found["issuing_authority"] == "福州市公"


def test_a_character_the_shape_check_finds_lost_joins_the_value_only() -> None:
    rows = rows_from_text(["法定代表人 吴雪  营业期限 2015年03月12日至长期"])
    asked: list[tuple[int, ...]] = []

    def verify(row: Row, glyphs: tuple[int, ...], reads: str) -> dict[int, str]:
        asked.append(glyphs)
        return {6: "雪国"} if reads == "name" else {}

    found = extract(rows, "business_licence", today=TODAY, verify=verify)

    assert found["legal_representative"].value == "吴雪国"
    assert found["term_from"].value == "2015-03-12"
    assert found["term_to"].value == LONG_TERM
    assert asked == [(5, 6)]


@pytest.mark.parametrize(
    ("period", "until"),
    [("2010.11.22-2030.11.22", "2030-11-22"), ("2010.11.22-长期", LONG_TERM)],
)
def test_a_validity_whose_label_was_lost_is_the_one_period_on_the_page(
    period: str, until: str
) -> None:
    found = values(
        [
            "中华人民共和国",
            "居民身份证",
            "签发机关 广州市公安局白云分局",
            f"有有效妥了根{period}",
        ],
        "id_card_back",
    )

    assert found["valid_from"] == "2010-11-22"
    assert found["valid_until"] == until


def test_two_periods_with_no_label_say_nothing() -> None:
    found = values(
        [
            "居民身份证",
            "签发机关 广州市公安局",
            "妥了根2010.11.22-2030.11.22",
            "限2011.01.01-2031.01.01",
        ],
        "id_card_back",
    )

    assert "valid_from" not in found and "valid_until" not in found


def test_a_long_label_read_with_a_character_inserted_is_still_that_label() -> None:
    found = values(
        [
            "中华人民共和国医疗器械注册证",
            "注册证编号 国械注准20233045569",
            "注册人和名称 深圳华天医药股份有限公司",
        ],
        "device_registration_certificate",
    )

    assert found["holder"] == "深圳华天医药股份有限公司"


def test_a_label_holding_another_fields_label_with_a_character_more_stays_apart() -> (
    None
):
    found = values(["授权委托书", "有效期限至2025年06月01日"], "power_of_attorney")

    assert found == {"valid_until": "2025-06-01"}


def test_a_bracket_read_against_a_digit_of_an_address_is_a_one() -> None:
    found = values(
        [
            "营 业 执 照",
            "名    称  福州康宁医药有限公司",
            "住    所  福州市和平路11]号九中心]1层",
        ]
    )

    assert found["address"] == "福州市和平路111号九中心11层"


def test_an_angle_bracket_read_before_an_address_is_no_part_of_it() -> None:
    found = values(
        ["营 业 执 照", "名    称  福州康宁医药有限公司", "住    所  《福州市和平路1号"]
    )

    assert found["address"] == "福州市和平路1号"


def test_a_date_read_on_the_line_of_an_issuers_name_is_the_date_not_the_name() -> None:
    found = values(
        [
            "营 业 执 照",
            "名    称  福州康宁医药有限公司",
            "登记机关  福州市市场监督管理局 2024年12月31日",
        ]
    )

    assert found["issuing_authority"] == "福州市市场监督管理局"
    assert found["issued_on"] == "2024-12-31"


def test_a_full_stop_read_inside_a_name_is_a_speck() -> None:
    found = values(["营 业 执 照", "名    称  福州康宁医药。有限公司"])

    assert found["enterprise_name"] == "福州康宁医药有限公司"


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("经营期限", "term_to"),
        ("公司名称", "enterprise_name"),
        ("核发机关", "issuing_authority"),
    ],
)
def test_labels_other_issuers_print_are_read_too(label: str, key: str) -> None:
    value = {
        "term_to": "2015年03月12日至长期",
        "enterprise_name": "福州康宁医药有限公司",
        "issuing_authority": "福州市市场监督管理局",
    }[key]

    found = values(["营 业 执 照", f"{label}  {value}"])

    assert key in found


ADDRESS = "福建省厦门市海沧区解放路57号"


@pytest.mark.parametrize(
    ("title", "number_row", "authority_row", "key", "expected"),
    [
        pytest.param(
            "药品经营许可证",
            "许可证编号  赣BB3273799",
            "发证机关  福建省药品监督管理局",
            "licence_no",
            "闽BB3273799",
            id="a number begins with the province its authority names",
        ),
        pytest.param(
            "医疗器械经营许可证",
            "许可证编号  细厦药监械经营许20231234号",
            "发证部门  厦门市市场监督管理局",
            "licence_no",
            "闽厦药监械经营许20231234号",
            id="a city authority's number begins with its address's province",
        ),
        pytest.param(
            "中华人民共和国医疗器械注册证",
            "注册证编号  国械注准20243141234",
            "审批部门  国家药品监督管理局",
            "approval_no",
            "国械注准20243141234",
            id="a national number is left as read",
        ),
        pytest.param(
            "中华人民共和国医疗器械注册证",
            "注册证编号  围械注准20243141234",
            "",
            "approval_no",
            "围械注准20243141234",
            id="with no authority read, a character no province has is kept",
        ),
    ],
)
def test_a_provincial_numbers_first_character_agrees_with_its_province(
    title: str, number_row: str, authority_row: str, key: str, expected: str
) -> None:
    lines = [
        title,
        number_row,
        "企业名称  厦门康宁医药有限公司",
        f"住    所  {ADDRESS}",
    ]

    found = values([*lines, authority_row] if authority_row else lines)

    assert found[key] == expected


@pytest.mark.parametrize("read", ["药准字H20162205", "准字H20162205"])
def test_an_approval_number_read_without_the_head_of_guoyaozhunzi_gets_it(
    read: str,
) -> None:
    found = values(["检验报告书", f"批准文号  {read}"])

    assert found["approval_no"] == "国药准字H20162205"

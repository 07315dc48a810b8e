"""What the library knows about its contents before any enterprise adds to it
(manual 9): the kinds of record, each kind's base information fields, and the
catalogue of qualification types with the info-card fields each one needs.

Validation lives here too, so that the same rules hold for a record typed in
a form, a row of an imported sheet, and a file received from a counterpart.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from aggregates.account import check_mobile
from aggregates.errors import InvalidValue
from aggregates.identifiers import InvalidIdentifier, check_id_number, check_uscc

LONG_TERM = "long-term"
TEXT_MAX_LENGTH = 200


class Kind(enum.StrEnum):
    ENTERPRISE = "enterprise"
    DELEGATE = "delegate"
    DRUG = "drug"
    DEVICE = "device"
    HEALTH_FOOD = "health_food"
    INSPECTION_REPORT = "inspection_report"


PRODUCT_KINDS = frozenset({Kind.DRUG, Kind.DEVICE, Kind.HEALTH_FOOD})


class Check(enum.Enum):
    TEXT = "text"
    USCC = "uscc"
    ID_NUMBER = "id_number"
    MOBILE = "mobile"
    DATE = "date"
    #: A date, or ``long-term`` for an open-ended validity.
    VALIDITY = "validity"


@dataclass(frozen=True)
class Field:
    name: str
    label_zh: str
    required: bool = False
    check: Check = Check.TEXT


_F = Field
BASE_FIELDS: Mapping[Kind, tuple[Field, ...]] = {
    Kind.ENTERPRISE: (
        _F("name", "企业名称", True),
        _F("uscc", "统一社会信用代码", False, Check.USCC),
        _F("category", "企业类型"),
        _F("legal_representative", "法定代表人"),
        _F("region", "所在地区"),
        _F("address", "地址"),
        _F("contact_person", "联系人"),
        _F("contact_mobile", "联系电话", False, Check.MOBILE),
    ),
    Kind.DELEGATE: (
        _F("person_name", "姓名", True),
        _F("id_number", "身份证号码", True, Check.ID_NUMBER),
        _F("enterprise_name", "所属企业", True),
        _F("mobile", "手机号码", False, Check.MOBILE),
        _F("position", "职务"),
    ),
    Kind.DRUG: (
        _F("product_name", "产品名称", True),
        _F("generic_name", "通用名称"),
        _F("approval_no", "批准文号", True),
        _F("specification", "规格"),
        _F("dosage_form", "剂型"),
        _F("manufacturer", "生产企业", True),
        _F("holder", "上市许可持有人"),
    ),
    Kind.DEVICE: (
        _F("product_name", "产品名称", True),
        _F("approval_no", "注册证号/备案号", True),
        _F("specification", "型号规格"),
        _F("manufacturer", "生产企业", True),
        _F("holder", "注册人/备案人"),
    ),
    Kind.HEALTH_FOOD: (
        _F("product_name", "产品名称", True),
        _F("approval_no", "批准文号", True),
        _F("specification", "规格"),
        _F("manufacturer", "生产企业", True),
    ),
    Kind.INSPECTION_REPORT: (
        _F("batch_no", "批号", True),
        _F("product_name", "产品名称", True),
        _F("approval_no", "批准文号"),
        _F("manufacturer", "生产企业", True),
        _F("supplier", "供应商"),
        _F("product_code", "产品编码"),
    ),
}

#: The field naming a record in lists, and the code identifying it.
TITLE_FIELD: Mapping[Kind, str] = {
    Kind.ENTERPRISE: "name",
    Kind.DELEGATE: "person_name",
    Kind.DRUG: "product_name",
    Kind.DEVICE: "product_name",
    Kind.HEALTH_FOOD: "product_name",
    Kind.INSPECTION_REPORT: "product_name",
}
CODE_FIELD: Mapping[Kind, str] = {
    Kind.ENTERPRISE: "uscc",
    Kind.DELEGATE: "id_number",
    Kind.DRUG: "approval_no",
    Kind.DEVICE: "approval_no",
    Kind.HEALTH_FOOD: "approval_no",
    Kind.INSPECTION_REPORT: "batch_no",
}

#: Every field an info card may carry.
CARD_FIELDS: tuple[Field, ...] = (
    _F("licence_no", "证件编号"),
    _F("uscc", "统一社会信用代码", False, Check.USCC),
    _F("person_name", "姓名"),
    _F("id_number", "身份证号码", False, Check.ID_NUMBER),
    _F("issuing_authority", "发证机关"),
    _F("issued_on", "发证日期", False, Check.DATE),
    _F("valid_from", "有效期起", False, Check.DATE),
    _F("valid_until", "有效期至", False, Check.VALIDITY),
    _F("remark", "备注"),
)
_CARD = {f.name: f for f in CARD_FIELDS}


@dataclass(frozen=True)
class QualificationType:
    code: str
    label_zh: str
    kinds: frozenset[Kind]
    #: Info-card fields a file of this type must have.
    required: tuple[str, ...] = ()
    #: Kept for documents issued before the certificate was abolished.
    legacy: bool = False


def _t(
    code: str,
    label: str,
    kinds: set[Kind],
    required: tuple[str, ...] = (),
    legacy: bool = False,
) -> QualificationType:
    return QualificationType(code, label, frozenset(kinds), required, legacy)


_E, _D = Kind.ENTERPRISE, Kind.DELEGATE
_ALL = set(Kind)
_DATED = ("licence_no", "valid_until")

QUALIFICATION_TYPES: tuple[QualificationType, ...] = (
    _t("business_licence", "营业执照", {_E}, ("uscc", "valid_until")),
    _t("drug_manufacturing_licence", "药品生产许可证", {_E}, _DATED),
    _t("drug_distribution_licence", "药品经营许可证", {_E}, _DATED),
    _t("device_manufacturing_licence", "医疗器械生产许可证", {_E}, _DATED),
    _t("device_distribution_licence", "医疗器械经营许可证", {_E}, _DATED),
    _t(
        "device_distribution_filing",
        "第二类医疗器械经营备案凭证",
        {_E},
        ("licence_no",),
    ),
    _t("medical_institution_licence", "医疗机构执业许可证", {_E}, _DATED),
    _t("food_business_licence", "食品经营许可证", {_E}, _DATED),
    _t("gsp_certificate", "药品GSP证书", {_E}, _DATED, legacy=True),
    _t("gmp_certificate", "药品GMP证书", {_E, Kind.DRUG}, _DATED, legacy=True),
    _t("quality_agreement", "质量保证协议", {_E}, ("valid_until",)),
    _t("quality_system_survey", "质量体系调查表", {_E}),
    _t("invoice_template", "开票资料", {_E}),
    _t("power_of_attorney", "法人授权委托书", {_D}, ("valid_until",)),
    _t("id_card", "身份证", {_D}, ("person_name", "id_number", "valid_until")),
    _t("drug_registration_certificate", "药品注册证书", {Kind.DRUG}, _DATED),
    _t("drug_package_insert", "说明书及包装标签", {Kind.DRUG, Kind.HEALTH_FOOD}),
    _t(
        "device_registration_certificate",
        "医疗器械注册证/备案凭证",
        {Kind.DEVICE},
        _DATED,
    ),
    _t(
        "health_food_registration",
        "保健食品注册证书/备案凭证",
        {Kind.HEALTH_FOOD},
        _DATED,
    ),
    _t(
        "inspection_report",
        "检验报告",
        {Kind.INSPECTION_REPORT, Kind.DRUG, Kind.DEVICE, Kind.HEALTH_FOOD},
    ),
    _t("other", "其他", _ALL),
)
TYPES = {t.code: t for t in QUALIFICATION_TYPES}


def types_of(kind: Kind) -> list[QualificationType]:
    return [t for t in QUALIFICATION_TYPES if kind in t.kinds]


def types_shown(
    kind: Kind, template: Sequence[str] | None, held: Iterable[str]
) -> list[QualificationType]:
    """The types a record's page shows (manual 9.4): those its template
    chose, else every type of its kind; a type holding files always shows."""
    shown = set(template) if template is not None else {t.code for t in types_of(kind)}
    shown |= set(held)
    return [t for t in types_of(kind) if t.code in shown]


def check_kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise InvalidValue(
            f"{kind!r} is no record kind; use one of "
            + ", ".join(k.value for k in Kind),
            field="kind",
        ) from None


def check_type(code: str, kind: Kind) -> QualificationType:
    found = TYPES.get(code)
    if found is None or kind not in found.kinds:
        raise InvalidValue(
            f"{code!r} is no qualification type of {kind.value} records",
            field="qualification_type",
            code="UNKNOWN_QUALIFICATION_TYPE",
        )
    return found


def tidy(value: object) -> str | None:
    """Text with white space folded and full-width forms normalised; empty
    becomes absent."""
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", str(value)).split())
    return text or None


def check_value(field: Field, raw: object, where: str, today: date) -> str | None:
    """One field's value, normalised, or absent; raises InvalidValue."""
    text = tidy(raw)
    if text is None:
        return None
    if len(text) > TEXT_MAX_LENGTH:
        raise InvalidValue(
            f"{field.label_zh} has {len(text)} characters; at most "
            f"{TEXT_MAX_LENGTH} are allowed",
            field=where,
        )
    try:
        if field.check is Check.USCC:
            return check_uscc(text)
        if field.check is Check.ID_NUMBER:
            return check_id_number(text, today)
    except InvalidIdentifier as e:
        code = "INVALID_USCC" if field.check is Check.USCC else "INVALID_ID_NUMBER"
        raise InvalidValue(str(e), field=where, code=code) from None
    if field.check is Check.MOBILE:
        try:
            return check_mobile(text)
        except InvalidValue as e:
            raise InvalidValue(e.message, field=where, code="INVALID_MOBILE") from None
    if field.check is Check.VALIDITY and text.casefold() in (LONG_TERM, "长期"):
        return LONG_TERM
    if field.check in (Check.DATE, Check.VALIDITY):
        return check_date(text, where)
    return text


def check_date(text: str, where: str) -> str:
    cleaned = text.replace("/", "-").replace(".", "-")
    for marker in ("年", "月"):
        cleaned = cleaned.replace(marker, "-")
    cleaned = cleaned.replace("日", "")
    try:
        year, month, day = (int(p) for p in cleaned.split("-"))
        return date(year, month, day).isoformat()
    except ValueError:
        raise InvalidValue(
            f"{text!r} is not a date (write it as YYYY-MM-DD)",
            field=where,
            code="INVALID_DATE",
        ) from None


def check_base(kind: Kind, values: Mapping[str, object], today: date) -> dict[str, str]:
    """A record's base information, normalised; unknown fields and missing
    required ones are refused."""
    fields = {f.name: f for f in BASE_FIELDS[kind]}
    unknown = set(values) - set(fields)
    if unknown:
        raise InvalidValue(
            f"{kind.value} records have no field {sorted(unknown)[0]!r}",
            field=f"base.{sorted(unknown)[0]}",
        )
    checked: dict[str, str] = {}
    for name, field in fields.items():
        value = check_value(field, values.get(name), f"base.{name}", today)
        if value is None and field.required:
            raise InvalidValue(
                f"{field.label_zh} ({name}) is required", field=f"base.{name}"
            )
        if value is not None:
            checked[name] = value
    return checked


def check_card(
    kind_type: QualificationType, values: Mapping[str, object], today: date
) -> dict[str, str]:
    """A file's info card, normalised. A card missing a field its type needs
    is refused with ``INFO_CARD_INCOMPLETE``."""
    unknown = set(values) - set(_CARD)
    if unknown:
        raise InvalidValue(
            f"an info card has no field {sorted(unknown)[0]!r}",
            field=f"card.{sorted(unknown)[0]}",
        )
    checked: dict[str, str] = {}
    for name, field in _CARD.items():
        value = check_value(field, values.get(name), f"card.{name}", today)
        if value is not None:
            checked[name] = value
    missing = [n for n in kind_type.required if n not in checked]
    if missing:
        labels = ", ".join(f"{_CARD[n].label_zh} ({n})" for n in missing)
        raise InvalidValue(
            f"a {kind_type.label_zh} needs {labels}; fill them in or use 图文识别",
            field=f"card.{missing[0]}",
            code="INFO_CARD_INCOMPLETE",
        )
    return checked

"""A deterministic evaluation set: licence and ID-card images rendered with
Pillow and a CJK font, each with the fields it shows as ground truth.

The set is the project's own: names, addresses and dates are drawn from small
vocabularies, credit codes and ID numbers carry correct check characters
(made with :mod:`aggregates.identifiers`), and layouts vary (label column or
inline labels, one or two columns, letter-spaced labels, font and size). Each
sample comes clean (300 dpi) or degraded (rotated up to 3 degrees, blurred,
noisy, unevenly lit, JPEG-compressed, at a lower resolution; half in colour,
half in grey as a copier gives them). Some pages are printed as ruled tables
or in a frame, and half the pages carry their issuer's red seal stamped over
the issuer's name and date. The same seed gives the same images.

Ground truth uses the result's field keys and normalised values (ISO dates,
``long-term``), so a recognised result can be compared field by field.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from aggregates.identifiers import (
    USCC_ALPHABET,
    id_check_character,
    organisation_code_check_character,
    uscc_check_character,
)
from ocr_service.fonts import find_font
from ocr_service.normalise import LONG_TERM, province_of

__all__ = [
    "KINDS",
    "Sample",
    "find_font",
    "generate",
    "make_id_number",
    "make_uscc",
    "render",
]

KINDS = (
    "business_licence",
    "drug_manufacturing_licence",
    "drug_distribution_licence",
    "device_registration_certificate",
    "device_distribution_licence",
    "id_card_front",
    "id_card_back",
    "power_of_attorney",
    "inspection_report",
)


@cache
def _font(style: str, weight: str, size: int) -> ImageFont.FreeTypeFont:
    path, index = find_font(style, weight)
    return ImageFont.truetype(path, size, index=index)


# --- vocabularies ------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
    "彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖"
    "石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵"
    "万覃武钱戴严莫孔向常汤"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红建国志"
    "文斌辉鹏宇浩凯晨阳林峰亮飞鑫波宁雪梅婷慧琳晶欣怡佳俊博成康海"
    "燕"
)
_PLACES = (
    ("福建省", "福州市", ("鼓楼区", "台江区", "仓山区", "晋安区")),
    ("福建省", "厦门市", ("思明区", "湖里区", "集美区", "海沧区")),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区", "白云区")),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
    ("浙江省", "杭州市", ("西湖区", "上城区", "拱墅区", "滨江区")),
    ("江苏省", "南京市", ("玄武区", "鼓楼区", "建邺区", "江宁区")),
    ("四川省", "成都市", ("锦江区", "青羊区", "武侯区", "成华区")),
    ("湖北省", "武汉市", ("江汉区", "武昌区", "洪山区", "汉阳区")),
    ("山东省", "济南市", ("历下区", "市中区", "槐荫区", "天桥区")),
    ("河南省", "郑州市", ("中原区", "金水区", "二七区", "管城区")),
)
_DIVISIONS = ("350102", "350203", "440106", "440305", "330106", "320102", "510104")
_ROADS = (
    "五四路",
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "东风路",
    "和平路",
    "长江路",
    "滨海大道",
    "工业路",
    "科技园路",
    "华林路",
    "湖东路",
    "新华街",
)
_BUILDINGS = ("大厦", "广场", "中心", "科技园", "商务楼")
_BRANDS = "康宁华润泰安恒瑞健民仁和济世同德九州天和瑞祥鑫源安泰永康博爱益寿德信正元"
_TRADES = ("医药", "药业", "医疗器械", "生物科技", "医药科技", "健康产业")
_SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司")
_ETHNICITIES = (
    "汉",
    "汉",
    "汉",
    "汉",
    "回",
    "满",
    "壮",
    "苗",
    "土家",
    "维吾尔",
    "蒙古",
)
_DEVICES = (
    "一次性使用无菌注射器",
    "医用外科口罩",
    "电子血压计",
    "一次性使用输液器",
    "医用电子体温计",
    "血糖试纸",
    "医用防护服",
    "超声诊断仪",
    "一次性使用采血针",
    "医用脱脂纱布",
)
_DRUGS = (
    "阿莫西林胶囊",
    "布洛芬缓释胶囊",
    "头孢克肟片",
    "复方甘草片",
    "维生素C片",
    "板蓝根颗粒",
    "盐酸二甲双胍片",
    "氯雷他定片",
    "硝苯地平缓释片",
    "葡萄糖注射液",
)
_SCOPES = (
    "中成药、化学药制剂、抗生素制剂、生化药品、生物制品(除疫苗)",
    "第二类、第三类医疗器械批发;医疗器械技术咨询",
    "药品批发;保健食品销售;医疗器械经营",
    "片剂、硬胶囊剂、颗粒剂、原料药",
)


def make_uscc(rng: random.Random) -> str:
    """A valid unified social credit code drawn from ``rng``."""
    body = "".join(
        rng.choice("0123456789" + "ABCDEFGHJKLMNPQRTUWXY"[:6]) for _ in range(8)
    )
    organisation = body + organisation_code_check_character(body)
    first17 = rng.choice("9195") + rng.choice("123") + rng.choice(_DIVISIONS)
    first17 = first17[:2] + first17[2:8] + organisation
    first17 = first17[:17]
    assert all(c in USCC_ALPHABET for c in first17)
    return first17 + uscc_check_character(first17)


def make_id_number(rng: random.Random, born: date, male: bool) -> str:
    """A valid resident ID number for someone born on ``born``."""
    sequence = rng.randrange(0, 100) * 10 + rng.choice(
        (1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8)
    )
    first17 = rng.choice(_DIVISIONS) + born.strftime("%Y%m%d") + f"{sequence:03d}"
    return first17 + id_check_character(first17)


def _short(province: str) -> str:
    """The abbreviation numbers of ``province`` (福建省) begin with."""
    found = province_of(province)
    assert found is not None, province
    return found[0]


def _random_date(rng: random.Random, start: int, end: int) -> date:
    first = date(start, 1, 1)
    return first + timedelta(days=rng.randrange((date(end, 12, 31) - first).days))


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(
        rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2)))
    )


def _address(rng: random.Random) -> tuple[str, str, str]:
    province, city, districts = rng.choice(_PLACES)
    district = rng.choice(districts)
    street = f"{rng.choice(_ROADS)}{rng.randrange(1, 400)}号"
    if rng.random() < 0.5:
        street += (
            f"{rng.choice(_BRANDS)}{rng.choice(_BUILDINGS)}{rng.randrange(2, 30)}层"
        )
    return province, city, province + city + district + street


def _company(rng: random.Random, city: str) -> str:
    brand = "".join(rng.sample(_BRANDS, 2))
    return f"{city[:-1]}{brand}{rng.choice(_TRADES)}{rng.choice(_SUFFIXES)}"


def _cn_date(d: date, padded: bool = True) -> str:
    if padded:
        return f"{d.year}年{d.month:02d}月{d.day:02d}日"
    return f"{d.year}年{d.month}月{d.day}日"


def _dot_date(d: date) -> str:
    return f"{d.year}.{d.month:02d}.{d.day:02d}"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


# --- documents: what is printed, and the truth ---------------------------------


@dataclass
class _Document:
    """A document's content before layout: title lines, rows of labelled
    values, free paragraphs, footer rows."""

    kind: str
    title: str
    subtitle: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)
    two_columns: list[tuple[str, str]] = field(default_factory=list)
    top_line: str = ""
    # The seal's text, for a document its issuer or signer stamps.
    stamp: str = ""


def _business_licence(rng: random.Random) -> _Document:
    _province, city, address = _address(rng)
    name = _company(rng, city)
    uscc = make_uscc(rng)
    person = _person(rng)
    founded = _random_date(rng, 1998, 2022)
    long_term = rng.random() < 0.4
    until = _add_years(founded, rng.choice((10, 20, 30, 50))) - timedelta(days=1)
    issued = min(founded + timedelta(days=rng.randrange(0, 2000)), date(2024, 12, 31))
    authority = f"{city}市场监督管理局"
    term = f"{_cn_date(founded)}至{'长期' if long_term else _cn_date(until)}"
    left = [
        ("名称", name),
        (
            "类型",
            rng.choice(("有限责任公司(自然人投资或控股)", "股份有限公司(非上市)")),
        ),
        ("法定代表人", person),
        ("经营范围", rng.choice(_SCOPES)),
    ]
    right = [
        ("注册资本", f"{rng.choice('壹贰叁伍捌')}{rng.choice(('佰', '仟'))}万元整"),
        ("成立日期", _cn_date(founded)),
        ("营业期限", term),
        ("住所", address),
    ]
    document = _Document(
        "business_licence",
        "营业执照",
        subtitle="(副本)",
        stamp=authority,
        top_line=f"统一社会信用代码 {uscc}",
        footer=[f"登记机关 {authority}", _cn_date(issued)],
        truth={
            "uscc": uscc,
            "enterprise_name": name,
            "legal_representative": person,
            "address": address,
            "established_on": founded.isoformat(),
            "term_from": founded.isoformat(),
            "term_to": LONG_TERM if long_term else until.isoformat(),
            "issuing_authority": authority,
            "issued_on": issued.isoformat(),
        },
    )
    if rng.random() < 0.5:
        document.two_columns = [
            x for pair in zip(left, right, strict=True) for x in pair
        ]
    else:
        document.rows = [*left[:3], *right[1:], left[3]]
    return document


def _drug_licence(rng: random.Random, manufacturing: bool) -> _Document:
    province, city, address = _address(rng)
    name = _company(rng, city)
    uscc = make_uscc(rng)
    person = _person(rng)
    issued = _random_date(rng, 2019, 2024)
    until = _add_years(issued, 5) - timedelta(days=1)
    short = _short(province)
    authority = f"{province}药品监督管理局"
    if manufacturing:
        number = f"{short}{issued.year}{rng.randrange(1, 9999):04d}"
        number_label = rng.choice(("编号", "许可证编号"))
        title = "药品生产许可证"
    else:
        number = (
            f"{short}{rng.choice('AB')}{rng.choice('AB')}{rng.randrange(10**7):07d}"
        )
        number_label = rng.choice(("许可证编号", "证号"))
        title = "药品经营许可证"
    rows = [
        (number_label, number),
        ("企业名称", name),
        ("统一社会信用代码", uscc),
        ("注册地址", address),
        ("法定代表人", person),
        ("企业负责人", _person(rng)),
        ("质量负责人", _person(rng)),
        ("经营范围" if not manufacturing else "生产范围", rng.choice(_SCOPES)),
        (
            "仓库地址" if not manufacturing else "分类码",
            address if not manufacturing else "Hz",
        ),
        ("发证机关", authority),
        ("发证日期", _cn_date(issued)),
        ("有效期至", _cn_date(until)),
    ]
    return _Document(
        "drug_manufacturing_licence" if manufacturing else "drug_distribution_licence",
        title,
        subtitle="(副本)",
        rows=rows,
        stamp=authority,
        truth={
            "licence_no": number,
            "enterprise_name": name,
            "uscc": uscc,
            "address": address,
            "legal_representative": person,
            "issuing_authority": authority,
            "issued_on": issued.isoformat(),
            "valid_until": until.isoformat(),
        },
    )


def _device_registration(rng: random.Random) -> _Document:
    province, city, address = _address(rng)
    holder = _company(rng, city)
    issued = _random_date(rng, 2019, 2024)
    until = _add_years(issued, 5) - timedelta(days=1)
    if rng.random() < 0.5:
        number = f"国械注准{issued.year}{rng.choice('23')}{rng.randrange(10**6):06d}"
        authority = "国家药品监督管理局"
    else:
        short = _short(province)
        number = f"{short}械注准{issued.year}2{rng.randrange(10**6):06d}"
        authority = f"{province}药品监督管理局"
    product = rng.choice(_DEVICES)
    rows = [
        ("注册证编号", number),
        ("注册人名称", holder),
        ("注册人住所", address),
        ("生产地址", address),
        ("产品名称", product),
        ("型号、规格", rng.choice(("1ml、2ml、5ml", "标准型", "YX-100、YX-200"))),
        ("结构及组成", "由外套、芯杆、活塞、针座组成"),
        ("适用范围", "供临床使用"),
        ("审批部门", authority),
        ("批准日期", _cn_date(issued)),
        ("有效期至", _cn_date(until)),
    ]
    return _Document(
        "device_registration_certificate",
        "中华人民共和国医疗器械注册证",
        rows=rows,
        stamp=authority,
        truth={
            "approval_no": number,
            "holder": holder,
            "address": address,
            "product_name": product,
            "issuing_authority": authority,
            "issued_on": issued.isoformat(),
            "valid_until": until.isoformat(),
        },
    )


def _device_distribution(rng: random.Random) -> _Document:
    province, city, address = _address(rng)
    name = _company(rng, city)
    uscc = make_uscc(rng)
    person = _person(rng)
    issued = _random_date(rng, 2019, 2024)
    until = _add_years(issued, 5) - timedelta(days=1)
    short = _short(province)
    number = f"{short}{city[:1]}药监械经营许{issued.year}{rng.randrange(10**4):04d}号"
    authority = f"{city}市场监督管理局"
    rows = [
        ("许可证编号", number),
        ("企业名称", name),
        ("统一社会信用代码", uscc),
        ("法定代表人", person),
        ("企业负责人", _person(rng)),
        ("住所", address),
        ("经营场所", address),
        ("经营方式", "批发"),
        ("经营范围", rng.choice(_SCOPES)),
        ("发证部门", authority),
        ("发证日期", _cn_date(issued)),
        ("有效期至", _cn_date(until)),
    ]
    return _Document(
        "device_distribution_licence",
        "医疗器械经营许可证",
        rows=rows,
        stamp=authority,
        truth={
            "licence_no": number,
            "enterprise_name": name,
            "uscc": uscc,
            "legal_representative": person,
            "address": address,
            "issuing_authority": authority,
            "issued_on": issued.isoformat(),
            "valid_until": until.isoformat(),
        },
    )


def _id_front(rng: random.Random) -> _Document:
    male = rng.random() < 0.5
    born = _random_date(rng, 1950, 2004)
    name = _person(rng)
    _, _, address = _address(rng)
    ethnicity = rng.choice(_ETHNICITIES)
    number = make_id_number(rng, born, male)
    return _Document(
        "id_card_front",
        "",
        rows=[
            ("姓名", name),
            ("性别", f"{'男' if male else '女'}    民族  {ethnicity}"),
            ("出生", f"{born.year}  年  {born.month}  月  {born.day}  日"),
            ("住址", address),
            ("公民身份号码", number),
        ],
        truth={
            "person_name": name,
            "sex": "男" if male else "女",
            "ethnicity": ethnicity,
            "birth_date": born.isoformat(),
            "address": address,
            "id_number": number,
        },
    )


def _id_back(rng: random.Random) -> _Document:
    _, city, districts = rng.choice(_PLACES)
    authority = f"{city}公安局{rng.choice(districts)[:-1]}分局"
    start = _random_date(rng, 2008, 2024)
    years = rng.choice((10, 20, 0))
    end = LONG_TERM if years == 0 else _add_years(start, years).isoformat()
    end_text = "长期" if years == 0 else _dot_date(_add_years(start, years))
    return _Document(
        "id_card_back",
        "中华人民共和国",
        subtitle="居民身份证",
        rows=[("签发机关", authority), ("有效期限", f"{_dot_date(start)}-{end_text}")],
        truth={
            "issuing_authority": authority,
            "valid_from": start.isoformat(),
            "valid_until": end,
        },
    )


def _power_of_attorney(rng: random.Random) -> _Document:
    _, city, _ = _address(rng)
    name = _company(rng, city)
    boss = _person(rng)
    agent = _person(rng)
    born = _random_date(rng, 1965, 2000)
    number = make_id_number(rng, born, rng.random() < 0.5)
    start = _random_date(rng, 2022, 2025)
    end = _add_years(start, 1) - timedelta(days=1)
    return _Document(
        "power_of_attorney",
        "授权委托书",
        stamp=name,
        rows=[
            ("委托单位", name),
            ("法定代表人", boss),
            ("被委托人", agent),
            ("身份证号码", number),
        ],
        paragraphs=[
            f"兹授权{agent}为我公司合法委托代理人,代表我公司办理药品及医疗器械"
            "购销业务,其在授权范围内签署的文件我公司均予以承认。"
            "代理人无转委托权。",
            f"授权期限:{_cn_date(start)}至{_cn_date(end)}",
        ],
        footer=[f"委托单位(盖章):{name}", f"日期:{_cn_date(start)}"],
        truth={
            "enterprise_name": name,
            "legal_representative": boss,
            "person_name": agent,
            "id_number": number,
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
        },
    )


def _inspection_report(rng: random.Random) -> _Document:
    province, city, _ = _address(rng)
    maker = _company(rng, city)
    product = rng.choice(_DRUGS)
    approval = (
        f"国药准字{rng.choice('HZS')}{rng.choice((19, 20))}{rng.randrange(10**6):06d}"
    )
    issued = _random_date(rng, 2020, 2024)
    rows = [
        ("报告编号", f"{issued.year}{rng.randrange(10**5):05d}"),
        ("产品名称", product),
        ("批准文号", approval),
        ("生产企业", maker),
        ("批号", f"{rng.randrange(10**8):08d}"),
        ("规格", rng.choice(("0.25g", "0.5g", "10mg", "100ml:5g"))),
        ("检验依据", "《中国药典》2020年版二部"),
        ("检验结论", "本品按《中国药典》2020年版二部检验,结果符合规定。"),
        ("报告日期", _cn_date(issued)),
    ]
    return _Document(
        "inspection_report",
        "检验报告书",
        subtitle=f"{province}药品检验所",
        stamp=f"{province}药品检验所",
        rows=rows,
        truth={
            "product_name": product,
            "approval_no": approval,
            "enterprise_name": maker,
            "issued_on": issued.isoformat(),
        },
    )


_BUILDERS: dict[str, Callable[[random.Random], _Document]] = {
    "business_licence": _business_licence,
    "drug_manufacturing_licence": lambda rng: _drug_licence(rng, True),
    "drug_distribution_licence": lambda rng: _drug_licence(rng, False),
    "device_registration_certificate": _device_registration,
    "device_distribution_licence": _device_distribution,
    "id_card_front": _id_front,
    "id_card_back": _id_back,
    "power_of_attorney": _power_of_attorney,
    "inspection_report": _inspection_report,
}


# --- layout ------------------------------------------------------------------


@dataclass
class _Pen:
    draw: ImageDraw.ImageDraw
    dpi: int
    style: str
    ink: tuple[int, int, int]
    label_ink: tuple[int, int, int]

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def font(self, points: float, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(
            self.style,
            "Bold" if bold else "Regular",
            max(6, round(points * self.dpi / 72)),
        )

    def text(
        self,
        xy: tuple[int, int],
        text: str,
        font: ImageFont.FreeTypeFont,
        label: bool = False,
    ) -> int:
        self.draw.text(xy, text, font=font, fill=self.label_ink if label else self.ink)
        return round(self.draw.textlength(text, font=font))


def _wrap(
    text: str, font: ImageFont.FreeTypeFont, width: int, draw: ImageDraw.ImageDraw
) -> list[str]:
    lines: list[str] = []
    current = ""
    for c in text:
        if current and draw.textlength(current + c, font=font) > width:
            lines.append(current)
            current = c
        else:
            current += c
    if current:
        lines.append(current)
    return lines


def _spaced(label: str, rng: random.Random) -> str:
    if len(label) == 2 and rng.random() < 0.5:
        return label[0] + "\u3000\u3000" + label[1]
    return label


def _layout_page(
    document: _Document, rng: random.Random, dpi: int, decor: random.Random
) -> Image.Image:
    landscape = (
        document.kind == "device_registration_certificate" and rng.random() < 0.3
    )
    width_mm, height_mm = (297, 210) if landscape else (210, 297)
    image = Image.new(
        "RGB", (round(width_mm * dpi / 25.4), round(height_mm * dpi / 25.4)), "white"
    )
    pen = _Pen(
        ImageDraw.Draw(image),
        dpi,
        rng.choice(("Sans", "Serif")),
        (20, 20, 20),
        (20, 20, 20),
    )
    body_pt = rng.uniform(11.0, 14.0)
    body = pen.font(body_pt)
    line_gap = round(body.size * rng.uniform(1.7, 2.1))
    margin = pen.px(rng.uniform(18, 28))
    y = pen.px(rng.uniform(18, 30))
    if document.top_line:
        pen.text((margin, y), document.top_line, body)
        y += line_gap + pen.px(4)
    title = pen.font(rng.uniform(24, 34), bold=True)
    if rng.random() < 0.5 and len(document.title) <= 5:
        shown_title = " ".join(document.title)
    else:
        shown_title = document.title
    title_width = round(pen.draw.textlength(shown_title, font=title))
    pen.text(((image.width - title_width) // 2, y), shown_title, title)
    y += round(title.size * 1.6)
    if document.subtitle:
        sub = pen.font(body_pt + 2)
        sub_width = round(pen.draw.textlength(document.subtitle, font=sub))
        pen.text(((image.width - sub_width) // 2, y), document.subtitle, sub)
        y += round(sub.size * 1.8)
    y += pen.px(8)
    inline = rng.random() < 0.35
    label_width = round(pen.draw.textlength("统一社会信用代码", font=body)) + pen.px(6)
    usable = image.width - 2 * margin
    # Where a table's rules would run: the top of each row, and the left
    # edge of each value column.
    row_tops: list[int] = []
    columns: set[int] = set()
    if document.two_columns:
        column = usable // 2
        value_x = round(pen.draw.textlength("法定代表人", font=body)) + pen.px(5)
        pairs = document.two_columns
        for index in range(0, len(pairs), 2):
            row_tops.append(y)
            heights = []
            for offset, (label, value) in enumerate(pairs[index : index + 2]):
                x = margin + offset * column
                pen.text((x, y), _spaced(label, rng), body, label=True)
                wrapped = _wrap(value, body, column - value_x - pen.px(4), pen.draw)
                for k, part in enumerate(wrapped):
                    pen.text((x + value_x, y + k * line_gap), part, body)
                heights.append(len(wrapped))
                columns.update((x, x + value_x))
            y += max(heights) * line_gap + pen.px(3)
    for label, value in document.rows:
        row_tops.append(y)
        if inline:
            prefix = f"{label}:"
            prefix_width = pen.text((margin, y), prefix, body, label=True)
            value_x = margin + prefix_width + pen.px(2)
        else:
            pen.text((margin, y), _spaced(label, rng), body, label=True)
            value_x = margin + label_width
            columns.add(value_x)
        wrapped = _wrap(value, body, image.width - margin - value_x, pen.draw)
        for k, part in enumerate(wrapped):
            pen.text((value_x, y + k * line_gap), part, body)
        y += len(wrapped) * line_gap
    if row_tops and decor.random() < _RULED:
        row_tops.append(y)
        _rule_table(pen, row_tops, sorted(columns), margin, image.width - margin, body)
    # A seal goes over the last row (the issuer's date), or on a ruled page
    # over the table's last rule; over the footer, if there is one.
    stamp_at = (image.width - margin - pen.px(40), row_tops[-1] if row_tops else y)
    for paragraph in document.paragraphs:
        y += pen.px(3)
        for part in _wrap("\u3000\u3000" + paragraph, body, usable, pen.draw):
            pen.text((margin, y), part, body)
            y += line_gap
    y = max(y + pen.px(15), image.height - pen.px(70))
    if document.footer:
        stamp_at = (image.width - margin - pen.px(45), y + line_gap // 2)
    for part in document.footer:
        part_width = round(pen.draw.textlength(part, font=body))
        pen.text((image.width - margin - part_width - pen.px(10), y), part, body)
        y += line_gap
    if decor.random() < _FRAMED:
        _frame(pen, image.size)
    if document.stamp and decor.random() < _STAMPED:
        centre = (
            stamp_at[0] + pen.px(decor.uniform(-8, 8)),
            stamp_at[1] + pen.px(decor.uniform(-6, 6)),
        )
        image = _stamp(image, document.stamp, centre, pen.px(21), decor)
    return image


# How often a page is drawn as a ruled table, in a printed frame, and with
# its issuer's red seal stamped over the issuer and date.
_RULED = 0.3
_FRAMED = 0.3
_STAMPED = 0.5


def _rule_table(
    pen: _Pen,
    row_tops: list[int],
    columns: list[int],
    left: int,
    right: int,
    body: ImageFont.FreeTypeFont,
) -> None:
    """Rules between the rows and beside the columns of a table."""
    width = max(2, pen.px(0.25))
    above = (body.size * 2) // 5
    ys = [top - above for top in row_tops]
    for y in ys:
        pen.draw.line((left - pen.px(3), y, right, y), fill=pen.ink, width=width)
    inner = (c - pen.px(2) for c in columns if c > left + pen.px(5))
    for x in (left - pen.px(3), *inner, right):
        pen.draw.line((x, ys[0], x, ys[-1]), fill=pen.ink, width=width)


def _frame(pen: _Pen, size: tuple[int, int]) -> None:
    """A printed double frame around the page."""
    width, height = size
    for inset, weight in ((8.0, 1.0), (10.0, 0.3)):
        m = pen.px(inset)
        pen.draw.rectangle(
            (m, m, width - m, height - m),
            outline=(150, 90, 40),
            width=max(1, pen.px(weight)),
        )


def _stamp(
    image: Image.Image,
    text: str,
    centre: tuple[int, int],
    radius: int,
    rng: random.Random,
) -> Image.Image:
    """``image`` with a round red seal at ``centre``: a ring, ``text`` along
    its upper arc and a star, printed as ink over the page (multiplied, so
    the print under it stays dark)."""
    seal = Image.new("RGB", image.size, "white")
    draw = ImageDraw.Draw(seal)
    red = (rng.randrange(200, 235), rng.randrange(20, 60), rng.randrange(20, 60))
    cx, cy = centre
    ring = max(2, radius // 16)
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), outline=red, width=ring
    )
    size = max(8, radius // 4)
    font = _font("Sans", "Bold", size)
    sweep = min(250.0, 22.0 * len(text))
    for index, character in enumerate(text):
        degrees = -90 - sweep / 2 + sweep * (index + 0.5) / len(text)
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text(
            (size // 2, size // 2), character, font=font, fill=255
        )
        glyph = glyph.rotate(-degrees - 90, resample=Image.Resampling.BICUBIC)
        along = radius - ring - size * 0.75
        gx = cx + along * math.cos(math.radians(degrees)) - size
        gy = cy + along * math.sin(math.radians(degrees)) - size
        seal.paste(Image.new("RGB", glyph.size, red), (round(gx), round(gy)), glyph)
    points = []
    for k in range(10):
        reach = radius * (0.3 if k % 2 == 0 else 0.12)
        angle = math.radians(-90 + 36 * k)
        points.append((cx + reach * math.cos(angle), cy + reach * math.sin(angle)))
    draw.polygon(points, fill=red)
    return ImageChops.multiply(image.convert("RGB"), seal)


def _layout_id_card(document: _Document, rng: random.Random, dpi: int) -> Image.Image:
    width, height = round(85.6 * dpi / 25.4), round(54 * dpi / 25.4)
    tint = (rng.randrange(225, 250), rng.randrange(232, 250), rng.randrange(238, 255))
    image = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(image)
    # A faint guilloche-like background pattern.
    for k in range(0, width, max(4, width // 60)):
        draw.arc(
            (k - width // 3, -height // 2, k + width // 3, height * 3 // 2),
            200,
            340,
            fill=(tint[0] - 12, tint[1] - 8, tint[2] - 4),
        )
    pen = _Pen(draw, dpi, "Sans", (15, 15, 15), (40, 100, 170))
    label_font = pen.font(rng.uniform(8.0, 9.0))
    value_font = pen.font(rng.uniform(9.0, 10.0))
    if document.kind == "id_card_front":
        draw.rectangle(
            (pen.px(54), pen.px(9), pen.px(80), pen.px(42)),
            fill=(tint[0] - 30, tint[1] - 25, tint[2] - 20),
        )
        x_label, x_value = pen.px(7), pen.px(19)
        y = pen.px(6)
        for label, value in document.rows[:-1]:
            if label == "性别":
                pen.text((x_label, y), label, label_font, label=True)
                sex, _, ethnicity = value.partition("民族")
                pen.text((x_value, y), sex.strip(), value_font)
                pen.text((x_value + pen.px(12), y), "民族", label_font, label=True)
                pen.text((x_value + pen.px(22), y), ethnicity.strip(), value_font)
                y += pen.px(7)
                continue
            pen.text((x_label, y), label, label_font, label=True)
            parts = _wrap(value, value_font, pen.px(52) - x_value, draw)
            for part in parts:
                pen.text((x_value, y), part, value_font)
                y += pen.px(4.6)
            y += pen.px(2.0)
        label, number = document.rows[-1]
        # The number's row stands below the last line of the address, as on
        # a real card, however many lines the address takes.
        y = max(pen.px(44), y)
        pen.text((x_label, y), label, label_font, label=True)
        pen.text((pen.px(28), y - pen.px(0.5)), number, pen.font(rng.uniform(11, 12.5)))
        return image
    draw.ellipse(
        (pen.px(6), pen.px(5), pen.px(20), pen.px(19)),
        outline=(200, 40, 40),
        width=max(2, pen.px(0.6)),
    )
    title = pen.font(rng.uniform(11, 13), bold=True)
    pen.text((pen.px(30), pen.px(8)), document.title, title)
    big = pen.font(rng.uniform(17, 20), bold=True)
    pen.text((pen.px(25), pen.px(18)), " ".join(document.subtitle), big)
    y = pen.px(36)
    for label, value in document.rows:
        pen.text((pen.px(12), y), label, label_font, label=True)
        pen.text((pen.px(28), y), value, value_font)
        y += pen.px(8)
    return image


# --- degradation ---------------------------------------------------------------


def _degrade(image: Image.Image, rng: random.Random, colour: bool) -> Image.Image:
    """``image`` as a poor scan or photo would give it: in colour, or in grey
    as a copier gives it (where a seal's red is lost and it prints as dark as
    the text)."""
    noise = np.random.default_rng(rng.randrange(2**32))
    page = image.convert("RGB" if colour else "L")
    paper = (255, 255, 255) if colour else 255
    angle = rng.uniform(-3.0, 3.0)
    page = page.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper
    )
    factor = rng.uniform(0.67, 1.0)
    if factor < 0.97:
        page = page.resize(
            (round(page.width * factor), round(page.height * factor)),
            Image.Resampling.BILINEAR,
        )
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    pixels = np.asarray(page, dtype=np.float32)
    height, width = pixels.shape[:2]
    # Uneven light: a gradient darkening one side by up to a fifth.
    direction = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    slope = 0.5 + 0.5 * (math.cos(direction) * xs + math.sin(direction) * ys)
    light = 1.0 - rng.uniform(0.05, 0.2) * slope
    grain = noise.standard_normal((height, width), dtype=np.float32) * rng.uniform(
        4, 14
    )
    if colour:
        pixels = pixels * light[:, :, None] + grain[:, :, None]
    else:
        pixels = pixels * light + grain
    degraded = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    degraded.save(buffer, format="JPEG", quality=rng.randrange(35, 75))
    return Image.open(io.BytesIO(buffer.getvalue())).convert(page.mode)


# --- the set -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One rendered document with the fields it shows."""

    name: str
    kind: str
    image: Image.Image
    truth: dict[str, str]
    degraded: bool

    def encode(self, format: str = "PNG") -> bytes:
        """The image as a file's bytes (``PNG``, ``JPEG`` or ``BMP``)."""
        buffer = io.BytesIO()
        image = self.image.convert("RGB")
        if format == "JPEG":
            image.save(buffer, format="JPEG", quality=92)
        else:
            image.save(buffer, format=format)
        return buffer.getvalue()


def render(kind: str, seed: int, *, degraded: bool = False, dpi: int = 300) -> Sample:
    """One sample of ``kind``, the same for the same arguments."""
    rng = random.Random(f"{kind}/{seed}/{degraded}")
    document = _BUILDERS[kind](rng)
    if kind.startswith("id_card"):
        image = _layout_id_card(document, rng, dpi)
    else:
        # Frames, rules and seals are drawn from a generator of their own,
        # so that the rest of a page is the same with or without them.
        decor = random.Random(f"{kind}/{seed}/decor")
        image = _layout_page(document, rng, dpi, decor)
    if degraded:
        # Half the degraded pages are colour photos, half grey copies.
        colour = random.Random(f"{kind}/{seed}/scan").random() < 0.5
        image = _degrade(image, rng, colour)
    label = "degraded" if degraded else "clean"
    return Sample(f"{kind}-{seed}-{label}", kind, image, dict(document.truth), degraded)


def generate(
    seed: int = 0,
    per_kind: int = 2,
    *,
    kinds: Sequence[str] = KINDS,
    degraded: bool = False,
) -> list[Sample]:
    """``per_kind`` samples of each kind, deterministic by ``seed``."""
    return [
        render(kind, seed * 1000 + index, degraded=degraded)
        for index in range(per_kind)
        for kind in kinds
    ]

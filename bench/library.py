"""Listing the library: a page of an enterprise's records, as the list page
asks for it, beside the raw SQL floor for the same rows.

The measurement is of reading, so the seeding bypasses the events: rows go
straight into the active generation of the library view's ``records`` table,
one ``executemany`` per batch, all in one transaction (saving 13,000 dossiers
through the event store and the projection would take minutes and measure
nothing this is about). The rows are shaped exactly as
:class:`projections.library.LibraryView` writes them: the same columns, the
title and code taken from the base fields the projection takes them from,
``base`` and ``custom`` as the same JSON, and the search text made by
:func:`projections.library.search_text`. The table is then ANALYZEd, as
autovacuum would do after such a load, so the planner knows its size.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import orjson

from aggregates.catalogue import CODE_FIELD, TITLE_FIELD, Kind
from bench.stats import latency_summary
from bench.workload import credit_code
from projections.events import iso
from projections.library import LibraryView, query_records, search_text
from projections.store import LIKE_ESCAPE, contains

if TYPE_CHECKING:
    from bench.measures import Bench, Outcome, Result

LIBRARY_P99_GOAL_MS = 20.0
PAGE = 20  # the list route's default page
KIND = "drug"  # the kind listed: the largest, as most enterprises' libraries
SEARCH = "胶囊"  # two characters in about a quarter of the drug titles
OTHER_ENTERPRISES = 3
SEED_BATCH = 2000
RANDOM_SEED = 20240611
#: How the records of an enterprise spread over the kinds.
KIND_SHARES = {
    "drug": 50,
    "enterprise": 25,
    "device": 10,
    "health_food": 6,
    "delegate": 5,
    "inspection_report": 4,
}
BINNED = 0.02  # share of records in the recycle bin
RECEIVED = 0.1  # share of records received from a partner rather than uploaded

#: The projection's INSERT of an opened dossier, its columns in its order.
INSERT = (
    "INSERT INTO {records} (record_id, enterprise_id, kind, title, code,"
    " base, custom, search, origin, received_from, deleted, documents,"
    " archived, created_at, updated_at, version)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
#: The raw floor: the columns ``query_records`` selects, from the same table,
#: the same conditions and order, without the view's catalogue or decoding.
RAW_PAGE = (
    "SELECT record_id, kind, title, code, base, custom, origin, received_from,"
    " deleted, documents, archived, created_at, updated_at, version"
    " FROM {records} WHERE enterprise_id = %s AND kind = %s AND deleted = 0"
    "{search} AND (title, record_id) > (%s, %s)"
    " ORDER BY title, record_id LIMIT %s"
)
RAW_SEARCH = f" AND search LIKE %s ESCAPE '{LIKE_ESCAPE}'"

# Realistic names ------------------------------------------------------------

GENERICS = (
    "阿莫西林",
    "头孢克肟",
    "头孢呋辛酯",
    "布洛芬",
    "对乙酰氨基酚",
    "阿奇霉素",
    "罗红霉素",
    "左氧氟沙星",
    "氯雷他定",
    "奥美拉唑",
    "盐酸二甲双胍",
    "硝苯地平",
    "苯磺酸氨氯地平",
    "阿托伐他汀钙",
    "甲硝唑",
    "蒙脱石",
    "复方甘草",
    "板蓝根",
    "双黄连",
    "连花清瘟",
    "银黄",
    "感冒灵",
    "维生素C",
    "葡萄糖酸钙",
    "藿香正气",
    "六味地黄",
    "阿司匹林",
    "氯化钾",
    "辛伐他汀",
    "厄贝沙坦",
)
#: Dosage forms, as (title suffix, dosage_form field, weight).
FORMS = (
    ("胶囊", "胶囊剂", 14),
    ("肠溶胶囊", "胶囊剂", 5),
    ("缓释胶囊", "胶囊剂", 5),
    ("软胶囊", "胶囊剂", 4),
    ("片", "片剂", 20),
    ("缓释片", "片剂", 8),
    ("分散片", "片剂", 6),
    ("颗粒", "颗粒剂", 12),
    ("口服液", "合剂", 8),
    ("注射液", "注射剂", 8),
    ("软膏", "软膏剂", 4),
    ("滴眼液", "眼用制剂", 3),
    ("干混悬剂", "混悬剂", 3),
)
SPECS = ("0.25g×24粒", "0.5g×12片", "10mg×30片", "5g×10袋", "10ml×6支", "2ml:0.1g")
CITIES = (
    "广州",
    "深圳",
    "佛山",
    "东莞",
    "珠海",
    "中山",
    "惠州",
    "汕头",
    "江门",
    "湛江",
    "长沙",
    "武汉",
)
WORDS = (
    "康瑞",
    "恒生",
    "德信",
    "华康",
    "百草",
    "仁和",
    "益民",
    "安泰",
    "济世",
    "同济",
    "永安",
    "万家",
    "国大",
    "健民",
    "天心",
    "和平",
    "白云山",
    "九州通",
    "一心堂",
    "采芝林",
)
COMPANY_SUFFIXES = (
    "医药有限公司",
    "大药房连锁有限公司",
    "药业有限公司",
    "医药贸易有限公司",
    "医疗器械有限公司",
    "制药股份有限公司",
)
CATEGORIES = ("wholesale", "retail_chain", "retail_pharmacy", "manufacturer")
DEVICES = (
    "一次性使用无菌注射器",
    "一次性使用输液器",
    "医用外科口罩",
    "医用防护口罩",
    "电子血压计",
    "血糖试纸",
    "红外体温计",
    "医用棉签",
    "医用脱脂纱布",
    "医用防护服",
)
HEALTH_FOODS = (
    "蛋白粉",
    "鱼油软胶囊",
    "维生素C咀嚼片",
    "钙维生素D片",
    "蜂胶软胶囊",
    "葡萄籽提取物胶囊",
    "辅酶Q10软胶囊",
    "多种维生素矿物质片",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰")
POSITIONS = ("销售代表", "区域经理", "质量负责人", "采购专员")
STORAGE = ("阴凉库A区", "常温库B区", "冷库2号", "待验区")


def company(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}市{rng.choice(WORDS)}{rng.choice(COMPANY_SUFFIXES)}"


def maker(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice(WORDS)}制药有限公司"


def approval(rng: random.Random) -> str:
    return f"国药准字{rng.choice('HZS')}{rng.randrange(19800000, 20249999)}"


def drug_name(rng: random.Random) -> tuple[str, str]:
    """A product name and its dosage form field."""
    title, form, _ = rng.choices(FORMS, weights=[w for *_, w in FORMS])[0]
    return rng.choice(GENERICS) + title, form


def base_of(kind: str, rng: random.Random, serial: int) -> dict[str, str]:
    """Base information of one record of ``kind``, every field the
    catalogue gives that kind filled as a real record's would be."""
    if kind == "enterprise":
        return {
            "name": company(rng),
            "uscc": credit_code(serial),
            "category": rng.choice(CATEGORIES),
            "legal_representative": rng.choice(SURNAMES) + rng.choice(GIVEN) * 2,
            "region": f"广东省{rng.choice(CITIES)}市",
            "address": f"{rng.choice(CITIES)}市天河区中山大道{rng.randrange(1, 999)}号",
            "contact_person": rng.choice(SURNAMES) + rng.choice(GIVEN),
            "contact_mobile": f"13{rng.randrange(100_000_000, 999_999_999)}",
        }
    if kind == "delegate":
        return {
            "person_name": rng.choice(SURNAMES) + rng.choice(GIVEN),
            "id_number": f"440106{rng.randrange(1960, 2000)}0{rng.randrange(1, 9)}"
            f"{rng.randrange(10, 28)}{rng.randrange(100, 999)}X",
            "enterprise_name": company(rng),
            "mobile": f"139{rng.randrange(10_000_000, 99_999_999)}",
            "position": rng.choice(POSITIONS),
        }
    if kind == "drug":
        name, form = drug_name(rng)
        made_by = maker(rng)
        return {
            "product_name": name,
            "generic_name": name,
            "approval_no": approval(rng),
            "specification": rng.choice(SPECS),
            "dosage_form": form,
            "manufacturer": made_by,
            "holder": made_by,
        }
    if kind == "device":
        return {
            "product_name": rng.choice(DEVICES),
            "approval_no": f"粤械注准{rng.randrange(2018, 2025)}"
            f"{rng.randrange(2_000_000, 2_999_999)}",
            "specification": rng.choice(("1ml", "5ml", "成人型", "YE-660B", "50片/盒")),
            "manufacturer": maker(rng).replace("制药", "医疗器械"),
            "holder": maker(rng).replace("制药", "医疗器械"),
        }
    if kind == "health_food":
        return {
            "product_name": rng.choice(WORDS) + "牌" + rng.choice(HEALTH_FOODS),
            "approval_no": f"国食健注G{rng.randrange(2010, 2024)}"
            f"{rng.randrange(1000, 9999)}",
            "specification": rng.choice(("0.5g/粒×60粒", "400g/罐", "1.2g/片×90片")),
            "manufacturer": maker(rng).replace("制药", "生物科技"),
        }
    name, _ = drug_name(rng)  # an inspection report of a drug batch
    return {
        "batch_no": f"{rng.randrange(2022, 2025)}{rng.randrange(100000, 999999)}",
        "product_name": name,
        "approval_no": approval(rng),
        "manufacturer": maker(rng),
        "supplier": company(rng),
        "product_code": f"{rng.randrange(10**12, 10**13)}",
    }


def record_row(
    enterprise_id: str, kind: str, rng: random.Random, serial: int, now: datetime
) -> tuple[Any, ...]:
    """One row as the projection writes it for a dossier opened (and since
    given a few files, so its counts and version have moved on)."""
    base = base_of(kind, rng, serial)
    custom = {"storage": rng.choice(STORAGE)} if rng.random() < 0.2 else {}
    received = rng.random() < RECEIVED
    documents = rng.randrange(0, 6)
    created = now - timedelta(days=rng.randrange(0, 720), seconds=serial)
    return (
        str(uuid4()),
        enterprise_id,
        kind,
        base.get(TITLE_FIELD[Kind(kind)], ""),
        base.get(CODE_FIELD[Kind(kind)]),
        orjson.dumps(base).decode(),
        orjson.dumps(custom).decode(),
        search_text({**base, **custom}),
        "received" if received else "uploaded",
        str(uuid4()) if received else None,
        1 if rng.random() < BINNED else 0,
        documents,
        rng.randrange(0, documents + 1),
        iso(created),
        iso(created + timedelta(days=rng.randrange(0, 30))),
        1 + documents,
    )


def library_rows(
    enterprise_id: str, count: int, rng: random.Random
) -> list[tuple[Any, ...]]:
    kinds = rng.choices(list(KIND_SHARES), weights=list(KIND_SHARES.values()), k=count)
    now = datetime.now(UTC)
    return [
        record_row(enterprise_id, kind, rng, serial, now)
        for serial, kind in enumerate(kinds, start=1)
    ]


def seed_library(b: Bench, rows: Sequence[tuple[Any, ...]]) -> tuple[str, float]:
    """Writes ``rows`` into the active generation's records table in one
    transaction; answers the table's name and the seconds it took."""
    start = perf_counter()
    with b.services.views.transaction() as tx:
        records = b.engine.active_tables(tx, LibraryView.name)["records"]
        insert = INSERT.format(records=records)
        for at in range(0, len(rows), SEED_BATCH):
            tx.executemany(insert, rows[at : at + SEED_BATCH])
    with b.raw(autocommit=True) as conn:
        conn.execute(f"ANALYZE {records}")
    return records, perf_counter() - start


# The measurement ------------------------------------------------------------

Cursor = tuple[str, str]


def library_list(b: Bench) -> Outcome:
    """A page of 20 drug records of an enterprise holding N records, from a
    cursor anywhere in the list, plain and with a search, through the API's
    read path and as one hand-written SELECT."""
    # bench.measures registers this measurement, so its helpers come in late.
    from bench.measures import WARMUP, BenchError, interleaved, sequential

    n = b.counts.library
    calls = n // 10  # 1,000 timed calls over 10,000 records; 200 over 2,000
    rng = random.Random(RANDOM_SEED)
    enterprise = str(uuid4())
    own = library_rows(enterprise, n, rng)
    rows = own + [
        row
        for _ in range(OTHER_ENTERPRISES)
        for row in library_rows(str(uuid4()), n // 10, rng)
    ]
    records, seconds = seed_library(b, rows)

    # The rows the list shows: of the kind, not binned (columns 2 and 10).
    shown = [r for r in own if r[2] == KIND and r[10] == 0]
    listed = sorted((r[3], r[0]) for r in shown)  # (title, record_id)
    cursors: list[Cursor] = [rng.choice(listed) for _ in range(WARMUP + calls)]
    needle = unicodedata.normalize("NFKC", SEARCH).casefold()
    pattern = contains(needle)
    matching = sum(1 for r in shown if needle in r[7])  # column 7: search
    context = {
        "records": n,
        "listed": len(listed),
        "other_enterprises": OTHER_ENTERPRISES,
        "other_records": len(rows) - n,
        "page": PAGE,
        "kind": KIND,
        "seed_s": round(seconds, 3),
    }

    def ours(q: str | None) -> Callable[[int], list[dict[str, Any]]]:
        def page(i: int) -> list[dict[str, Any]]:
            with b.services.views.transaction(write=False) as tx:
                return query_records(
                    b.engine,
                    tx,
                    enterprise_id=enterprise,
                    kind=KIND,
                    q=q,
                    deleted=False,
                    after=cursors[i],
                    limit=PAGE,
                )

        return page

    outcome: Outcome = {}
    with b.raw(autocommit=True) as conn:

        def raw(q: str | None) -> Callable[[int], list[tuple[Any, ...]]]:
            query = RAW_PAGE.format(records=records, search=RAW_SEARCH if q else "")
            head = (enterprise, KIND, pattern) if q else (enterprise, KIND)

            def page(i: int) -> list[tuple[Any, ...]]:
                title, record_id = cursors[i]
                params = (*head, title, record_id, PAGE)
                return conn.execute(query, params).fetchall()

            return page

        for name, q in (("library_list_page", None), ("library_list_search", SEARCH)):
            ours_page, raw_page = ours(q), raw(q)
            for i in range(calls, calls + WARMUP):
                found, floor = ours_page(i), raw_page(i)
                if [r["record_id"] for r in found] != [r[0] for r in floor]:
                    raise BenchError(f"{name}: the raw page differs from the API's")
            timings = interleaved(
                calls, {"ours": sequential(ours_page), "raw": sequential(raw_page)}
            )
            extra = {"search": q, "matching": matching} if q else {}
            outcome[name] = listing_result(
                ours={
                    "latency": latency_summary(timings["ours"][1]),
                    **context,
                    **extra,
                },
                baseline={"latency": latency_summary(timings["raw"][1])},
                q=q,
            )
    return outcome


def listing_result(
    ours: dict[str, Any], baseline: dict[str, Any], q: str | None
) -> Result:
    from bench.measures import latency_result

    searched = f" with search LIKE '%{q}%'" if q else ""
    note = (
        f"ours: query_records{searched} in a read-only view transaction from the "
        "pool, as GET /api/v1/library/records runs it (active generation lookup, "
        "the page, JSON of base and custom decoded); baseline: the same SELECT "
        "of the same columns from the same table on one autocommit connection, "
        "rows fetched as tuples; both from the same random cursors"
    )
    return latency_result(ours, baseline, LIBRARY_P99_GOAL_MS, note)

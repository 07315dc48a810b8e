"""Which qualification document a page is, from the words printed on it.

Each kind has *titles* (``营业执照``, ``药品经营许可证``, ...) and *labels* its
form prints (``注册资本``, ``仓库地址``, ...), each with a weight. A title
counts fully when it stands where titles stand: among the top rows or in a
larger type than the body; elsewhere (quoted in a sentence, say) it counts
for a quarter. The kind with the highest score wins if that score is high
enough and clearly ahead of the next; otherwise the page is ``unknown``.

Confidence is the winner's share of the two best scores, scaled down when
even the winner's evidence is thin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ocr_service.matching import find_all
from ocr_service.text import Row

__all__ = ["KINDS", "UNKNOWN", "Classification", "classify", "classify_text"]

UNKNOWN = "unknown"

# kind: (titles, labels), each (keyword, weight).
_EVIDENCE: dict[
    str, tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]
] = {
    "business_licence": (
        (("营业执照", 4.0),),
        (
            ("注册资本", 1.0),
            ("成立日期", 1.0),
            ("营业期限", 1.5),
            ("登记机关", 1.0),
            ("统一社会信用代码", 0.3),
            ("类型", 0.3),
        ),
    ),
    "drug_manufacturing_licence": (
        (("药品生产许可证", 4.0),),
        (
            ("分类码", 1.0),
            ("生产地址和生产范围", 1.5),
            ("生产范围", 1.0),
            ("质量受权人", 1.0),
            ("质量负责人", 0.3),
        ),
    ),
    "drug_distribution_licence": (
        (("药品经营许可证", 4.0),),
        (("仓库地址", 1.0), ("质量负责人", 0.3), ("经营方式", 0.3)),
    ),
    "device_registration_certificate": (
        (("医疗器械注册证", 4.0), ("医疗器械备案凭证", 3.0)),
        (
            ("注册人名称", 1.0),
            ("注册证编号", 1.5),
            ("结构及组成", 1.0),
            ("适用范围", 0.7),
            ("型号、规格", 1.0),
            ("型号规格", 1.0),
            ("审批部门", 1.0),
            ("注册人住所", 1.0),
        ),
    ),
    "device_distribution_licence": (
        (
            ("医疗器械经营许可证", 4.5),
            ("医疗器械经营备案凭证", 4.5),
            ("第二类医疗器械经营备案凭证", 5.0),
        ),
        (("经营场所", 1.0), ("库房地址", 1.0), ("备案编号", 0.7), ("经营方式", 0.3)),
    ),
    "id_card_front": (
        (("公民身份号码", 3.0),),
        (("姓名", 0.7), ("性别", 0.7), ("民族", 0.7), ("出生", 0.7), ("住址", 0.7)),
    ),
    "id_card_back": (
        (("居民身份证", 2.5), ("中华人民共和国", 0.5)),
        (("签发机关", 1.5), ("有效期限", 1.0)),
    ),
    "power_of_attorney": (
        (("授权委托书", 4.0), ("法人授权书", 3.0), ("委托书", 2.5), ("授权书", 2.5)),
        (
            ("被委托人", 1.0),
            ("受托人", 1.0),
            ("被授权人", 1.0),
            ("授权期限", 1.0),
            ("委托期限", 1.0),
            ("兹授权", 1.0),
            ("兹委托", 1.0),
        ),
    ),
    "inspection_report": (
        (("检验报告", 4.0), ("检测报告", 3.5), ("检验报告书", 4.5)),
        (
            ("检验结论", 1.0),
            ("检验结果", 1.0),
            ("检验依据", 1.0),
            ("检验项目", 1.0),
            ("报告编号", 0.7),
            ("批号", 0.5),
        ),
    ),
}

KINDS: tuple[str, ...] = (*_EVIDENCE, UNKNOWN)

_MIN_SCORE = 2.0
_TOP_ROWS = 4


@dataclass(frozen=True, slots=True)
class Classification:
    """The kind recognised, how sure, and every kind's score."""

    kind: str
    confidence: float
    scores: dict[str, float]


def _is_title_position(index: int, row: Row, median_height: float) -> bool:
    return index < _TOP_ROWS or row.height >= 1.3 * median_height


def _score_rows(rows: Sequence[tuple[str, bool]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for kind, (titles, labels) in _EVIDENCE.items():
        score = 0.0
        for keyword, weight in titles:
            best = 0.0
            for text, title_position in rows:
                for hit in find_all(text, keyword):
                    value = weight * (1.0 if hit.exact else 0.8)
                    best = max(best, value if title_position else value / 4)
            score += best
        for keyword, weight in labels:
            if any(find_all(text, keyword) for text, _ in rows):
                score += weight
        scores[kind] = score
    return scores


def _decide(scores: dict[str, float]) -> Classification:
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best_kind, best), (_, second) = ranked[0], ranked[1]
    if best < _MIN_SCORE or best < 1.5 * second:
        confidence = 1.0 - min(1.0, best / (2 * _MIN_SCORE))
        return Classification(UNKNOWN, round(max(0.3, confidence), 3), scores)
    share = best / (best + second)
    strength = min(1.0, best / 5.0)
    confidence = share * (0.6 + 0.4 * strength)
    return Classification(best_kind, round(confidence, 3), scores)


def classify(rows: Sequence[Row]) -> Classification:
    """The kind of the page whose rows are ``rows`` (top to bottom)."""
    if not rows:
        return Classification(UNKNOWN, 1.0, dict.fromkeys(_EVIDENCE, 0.0))
    heights = sorted(row.height for row in rows)
    median = heights[len(heights) // 2]
    marked = [
        (row.text, _is_title_position(index, row, median))
        for index, row in enumerate(rows)
    ]
    return _decide(_score_rows(marked))


def classify_text(lines: Sequence[str]) -> Classification:
    """The kind of a page given as text lines, top to bottom; the first few
    lines count as the title position."""
    marked = [
        ("".join(line.split()), index < _TOP_ROWS) for index, line in enumerate(lines)
    ]
    return _decide(_score_rows(marked))

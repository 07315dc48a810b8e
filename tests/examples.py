"""Valid example values for tests, made with the validators' own arithmetic."""

from __future__ import annotations

import itertools

from aggregates.identifiers import (
    organisation_code_check_character,
    uscc_check_character,
)

_counter = itertools.count(1)


def credit_code(serial: int | None = None) -> str:
    """A valid, distinct unified social credit code per call."""
    n = next(_counter) if serial is None else serial
    organisation = f"{n:08d}"
    organisation += organisation_code_check_character(organisation)
    first17 = "91" + "440100" + organisation
    return first17 + uscc_check_character(first17)


def registration(serial: int | None = None, **overrides: str) -> dict[str, str]:
    """An account registration's body, distinct per serial."""
    n = next(_counter) if serial is None else serial
    body = {
        "enterprise_name": f"广州测试医药有限公司{n}号",
        "username": f"admin{n}",
        "mobile": f"139{n:08d}",
        "password": "pass-word-1",
    }
    body.update(overrides)
    return body


def information(serial: int | None = None, **overrides: str) -> dict[str, str]:
    """An enterprise information body, distinct per serial."""
    n = next(_counter) if serial is None else serial
    body = {
        "category": "enterprise",
        "uscc": credit_code(n),
        "legal_representative": "王建国",
        "address": "广州市天河区体育西路1号",
        "region": "广东省广州市",
        "admin_name": "李四",
        "admin_id_number": "11010519491231002X",
    }
    body.update(overrides)
    return body

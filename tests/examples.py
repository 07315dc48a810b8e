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
    n = next(_counter) if serial is None else serial
    body = {
        "name": f"广州测试医药有限公司{n}号",
        "uscc": credit_code(n),
        "category": "enterprise",
        "admin_username": f"admin{n}",
        "admin_password": "pass-word-1",
    }
    body.update(overrides)
    return body

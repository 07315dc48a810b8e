"""Typed shorthands for pyhanko's PDF object constructors.

pyhanko's ``generic`` classes have no annotations on their constructors, so
strict mypy rejects every direct call. Building PDF objects through these
few functions keeps that to one place and keeps the modules that describe
seals readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name

__all__ = ["array", "deref", "dictionary", "number", "real"]


def dictionary(entries: Mapping[str, Any]) -> generic.DictionaryObject:
    """A dictionary with PDF names (``"/Type"``) as keys."""
    return generic.DictionaryObject(  # type: ignore[no-untyped-call]
        {pdf_name(key): value for key, value in entries.items()}
    )


def number(value: int) -> generic.NumberObject:
    return generic.NumberObject(value)  # type: ignore[no-untyped-call]


def real(value: float) -> generic.FloatObject:
    return generic.FloatObject(round(value, 4))  # type: ignore[no-untyped-call]


def array(items: Iterable[Any]) -> generic.ArrayObject:
    return generic.ArrayObject(items)


def deref(obj: Any) -> Any:
    """The object an indirect reference points to (or ``obj`` itself)."""
    return obj.get_object()

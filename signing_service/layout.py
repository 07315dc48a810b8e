"""Where seals go on the pages, and where they may not.

A :class:`Placement` is what a client asks for: a rectangle in PDF points in
the page's default user space (origin at the bottom-left of an ordinary
page; the page's ``/Rotate`` is not applied), on one page (1-based) or, with
``page=None``, on every page. :func:`resolve` turns placements into concrete
rectangles per page and enforces the two rules of the platform:

* a seal lies wholly inside the visible page (its crop box), else
  ``SEAL_PLACEMENT_INVALID`` (422);
* a seal never covers an earlier seal (any signature widget already on the
  page), else ``SEAL_OVERLAP`` (409), because a stamp drawn over another
  stamp makes both unreadable and looks like tampering on paper.

Existing widgets are found from the AcroForm's signature fields and from the
pages' annotations, so that widgets pyhanko writes without ``/Parent`` count
as well as those other tools write.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from signing_service.documents import A4
from signing_service.errors import SealError
from signing_service.pdfobjects import deref

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_SIZE",
    "DocumentLayout",
    "PageLayout",
    "Placement",
    "Rect",
    "default_placement",
    "read_layout",
    "resolve",
]

DEFAULT_SIZE = 119.0  # points: a 42 mm round seal
DEFAULT_MARGIN = 56.7  # points: 20 mm, the usual page margin
_GAP = 8.0  # between default seals placed side by side
_EPSILON = 0.01


@dataclass(frozen=True)
class Placement:
    """A seal's rectangle: lower-left corner ``(x, y)`` and size, in points,
    on page ``page`` (1-based) or on every page when ``page`` is ``None``."""

    page: int | None
    x: float
    y: float
    width: float = DEFAULT_SIZE
    height: float = DEFAULT_SIZE


class Rect(NamedTuple):
    """A rectangle in page space, normalised so that left <= right and
    bottom <= top."""

    left: float
    bottom: float
    right: float
    top: float

    @classmethod
    def of(cls, x: float, y: float, width: float, height: float) -> Rect:
        return cls(x, y, x + width, y + height)

    @classmethod
    def from_pdf(cls, array: Any) -> Rect:
        x0, y0, x1, y1 = (float(v) for v in array)
        return cls(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.top - self.bottom

    def overlaps(self, other: Rect) -> bool:
        """Whether the two share an area (touching edges do not count)."""
        return (
            min(self.right, other.right) - max(self.left, other.left) > _EPSILON
            and min(self.top, other.top) - max(self.bottom, other.bottom) > _EPSILON
        )

    def inside(self, other: Rect) -> bool:
        return (
            self.left >= other.left - _EPSILON
            and self.bottom >= other.bottom - _EPSILON
            and self.right <= other.right + _EPSILON
            and self.top <= other.top + _EPSILON
        )


@dataclass(frozen=True)
class PageLayout:
    """One page: its visible box and the rectangles of the seals on it."""

    index: int  # 0-based
    box: Rect
    seals: tuple[Rect, ...]


@dataclass(frozen=True)
class DocumentLayout:
    pages: tuple[PageLayout, ...]


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    node: Any = page
    for _ in range(64):  # page trees are shallow; a cycle must not hang us
        if key in node:
            return node[key]
        if "/Parent" not in node:
            return None
        node = node["/Parent"]
    return None


def _iter_pages(pages_root: Any) -> Iterator[generic.DictionaryObject]:
    seen: set[generic.Reference] = set()
    stack: list[Any] = [pages_root]
    while stack:
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            if item.reference in seen:
                continue  # a page tree with a cycle: visit each node once
            seen.add(item.reference)
        node = deref(item)
        if "/Kids" in node:
            # push in reverse so pages come out in document order
            stack.extend(reversed(node["/Kids"]))
        else:
            yield node


def _signature_widget_refs(reader: PdfFileReader) -> set[generic.Reference]:
    """References of the widgets of every signature field in the AcroForm."""
    refs: set[generic.Reference] = set()
    try:
        fields = reader.root["/AcroForm"]["/Fields"]
    except KeyError:
        return refs
    stack: list[tuple[Any, Any]] = [(f, None) for f in fields]
    seen: set[generic.Reference] = set()
    while stack:
        item, inherited_type = stack.pop()
        if not isinstance(item, generic.IndirectObject) or item.reference in seen:
            continue
        seen.add(item.reference)
        field = deref(item)
        field_type = field.get("/FT", inherited_type)
        kids = field.get("/Kids")
        if field_type == "/Sig" and (
            kids is None or field.get("/Subtype") == "/Widget"
        ):
            refs.add(item.reference)
        for kid in kids or ():
            kid_obj = deref(kid)
            if "/T" in kid_obj:
                stack.append((kid, field_type))
            elif field_type == "/Sig" and isinstance(kid, generic.IndirectObject):
                refs.add(kid.reference)
    return refs


def _is_signature_widget(annot: Any, known: set[generic.Reference]) -> bool:
    if isinstance(annot, generic.IndirectObject) and annot.reference in known:
        return True
    obj = deref(annot)
    if obj.get("/Subtype") != "/Widget":
        return False
    return bool(_inherited(obj, "/FT") == "/Sig")


def read_layout(reader: PdfFileReader) -> DocumentLayout:
    """The pages of the document, with their boxes and existing seals."""
    known = _signature_widget_refs(reader)
    pages = []
    for index, page in enumerate(_iter_pages(reader.root.raw_get("/Pages"))):
        box_array = _inherited(page, "/CropBox") or _inherited(page, "/MediaBox")
        box = Rect.from_pdf(box_array) if box_array is not None else Rect(0, 0, *A4)
        seals = []
        for annot in page.get("/Annots", ()) or ():
            try:
                if _is_signature_widget(annot, known):
                    rect = Rect.from_pdf(deref(annot)["/Rect"])
                    if rect.width > 0 and rect.height > 0:
                        seals.append(rect)
            except (KeyError, ValueError, TypeError):
                continue  # an annotation without a usable /Rect covers nothing
        pages.append(PageLayout(index=index, box=box, seals=tuple(seals)))
    return DocumentLayout(pages=tuple(pages))


def _check_geometry(p: Placement) -> None:
    values = (p.x, p.y, p.width, p.height)
    if not all(math.isfinite(v) for v in values) or p.width <= 0 or p.height <= 0:
        raise SealError(
            "SEAL_PLACEMENT_INVALID",
            "a placement needs finite coordinates and a positive width and height",
        )


def resolve(
    layout: DocumentLayout, placements: Sequence[Placement]
) -> list[tuple[int, Rect]]:
    """Concrete ``(page index, rectangle)`` pairs for the placements, in
    order, after checking them against the page boxes and existing seals."""
    if not placements:
        raise SealError("SEAL_PLACEMENT_INVALID", "at least one placement is needed")
    count = len(layout.pages)
    targets: list[tuple[int, Rect]] = []
    for p in placements:
        _check_geometry(p)
        if p.page is None:
            indices: Sequence[int] = range(count)
        elif isinstance(p.page, int) and 1 <= p.page <= count:
            indices = (p.page - 1,)
        else:
            raise SealError(
                "SEAL_PLACEMENT_INVALID",
                f"page {p.page} does not exist; the document has {count} page(s)",
            )
        for index in indices:
            targets.append((index, Rect.of(p.x, p.y, p.width, p.height)))
    check(layout, targets)
    return targets


def check(layout: DocumentLayout, targets: Sequence[tuple[int, Rect]]) -> None:
    """Refuse rectangles outside their page, over an existing seal, or over
    each other."""
    for n, (index, rect) in enumerate(targets):
        page = layout.pages[index]
        if not rect.inside(page.box):
            raise SealError(
                "SEAL_PLACEMENT_INVALID",
                f"the seal at ({rect.left:.1f}, {rect.bottom:.1f}) does not fit "
                f"on page {index + 1}",
            )
        if any(rect.overlaps(seal) for seal in page.seals):
            raise SealError(
                "SEAL_OVERLAP",
                f"the seal would cover an existing seal on page {index + 1}",
                409,
            )
        for other_index, other in targets[:n]:
            if other_index == index and rect.overlaps(other):
                raise SealError(
                    "SEAL_PLACEMENT_INVALID",
                    f"two placements of this seal overlap on page {index + 1}",
                )


def default_placement(
    layout: DocumentLayout,
    width: float = DEFAULT_SIZE,
    height: float = DEFAULT_SIZE,
) -> Placement:
    """The conventional place: the last page, lower right, just inside the
    margins; if a seal is already there, the next free slot to the left,
    then in the rows above."""
    page = layout.pages[-1]
    box = page.box
    margin_x = min(DEFAULT_MARGIN, max(0.0, (box.width - width) / 2))
    margin_y = min(DEFAULT_MARGIN, max(0.0, (box.height - height) / 2))
    y = box.bottom + margin_y
    while y + height <= box.top - margin_y + _EPSILON:
        x = box.right - margin_x - width
        while x >= box.left + margin_x - _EPSILON:
            rect = Rect.of(x, y, width, height)
            if not any(rect.overlaps(seal) for seal in page.seals):
                return Placement(page.index + 1, x, y, width, height)
            x -= width + _GAP
        y += height + _GAP
    raise SealError(
        "SEAL_OVERLAP",
        f"there is no free place for a seal on page {page.index + 1}",
        409,
    )

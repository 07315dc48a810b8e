"""PAdES sealing of qualification documents.

:class:`Sealer` holds one enterprise's seal image, prepared once
(:mod:`signing_service.appearance`), and seals PDFs with it:

* :meth:`Sealer.seal`: one visible PAdES signature (SHA-256, ``ETSI.CAdES.
  detached``; B-B, or B-T with a timestamper) appended as an incremental
  update. Several placements (or ``page=None`` for every page) are widgets
  of that one signature field (:mod:`signing_service.pades` says why).
  Without placements the seal goes to the lower right of the last page.
* :meth:`Sealer.seal_cross_page`: the cross-page seal (骑缝章) — see there.
* :meth:`Sealer.prepare_external` and :func:`complete_external`: the same
  seal made by a hardware token in two steps
  (:mod:`signing_service.external`).

Seals already on the document are never covered (``SEAL_OVERLAP``) and stay
valid: each seal is a new revision that only adds a signature field.
:func:`image_to_pdf`, :class:`Placement` and :func:`find_keyword` are
re-exported here for callers that seal images or place seals by a keyword.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper

from signing_service.appearance import SealAppearance, prepare_appearance
from signing_service.documents import PARSE_ERRORS, image_to_pdf, open_for_update
from signing_service.errors import SealError
from signing_service.external import PendingSignature, complete_external, prepare
from signing_service.keyword import find_keyword
from signing_service.layout import (
    DEFAULT_SIZE,
    DocumentLayout,
    Placement,
    Rect,
    check,
    default_placement,
    read_layout,
    resolve,
)
from signing_service.pades import (
    SealJob,
    Widget,
    next_field_name,
    pdf_signer,
    run,
    stage,
)
from signing_service.signers import AnyCertificate

__all__ = [
    "DEFAULT_SIZE",
    "PendingSignature",
    "Placement",
    "Sealer",
    "complete_external",
    "find_keyword",
    "image_to_pdf",
]

logger = logging.getLogger(__name__)

# What a layout planner returns: (page index, rectangle, slice index, slices).
_Target = tuple[int, Rect, int, int]
_Planner = Callable[[DocumentLayout], list[_Target]]


def _whole(targets: list[tuple[int, Rect]]) -> list[_Target]:
    return [(page, rect, 0, 1) for page, rect in targets]


class Sealer:
    """Seals documents with one seal image.

    The image is decoded, split into colour and alpha and deflated once, in
    the constructor; every :meth:`seal` (and cross-page or external seal)
    copies those encoded bytes into the document and reuses one image and
    one form XObject for all the widgets on it. A Sealer keeps no state per
    document and may be shared between threads.
    """

    def __init__(self, seal_png: bytes) -> None:
        self.appearance: SealAppearance = prepare_appearance(seal_png)

    # -- planning -------------------------------------------------------------

    def _job(self, pdf: bytes, plan: _Planner, field_prefix: str) -> SealJob:
        writer = open_for_update(pdf)
        try:
            layout = read_layout(writer.prev)
        except PARSE_ERRORS as e:
            raise SealError(
                "BROKEN_PDF", "the PDF document's pages cannot be read"
            ) from e
        targets = plan(layout)
        document_seal = self.appearance.embed(writer)
        widgets = tuple(
            Widget(page, rect, document_seal.slice(index, count))
            for page, rect, index, count in targets
        )
        try:
            name = next_field_name(writer, field_prefix)
        except PARSE_ERRORS as e:
            raise SealError(
                "BROKEN_PDF", "the PDF document's form cannot be read"
            ) from e
        return SealJob(writer=writer, field_name=name, widgets=widgets)

    @staticmethod
    def _placements(
        placements: Sequence[Placement] | None,
    ) -> _Planner:
        def plan(layout: DocumentLayout) -> list[_Target]:
            chosen = list(placements) if placements else [default_placement(layout)]
            return _whole(resolve(layout, chosen))

        return plan

    @staticmethod
    def _cross_page(width: float, height: float) -> _Planner:
        def plan(layout: DocumentLayout) -> list[_Target]:
            count = len(layout.pages)
            if count < 2:
                raise SealError(
                    "SEAL_PLACEMENT_INVALID",
                    "a cross-page seal needs at least two pages",
                )
            slice_w = width / count
            targets = []
            for page in layout.pages:
                box = page.box
                y = box.bottom + (box.height - height) / 2
                rect = Rect(box.right - slice_w, y, box.right, y + height)
                targets.append((page.index, rect))
            check(layout, targets)
            return [(p, r, i, count) for i, (p, r) in enumerate(targets)]

        return plan

    # -- sealing --------------------------------------------------------------

    def seal(
        self,
        pdf: bytes,
        signer: Signer,
        placements: Sequence[Placement] | None = None,
        *,
        field_prefix: str = "Seal",
        timestamper: TimeStamper | None = None,
        reason: str | None = None,
    ) -> bytes:
        """The document with this seal added as a PAdES signature by
        ``signer`` (B-T when a ``timestamper`` is given).

        ``placements`` are 1-based pages and PDF points from the page's
        lower-left corner; ``None`` or empty puts one seal at the lower right
        of the last page (moving left, then up, past seals already there).
        """
        job = self._job(pdf, self._placements(placements), field_prefix)
        return self._sign(job, signer, timestamper, reason)

    def seal_cross_page(
        self,
        pdf: bytes,
        signer: Signer,
        *,
        width: float = DEFAULT_SIZE,
        height: float = DEFAULT_SIZE,
        field_prefix: str = "CrossPageSeal",
        timestamper: TimeStamper | None = None,
        reason: str | None = None,
    ) -> bytes:
        """The cross-page seal (骑缝章) that binds the pages of a document.

        The seal is cut into N equal vertical slices, N the page count (at
        least 2). Slice *i* (left to right) lies against the right edge of
        page *i*, vertically centred: fanned out as on paper, the pages'
        edges show the whole seal again. The N slices are the N widgets of
        one visible signature that covers the whole file, so the slices are
        as tamper-evident as the signature, and later seals avoid them.
        """
        job = self._job(pdf, self._cross_page(width, height), field_prefix)
        return self._sign(job, signer, timestamper, reason)

    def prepare_external(
        self,
        pdf: bytes,
        signing_cert: AnyCertificate,
        chain: Sequence[AnyCertificate] = (),
        placements: Sequence[Placement] | None = None,
        *,
        field_prefix: str = "Seal",
        timestamper: TimeStamper | None = None,
        reason: str | None = None,
    ) -> tuple[PendingSignature, bytes]:
        """Stage a seal for a hardware token: the opaque state for
        :func:`complete_external` and the exact bytes the token must sign
        (the DER of the CMS signed attributes)."""
        job = self._job(pdf, self._placements(placements), field_prefix)
        try:
            return prepare(
                job, signing_cert, tuple(chain), timestamper=timestamper, reason=reason
            )
        except SigningError as e:
            raise SealError(
                "SIGNER_UNSUITABLE", "the certificate cannot be used for sealing"
            ) from e
        except OSError as e:
            raise SealError(
                "TIMESTAMP_FAILED", "the timestamp authority failed", 502
            ) from e

    def _sign(
        self,
        job: SealJob,
        signer: Signer,
        timestamper: TimeStamper | None,
        reason: str | None,
    ) -> bytes:
        try:
            return run(_sign(job, signer, timestamper, reason))
        except SigningError as e:
            raise SealError(
                "SIGNER_UNSUITABLE", "the signer cannot produce this signature"
            ) from e
        except OSError as e:  # TimestampRequestError is an OSError
            raise SealError(
                "TIMESTAMP_FAILED", "the timestamp authority failed", 502
            ) from e


async def _sign(
    job: SealJob,
    signer: Signer,
    timestamper: TimeStamper | None,
    reason: str | None,
) -> bytes:
    pdf_sig = pdf_signer(job, signer, timestamper=timestamper, reason=reason)
    staged = await stage(job, pdf_sig)
    info = staged.validation_info
    post = await staged.tbs.perform_signature(
        staged.digest.document_digest,
        PdfCMSSignedAttributes(
            signing_time=staged.signing_time,
            adobe_revinfo_attr=None if info is None else info.adobe_revinfo_attr,
        ),
    )
    await post.post_signature_processing(staged.output)
    logger.debug("sealed field %s with %d widget(s)", job.field_name, len(job.widgets))
    return staged.output.getvalue()

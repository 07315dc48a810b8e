"""One PAdES signature whose field shows the seal in one or more places.

A seal applied at several places (every page, or the slices of a cross-page
seal) is still one act of sealing, so it is one signature: one signature
field whose ``/Kids`` are several widget annotations, each showing the seal
(or its slice). Widgets of the signature field, unlike stamps drawn into the
page content or free-standing stamp annotations, are

* counted by the overlap check of later seals, like any seal, and
* accepted by pyhanko's difference analysis as part of adding a signature
  field, so earlier signatures stay valid with only "allowed incremental
  signature" changes after them (pyhanko flags page-content changes and new
  non-widget annotations as illegitimate).

pyhanko's ``PdfSigner`` only handles fields with a single widget when it
sets up the appearance, so the field is created here with the first widget,
appearances already in place (pyhanko is told to keep them), the signing
stages run one by one, and the further widgets are appended after pyhanko
has prepared the signature dictionary and before the document is written
and digested: everything, every widget included, is in the signed
revision.

Everything is written as one incremental update; the bytes of earlier
revisions are not touched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument, PreSignValidationStatus
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import NoOpStampStyle

from signing_service.layout import Rect
from signing_service.pdfobjects import array, deref, dictionary, number, real

__all__ = [
    "SealJob",
    "Staged",
    "Widget",
    "create_field",
    "next_field_name",
    "pdf_signer",
    "run",
    "stage",
]

T = TypeVar("T")

# Print (4) + Locked (128): shown when printed, not movable or deletable in
# viewers; the same flags pyhanko gives the widgets it makes.
_WIDGET_FLAGS = 132


@dataclass(frozen=True)
class Widget:
    """One place the seal shows: page (0-based), rectangle and the form
    XObject drawn there."""

    page: int
    rect: Rect
    appearance: generic.IndirectObject


@dataclass(frozen=True)
class SealJob:
    """A document opened for sealing and what the new signature field shows."""

    writer: IncrementalPdfFileWriter
    field_name: str
    widgets: tuple[Widget, ...]


@dataclass(frozen=True)
class Staged:
    """The document in its final pre-signing state, written to ``output``
    with a placeholder for the CMS object."""

    tbs: PdfTBSDocument
    digest: PreparedByteRangeDigest
    output: io.BytesIO
    signing_time: dt.datetime
    validation_info: PreSignValidationStatus | None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run pyhanko's coroutine to completion from synchronous code, also when
    the caller is itself inside an event loop (then on a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def next_field_name(writer: IncrementalPdfFileWriter, prefix: str) -> str:
    """``prefix`` followed by the smallest number no field uses yet."""
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer)}
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def _page_ref(writer: IncrementalPdfFileWriter, page: int) -> generic.IndirectObject:
    ref, _ = writer.find_page_for_modification(page)  # type: ignore[no-untyped-call]
    return ref  # type: ignore[no-any-return]


def _dress_widget(
    annot: generic.DictionaryObject, widget: Widget, page_ref: generic.IndirectObject
) -> None:
    """Make ``annot`` a printable, locked widget showing ``widget``.

    No ``/Parent`` entry: the field lists the widget in ``/Kids``, which is
    how pyhanko writes signature widgets too, and poppler (pdfsig, Evince,
    Okular) reports a field whose widgets carry ``/Parent`` as unsigned.
    """
    annot.update(
        dictionary(
            {
                "/Type": pdf_name("/Annot"),
                "/Subtype": pdf_name("/Widget"),
                "/Rect": array(real(v) for v in widget.rect),
                "/F": number(_WIDGET_FLAGS),
                "/P": page_ref,
                "/AP": dictionary({"/N": widget.appearance}),
            }
        )
    )


def create_field(job: SealJob) -> generic.IndirectObject:
    """Add the empty signature field with its first widget; the reference to
    the field is returned for :func:`_add_more_widgets`."""
    first = job.widgets[0]
    # No box: pyhanko then adds no placeholder appearance of its own (which
    # would stay in the file as an unreferenced object); the widget gets its
    # rectangle and appearance right below.
    fields.append_signature_field(
        job.writer,
        fields.SigFieldSpec(
            sig_field_name=job.field_name,
            on_page=first.page,
            combine_annotation=False,
        ),
    )
    _, _, field_ref = next(
        fields.enumerate_sig_fields(job.writer, with_name=job.field_name)
    )
    (kid,) = deref(field_ref)["/Kids"]
    _dress_widget(deref(kid), first, _page_ref(job.writer, first.page))
    return field_ref  # type: ignore[no-any-return]


def _add_more_widgets(job: SealJob, field_ref: generic.IndirectObject) -> None:
    kids = deref(field_ref)["/Kids"]
    for widget in job.widgets[1:]:
        page_ref = _page_ref(job.writer, widget.page)
        annot = dictionary({})
        _dress_widget(annot, widget, page_ref)
        annot_ref = job.writer.add_object(annot)
        job.writer.register_annotation(page_ref, annot_ref)  # type: ignore[no-untyped-call]
        kids.append(annot_ref)


def pdf_signer(
    job: SealJob,
    signer: Signer,
    *,
    timestamper: TimeStamper | None,
    reason: str | None,
) -> PdfSigner:
    """pyhanko's signer for a PAdES baseline signature (B-B, or B-T with a
    timestamper) with SHA-256 that keeps the appearances set up here."""
    meta = PdfSignatureMetadata(
        field_name=job.field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
    )
    return PdfSigner(
        meta, signer, timestamper=timestamper, stamp_style=NoOpStampStyle()
    )


async def stage(job: SealJob, signer: PdfSigner) -> Staged:
    """pyhanko's signing stages up to the digest, with the field and all its
    widgets in place."""
    field_ref = create_field(job)
    session = signer.init_signing_session(job.writer, existing_fields_only=True)
    validation_info = await session.perform_presign_validation(job.writer)
    reserved = await session.estimate_signature_container_size(validation_info)
    tbs = session.prepare_tbs_document(
        validation_info=validation_info, bytes_reserved=reserved
    )
    # Only now: pyhanko has looked up the field's single widget, and nothing
    # has been written yet.
    _add_more_widgets(job, field_ref)
    output = io.BytesIO()
    digest, _ = tbs.digest_tbs_document(output=output)
    return Staged(
        tbs=tbs,
        digest=digest,
        output=output,
        signing_time=session.system_time,
        validation_info=validation_info,
    )

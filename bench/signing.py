"""Sealing: one visible PAdES seal through the platform's :class:`Sealer`
beside the bare pyhanko call a developer would write for the same seal, and
seals per second over a batch of files, also through the whole cloud-sealing
command.

Both sides seal the same PDFs with the same signer: an ECDSA P-256 key whose
certificate the platform's own :class:`CertificateAuthority` issued, the
certificate and the root embedded in the signature. Both draw the same
400x400 transparent PNG in the same 119 pt square at the lower right of the
last page, where :meth:`Sealer.seal` puts a seal when given no placement, and
both make a PAdES B-B signature with SHA-256 as an incremental update. One
seal of each side is checked untimed before timing: both signatures valid and
intact, one field each, the widgets' rectangles equal.

The documents are text PDFs (Helvetica, about 40 lines a page), made with
pikepdf; the batch's files differ in their text and alternate between one and
two pages, as the integration tests' uploads do.
"""

from __future__ import annotations

import io
import logging
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pikepdf
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.stamp import StaticStampStyle

from aggregates.account import PLATFORM, Role
from bench.stats import format_ms, format_rate, latency_summary, rate, ratio
from bench.workload import new_enterprise
from commands.blobs import FilesystemBlobStore
from commands.certificates import Authority, CertificateCommands, KeyStore
from commands.library import LibraryCommands
from commands.platform import Caller
from commands.seal_images import SealImageCommands
from commands.sealing import SealingCommands
from signing_service.ca import CertificateAuthority, generate_key
from signing_service.documents import A4
from signing_service.layout import DEFAULT_MARGIN, DEFAULT_SIZE
from signing_service.sealing import Sealer
from signing_service.signers import software_signer
from signing_service.verify import verify

if TYPE_CHECKING:
    from bench.measures import Bench, Outcome, Result, Side, Timing

SEAL_GOAL = 1.1  # ours' mean time per seal, at most this times pyhanko's
SINGLE_PER_BATCH = 4  # timed single seals: four times the batch's files
ENTERPRISE_NAME = "华南基准测试医药有限公司"
USCC = "91350100M000100Y43"
FIELD = "Seal1"  # the name Sealer.seal gives the first seal of a document
SIGNING_PASSWORD = "bench-sign-pass-1"
ENTERPRISE_SERIAL = 7_300_001  # apart from the serials other measurements use
LINES = 40  # of text per page
RECORD_FILES = 5  # files uploaded to each library record sealed through the API

#: The seal's square where Sealer.seal puts it without placements: the lower
#: right of the last page, just inside the 20 mm margins.
SEAL_BOX = (
    A4[0] - DEFAULT_MARGIN - DEFAULT_SIZE,
    DEFAULT_MARGIN,
    A4[0] - DEFAULT_MARGIN,
    DEFAULT_MARGIN + DEFAULT_SIZE,
)


# What is sealed, and with what -----------------------------------------------


def seal_png() -> bytes:
    """A 400x400 round red seal on a transparent background."""
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 10, 390, 390), outline=(220, 0, 0, 255), width=16)
    draw.regular_polygon((200, 200, 60), 5, fill=(220, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def text_pdf(serial: int, pages: int = 1) -> bytes:
    """An A4 text document of ``pages`` pages, its text naming ``serial``."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type1,
            BaseFont=pikepdf.Name.Helvetica,
            Encoding=pikepdf.Name.WinAnsiEncoding,
        )
    )
    for page_number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=A4)
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        lines = [f"Quality assurance agreement No. {serial:05d}, page {page_number}"]
        lines += [
            f"{n}. The supplier keeps GSP records of batch {serial * 100 + n} "
            "and hands them over within 3 working days."
            for n in range(1, LINES)
        ]
        shown = " ".join(f"({line}) '" for line in lines)
        page.Contents = pdf.make_stream(
            f"BT /F1 10 Tf 72 780 Td 16 TL {shown} ET".encode()
        )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Keys:
    """A signer as the platform builds one for a cloud certificate, and the
    root that checks its seals."""

    signer: Signer
    ca: CertificateAuthority


def cloud_keys(folder: Path) -> Keys:
    """An ECDSA P-256 key and its certificate from a new platform CA; the
    signer embeds the certificate and the root, as ``run_cloud``'s does."""
    ca = CertificateAuthority.create(folder, secrets.token_bytes(16))
    key = generate_key("ec_p256")
    certificate = ca.issue(key.public_key(), enterprise_name=ENTERPRISE_NAME, uscc=USCC)
    return Keys(software_signer(key, certificate, [certificate, ca.root]), ca)


class BareSeal:
    """The bare pyhanko call for the same visible seal: a new signature field
    with the PNG as its appearance, PAdES, SHA-256. The stamp style and the
    ``PdfSigner`` are made once, as a developer sealing many files would;
    pyhanko's ``PdfImage`` re-encodes the image into each document."""

    def __init__(self, png: bytes, signer: Signer) -> None:
        style = StaticStampStyle(
            background=PdfImage(Image.open(io.BytesIO(png))),
            background_opacity=1.0,
            border_width=0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins(0, 0, 0, 0),
            ),
        )
        self.signer = PdfSigner(
            PdfSignatureMetadata(
                field_name=FIELD,
                subfilter=fields.SigSeedSubFilter.PADES,
                md_algorithm="sha256",
            ),
            signer=signer,
            # pyhanko's annotation says ints; it writes the floats as given.
            new_field_spec=fields.SigFieldSpec(
                sig_field_name=FIELD,
                on_page=-1,
                box=SEAL_BOX,  # type: ignore[arg-type]
            ),
            stamp_style=style,
        )

    def __call__(self, pdf: bytes) -> bytes:
        out = io.BytesIO()
        self.signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
        return out.getvalue()


def widget_rects(sealed: bytes) -> list[list[float]]:
    """The rectangles of the signature fields' widgets."""
    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    found = []
    for _, _, field_ref in fields.enumerate_sig_fields(reader):
        field = field_ref.get_object()
        kids = field.get("/Kids")
        widget = kids[0].get_object() if kids else field
        found.append([round(float(v), 2) for v in widget["/Rect"]])
    return found


def check_alike(ours: bytes, bare: bytes, ca: CertificateAuthority) -> None:
    """Both seals valid and intact, and in the same place."""
    from bench.measures import BenchError

    for side, sealed in (("ours", ours), ("pyhanko", bare)):
        if not verify(sealed, [ca.root], [ca.crl()]).valid:
            raise BenchError(f"the {side} seal does not validate")
    if widget_rects(ours) != widget_rects(bare):
        raise BenchError(
            f"the seals lie in different places: {widget_rects(ours)} (ours), "
            f"{widget_rects(bare)} (pyhanko)"
        )


# The platform's whole sealing command ----------------------------------------


@dataclass
class SealingPath:
    """The sealing command wired as the API wires it, on the bench's
    application (PostgreSQL), with a verified enterprise holding an approved
    official seal and an active cloud certificate."""

    sealing: SealingCommands
    library: LibraryCommands
    caller: Caller

    def task(self, docs: list[bytes]) -> UUID:
        """Uploads ``docs``, ``RECORD_FILES`` to a new record, and starts a
        seal task over them (the official seal, default placement, the cloud
        certificate)."""
        files = []
        for n, data in enumerate(docs):
            if n % RECORD_FILES == 0:
                record = self.library.create_record(
                    self.caller, "enterprise", {"name": f"{ENTERPRISE_NAME}{n}"}, {}
                )
                record_id = UUID(record.ids["record_id"])
            added = self.library.add_document(
                self.caller,
                record_id,
                data=data,
                name=f"质量保证协议{n}.pdf",
                qualification_type="quality_agreement",
                card={"valid_until": "2028-01-01"},
            )
            files.append((record_id, added.ids["document_id"]))
        started = self.sealing.start(
            self.caller, files, seal_kind=None, placements=[], certificate="cloud"
        )
        return UUID(started.ids["task_id"])

    def run(self, task_id: UUID, expected: int) -> None:
        from bench.measures import BenchError

        summary = self.sealing.run_cloud(self.caller, task_id, SIGNING_PASSWORD)
        if summary["status"] != "sealed" or summary["progress"]["sealed"] != expected:
            failed = [f for f in summary["files"] if f["status"] != "sealed"]
            raise BenchError(f"the seal task did not complete: {failed[:1]}")


def sealing_path(b: Bench, folder: Path, png: bytes) -> SealingPath:
    """Commands built as :func:`read_api.wiring.build` builds them, on the
    bench's runner, their files (blobs, CA, keys) under ``folder`` rather
    than the working directory's ``var``."""
    runner = b.services.runner
    folder.mkdir()
    blobs = FilesystemBlobStore(folder / "blobs")
    secret = secrets.token_urlsafe(32).encode()
    library = LibraryCommands(runner, blobs)
    seal_images = SealImageCommands(runner, blobs)
    certificates = CertificateCommands(
        runner,
        Authority(folder / "ca", secret, crl_url="http://127.0.0.1/crl"),
        KeyStore(folder / "keys", secret),
    )
    sealing = SealingCommands(runner, library, seal_images, certificates)

    enterprise = new_enterprise(ENTERPRISE_SERIAL)
    enterprise.approve()
    b.app.save(enterprise)
    caller = Caller(
        account_id=str(enterprise.admin_account_id),
        enterprise_id=str(enterprise.id),
        role=Role.ENTERPRISE_ADMIN.value,
        correlation_id="bench-signing",
    )
    operator = Caller(
        account_id="bench-operator", enterprise_id=PLATFORM, role=Role.OPERATOR.value
    )
    blob = seal_images.upload(caller, "official", png).ids["blob"]
    seal_images.review(
        operator, enterprise.id, "official", blob, approved=True, reason=None
    )
    certificates.apply_cloud(caller, SIGNING_PASSWORD)
    return SealingPath(sealing, library, caller)


# Results ---------------------------------------------------------------------


def mean_line(summary: dict[str, float]) -> str:
    return f"mean {format_ms(summary['mean_ms'])} p99 {format_ms(summary['p99_ms'])}"


def seal_one_page(sealer: Sealer, bare: BareSeal, keys: Keys, count: int) -> Result:
    from bench.measures import WARMUP, Result, interleaved, sequential

    doc = text_pdf(0)
    ours_sealed, bare_sealed = sealer.seal(doc, keys.signer), bare(doc)
    check_alike(ours_sealed, bare_sealed, keys.ca)
    for _ in range(WARMUP):
        sealer.seal(doc, keys.signer)
        bare(doc)
    timings = interleaved(
        count,
        {
            "ours": sequential(lambda _: sealer.seal(doc, keys.signer)),
            "bare": sequential(lambda _: bare(doc)),
        },
    )
    ours: dict[str, Any] = {
        "latency": latency_summary(timings["ours"][1]),
        "pdf_bytes": len(doc),
        "sealed_bytes": len(ours_sealed),
    }
    baseline: dict[str, Any] = {
        "latency": latency_summary(timings["bare"][1]),
        "sealed_bytes": len(bare_sealed),
    }
    r = ratio(ours["latency"]["mean_ms"], baseline["latency"]["mean_ms"])
    note = (
        "ours: Sealer.seal(pdf, signer) with one Sealer made before timing (the "
        "PNG decoded, split and deflated once): opens the PDF for an incremental "
        "update, reads the pages' layout and existing seals, picks the default "
        "place, copies the prepared image into the document, signs. Baseline: "
        "PdfSigner(...).sign_pdf with a new field of the same box on the last "
        "page and StaticStampStyle(background=PdfImage(the same PNG)), style "
        "and PdfSigner made once; pyhanko encodes the image into each document. "
        "Same one-page text PDF, same ECDSA P-256 signer with its certificate and "
        "the CA root embedded, PAdES B-B, SHA-256; ratio is ours' mean time over "
        "pyhanko's (lower is better)"
    )
    return Result(
        ours=ours,
        baseline=baseline,
        ratio=r,
        goal=f"mean <= {SEAL_GOAL}x a bare pyhanko call",
        met=r is not None and r <= SEAL_GOAL,
        ours_line=mean_line(ours["latency"]),
        baseline_line=mean_line(baseline["latency"]),
        note=note,
    )


def batch_side(size: int, seal: Callable[[int], object]) -> Side:
    """Runs whole batches: batch ``j`` seals files ``0 .. size - 1``, each
    call timed."""
    from bench.measures import run_timed

    def side(start: int, count: int) -> Timing:
        return run_timed(count * size, lambda i: seal(i % size), start * size)

    return side


def task_side(target: SealingPath, tasks: list[UUID], size: int) -> Side:
    """Runs whole seal tasks of ``size`` files, each task timed."""

    def side(start: int, count: int) -> Timing:
        seconds: list[float] = []
        for j in range(start, start + count):
            before = perf_counter()
            target.run(tasks[j], size)
            seconds.append(perf_counter() - before)
        return sum(seconds), seconds

    return side


def seals(wall: float, count: int, size: int, batches: int) -> dict[str, Any]:
    return {
        "seals": count,
        "files_per_batch": size,
        "batches": batches,
        "seconds": round(wall, 3),
        "seals_per_s": rate(count, wall),
    }


def seal_batch(
    sealer: Sealer,
    bare: BareSeal,
    keys: Keys,
    target: SealingPath,
    size: int,
) -> Result:
    from bench.measures import ROUNDS, Result, interleaved

    batches = ROUNDS  # one batch per side in each slice of the interleaving
    docs = [text_pdf(n, 1 + n % 2) for n in range(1, size + 1)]
    check_alike(sealer.seal(docs[0], keys.signer), bare(docs[0]), keys.ca)  # 2 pages

    setup = perf_counter()
    target.run(target.task(docs[:2]), 2)  # the Sealer cached, the key store read
    tasks = [target.task(docs) for _ in range(batches)]
    setup_s = perf_counter() - setup

    timings = interleaved(
        batches,
        {
            "ours": batch_side(size, lambda i: sealer.seal(docs[i], keys.signer)),
            "bare": batch_side(size, lambda i: bare(docs[i])),
            "platform": task_side(target, tasks, size),
        },
    )
    count = size * batches
    ours = seals(timings["ours"][0], count, size, batches) | {
        "per_seal": latency_summary(timings["ours"][1])
    }
    baseline = seals(timings["bare"][0], count, size, batches) | {
        "per_seal": latency_summary(timings["bare"][1])
    }
    whole = seals(timings["platform"][0], count, size, batches)
    whole |= {
        "per_batch": latency_summary(timings["platform"][1]),
        "ratio_to_baseline": ratio(whole["seals_per_s"], baseline["seals_per_s"]),
        "setup_s": round(setup_s, 3),
    }
    ours["through_run_cloud"] = whole
    note = (
        f"ours: Sealer.seal on {size} distinct text PDFs of one or two pages, "
        "one Sealer and one signer, as SealingCommands.run_cloud seals each "
        "file; baseline: the bare pyhanko call (see seal_one_page) on the same "
        "files with the same signer. through_run_cloud: the whole command "
        "SealingCommands.run_cloud on a seal task of as many freshly uploaded "
        f"files ({RECORD_FILES} to a library record), called directly (no HTTP) "
        "on the bench's PostgreSQL store: "
        "signing password check (argon2) and key decryption once per task, "
        "then per file the record loaded, the blob read, sealed, the sealed "
        "blob written (fsync) and the task and record saved; commands wired as "
        "the API wires them, their files in a temporary folder; one task of "
        "two files runs first, so the Sealer is cached as in a running API. "
        f"The three alternate by batch, {batches} batches each. Ratios are "
        "seals/s over pyhanko's (higher is better); the issue sets no goal here"
    )
    return Result(
        ours=ours,
        baseline=baseline,
        ratio=ratio(ours["seals_per_s"], baseline["seals_per_s"]),
        goal="none: shown for context",
        met=None,
        ours_line=format_rate(ours["seals_per_s"]),
        baseline_line=format_rate(baseline["seals_per_s"]),
        note=note,
    )


# The measurement --------------------------------------------------------------


def signing(b: Bench) -> Outcome:
    """One seal on a one-page PDF, and seals per second over a batch, each
    beside the bare pyhanko call on the same files with the same key."""
    size = b.counts.seal_batch
    png = seal_png()
    # Sealer logs a line per seal at INFO; hundreds of them would bury the
    # bench's own lines.
    quiet = logging.getLogger("signing_service.sealing")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        return sealing_results(b, png, size)
    finally:
        quiet.setLevel(level)


def sealing_results(b: Bench, png: bytes, size: int) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="shouying-bench-signing-") as tmp:
        folder = Path(tmp)
        keys = cloud_keys(folder / "bench-ca")
        sealer = Sealer(png)  # the appearance prepared once, before any timing
        bare = BareSeal(png, keys.signer)
        single = seal_one_page(sealer, bare, keys, SINGLE_PER_BATCH * size)
        target = sealing_path(b, folder / "platform", png)
        batch = seal_batch(sealer, bare, keys, target, size)
    return {"seal_one_page": single, f"seal_batch_{size}": batch}

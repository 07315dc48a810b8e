"""Sealing library files (manual 6.2, 8.1) and verifying them.

A seal task names the files, the seal and the certificate. With a cloud
certificate the platform seals each file itself, one save per file, so the
task's progress shows while it runs. With a hardware token the web client
drives each file: ``prepare`` stages the file and answers the bytes the token
must sign, the client has the device bridge sign them, and ``complete``
embeds the signature; a token pulled out, a wrong PIN or a lost connection is
reported with ``fail``. Either way a failure stops the task in "seal failed"
with the file marked, and resuming seals the files not yet sealed. A file is
recorded as sealed only when its sealed content is stored: no partly signed
file is ever kept as sealed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from cryptography import x509
from eventsourcing.application import AggregateNotFoundError
from pyhanko.sign.timestamps import TimeStamper

from aggregates.catalogue import Kind
from aggregates.dossier import Dossier
from aggregates.errors import DomainError, InvalidValue, StateConflict
from aggregates.signing import CertificateKind, SealKind, SealTask
from commands.certificates import CertificateCommands, serial_hex
from commands.errors import CommandError, NotFound
from commands.library import LibraryCommands
from commands.platform import Caller, CommandResult, CommandRunner, Outcome
from commands.seal_images import SealImageCommands
from commands.uploads import check_upload
from signing_service.documents import image_to_pdf
from signing_service.errors import SigningServiceError
from signing_service.external import PendingSignature, complete_external
from signing_service.keyword import find_keyword
from signing_service.layout import Placement
from signing_service.sealing import Sealer
from signing_service.signers import software_signer
from signing_service.verify import verify

#: Sealers kept ready, by seal image digest: each prepares its appearance once.
SEALERS_KEPT = 32


class SealingCommands:
    def __init__(
        self,
        runner: CommandRunner,
        library: LibraryCommands,
        seal_images: SealImageCommands,
        certificates: CertificateCommands,
        *,
        timestamper: TimeStamper | None = None,
    ) -> None:
        #: Seals are PAdES B-T with it (an RFC 3161 authority), else B-B.
        self.timestamper = timestamper
        self.runner = runner
        self.library = library
        self.seal_images = seal_images
        self.certificates = certificates
        self._sealers: OrderedDict[str, Sealer] = OrderedDict()
        self._lock = threading.Lock()

    # --- tasks ------------------------------------------------------------------

    def start(
        self,
        caller: Caller,
        files: Sequence[tuple[UUID, str]],
        *,
        seal_kind: str | None,
        placements: Sequence[dict[str, Any]],
        certificate: str,
        keyword: str | None = None,
        cross_page: bool = False,
    ) -> CommandResult:
        """A seal task over ``files`` ((record id, document id) pairs) with
        the active certificate of kind ``certificate``. The seal defaults to
        the official one, the quality seal for inspection reports."""
        kind = CertificateKind(certificate)
        if cross_page and kind is CertificateKind.TOKEN:
            raise InvalidValue(
                "a cross-page seal is made with the cloud certificate",
                field="cross_page",
                code="CROSS_PAGE_NEEDS_CLOUD",
            )
        book = self.certificates.book_of(caller.enterprise_id)
        active = book.active(kind) if book else None
        if active is None:
            raise StateConflict(
                f"the enterprise has no active {kind.value} certificate",
                code="NO_ACTIVE_CERTIFICATE",
            )
        checked = [_placement(p) for p in placements]
        records = {r: self.library.own(caller, r) for r, _ in files}
        for record_id, document_id in files:
            doc = records[record_id].document(document_id)
            if doc.deleted:
                raise NotFound(f"no file {document_id} in record {record_id}")
        if seal_kind is None:
            reports = all(d.kind is Kind.INSPECTION_REPORT for d in records.values())
            seal = SealKind.QUALITY if reports else SealKind.OFFICIAL
        else:
            seal = SealKind(seal_kind)
        self.seal_images.usable(caller.enterprise_id, seal)

        def work() -> Outcome:
            task = SealTask.start(
                enterprise_id=caller.enterprise_id,
                certificate_id=active.certificate_id,
                seal_kind=seal,
                placements=[_as_dict(p) for p in checked],
                files=[(str(r), d) for r, d in files],
                keyword=keyword,
                cross_page=cross_page,
            )
            return Outcome([task], {"task_id": str(task.id)}, task, created=True)

        arguments = {
            "files": [[str(r), d] for r, d in files],
            "seal_kind": seal.value,
            "placements": [_as_dict(p) for p in checked],
            "certificate": kind.value,
            "keyword": keyword,
            "cross_page": cross_page,
        }
        return self.runner.run(caller, "start_seal_task", arguments, work)

    def run_cloud(
        self, caller: Caller, task_id: UUID, password: str | None
    ) -> dict[str, Any]:
        """Seals the task's pending files with the cloud certificate, one
        after another; the first failure stops the task."""
        task = self.task(caller, task_id)
        certificate_id, key, certificate, root = self.certificates.cloud_signing(
            caller.enterprise_id, password
        )
        if certificate_id != task.certificate_id:
            raise StateConflict(
                "the task's certificate is no longer the active one",
                code="NO_ACTIVE_CERTIFICATE",
            )
        signer = software_signer(key, certificate, [certificate, root])
        sealer = self._sealer(caller.enterprise_id, task)
        placements = [_placement(p) for p in task.placements]
        for item in task.pending():
            record_id = UUID(item.record_id)
            try:
                before, pdf = self._content(caller, record_id, item.document_id)
                if task.cross_page:
                    sealed = sealer.seal_cross_page(
                        pdf, signer, timestamper=self.timestamper
                    )
                else:
                    sealed = sealer.seal(
                        pdf,
                        signer,
                        self._where(task, pdf, placements) or None,
                        timestamper=self.timestamper,
                    )
            except (SigningServiceError, DomainError, CommandError) as e:
                self._fail(caller, task_id, item.document_id, _code(e), _message(e))
                break
            self._store(
                caller,
                task_id,
                record_id,
                item.document_id,
                before,
                sealed,
                certificate,
            )
        return self.summary(caller, task_id)

    def prepare(
        self, caller: Caller, task_id: UUID, document_id: str
    ) -> tuple[bytes, dict[str, Any]]:
        """Stages one file for the token: the bytes to sign, and which
        certificate's key must sign them."""
        task = self.task(caller, task_id)
        item = task.files.get(document_id)
        if item is None:
            raise NotFound(f"no file {document_id} in this task")
        certificate = self.certificates.keys.certificate(task.certificate_id)
        root = self.certificates.authority.ca().root
        sealer = self._sealer(caller.enterprise_id, task)
        placements = [_placement(p) for p in task.placements]
        before, pdf = self._content(caller, UUID(item.record_id), document_id)
        pending, to_sign = sealer.prepare_external(
            pdf,
            certificate,
            [certificate, root],
            self._where(task, pdf, placements) or None,
            timestamper=self.timestamper,
        )
        pending_blob = self.library.blobs.put(pending.to_json().encode())

        def work() -> Outcome:
            current = self.task(caller, task_id)
            current.prepare(document_id, pending_blob, before)
            return Outcome([current], {"task_id": str(task_id)}, current)

        self.runner.run(
            caller,
            "prepare_seal",
            {"task_id": str(task_id), "document": document_id},
            work,
        )
        return to_sign, {
            "certificate_serial": serial_hex(certificate),
            "certificate_id": task.certificate_id,
        }

    def complete(
        self, caller: Caller, task_id: UUID, document_id: str, signature: bytes
    ) -> dict[str, Any]:
        """Embeds the token's signature into the staged file and stores it."""
        task = self.task(caller, task_id)
        pending_blob, before = task.staged(document_id)
        pending = PendingSignature.from_json(
            self.library.blobs.get(pending_blob).decode()
        )
        item = task.files[document_id]
        try:
            sealed = complete_external(pending, signature, timestamper=self.timestamper)
        except SigningServiceError as e:
            self._fail(caller, task_id, document_id, e.code, e.message)
            return self.summary(caller, task_id)
        certificate = self.certificates.keys.certificate(task.certificate_id)
        self._store(
            caller,
            task_id,
            UUID(item.record_id),
            document_id,
            before,
            sealed,
            certificate,
        )
        return self.summary(caller, task_id)

    def fail(
        self, caller: Caller, task_id: UUID, document_id: str, code: str, message: str
    ) -> dict[str, Any]:
        """The client could not have the token sign (removed, wrong PIN, the
        bridge unreachable): the file is marked and the task stops."""
        self._fail(caller, task_id, document_id, code, message)
        return self.summary(caller, task_id)

    def resume(self, caller: Caller, task_id: UUID) -> CommandResult:
        def work() -> Outcome:
            task = self.task(caller, task_id)
            task.resume()
            return Outcome([task], {"task_id": str(task_id)}, task)

        return self.runner.run(
            caller, "resume_seal_task", {"task_id": str(task_id)}, work
        )

    def summary(self, caller: Caller, task_id: UUID) -> dict[str, Any]:
        task = self.task(caller, task_id)
        files = list(task.files.values())
        return {
            "task_id": str(task_id),
            "status": task.status.value,
            "progress": {
                "sealed": sum(1 for f in files if f.status.value == "sealed"),
                "total": len(files),
            },
            "files": [
                {
                    "record_id": f.record_id,
                    "document_id": f.document_id,
                    "status": f.status.value,
                    "code": f.code,
                    "message": f.message,
                }
                for f in files
            ],
        }

    def task(self, caller: Caller, task_id: UUID) -> SealTask:
        found: Any
        try:
            found = self.runner.app.repository.get(task_id)
        except AggregateNotFoundError:
            found = None
        if (
            not isinstance(found, SealTask)
            or found.enterprise_id != caller.enterprise_id
        ):
            raise NotFound(f"no seal task {task_id}")
        return found

    # --- verification -------------------------------------------------------------

    def verify_pdf(self, data: bytes) -> dict[str, Any]:
        """A report on every signature of any PDF; the file is judged as an
        upload is (a PDF, whole, at most 20 MB) before it is read."""
        checked = check_upload(data)
        if checked.media_type != "application/pdf":
            raise InvalidValue(
                "only a PDF carries signatures", field="file", code="UNSUPPORTED_FILE"
            )
        ca = self.certificates.authority.ca()
        return verify(data, [ca.root], self.certificates.crls()).as_json()

    def verify_document(
        self, caller: Caller, record_id: UUID, document_id: str
    ) -> dict[str, Any]:
        """A report on every signature of a library file, against the
        platform's root and its current revocation list."""
        _, media_type, data = self.library.content(caller, record_id, document_id)
        if media_type != "application/pdf":
            return {"signatures": [], "valid": False, "note": "the file is not a PDF"}
        ca = self.certificates.authority.ca()
        return verify(data, [ca.root], self.certificates.crls()).as_json()

    # --- plumbing -------------------------------------------------------------------

    @staticmethod
    def _where(
        task: SealTask, pdf: bytes, placements: list[Placement]
    ) -> list[Placement]:
        """The placements for one file: the task's, or the keyword's hits."""
        if task.keyword:
            return find_keyword(pdf, task.keyword)
        return placements

    def _sealer(self, enterprise_id: str, task: SealTask) -> Sealer:
        assert task.seal_kind is not None
        digest = self.seal_images.usable(enterprise_id, task.seal_kind)
        with self._lock:
            sealer = self._sealers.get(digest)
            if sealer is None:
                sealer = Sealer(self.library.blobs.get(digest))
                self._sealers[digest] = sealer
                while len(self._sealers) > SEALERS_KEPT:
                    self._sealers.popitem(last=False)
            else:
                self._sealers.move_to_end(digest)
            return sealer

    def _content(
        self, caller: Caller, record_id: UUID, document_id: str
    ) -> tuple[str, bytes]:
        """The file's current digest and its content as a PDF (images become
        one-page PDFs first)."""
        dossier = self.library.own(caller, record_id)
        doc = dossier.document(document_id)
        data = self.library.blobs.get(doc.blob)
        if doc.media_type != "application/pdf":
            data = image_to_pdf(data)
        return doc.blob, data

    def _store(
        self,
        caller: Caller,
        task_id: UUID,
        record_id: UUID,
        document_id: str,
        before: str,
        sealed: bytes,
        certificate: x509.Certificate,
    ) -> None:
        digest = self.library.blobs.put(sealed)

        def work() -> Outcome:
            task = self.task(caller, task_id)
            dossier: Dossier = self.library.own(caller, record_id)
            dossier.seal(
                document_id,
                blob_before=before,
                blob=digest,
                size=len(sealed),
                certificate_serial=serial_hex(certificate),
                seal_kind=task.seal_kind.value if task.seal_kind else None,
                placements=task.placements,
            )
            task.sealed(document_id)
            return Outcome([task, dossier], {"task_id": str(task_id)}, task)

        arguments = {"task_id": str(task_id), "document": document_id, "blob": digest}
        self.runner.run(caller, "seal_file", arguments, work)

    def _fail(
        self, caller: Caller, task_id: UUID, document_id: str, code: str, message: str
    ) -> None:
        def work() -> Outcome:
            task = self.task(caller, task_id)
            task.failed(document_id, code, message)
            return Outcome([task], {"task_id": str(task_id)}, task)

        arguments = {"task_id": str(task_id), "document": document_id, "code": code}
        self.runner.run(caller, "seal_failed", arguments, work)


def _placement(raw: dict[str, Any]) -> Placement:
    try:
        page = raw.get("page")
        return Placement(
            page=None if page is None else int(page),
            x=float(raw["x"]),
            y=float(raw["y"]),
            width=float(raw.get("width", 119.0)),
            height=float(raw.get("height", 119.0)),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidValue(
            "a placement is {page, x, y, width, height} in points", field="placements"
        ) from None


def _as_dict(p: Placement) -> dict[str, Any]:
    return {"page": p.page, "x": p.x, "y": p.y, "width": p.width, "height": p.height}


def _code(e: Exception) -> str:
    return str(getattr(e, "code", "SEAL_FAILED"))


def _message(e: Exception) -> str:
    return str(getattr(e, "message", e))

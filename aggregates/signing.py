"""An enterprise's signing means (manual 12, 证书管理 and 印章管理): its
certificates and its seal images; and seal tasks, which apply them to files.

Certificates are one aggregate per enterprise, because their rules span them:
a kind may change only when no certificate is active, and a lost token's
replacement revokes the old one in the same event. Each certificate is
either on a hardware token (applied for with a mailing address and a yearly
fee, issued, then activated on the token) or a cloud certificate whose key
the signing service keeps, usable with a signing password unless the
enterprise turned password-free sealing on.

Seal images are one aggregate per enterprise too: one image per kind, usable
once a platform operator approved it; replacing it sends it back to review.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError, InvalidValue, StateConflict

YEARLY_FEE_FEN = 30_000
ADDRESS_MAX_LENGTH = 200

_CERTIFICATES = uuid5(NAMESPACE_URL, "urn:shouying:certificates")
_SEALS = uuid5(NAMESPACE_URL, "urn:shouying:seal-images")


def certificates_id(enterprise_id: str) -> UUID:
    return uuid5(_CERTIFICATES, enterprise_id)


def seal_images_id(enterprise_id: str) -> UUID:
    return uuid5(_SEALS, enterprise_id)


class CertificateKind(enum.StrEnum):
    TOKEN = "token"
    CLOUD = "cloud"


class CertificateStatus(enum.StrEnum):
    APPLIED = "applied"
    #: Issued by the authority; a token certificate still to be written onto
    #: the token.
    ISSUED = "issued"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    REVOKED = "revoked"


LIVE = frozenset(
    {CertificateStatus.APPLIED, CertificateStatus.ISSUED, CertificateStatus.ACTIVE}
)


class SealKind(enum.StrEnum):
    OFFICIAL = "official"
    CONTRACT = "contract"
    QUALITY = "quality"
    LEGAL_REP = "legal_rep"
    FINANCE = "finance"


class SealImageStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class UnknownCertificate(DomainError):
    code = "NOT_FOUND"
    status = 404


@dataclass(frozen=True)
class Certificate:
    certificate_id: str
    kind: CertificateKind
    status: CertificateStatus
    mailing_address: str | None = None
    fee_due_fen: int = 0
    serial: str | None = None
    not_after: str | None = None
    password_hash: str | None = None
    password_free: bool = False
    #: The certificate this one replaces (a lost token's, an outdated one).
    replaces: str | None = None


def check_address(address: str) -> str:
    cleaned = " ".join(address.split())
    if not cleaned or len(cleaned) > ADDRESS_MAX_LENGTH:
        raise InvalidValue(
            f"a mailing address has 1 to {ADDRESS_MAX_LENGTH} characters",
            field="mailing_address",
        )
    return cleaned


class Certificates(TracedAggregate):
    private_fields = frozenset({"certificates"})

    class Opened(TracedAggregate.Created):
        def summary(self) -> str:
            return "certificates opened"

    class Applied(TracedAggregate.Event):
        private_fields = frozenset({"password_hash"})

        certificate_id: str
        kind: str
        mailing_address: str | None
        fee_due_fen: int
        password_hash: str | None
        replaces: str | None

        def summary(self) -> str:
            return f"{self.kind} certificate applied for"

        def apply(self, aggregate: Any) -> None:
            aggregate.certificates[self.certificate_id] = Certificate(
                self.certificate_id,
                CertificateKind(self.kind),
                CertificateStatus.APPLIED,
                self.mailing_address,
                self.fee_due_fen,
                password_hash=self.password_hash,
                replaces=self.replaces,
            )

    class Issued(TracedAggregate.Event):
        certificate_id: str
        serial: str
        not_after: str
        #: Cloud certificates are active on issue; token ones once on the token.
        status: str

        def summary(self) -> str:
            return f"certificate {self.serial} issued"

        def apply(self, aggregate: Any) -> None:
            aggregate._set(
                self.certificate_id,
                serial=self.serial,
                not_after=self.not_after,
                status=CertificateStatus(self.status),
            )

    class StatusChanged(TracedAggregate.Event):
        certificate_id: str
        status: str
        reason: str

        def summary(self) -> str:
            return f"certificate {self.status}: {self.reason}"

        def apply(self, aggregate: Any) -> None:
            aggregate._set(self.certificate_id, status=CertificateStatus(self.status))

    class Renewed(TracedAggregate.Event):
        """A renewed certificate for the same key, downloaded onto the token
        (or kept by the signing service for a cloud key)."""

        certificate_id: str
        serial: str
        not_after: str

        def summary(self) -> str:
            return f"certificate renewed as {self.serial}"

        def apply(self, aggregate: Any) -> None:
            aggregate._set(
                self.certificate_id, serial=self.serial, not_after=self.not_after
            )

    class AddressChanged(TracedAggregate.Event):
        certificate_id: str
        mailing_address: str

        def summary(self) -> str:
            return "mailing address changed"

        def apply(self, aggregate: Any) -> None:
            aggregate._set(self.certificate_id, mailing_address=self.mailing_address)

    class PasswordChanged(TracedAggregate.Event):
        private_fields = frozenset({"password_hash"})

        certificate_id: str
        password_hash: str
        how: str

        def summary(self) -> str:
            return f"signing password {self.how}"

        def apply(self, aggregate: Any) -> None:
            aggregate._set(self.certificate_id, password_hash=self.password_hash)

    class PasswordFreeChanged(TracedAggregate.Event):
        certificate_id: str
        enabled: bool

        def summary(self) -> str:
            return "password-free sealing " + ("on" if self.enabled else "off")

        def apply(self, aggregate: Any) -> None:
            aggregate._set(self.certificate_id, password_free=self.enabled)

    def __init__(self) -> None:
        self.certificates: dict[str, Certificate] = {}

    @classmethod
    def open(cls, enterprise_id: str) -> Certificates:
        return cls._create(
            cls.Opened, id=certificates_id(enterprise_id), enterprise_id=enterprise_id
        )

    def _set(self, certificate_id: str, **changes: Any) -> None:
        current = self.certificates[certificate_id]
        self.certificates[certificate_id] = replace(current, **changes)

    # --- reading ------------------------------------------------------------

    def certificate(self, certificate_id: str) -> Certificate:
        found = self.certificates.get(certificate_id)
        if found is None:
            raise UnknownCertificate(f"no certificate {certificate_id}")
        return found

    def active(self, kind: CertificateKind | None = None) -> Certificate | None:
        for c in self.certificates.values():
            if c.status is CertificateStatus.ACTIVE and (
                kind is None or c.kind is kind
            ):
                return c
        return None

    # --- applying -----------------------------------------------------------

    def apply_for(
        self,
        kind: CertificateKind,
        *,
        mailing_address: str | None = None,
        password_hash: str | None = None,
        replaces: str | None = None,
    ) -> str:
        """A new application. One live certificate per enterprise; another
        kind only once none is active (manual 12)."""
        live = [
            c
            for c in self.certificates.values()
            if c.status in LIVE and c.certificate_id != replaces
        ]
        if any(c.kind is not kind for c in live):
            raise StateConflict(
                "the enterprise holds a certificate of the other kind; revoke or "
                "cancel it before applying for this kind",
                code="CERTIFICATE_KIND_LOCKED",
            )
        if live:
            raise StateConflict(
                "the enterprise holds a certificate of this kind already",
                code="CERTIFICATE_EXISTS",
            )
        if kind is CertificateKind.TOKEN:
            if mailing_address is None:
                raise InvalidValue(
                    "a token certificate needs a mailing address for the token",
                    field="mailing_address",
                )
            address: str | None = check_address(mailing_address)
            fee = YEARLY_FEE_FEN
        else:
            if password_hash is None:
                raise InvalidValue(
                    "a cloud certificate needs a signing password", field="password"
                )
            address, fee = None, 0
        certificate_id = str(uuid4())
        self.trigger_event(
            self.Applied,
            certificate_id=certificate_id,
            kind=kind.value,
            mailing_address=address,
            fee_due_fen=fee,
            password_hash=password_hash if kind is CertificateKind.CLOUD else None,
            replaces=replaces,
        )
        return certificate_id

    def issue(self, certificate_id: str, serial: str, not_after: str) -> None:
        current = self._in(certificate_id, {CertificateStatus.APPLIED}, "issued")
        status = (
            CertificateStatus.ACTIVE
            if current.kind is CertificateKind.CLOUD
            else CertificateStatus.ISSUED
        )
        self.trigger_event(
            self.Issued,
            certificate_id=certificate_id,
            serial=serial,
            not_after=not_after,
            status=status.value,
        )
        if current.replaces is not None:
            self._revoke_if_live(current.replaces, "replaced")

    def activate(self, certificate_id: str) -> None:
        """A token certificate written onto its token."""
        current = self._in(certificate_id, {CertificateStatus.ISSUED}, "activated")
        self._kind(current, CertificateKind.TOKEN)
        self._status(certificate_id, CertificateStatus.ACTIVE, "written onto the token")

    def cancel(self, certificate_id: str) -> None:
        """Withdraws an application not yet issued."""
        self._in(certificate_id, {CertificateStatus.APPLIED}, "cancelled")
        self._status(
            certificate_id, CertificateStatus.CANCELLED, "application cancelled"
        )

    def revoke(self, certificate_id: str, reason: str) -> None:
        self._in(
            certificate_id,
            {CertificateStatus.ISSUED, CertificateStatus.ACTIVE},
            "revoked",
        )
        self._status(certificate_id, CertificateStatus.REVOKED, reason)

    def report_lost(self, certificate_id: str, mailing_address: str) -> str:
        """A lost token: its certificate is revoked at once and a replacement
        applied for, to be mailed on a new token."""
        current = self._in(
            certificate_id,
            {CertificateStatus.ISSUED, CertificateStatus.ACTIVE},
            "reported lost",
        )
        self._kind(current, CertificateKind.TOKEN)
        self._status(certificate_id, CertificateStatus.REVOKED, "token lost")
        return self.apply_for(
            CertificateKind.TOKEN,
            mailing_address=mailing_address,
            replaces=certificate_id,
        )

    def reapply(self, certificate_id: str) -> str:
        """After the enterprise information changed, a certificate naming the
        new information replaces the current one once issued."""
        current = self._in(
            certificate_id,
            {CertificateStatus.ISSUED, CertificateStatus.ACTIVE},
            "re-applied for",
        )
        return self.apply_for(
            current.kind,
            mailing_address=current.mailing_address,
            password_hash=current.password_hash,
            replaces=certificate_id,
        )

    def renew(self, certificate_id: str, serial: str, not_after: str) -> None:
        """A new certificate for the same key, valid for another term."""
        self._in(certificate_id, {CertificateStatus.ACTIVE}, "renewed")
        self.trigger_event(
            self.Renewed,
            certificate_id=certificate_id,
            serial=serial,
            not_after=not_after,
        )

    def change_address(self, certificate_id: str, address: str) -> None:
        current = self.certificate(certificate_id)
        self._kind(current, CertificateKind.TOKEN)
        if current.status not in LIVE:
            raise StateConflict(
                "the certificate is no longer live", code="CERTIFICATE_NOT_LIVE"
            )
        self.trigger_event(
            self.AddressChanged,
            certificate_id=certificate_id,
            mailing_address=check_address(address),
        )

    # --- the cloud certificate's password -----------------------------------

    def change_password(
        self, certificate_id: str, password_hash: str, how: str
    ) -> None:
        current = self.certificate(certificate_id)
        self._kind(current, CertificateKind.CLOUD)
        if current.status not in LIVE:
            raise StateConflict(
                "the certificate is no longer live", code="CERTIFICATE_NOT_LIVE"
            )
        self.trigger_event(
            self.PasswordChanged,
            certificate_id=certificate_id,
            password_hash=password_hash,
            how=how,
        )

    def set_password_free(self, certificate_id: str, enabled: bool) -> None:
        """The caller proved the password (the command checks it)."""
        current = self.certificate(certificate_id)
        self._kind(current, CertificateKind.CLOUD)
        if current.password_free != enabled:
            self.trigger_event(
                self.PasswordFreeChanged, certificate_id=certificate_id, enabled=enabled
            )

    # --- helpers --------------------------------------------------------------

    def _in(
        self, certificate_id: str, allowed: set[CertificateStatus], what: str
    ) -> Certificate:
        current = self.certificate(certificate_id)
        if current.status not in allowed:
            raise StateConflict(
                f"a certificate that is {current.status.value} cannot be {what}",
                code="CERTIFICATE_STATE",
            )
        return current

    @staticmethod
    def _kind(current: Certificate, kind: CertificateKind) -> None:
        if current.kind is not kind:
            raise StateConflict(
                f"this applies to {kind.value} certificates only",
                code="CERTIFICATE_KIND",
            )

    def _status(
        self, certificate_id: str, status: CertificateStatus, reason: str
    ) -> None:
        self.trigger_event(
            self.StatusChanged,
            certificate_id=certificate_id,
            status=status.value,
            reason=reason,
        )

    def _revoke_if_live(self, certificate_id: str, reason: str) -> None:
        old = self.certificates.get(certificate_id)
        if old is not None and old.status in (
            CertificateStatus.ISSUED,
            CertificateStatus.ACTIVE,
        ):
            self._status(certificate_id, CertificateStatus.REVOKED, reason)


@dataclass(frozen=True)
class SealImage:
    kind: SealKind
    blob: str
    width: int
    height: int
    status: SealImageStatus
    reason: str | None = None


class SealImages(TracedAggregate):
    class Opened(TracedAggregate.Created):
        def summary(self) -> str:
            return "seal images opened"

    class Uploaded(TracedAggregate.Event):
        kind: str
        blob: str
        width: int
        height: int

        def summary(self) -> str:
            return f"{self.kind} seal image uploaded for review"

        def apply(self, aggregate: Any) -> None:
            aggregate.images[self.kind] = SealImage(
                SealKind(self.kind),
                self.blob,
                self.width,
                self.height,
                SealImageStatus.PENDING,
            )

    class Reviewed(TracedAggregate.Event):
        kind: str
        blob: str
        approved: bool
        reason: str | None

        def summary(self) -> str:
            verdict = "approved" if self.approved else f"rejected: {self.reason}"
            return f"{self.kind} seal image {verdict}"

        def apply(self, aggregate: Any) -> None:
            current = aggregate.images[self.kind]
            aggregate.images[self.kind] = replace(
                current,
                status=SealImageStatus.APPROVED
                if self.approved
                else SealImageStatus.REJECTED,
                reason=self.reason,
            )

    def __init__(self) -> None:
        self.images: dict[str, SealImage] = {}

    @classmethod
    def open(cls, enterprise_id: str) -> SealImages:
        return cls._create(
            cls.Opened, id=seal_images_id(enterprise_id), enterprise_id=enterprise_id
        )

    def upload(self, kind: SealKind, blob: str, width: int, height: int) -> None:
        """A new or replacing image; it waits for an operator's review."""
        self.trigger_event(
            self.Uploaded, kind=kind.value, blob=blob, width=width, height=height
        )

    def review(
        self, kind: SealKind, blob: str, approved: bool, reason: str | None
    ) -> None:
        """The operator's verdict on the image they looked at (``blob``): a
        verdict on an image since replaced is refused."""
        current = self.images.get(kind.value)
        if current is None or current.blob != blob:
            raise StateConflict(
                "the image was replaced since; review the new one",
                code="SEAL_IMAGE_REPLACED",
            )
        if current.status is not SealImageStatus.PENDING:
            raise StateConflict(
                "the image is not waiting for review", code="SEAL_IMAGE_NOT_PENDING"
            )
        if not approved and not (reason and reason.strip()):
            raise InvalidValue("a rejection needs a reason", field="reason")
        self.trigger_event(
            self.Reviewed,
            kind=kind.value,
            blob=blob,
            approved=approved,
            reason=reason.strip() if reason else None,
        )

    def usable(self, kind: SealKind) -> SealImage:
        current = self.images.get(kind.value)
        if current is None or current.status is not SealImageStatus.APPROVED:
            raise StateConflict(
                f"the {kind.value} seal image is missing or not approved yet",
                code="SEAL_IMAGE_NOT_APPROVED",
            )
        return current


# --- seal tasks -------------------------------------------------------------------


class TaskStatus(enum.StrEnum):
    SEALING = "sealing"
    SEAL_FAILED = "seal_failed"
    SEALED = "sealed"


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    SEALED = "sealed"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskFile:
    record_id: str
    document_id: str
    status: FileStatus = FileStatus.PENDING
    code: str | None = None
    message: str | None = None


class SealTask(TracedAggregate):
    """Sealing a set of files with one certificate and seal: progress and a
    status per file. A failed file stops the task in "seal failed" with the
    file marked; starting again resumes with the files not sealed."""

    class Created(TracedAggregate.Created):
        certificate_id: str
        seal_kind: str | None
        placements: list[dict[str, Any]]
        #: Seal centred on each occurrence of this text, per file.
        keyword: str | None
        #: A cross-page seal (骑缝章) over the right edges of all pages.
        cross_page: bool
        files: list[dict[str, str]]

        def summary(self) -> str:
            return f"seal task of {len(self.files)} files"

    class FileSealed(TracedAggregate.Event):
        document_id: str

        def summary(self) -> str:
            return "file sealed"

        def apply(self, aggregate: Any) -> None:
            aggregate._mark(self.document_id, FileStatus.SEALED, None, None)

    class FilePrepared(TracedAggregate.Event):
        """A file staged for a hardware token: the staged state is kept by
        digest, with the content it was staged from."""

        document_id: str
        pending_blob: str
        blob_before: str

        def summary(self) -> str:
            return "file prepared for the token's signature"

        def apply(self, aggregate: Any) -> None:
            aggregate.prepared[self.document_id] = (self.pending_blob, self.blob_before)

    class FileFailed(TracedAggregate.Event):
        document_id: str
        code: str
        message: str

        def summary(self) -> str:
            return f"file failed to seal: {self.code}"

        def apply(self, aggregate: Any) -> None:
            aggregate._mark(
                self.document_id, FileStatus.FAILED, self.code, self.message
            )

    class Resumed(TracedAggregate.Event):
        def summary(self) -> str:
            return "seal task resumed"

        def apply(self, aggregate: Any) -> None:
            for key, f in list(aggregate.files.items()):
                if f.status is FileStatus.FAILED:
                    aggregate.files[key] = TaskFile(f.record_id, f.document_id)

    def __init__(
        self,
        certificate_id: str,
        seal_kind: str | None,
        placements: list[dict[str, Any]],
        keyword: str | None,
        cross_page: bool,
        files: list[dict[str, str]],
    ) -> None:
        self.certificate_id = certificate_id
        self.seal_kind = SealKind(seal_kind) if seal_kind else None
        self.placements = placements
        self.keyword = keyword
        self.cross_page = cross_page
        self.files: dict[str, TaskFile] = {
            f["document_id"]: TaskFile(f["record_id"], f["document_id"]) for f in files
        }
        #: document id -> (staged state's digest, content digest it was staged from)
        self.prepared: dict[str, tuple[str, str]] = {}

    @classmethod
    def start(
        cls,
        *,
        enterprise_id: str,
        certificate_id: str,
        seal_kind: SealKind | None,
        placements: Sequence[dict[str, Any]],
        files: Sequence[tuple[str, str]],
        keyword: str | None = None,
        cross_page: bool = False,
    ) -> SealTask:
        if not files:
            raise InvalidValue("choose at least one file to seal", field="files")
        if sum(bool(x) for x in (placements, keyword, cross_page)) > 1:
            raise InvalidValue(
                "place a seal by placements, by keyword or across pages, one way",
                field="placements",
            )
        if len({d for _, d in files}) != len(files):
            raise InvalidValue("a file is chosen twice", field="files")
        return cls._create(
            cls.Created,
            id=uuid4(),
            enterprise_id=enterprise_id,
            certificate_id=certificate_id,
            seal_kind=seal_kind.value if seal_kind else None,
            placements=list(placements),
            keyword=keyword,
            cross_page=cross_page,
            files=[{"record_id": r, "document_id": d} for r, d in files],
        )

    @property
    def status(self) -> TaskStatus:
        states = {f.status for f in self.files.values()}
        if FileStatus.FAILED in states:
            return TaskStatus.SEAL_FAILED
        if states == {FileStatus.SEALED}:
            return TaskStatus.SEALED
        return TaskStatus.SEALING

    def pending(self) -> list[TaskFile]:
        return [f for f in self.files.values() if f.status is FileStatus.PENDING]

    def sealed(self, document_id: str) -> None:
        self._pending(document_id)
        self.trigger_event(self.FileSealed, document_id=document_id)

    def prepare(self, document_id: str, pending_blob: str, blob_before: str) -> None:
        self._pending(document_id)
        self.trigger_event(
            self.FilePrepared,
            document_id=document_id,
            pending_blob=pending_blob,
            blob_before=blob_before,
        )

    def staged(self, document_id: str) -> tuple[str, str]:
        self._pending(document_id)
        found = self.prepared.get(document_id)
        if found is None:
            raise StateConflict(
                "the file was not prepared for the token; prepare it first",
                code="SEAL_NOT_PREPARED",
            )
        return found

    def failed(self, document_id: str, code: str, message: str) -> None:
        self._pending(document_id)
        self.trigger_event(
            self.FileFailed, document_id=document_id, code=code, message=message[:500]
        )

    def resume(self) -> None:
        if self.status is not TaskStatus.SEAL_FAILED:
            raise StateConflict(
                "only a task that failed is sealed again", code="SEAL_TASK_STATE"
            )
        self.trigger_event(self.Resumed)

    def _pending(self, document_id: str) -> TaskFile:
        found = self.files.get(document_id)
        if found is None:
            raise UnknownCertificate(f"no file {document_id} in this task")
        if found.status is not FileStatus.PENDING:
            raise StateConflict(
                f"the file is {found.status.value}, not waiting to be sealed",
                code="SEAL_TASK_STATE",
            )
        return found

    def _mark(
        self,
        document_id: str,
        status: FileStatus,
        code: str | None,
        message: str | None,
    ) -> None:
        current = self.files[document_id]
        self.files[document_id] = replace(
            current, status=status, code=code, message=message
        )

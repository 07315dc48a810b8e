"""A library record and the qualification files it holds (manual 9): an
enterprise, a delegate, a product or an inspection report, with its base
information, custom fields and documents.

One aggregate per record, holding its documents, because the library's rules
span both: archived files block editing and deleting their record, deleting a
record takes its files to the recycle bin with it and restoring brings them
back whole, and archiving acts on every file of a record at once. A
document's history is the record's events that name it; each is kept.

File contents are not in the events: a document names its content by the
SHA-256 digest under which the blob store keeps it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate
from aggregates.catalogue import (
    CODE_FIELD,
    TITLE_FIELD,
    Kind,
    check_base,
    check_card,
    check_kind,
    check_type,
    tidy,
)
from aggregates.errors import DomainError, InvalidValue, StateConflict

NAME_MAX_LENGTH = 120
CUSTOM_MAX_FIELDS = 50
#: Files one record holds at most.
MAX_DOCUMENTS = 500


class Origin(enum.StrEnum):
    UPLOADED = "uploaded"
    RECEIVED = "received"


class Status(enum.StrEnum):
    IN_USE = "in_use"
    DEPRECATED = "deprecated"


class UnknownDocument(DomainError):
    code = "NOT_FOUND"
    status = 404


@dataclass(frozen=True)
class Document:
    document_id: str
    qualification_type: str
    name: str
    blob: str
    media_type: str
    size: int
    pages: int
    card: Mapping[str, str]
    origin: Origin
    received_from: str | None
    status: Status = Status.IN_USE
    archived: bool = False
    deleted: bool = False
    seals: int = 0


def check_file_name(name: str) -> str:
    cleaned = tidy(name)
    if cleaned is None or len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidValue(
            f"a file name has 1 to {NAME_MAX_LENGTH} characters", field="name"
        )
    return cleaned


def check_custom(values: Mapping[str, object]) -> dict[str, str]:
    if len(values) > CUSTOM_MAX_FIELDS:
        raise InvalidValue(f"at most {CUSTOM_MAX_FIELDS} custom fields", field="custom")
    checked: dict[str, str] = {}
    for key, raw in values.items():
        value = tidy(raw)
        if value is not None:
            if len(value) > 500:
                raise InvalidValue(
                    "a custom field has at most 500 characters", field=f"custom.{key}"
                )
            checked[str(key)] = value
    return checked


class Dossier(TracedAggregate):
    class Opened(TracedAggregate.Created):
        kind: str
        base: dict[str, str]
        custom: dict[str, str]
        origin: str
        received_from: str | None

        def summary(self) -> str:
            return f"{self.kind} record created"

    class Edited(TracedAggregate.Event):
        base: dict[str, str]
        custom: dict[str, str]

        def summary(self) -> str:
            return "base information changed"

        def apply(self, aggregate: Any) -> None:
            aggregate.base = dict(self.base)
            aggregate.custom = dict(self.custom)

    class Binned(TracedAggregate.Event):
        def summary(self) -> str:
            return "record moved to the recycle bin"

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True

    class Restored(TracedAggregate.Event):
        def summary(self) -> str:
            return "record restored from the recycle bin"

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = False

    class DocumentAdded(TracedAggregate.Event):
        document_id: str
        qualification_type: str
        name: str
        blob: str
        media_type: str
        size: int
        pages: int
        card: dict[str, str]
        origin: str
        received_from: str | None

        def summary(self) -> str:
            return f"file {self.name} added as {self.qualification_type}"

        def apply(self, aggregate: Any) -> None:
            aggregate.documents[self.document_id] = Document(
                self.document_id,
                self.qualification_type,
                self.name,
                self.blob,
                self.media_type,
                self.size,
                self.pages,
                dict(self.card),
                Origin(self.origin),
                self.received_from,
            )

    class CardEdited(TracedAggregate.Event):
        document_id: str
        qualification_type: str
        name: str
        card: dict[str, str]

        def summary(self) -> str:
            return f"info card of {self.name} changed"

        def apply(self, aggregate: Any) -> None:
            doc = aggregate.documents[self.document_id]
            aggregate.documents[self.document_id] = replace(
                doc,
                qualification_type=self.qualification_type,
                name=self.name,
                card=dict(self.card),
            )

    class StatusChanged(TracedAggregate.Event):
        document_id: str
        status: str
        #: Why: "deprecated", "restored", or "reminder dismissed".
        reason: str

        def summary(self) -> str:
            return f"file {self.reason}"

        def apply(self, aggregate: Any) -> None:
            doc = aggregate.documents[self.document_id]
            aggregate.documents[self.document_id] = replace(
                doc, status=Status(self.status)
            )

    class ArchiveChanged(TracedAggregate.Event):
        document_ids: list[str]
        archived: bool

        def summary(self) -> str:
            verb = "archived" if self.archived else "unarchived"
            return f"{len(self.document_ids)} files {verb}"

        def apply(self, aggregate: Any) -> None:
            for document_id in self.document_ids:
                doc = aggregate.documents[document_id]
                aggregate.documents[document_id] = replace(doc, archived=self.archived)

    class Sealed(TracedAggregate.Event):
        """A seal applied: the file's content before and after (as digests),
        the certificate and the placement. Images become PDF when sealed."""

        document_id: str
        blob_before: str
        blob: str
        size: int
        pages: int
        certificate_serial: str
        seal_kind: str | None
        placements: list[dict[str, Any]]

        def summary(self) -> str:
            return f"file sealed with certificate {self.certificate_serial}"

        def apply(self, aggregate: Any) -> None:
            doc = aggregate.documents[self.document_id]
            aggregate.documents[self.document_id] = replace(
                doc,
                blob=self.blob,
                size=self.size,
                pages=self.pages,
                media_type="application/pdf",
                seals=doc.seals + 1,
            )

    class DocumentBinned(TracedAggregate.Event):
        document_id: str

        def summary(self) -> str:
            return "file moved to the recycle bin"

        def apply(self, aggregate: Any) -> None:
            doc = aggregate.documents[self.document_id]
            aggregate.documents[self.document_id] = replace(doc, deleted=True)

    class DocumentRestored(TracedAggregate.Event):
        document_id: str

        def summary(self) -> str:
            return "file restored from the recycle bin"

        def apply(self, aggregate: Any) -> None:
            doc = aggregate.documents[self.document_id]
            aggregate.documents[self.document_id] = replace(doc, deleted=False)

    def __init__(
        self,
        kind: str,
        base: dict[str, str],
        custom: dict[str, str],
        origin: str,
        received_from: str | None,
    ) -> None:
        self.kind = Kind(kind)
        self.base = dict(base)
        self.custom = dict(custom)
        self.origin = Origin(origin)
        self.received_from = received_from
        self.deleted = False
        self.documents: dict[str, Document] = {}

    @classmethod
    def open(
        cls,
        *,
        enterprise_id: str,
        kind: str,
        base: Mapping[str, object],
        custom: Mapping[str, object],
        today: date,
        origin: Origin = Origin.UPLOADED,
        received_from: str | None = None,
        dossier_id: UUID | None = None,
    ) -> Dossier:
        checked_kind = check_kind(kind)
        return cls._create(
            cls.Opened,
            id=dossier_id or uuid4(),
            enterprise_id=enterprise_id,
            kind=checked_kind.value,
            base=check_base(checked_kind, base, today),
            custom=check_custom(custom),
            origin=origin.value,
            received_from=received_from,
        )

    # --- reading ------------------------------------------------------------

    @property
    def title(self) -> str:
        return self.base.get(TITLE_FIELD[self.kind], "")

    @property
    def code(self) -> str | None:
        return self.base.get(CODE_FIELD[self.kind])

    def live_documents(self) -> list[Document]:
        return [d for d in self.documents.values() if not d.deleted]

    def document(self, document_id: str) -> Document:
        found = self.documents.get(document_id)
        if found is None:
            raise UnknownDocument(f"no file {document_id} in this record")
        return found

    # --- the record ---------------------------------------------------------

    def edit(
        self, base: Mapping[str, object], custom: Mapping[str, object], today: date
    ) -> None:
        self._check_live()
        self._check_unarchived("edited")
        checked = check_base(self.kind, base, today)
        extra = check_custom(custom)
        if checked != self.base or extra != self.custom:
            self.trigger_event(self.Edited, base=checked, custom=extra)

    def delete(self) -> None:
        self._check_live()
        self._check_unarchived("deleted")
        self.trigger_event(self.Binned)

    def restore(self) -> None:
        if not self.deleted:
            raise StateConflict(
                "the record is not in the recycle bin", code="NOT_IN_RECYCLE_BIN"
            )
        self.trigger_event(self.Restored)

    def set_archived(self, archived: bool) -> None:
        """Archives (or unarchives) every file of the record (manual 9.1)."""
        self._check_live()
        changing = [
            d.document_id for d in self.live_documents() if d.archived != archived
        ]
        if changing:
            self.trigger_event(
                self.ArchiveChanged, document_ids=changing, archived=archived
            )

    # --- its files ----------------------------------------------------------

    def add_document(
        self,
        *,
        qualification_type: str,
        name: str,
        blob: str,
        media_type: str,
        size: int,
        pages: int,
        card: Mapping[str, object],
        today: date,
        origin: Origin = Origin.UPLOADED,
        received_from: str | None = None,
        document_id: str | None = None,
    ) -> str:
        self._check_live()
        if len(self.documents) >= MAX_DOCUMENTS:
            raise StateConflict(
                f"a record holds at most {MAX_DOCUMENTS} files",
                code="TOO_MANY_DOCUMENTS",
            )
        kind_type = check_type(qualification_type, self.kind)
        if kind_type.code == "id_card" and self.kind is Kind.DELEGATE:
            # An ID card on a delegate takes the person's name and number from
            # the record where the card leaves them out (manual 9.1.1).
            card = {
                "person_name": self.base.get("person_name"),
                "id_number": self.base.get("id_number"),
                **{k: v for k, v in card.items() if v},
            }
        new_id = document_id or str(uuid4())
        self.trigger_event(
            self.DocumentAdded,
            document_id=new_id,
            qualification_type=kind_type.code,
            name=check_file_name(name),
            blob=blob,
            media_type=media_type,
            size=size,
            pages=pages,
            card=check_card(kind_type, card, today),
            origin=origin.value,
            received_from=received_from,
        )
        return new_id

    def edit_card(
        self,
        document_id: str,
        *,
        card: Mapping[str, object],
        today: date,
        qualification_type: str | None = None,
        name: str | None = None,
    ) -> None:
        self._check_live()
        doc = self._live_document(document_id)
        if doc.archived:
            raise StateConflict(
                "the file is archived; unarchive its record to edit it",
                code="DOCUMENT_ARCHIVED",
            )
        kind_type = check_type(qualification_type or doc.qualification_type, self.kind)
        checked = check_card(kind_type, card, today)
        new_name = doc.name if name is None else check_file_name(name)
        if (kind_type.code, new_name, checked) != (
            doc.qualification_type,
            doc.name,
            dict(doc.card),
        ):
            self.trigger_event(
                self.CardEdited,
                document_id=document_id,
                qualification_type=kind_type.code,
                name=new_name,
                card=checked,
            )

    def deprecate(self, document_id: str, *, reason: str = "deprecated") -> None:
        """Deprecates a file; dismissing its expiry reminder does the same
        (manual 9.5)."""
        self._check_live()
        doc = self._live_document(document_id)
        if doc.status is not Status.DEPRECATED:
            self.trigger_event(
                self.StatusChanged,
                document_id=document_id,
                status=Status.DEPRECATED.value,
                reason=reason,
            )

    def undeprecate(self, document_id: str) -> None:
        self._check_live()
        doc = self._live_document(document_id)
        if doc.status is not Status.IN_USE:
            self.trigger_event(
                self.StatusChanged,
                document_id=document_id,
                status=Status.IN_USE.value,
                reason="restored to use",
            )

    def seal(
        self,
        document_id: str,
        *,
        blob_before: str,
        blob: str,
        size: int,
        certificate_serial: str,
        seal_kind: str | None,
        placements: list[dict[str, Any]],
    ) -> None:
        """Records a seal applied to the file's content as it was
        (``blob_before``); a file changed since is sealed again from its new
        content, never over it. Sealing keeps the page count (an image is one
        page, and becomes a one-page PDF)."""
        self._check_live()
        doc = self._live_document(document_id)
        if doc.blob != blob_before:
            raise StateConflict(
                "the file changed while it was being sealed; seal it again",
                code="DOCUMENT_CHANGED",
            )
        if doc.archived:
            raise StateConflict(
                "the file is archived; unarchive its record to seal it",
                code="DOCUMENT_ARCHIVED",
            )
        if doc.status is Status.DEPRECATED:
            raise StateConflict(
                "a deprecated file is not sealed", code="DOCUMENT_DEPRECATED"
            )
        self.trigger_event(
            self.Sealed,
            document_id=document_id,
            blob_before=blob_before,
            blob=blob,
            size=size,
            pages=doc.pages,
            certificate_serial=certificate_serial,
            seal_kind=seal_kind,
            placements=placements,
        )

    def delete_document(self, document_id: str) -> None:
        self._check_live()
        doc = self._live_document(document_id)
        if doc.archived:
            raise StateConflict(
                "the file is archived; unarchive its record to delete it",
                code="DOCUMENT_ARCHIVED",
            )
        self.trigger_event(self.DocumentBinned, document_id=document_id)

    def restore_document(self, document_id: str) -> None:
        self._check_live()
        if not self.document(document_id).deleted:
            raise StateConflict(
                "the file is not in the recycle bin", code="NOT_IN_RECYCLE_BIN"
            )
        self.trigger_event(self.DocumentRestored, document_id=document_id)

    # --- helpers ------------------------------------------------------------

    def _check_live(self) -> None:
        if self.deleted:
            raise StateConflict(
                "the record is in the recycle bin; restore it first",
                code="RECORD_DELETED",
            )

    def _check_unarchived(self, what: str) -> None:
        archived = sum(1 for d in self.live_documents() if d.archived)
        if archived:
            raise StateConflict(
                f"the record holds {archived} archived files and cannot be {what}; "
                "unarchive it first",
                code="RECORD_ARCHIVED",
            )

    def _live_document(self, document_id: str) -> Document:
        doc = self.document(document_id)
        if doc.deleted:
            raise StateConflict(
                "the file is in the recycle bin; restore it first",
                code="DOCUMENT_DELETED",
            )
        return doc

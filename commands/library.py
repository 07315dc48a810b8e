"""Keeping the library (manual 9): records, their files, the recycle bin and
the library settings.

A file's content is judged (:mod:`commands.uploads`) and written to the blob
store before the command's events are saved; if saving then fails, the blob is
an orphan that no event names, which is harmless (see :mod:`commands.blobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError

from aggregates.catalogue import Kind
from aggregates.dossier import Dossier
from aggregates.errors import InvalidValue, StateConflict
from aggregates.library_settings import LibrarySettings, settings_id
from commands.blobs import BlobStore
from commands.errors import NotFound
from commands.platform import Caller, CommandResult, CommandRunner, Outcome
from commands.uploads import check_upload

_ADMIN_DELEGATE = uuid5(NAMESPACE_URL, "urn:shouying:administrator-delegate")

#: Validity dates are calendar dates in China.
CHINA = ZoneInfo("Asia/Shanghai")


def china_today(clock: Callable[[], datetime]) -> date:
    return clock().astimezone(CHINA).date()


class LibraryCommands:
    def __init__(
        self,
        runner: CommandRunner,
        blobs: BlobStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runner = runner
        self.blobs = blobs
        self.clock = clock

    def today(self) -> date:
        return china_today(self.clock)

    # --- records ------------------------------------------------------------

    def create_record(
        self,
        caller: Caller,
        kind: str,
        base: Mapping[str, object],
        custom: Mapping[str, object],
    ) -> CommandResult:
        def work() -> Outcome:
            dossier = Dossier.open(
                enterprise_id=caller.enterprise_id,
                kind=kind,
                base=base,
                custom=custom,
                today=self.today(),
            )
            self._check_custom(caller, dossier, custom)
            return Outcome(
                [dossier], {"record_id": str(dossier.id)}, dossier, created=True
            )

        arguments = {"kind": kind, "base": dict(base), "custom": dict(custom)}
        return self.runner.run(caller, "create_record", arguments, work)

    def edit_record(
        self,
        caller: Caller,
        record_id: UUID,
        base: Mapping[str, object],
        custom: Mapping[str, object],
    ) -> CommandResult:
        def change(dossier: Dossier) -> None:
            self._check_custom(caller, dossier, custom)
            dossier.edit(base, custom, self.today())

        arguments = {"base": dict(base), "custom": dict(custom)}
        return self._change(caller, record_id, "edit_record", arguments, change)

    def delete_record(self, caller: Caller, record_id: UUID) -> CommandResult:
        return self._change(caller, record_id, "delete_record", {}, Dossier.delete)

    def restore_record(self, caller: Caller, record_id: UUID) -> CommandResult:
        return self._change(caller, record_id, "restore_record", {}, Dossier.restore)

    def archive_record(
        self, caller: Caller, record_id: UUID, archived: bool
    ) -> CommandResult:
        return self._change(
            caller,
            record_id,
            "archive_record",
            {"archived": archived},
            lambda d: d.set_archived(archived),
        )

    def sync_administrator(self, caller: Caller) -> CommandResult:
        """Keeps a delegate record of the enterprise's administrator in step
        with the enterprise information (manual 9.1.1, 同步管理员资料): name,
        ID number and enterprise name; other fields of the record are kept."""
        record_id = uuid5(_ADMIN_DELEGATE, caller.enterprise_id)

        def work() -> Outcome:
            enterprise: Any = self.runner.app.repository.get(UUID(caller.enterprise_id))
            info = enterprise.information
            if info is None:
                raise StateConflict(
                    "record the enterprise information first",
                    code="INFORMATION_MISSING",
                )
            synced = {
                "person_name": info.admin_name,
                "id_number": info.admin_id_number,
                "enterprise_name": enterprise.name,
            }
            try:
                dossier = self.own(caller, record_id)
            except NotFound:
                dossier = Dossier.open(
                    enterprise_id=caller.enterprise_id,
                    kind=Kind.DELEGATE.value,
                    base=synced,
                    custom={},
                    today=self.today(),
                    dossier_id=record_id,
                )
                return Outcome(
                    [dossier], {"record_id": str(record_id)}, dossier, created=True
                )
            if dossier.deleted:
                dossier.restore()
            dossier.edit({**dossier.base, **synced}, dossier.custom, self.today())
            return Outcome([dossier], {"record_id": str(record_id)}, dossier)

        return self.runner.run(caller, "sync_administrator", {}, work)

    # --- files --------------------------------------------------------------

    def add_document(
        self,
        caller: Caller,
        record_id: UUID,
        *,
        data: bytes,
        name: str,
        qualification_type: str,
        card: Mapping[str, object],
    ) -> CommandResult:
        """Stores an uploaded file in a record: its content is judged, kept
        once by digest, and the record gains a document naming it."""
        checked = check_upload(data)
        digest = self.blobs.put(data)
        document_id = str(uuid4())

        def change(dossier: Dossier) -> None:
            dossier.add_document(
                qualification_type=qualification_type,
                name=name,
                blob=digest,
                media_type=checked.media_type,
                size=checked.size,
                pages=checked.pages,
                card=card,
                today=self.today(),
                document_id=document_id,
            )

        arguments = {
            "blob": digest,
            "name": name,
            "qualification_type": qualification_type,
            "card": dict(card),
        }
        return self._change(
            caller,
            record_id,
            "add_document",
            arguments,
            change,
            ids={"document_id": document_id},
            created=True,
        )

    def edit_card(
        self,
        caller: Caller,
        record_id: UUID,
        document_id: str,
        *,
        card: Mapping[str, object],
        qualification_type: str | None,
        name: str | None,
    ) -> CommandResult:
        arguments = {
            "document_id": document_id,
            "card": dict(card),
            "qualification_type": qualification_type,
            "name": name,
        }
        return self._change(
            caller,
            record_id,
            "edit_card",
            arguments,
            lambda d: d.edit_card(
                document_id,
                card=card,
                today=self.today(),
                qualification_type=qualification_type,
                name=name,
            ),
            ids={"document_id": document_id},
        )

    def set_document_status(
        self, caller: Caller, record_id: UUID, document_id: str, action: str
    ) -> CommandResult:
        """``deprecate``, ``undeprecate``, ``dismiss_reminder`` (which
        deprecates, manual 9.5), ``delete`` or ``restore``."""
        actions: dict[str, Callable[[Dossier], None]] = {
            "deprecate": lambda d: d.deprecate(document_id),
            "dismiss_reminder": lambda d: d.deprecate(
                document_id, reason="reminder dismissed"
            ),
            "undeprecate": lambda d: d.undeprecate(document_id),
            "delete": lambda d: d.delete_document(document_id),
            "restore": lambda d: d.restore_document(document_id),
        }
        return self._change(
            caller,
            record_id,
            f"{action}_document",
            {"document_id": document_id},
            actions[action],
            ids={"document_id": document_id},
        )

    def content(
        self, caller: Caller, record_id: UUID, document_id: str
    ) -> tuple[str, str, bytes]:
        """A file's platform name, media type and content."""
        dossier = self.own(caller, record_id)
        doc = dossier.document(document_id)
        if doc.deleted:
            raise NotFound(f"no file {document_id} in this record")
        return doc.name, doc.media_type, self.blobs.get(doc.blob)

    def files(
        self, caller: Caller, record_id: UUID
    ) -> tuple[str, list[tuple[str, str, bytes]]]:
        """A record's title and its live files as (name, media type, content)."""
        dossier = self.own(caller, record_id)
        return dossier.title, [
            (d.name, d.media_type, self.blobs.get(d.blob))
            for d in dossier.live_documents()
        ]

    # --- settings -----------------------------------------------------------

    def set_reminder_days(self, caller: Caller, days: int) -> CommandResult:
        return self._settings(
            caller,
            "set_reminder_days",
            {"days": days},
            lambda s: s.set_reminder_days(days),
        )

    def define_custom_field(
        self,
        caller: Caller,
        *,
        field_id: str | None,
        kind: str,
        name: str,
        show_in_list: bool,
    ) -> CommandResult:
        new = field_id is None
        fid = field_id or str(uuid4())
        return self._settings(
            caller,
            "define_custom_field",
            {"field_id": field_id, "kind": kind, "name": name, "show": show_in_list},
            lambda s: s.define_custom_field(fid, kind, name, show_in_list, new=new),
            ids={"field_id": fid},
            created=new,
        )

    def remove_custom_field(self, caller: Caller, field_id: str) -> CommandResult:
        return self._settings(
            caller,
            "remove_custom_field",
            {"field_id": field_id},
            lambda s: s.remove_custom_field(field_id),
        )

    def define_template(
        self,
        caller: Caller,
        *,
        template_id: str | None,
        kind: str,
        name: str,
        category: str | None,
        types: list[str],
    ) -> CommandResult:
        new = template_id is None
        tid = template_id or str(uuid4())
        return self._settings(
            caller,
            "define_template",
            {
                "template_id": template_id,
                "kind": kind,
                "name": name,
                "category": category,
                "types": types,
            },
            lambda s: s.define_template(tid, kind, name, category, types),
            ids={"template_id": tid},
            created=new,
        )

    # --- plumbing -----------------------------------------------------------

    def own(self, caller: Caller, record_id: UUID) -> Dossier:
        """The caller's enterprise's record; another's does not exist for it."""
        try:
            found: Any = self.runner.app.repository.get(record_id)
        except AggregateNotFoundError:
            found = None
        if (
            not isinstance(found, Dossier)
            or found.enterprise_id != caller.enterprise_id
        ):
            raise NotFound(f"no record {record_id}")
        return found

    def _change(
        self,
        caller: Caller,
        record_id: UUID,
        command: str,
        arguments: dict[str, Any],
        change: Callable[[Dossier], None],
        *,
        ids: dict[str, str] | None = None,
        created: bool = False,
    ) -> CommandResult:
        def work() -> Outcome:
            dossier = self.own(caller, record_id)
            self.runner.check_version(caller, dossier)
            change(dossier)
            return Outcome(
                [dossier],
                {"record_id": str(record_id), **(ids or {})},
                dossier,
                created=created,
            )

        return self.runner.run(
            caller, command, {"record_id": str(record_id), **arguments}, work
        )

    def _settings(
        self,
        caller: Caller,
        command: str,
        arguments: dict[str, Any],
        change: Callable[[LibrarySettings], None],
        *,
        ids: dict[str, str] | None = None,
        created: bool = False,
    ) -> CommandResult:
        def work() -> Outcome:
            found = self.settings_of(caller.enterprise_id)
            settings = found or LibrarySettings.open(caller.enterprise_id)
            change(settings)
            return Outcome([settings], ids or {}, settings, created=created)

        return self.runner.run(caller, command, arguments, work)

    def settings_of(self, enterprise_id: str) -> LibrarySettings | None:
        try:
            found: LibrarySettings = self.runner.app.repository.get(
                settings_id(enterprise_id)
            )
        except AggregateNotFoundError:
            return None
        return found

    def _check_custom(
        self, caller: Caller, dossier: Dossier, custom: Mapping[str, object]
    ) -> None:
        if not custom:
            return
        settings = self.settings_of(caller.enterprise_id)
        known = settings.custom_field_ids(dossier.kind) if settings else set()
        unknown = sorted(set(custom) - known)
        if unknown:
            raise InvalidValue(
                f"{dossier.kind.value} records have no custom field {unknown[0]!r}",
                field=f"custom.{unknown[0]}",
                code="UNKNOWN_CUSTOM_FIELD",
            )

"""The enterprise address book (通讯录, manual 企业账户管理): the counterpart
enterprises an enterprise sends documents to, kept for choosing recipients.

Each enterprise has one book, an aggregate whose id is derived from the
enterprise's id and which is opened on first use. One aggregate per enterprise
rather than one per entry because its two rules span entries: a counterpart
name occurs at most once in a book, and clearing or importing changes many
entries at once. Inside one aggregate both are plain checks on its state and
one event each; across per-entry aggregates they would need claim aggregates
to release on every rename and delete, and a list of the enterprise's entries
that the event store cannot give. The price is that two writes to the same
book at the same moment conflict, and the second is asked to retry: an address
book is edited by a few people, rarely at once.

An entry's ``version`` is the book's version after the event that last
changed it. It is what ``If-Match`` names when an entry is edited, so an edit
conflicts only with a change to the same entry, not with any change to the
book.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from aggregates.account import check_mobile as check_account_mobile
from aggregates.base import TracedAggregate
from aggregates.errors import DomainError, InvalidValue, StateConflict
from aggregates.identifiers import InvalidIdentifier, check_uscc
from aggregates.uniqueness import normalise_name

NAME_MAX_LENGTH = 100
CONTACT_MAX_LENGTH = 50
REGION_MAX_LENGTH = 50
ADDRESS_MAX_LENGTH = 200
REMARK_MAX_LENGTH = 500
EMAIL_MAX_LENGTH = 254
FILE_NAME_MAX_LENGTH = 100
#: Entries one book holds at most; it keeps the aggregate quick to load.
MAX_ENTRIES = 10_000

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:address-book")

_EMAIL_LOCAL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def book_id(enterprise_id: str) -> UUID:
    """The id of an enterprise's address book."""
    return uuid5(_NAMESPACE, enterprise_id)


@dataclass(frozen=True)
class Counterpart:
    """What an entry says about a counterpart enterprise, validated."""

    name: str
    uscc: str | None = None
    contact_person: str | None = None
    mobile: str | None = None
    email: str | None = None
    region: str | None = None
    address: str | None = None
    remark: str | None = None

    def values(self) -> dict[str, str | None]:
        return asdict(self)


FIELDS = tuple(f.name for f in fields(Counterpart))


@dataclass(frozen=True)
class Entry:
    entry_id: str
    counterpart: Counterpart
    version: int


@dataclass(frozen=True)
class RowResult:
    """One data row of an import: accepted as ``entry_id``, or refused with a
    problem ``code`` and ``message``."""

    row: int
    name: str | None
    ok: bool
    message: str
    code: str | None = None
    entry_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImportReport:
    import_id: str
    rows: list[RowResult]

    @property
    def accepted(self) -> int:
        return sum(1 for r in self.rows if r.ok)

    @property
    def rejected(self) -> int:
        return len(self.rows) - self.accepted


class UnknownEntry(DomainError):
    """The entry is not in this book (perhaps in another enterprise's)."""

    code = "NOT_FOUND"
    status = 404


# --- validators ------------------------------------------------------------------


def _tidy(value: str | None) -> str | None:
    """White space runs folded to one space; empty becomes absent."""
    if value is None:
        return None
    cleaned = " ".join(value.split())
    return cleaned or None


def _limit(value: str | None, field: str, what: str, most: int) -> str | None:
    cleaned = _tidy(value)
    if cleaned is not None and len(cleaned) > most:
        raise InvalidValue(
            f"the {what} has {len(cleaned)} characters; at most {most} are allowed",
            field=field,
        )
    return cleaned


def check_name(name: str | None) -> str:
    cleaned = _limit(name, "name", "counterpart enterprise name", NAME_MAX_LENGTH)
    if cleaned is None:
        raise InvalidValue("the counterpart enterprise name is empty", field="name")
    return cleaned


def check_optional_uscc(code: str | None) -> str | None:
    cleaned = _tidy(code)
    if cleaned is None:
        return None
    try:
        return check_uscc(cleaned)
    except InvalidIdentifier as e:
        raise InvalidValue(str(e), field="uscc", code="INVALID_USCC") from e


def check_mobile(mobile: str | None) -> str | None:
    """An optional mobile number, checked as accounts' numbers are."""
    cleaned = _tidy(mobile)
    return None if cleaned is None else check_account_mobile(cleaned)


def check_email(email: str | None) -> str | None:
    """An e-mail address with its domain in lower case."""
    cleaned = _tidy(email)
    if cleaned is None:
        return None
    text = unicodedata.normalize("NFKC", cleaned)
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    valid = (
        bool(at)
        and len(text) <= EMAIL_MAX_LENGTH
        and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and len(labels) >= 2
        and all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )
    if not valid:
        raise InvalidValue(
            f"{cleaned!r} is not an e-mail address like name@example.com",
            field="email",
            code="INVALID_EMAIL",
        )
    return f"{local}@{domain.lower()}"


def check_counterpart(values: Mapping[str, str | None]) -> Counterpart:
    """Validates the fields of an entry; raises :class:`InvalidValue` naming
    the first bad field."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise InvalidValue(f"unknown field {unknown[0]!r}", field=unknown[0])
    return Counterpart(
        name=check_name(values.get("name")),
        uscc=check_optional_uscc(values.get("uscc")),
        contact_person=_limit(
            values.get("contact_person"),
            "contact_person",
            "contact person",
            CONTACT_MAX_LENGTH,
        ),
        mobile=check_mobile(values.get("mobile")),
        email=check_email(values.get("email")),
        region=_limit(values.get("region"), "region", "region", REGION_MAX_LENGTH),
        address=_limit(values.get("address"), "address", "address", ADDRESS_MAX_LENGTH),
        remark=_limit(values.get("remark"), "remark", "remark", REMARK_MAX_LENGTH),
    )


def name_key(name: str) -> str:
    """Two names with the same key are the same counterpart."""
    return normalise_name(name)


# --- the aggregate -----------------------------------------------------------------


def _counterpart_of(data: Mapping[str, Any]) -> Counterpart:
    values: dict[str, Any] = {name: data.get(name) for name in FIELDS}
    return Counterpart(**values)


class AddressBook(TracedAggregate):
    class Opened(TracedAggregate.Created):
        def summary(self) -> str:
            return "address book opened"

    class EntryWritten(TracedAggregate.Event):
        """An entry's complete values, as added or as edited (never only the
        changed ones); the two events below differ only in their summary."""

        entry_id: str
        name: str
        uscc: str | None
        contact_person: str | None
        mobile: str | None
        email: str | None
        region: str | None
        address: str | None
        remark: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._drop(self.entry_id)
            aggregate._put(
                self.entry_id, _counterpart_of(self.__dict__), self.originator_version
            )

    class EntryAdded(EntryWritten):
        def summary(self) -> str:
            return f"added {self.name} to the address book"

    class EntryEdited(EntryWritten):
        def summary(self) -> str:
            return f"edited {self.name} in the address book"

    class EntryDeleted(TracedAggregate.Event):
        entry_id: str
        name: str

        def summary(self) -> str:
            return f"deleted {self.name} from the address book"

        def apply(self, aggregate: Any) -> None:
            aggregate._drop(self.entry_id)

    class Cleared(TracedAggregate.Event):
        removed: int

        def summary(self) -> str:
            return f"cleared the address book ({self.removed} entries)"

        def apply(self, aggregate: Any) -> None:
            aggregate.entries = {}
            aggregate.names = {}

    class Imported(TracedAggregate.Event):
        """An uploaded sheet: the entries it added (each with its ``entry_id``,
        sheet ``row`` and fields) and the rows it refused (``row``, ``name``,
        ``code``, ``message``), so the report can be given again later."""

        import_id: str
        file_name: str
        entries: list[dict[str, Any]]
        rejected: list[dict[str, Any]]

        def summary(self) -> str:
            return (
                f"imported {len(self.entries)} entries from {self.file_name}"
                f" ({len(self.rejected)} rows refused)"
            )

        def apply(self, aggregate: Any) -> None:
            for entry in self.entries:
                aggregate._put(
                    entry["entry_id"], _counterpart_of(entry), self.originator_version
                )

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        #: Name keys of the entries, to their entry ids.
        self.names: dict[str, str] = {}

    @classmethod
    def open(cls, enterprise_id: str) -> AddressBook:
        return cls._create(
            cls.Opened, id=book_id(enterprise_id), enterprise_id=enterprise_id
        )

    # Reading --------------------------------------------------------------

    def entry(self, entry_id: str) -> Entry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise UnknownEntry(
                f"no address book entry {entry_id}", field="entry_id"
            ) from None

    def holder_of(self, name: str) -> str | None:
        """The id of the entry whose name counts as ``name``, if any."""
        return self.names.get(name_key(name))

    # Commands -------------------------------------------------------------

    def add(self, values: Mapping[str, str | None]) -> str:
        """Adds an entry; returns its id."""
        counterpart = check_counterpart(values)
        self._check_room(1)
        self._check_unique(counterpart.name)
        entry_id = str(uuid4())
        self.trigger_event(self.EntryAdded, entry_id=entry_id, **counterpart.values())
        return entry_id

    def edit(self, entry_id: str, changes: Mapping[str, str | None]) -> None:
        """Changes the given fields of an entry; a field given as ``None`` or
        blank is cleared (the name cannot be)."""
        current = self.entry(entry_id)
        merged = {**current.counterpart.values(), **changes}
        counterpart = check_counterpart(merged)
        if counterpart == current.counterpart:
            return
        self._check_unique(counterpart.name, besides=entry_id)
        self.trigger_event(self.EntryEdited, entry_id=entry_id, **counterpart.values())

    def delete(self, entry_id: str) -> None:
        current = self.entry(entry_id)
        self.trigger_event(
            self.EntryDeleted, entry_id=entry_id, name=current.counterpart.name
        )

    def clear(self) -> int:
        """Removes every entry; returns how many there were."""
        removed = len(self.entries)
        if removed:
            self.trigger_event(self.Cleared, removed=removed)
        return removed

    def import_rows(
        self,
        file_name: str,
        rows: Iterable[tuple[int, Mapping[str, str | None]]],
        refused: Sequence[RowResult] = (),
    ) -> ImportReport:
        """Adds each valid row of a sheet whose name is new to the book and to
        the rows before it; reports every row. ``refused`` are rows the reader
        already turned down (the template's example row). Only the valid rows
        are added, all in one event, which is recorded even when none is, so
        the report stays available."""
        results: list[RowResult] = list(refused)
        added: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for row, values in rows:
            name = _tidy(values.get("name"))
            try:
                counterpart = check_counterpart(values)
                key = name_key(counterpart.name)
                if key in seen:
                    raise StateConflict(
                        f"{counterpart.name} is already in row {seen[key]} of "
                        "this sheet",
                        code="ADDRESS_ENTRY_EXISTS",
                    )
                self._check_unique(counterpart.name)
                self._check_room(len(added) + 1)
            except DomainError as e:
                results.append(
                    RowResult(
                        row=row, name=name, ok=False, message=e.message, code=e.code
                    )
                )
                continue
            seen[key] = row
            entry_id = str(uuid4())
            added.append({"entry_id": entry_id, "row": row, **counterpart.values()})
            results.append(
                RowResult(
                    row=row,
                    name=counterpart.name,
                    ok=True,
                    message="added",
                    entry_id=entry_id,
                )
            )
        results.sort(key=lambda r: r.row)
        import_id = str(uuid4())
        shown = " ".join(file_name.split())[:FILE_NAME_MAX_LENGTH] or "upload.xlsx"
        self.trigger_event(
            self.Imported,
            import_id=import_id,
            file_name=shown,
            entries=added,
            rejected=[r.to_dict() for r in results if not r.ok],
        )
        return ImportReport(import_id=import_id, rows=results)

    # Rules ----------------------------------------------------------------

    def _check_room(self, more: int) -> None:
        if len(self.entries) + more > MAX_ENTRIES:
            raise StateConflict(
                f"the address book holds at most {MAX_ENTRIES} entries; "
                "delete some first",
                code="ADDRESS_BOOK_FULL",
            )

    def _check_unique(self, name: str, *, besides: str | None = None) -> None:
        holder = self.holder_of(name)
        if holder is not None and holder != besides:
            raise StateConflict(
                f"{name} is already in the address book "
                f"(as {self.entries[holder].counterpart.name})",
                code="ADDRESS_ENTRY_EXISTS",
            )

    # State changes, called by the events -----------------------------------

    def _put(self, entry_id: str, counterpart: Counterpart, version: int) -> None:
        self.entries[entry_id] = Entry(entry_id, counterpart, version)
        self.names[name_key(counterpart.name)] = entry_id

    def _drop(self, entry_id: str) -> None:
        gone = self.entries.pop(entry_id, None)
        if gone is not None:
            self.names.pop(name_key(gone.counterpart.name), None)

"""An enterprise's library settings: how many days ahead a file counts as
expiring (有效期提醒设置), its custom fields per record kind (manual 9.3) and
its qualification-type templates (9.4). One aggregate per enterprise, id
derived from the enterprise's id, opened on first change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.catalogue import Kind, check_kind, check_type, tidy
from aggregates.errors import DomainError, InvalidValue, StateConflict

DEFAULT_REMINDER_DAYS = 30
MAX_REMINDER_DAYS = 365
MAX_CUSTOM_FIELDS = 20
MAX_TEMPLATES = 50

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:library-settings")


def settings_id(enterprise_id: str) -> UUID:
    return uuid5(_NAMESPACE, enterprise_id)


class UnknownSetting(DomainError):
    code = "NOT_FOUND"
    status = 404


@dataclass(frozen=True)
class CustomField:
    field_id: str
    kind: Kind
    name: str
    show_in_list: bool


@dataclass(frozen=True)
class Template:
    template_id: str
    kind: Kind
    name: str
    #: The enterprise type (category) it is for; None for any.
    category: str | None
    types: tuple[str, ...]


def _name(value: str, what: str) -> str:
    cleaned = tidy(value)
    if cleaned is None or len(cleaned) > 50:
        raise InvalidValue(f"a {what} name has 1 to 50 characters", field="name")
    return cleaned


class LibrarySettings(TracedAggregate):
    class Opened(TracedAggregate.Created):
        def summary(self) -> str:
            return "library settings opened"

    class ReminderChanged(TracedAggregate.Event):
        days: int

        def summary(self) -> str:
            return f"expiry reminder set to {self.days} days ahead"

        def apply(self, aggregate: Any) -> None:
            aggregate.reminder_days = self.days

    class CustomFieldDefined(TracedAggregate.Event):
        field_id: str
        kind: str
        name: str
        show_in_list: bool

        def summary(self) -> str:
            return f"custom field {self.name} of {self.kind} records defined"

        def apply(self, aggregate: Any) -> None:
            aggregate.custom_fields[self.field_id] = CustomField(
                self.field_id, Kind(self.kind), self.name, self.show_in_list
            )

    class CustomFieldRemoved(TracedAggregate.Event):
        field_id: str

        def summary(self) -> str:
            return "custom field removed"

        def apply(self, aggregate: Any) -> None:
            del aggregate.custom_fields[self.field_id]

    class TemplateDefined(TracedAggregate.Event):
        template_id: str
        kind: str
        name: str
        category: str | None
        types: list[str]

        def summary(self) -> str:
            return f"qualification-type template {self.name} defined"

        def apply(self, aggregate: Any) -> None:
            aggregate.templates[self.template_id] = Template(
                self.template_id,
                Kind(self.kind),
                self.name,
                self.category,
                tuple(self.types),
            )

    def __init__(self) -> None:
        self.reminder_days = DEFAULT_REMINDER_DAYS
        self.custom_fields: dict[str, CustomField] = {}
        self.templates: dict[str, Template] = {}

    @classmethod
    def open(cls, enterprise_id: str) -> LibrarySettings:
        return cls._create(
            cls.Opened, id=settings_id(enterprise_id), enterprise_id=enterprise_id
        )

    def set_reminder_days(self, days: int) -> None:
        if not 0 <= days <= MAX_REMINDER_DAYS:
            raise InvalidValue(
                f"remind 0 to {MAX_REMINDER_DAYS} days ahead, not {days}",
                field="reminder_days",
            )
        if days != self.reminder_days:
            self.trigger_event(self.ReminderChanged, days=days)

    def define_custom_field(
        self, field_id: str, kind: str, name: str, show_in_list: bool, *, new: bool
    ) -> None:
        checked_kind = check_kind(kind)
        if new:
            count = sum(
                1 for f in self.custom_fields.values() if f.kind == checked_kind
            )
            if count >= MAX_CUSTOM_FIELDS:
                raise StateConflict(
                    f"{checked_kind.value} records have at most {MAX_CUSTOM_FIELDS} "
                    "custom fields",
                    code="TOO_MANY_CUSTOM_FIELDS",
                )
        elif field_id not in self.custom_fields:
            raise UnknownSetting(f"no custom field {field_id}")
        cleaned = _name(name, "custom field")
        if any(
            f.kind == checked_kind and f.name == cleaned and f.field_id != field_id
            for f in self.custom_fields.values()
        ):
            raise StateConflict(
                f"{checked_kind.value} records have a custom field {cleaned!r}",
                code="CUSTOM_FIELD_EXISTS",
            )
        self.trigger_event(
            self.CustomFieldDefined,
            field_id=field_id,
            kind=checked_kind.value,
            name=cleaned,
            show_in_list=show_in_list,
        )

    def remove_custom_field(self, field_id: str) -> None:
        if field_id not in self.custom_fields:
            raise UnknownSetting(f"no custom field {field_id}")
        self.trigger_event(self.CustomFieldRemoved, field_id=field_id)

    def define_template(
        self,
        template_id: str,
        kind: str,
        name: str,
        category: str | None,
        types: Iterable[str],
    ) -> None:
        checked_kind = check_kind(kind)
        if template_id not in self.templates and len(self.templates) >= MAX_TEMPLATES:
            raise StateConflict(
                f"at most {MAX_TEMPLATES} templates", code="TOO_MANY_TEMPLATES"
            )
        chosen = [check_type(t, checked_kind).code for t in dict.fromkeys(types)]
        self.trigger_event(
            self.TemplateDefined,
            template_id=template_id,
            kind=checked_kind.value,
            name=_name(name, "template"),
            category=tidy(category),
            types=chosen,
        )

    def custom_field_ids(self, kind: Kind) -> set[str]:
        return {f.field_id for f in self.custom_fields.values() if f.kind == kind}

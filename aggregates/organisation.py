"""An enterprise's organisation (manual 12, 子账户管理 and 审核设置): its
departments, the roles in them with the permissions they grant, the accounts
holding those roles, and the review flows built from roles and accounts.

One aggregate per enterprise, id derived from the enterprise's id, opened on
first use. Its rules span all four parts (a department is deleted only
without roles, a role only without accounts and outside every review flow, an
account only outside every review flow and holding no review), so they are
plain checks on one state and each change is one event. Accounts themselves
stay their own aggregates, which sign in; the organisation records which role
each holds. The price is that two administrators' changes at the same moment
conflict and the second retries: organisation settings change rarely.

Reviews in progress (packages under a flow, and the account that took one)
are recorded here by the exchange, so that a flow in use is not changed and a
reviewer holding a review is not deleted.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError, InvalidValue, StateConflict
from aggregates.permissions import ASSIGNABLE, ENTERPRISE_WIDE, EVERY_ACCOUNT

#: The built-in role of the enterprise's administrator (系统管理员).
ADMIN_ROLE = "administrator"
ADMIN_ROLE_NAME = "系统管理员"
NAME_MAX_LENGTH = 50
MAX_DEPARTMENTS = 200
MAX_ROLES = 500
MAX_FLOWS = 100
MAX_ACCOUNTS_AT_ONCE = 10
MAX_LEVELS = 5

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:organisation")


def organisation_id(enterprise_id: str) -> UUID:
    return uuid5(_NAMESPACE, enterprise_id)


class Trigger(enum.StrEnum):
    #: 发送资料审核: a package is reviewed before it is sealed and sent.
    SEND = "send"
    #: 查收资料审核: a received package is reviewed when it is accepted.
    ACCEPT = "accept"


class UnknownPart(DomainError):
    """No such department, role, account or flow in this enterprise."""

    code = "NOT_FOUND"
    status = 404


@dataclass(frozen=True)
class Department:
    department_id: str
    name: str


@dataclass(frozen=True)
class RoleDefinition:
    role_id: str
    name: str
    department_id: str | None
    permissions: frozenset[str]


@dataclass(frozen=True)
class Member:
    account_id: str
    username: str
    person_name: str
    role_id: str
    #: Shown to senders as a receiving person of its department (是否显示).
    visible: bool


@dataclass(frozen=True)
class Level:
    """One level of a review flow: any member of ``role_id``, or only the
    named account."""

    role_id: str
    account_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"role_id": self.role_id, "account_id": self.account_id}


@dataclass(frozen=True)
class Flow:
    flow_id: str
    name: str
    trigger: Trigger
    levels: tuple[Level, ...]


def check_name(name: str, what: str, field: str = "name") -> str:
    cleaned = " ".join(unicodedata.normalize("NFKC", name).split())
    if not cleaned or len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidValue(
            f"a {what} name has 1 to {NAME_MAX_LENGTH} characters", field=field
        )
    return cleaned


def _key(name: str) -> str:
    return name.casefold()


def _levels(raw: Iterable[dict[str, Any]]) -> tuple[Level, ...]:
    return tuple(Level(r["role_id"], r.get("account_id")) for r in raw)


class Organisation(TracedAggregate):
    class Opened(TracedAggregate.Created):
        admin_account_id: str
        admin_username: str

        def summary(self) -> str:
            return "organisation opened"

    class DepartmentAdded(TracedAggregate.Event):
        department_id: str
        name: str

        def summary(self) -> str:
            return f"department {self.name} added"

        def apply(self, aggregate: Any) -> None:
            aggregate.departments[self.department_id] = Department(
                self.department_id, self.name
            )

    class DepartmentRenamed(DepartmentAdded):
        def summary(self) -> str:
            return f"department renamed {self.name}"

    class DepartmentRemoved(TracedAggregate.Event):
        department_id: str

        def summary(self) -> str:
            return "department deleted"

        def apply(self, aggregate: Any) -> None:
            del aggregate.departments[self.department_id]

    class RoleDefined(TracedAggregate.Event):
        """A role added, or changed: the event carries the whole role."""

        role_id: str
        name: str
        department_id: str
        permissions: list[str]

        def summary(self) -> str:
            return f"role {self.name} defined with {len(self.permissions)} permissions"

        def apply(self, aggregate: Any) -> None:
            aggregate.roles[self.role_id] = RoleDefinition(
                self.role_id,
                self.name,
                self.department_id,
                frozenset(self.permissions),
            )

    class RoleRemoved(TracedAggregate.Event):
        role_id: str

        def summary(self) -> str:
            return "role deleted"

        def apply(self, aggregate: Any) -> None:
            del aggregate.roles[self.role_id]

    class MembersAdded(TracedAggregate.Event):
        members: list[dict[str, Any]]

        def summary(self) -> str:
            return f"{len(self.members)} sub-accounts added"

        def apply(self, aggregate: Any) -> None:
            for m in self.members:
                aggregate.members[m["account_id"]] = Member(
                    m["account_id"],
                    m["username"],
                    m["person_name"],
                    m["role_id"],
                    bool(m["visible"]),
                )

    class MemberChanged(TracedAggregate.Event):
        account_id: str
        username: str
        person_name: str
        role_id: str
        visible: bool

        def summary(self) -> str:
            return f"sub-account {self.username} changed"

        def apply(self, aggregate: Any) -> None:
            aggregate.members[self.account_id] = Member(
                self.account_id,
                self.username,
                self.person_name,
                self.role_id,
                self.visible,
            )

    class MemberRemoved(TracedAggregate.Event):
        account_id: str

        def summary(self) -> str:
            return "sub-account deleted"

        def apply(self, aggregate: Any) -> None:
            del aggregate.members[self.account_id]

    class FlowDefined(TracedAggregate.Event):
        """A review flow added, or changed: the event carries the whole flow."""

        flow_id: str
        name: str
        trigger: str
        levels: list[dict[str, Any]]

        def summary(self) -> str:
            return f"review flow {self.name} defined with {len(self.levels)} levels"

        def apply(self, aggregate: Any) -> None:
            aggregate.flows[self.flow_id] = Flow(
                self.flow_id, self.name, Trigger(self.trigger), _levels(self.levels)
            )

    class FlowRemoved(TracedAggregate.Event):
        flow_id: str

        def summary(self) -> str:
            return "review flow deleted"

        def apply(self, aggregate: Any) -> None:
            del aggregate.flows[self.flow_id]

    class ReviewStarted(TracedAggregate.Event):
        package_id: str
        flow_id: str

        def summary(self) -> str:
            return f"review of package {self.package_id} started"

        def apply(self, aggregate: Any) -> None:
            aggregate.reviews[self.package_id] = (self.flow_id, None)

    class ReviewTaken(TracedAggregate.Event):
        package_id: str
        account_id: str

        def summary(self) -> str:
            return f"review of package {self.package_id} taken"

        def apply(self, aggregate: Any) -> None:
            flow_id, _ = aggregate.reviews[self.package_id]
            aggregate.reviews[self.package_id] = (flow_id, self.account_id)

    class ReviewEnded(TracedAggregate.Event):
        package_id: str

        def summary(self) -> str:
            return f"review of package {self.package_id} ended"

        def apply(self, aggregate: Any) -> None:
            del aggregate.reviews[self.package_id]

    def __init__(self, admin_account_id: str, admin_username: str) -> None:
        self.admin_account_id = admin_account_id
        self.departments: dict[str, Department] = {}
        self.roles: dict[str, RoleDefinition] = {}
        self.members: dict[str, Member] = {
            admin_account_id: Member(
                admin_account_id, admin_username, "", ADMIN_ROLE, False
            )
        }
        self.flows: dict[str, Flow] = {}
        #: package id -> (flow id, account holding the review or None)
        self.reviews: dict[str, tuple[str, str | None]] = {}

    @classmethod
    def open(
        cls, *, enterprise_id: str, admin_account_id: str, admin_username: str
    ) -> Organisation:
        return cls._create(
            cls.Opened,
            id=organisation_id(enterprise_id),
            enterprise_id=enterprise_id,
            admin_account_id=admin_account_id,
            admin_username=admin_username,
        )

    # --- reading ------------------------------------------------------------

    def permissions_of(self, account_id: str) -> frozenset[str] | None:
        """What an account may do, or None when it is no member (deleted)."""
        member = self.members.get(account_id)
        if member is None:
            return None
        if member.role_id == ADMIN_ROLE:
            return ENTERPRISE_WIDE
        role = self.roles.get(member.role_id)
        granted = role.permissions if role is not None else frozenset()
        return granted | EVERY_ACCOUNT

    def member(self, account_id: str) -> Member:
        return self._member(account_id)

    def role_name(self, role_id: str) -> str:
        if role_id == ADMIN_ROLE:
            return ADMIN_ROLE_NAME
        return self._role(role_id).name

    # --- departments ----------------------------------------------------------

    def add_department(self, department_id: str, name: str) -> None:
        cleaned = check_name(name, "department")
        self._check_department_name(cleaned, None)
        if len(self.departments) >= MAX_DEPARTMENTS:
            raise StateConflict(
                f"an enterprise has at most {MAX_DEPARTMENTS} departments",
                code="TOO_MANY_DEPARTMENTS",
            )
        self.trigger_event(
            self.DepartmentAdded, department_id=department_id, name=cleaned
        )

    def rename_department(self, department_id: str, name: str) -> None:
        self._department(department_id)
        cleaned = check_name(name, "department")
        self._check_department_name(cleaned, department_id)
        self.trigger_event(
            self.DepartmentRenamed, department_id=department_id, name=cleaned
        )

    def remove_department(self, department_id: str) -> None:
        self._department(department_id)
        holding = [
            r.name for r in self.roles.values() if r.department_id == department_id
        ]
        if holding:
            raise StateConflict(
                f"the department still has {len(holding)} roles "
                f"({', '.join(sorted(holding))}); delete or move them first",
                code="DEPARTMENT_HAS_ROLES",
            )
        self.trigger_event(self.DepartmentRemoved, department_id=department_id)

    # --- roles ----------------------------------------------------------------

    def define_role(
        self,
        role_id: str,
        name: str,
        department_id: str,
        permissions: Iterable[str],
        *,
        new: bool,
    ) -> None:
        """Adds a role (``new``) or replaces an existing one's name,
        department and permissions."""
        if role_id == ADMIN_ROLE:
            raise StateConflict(
                "the administrator role is built in and cannot change",
                code="ADMIN_ROLE_FIXED",
            )
        if not new:
            self._role(role_id)
        elif len(self.roles) >= MAX_ROLES:
            raise StateConflict(
                f"an enterprise has at most {MAX_ROLES} roles", code="TOO_MANY_ROLES"
            )
        cleaned = check_name(name, "role")
        if _key(cleaned) == _key(ADMIN_ROLE_NAME) or any(
            _key(r.name) == _key(cleaned) and r.role_id != role_id
            for r in self.roles.values()
        ):
            raise StateConflict(
                f"a role named {cleaned!r} exists already", code="ROLE_NAME_TAKEN"
            )
        self._department(department_id, field="department_id")
        granted = set(permissions)
        unknown = granted - ASSIGNABLE
        if unknown:
            raise InvalidValue(
                "these permissions cannot be granted to a role: "
                + ", ".join(sorted(unknown))
                + " (unknown, the administrator's alone, or held by every account)",
                field="permissions",
                code="INVALID_PERMISSION",
            )
        self.trigger_event(
            self.RoleDefined,
            role_id=role_id,
            name=cleaned,
            department_id=department_id,
            permissions=sorted(granted),
        )

    def remove_role(self, role_id: str) -> None:
        if role_id == ADMIN_ROLE:
            raise StateConflict(
                "the administrator role cannot be deleted", code="ADMIN_ROLE_FIXED"
            )
        role = self._role(role_id)
        holders = sum(1 for m in self.members.values() if m.role_id == role_id)
        if holders:
            raise StateConflict(
                f"{holders} accounts hold the role {role.name!r}; delete them or "
                "give them another role first",
                code="ROLE_HAS_ACCOUNTS",
            )
        flows = [f.name for f in self.flows.values() if _uses_role(f, role_id)]
        if flows:
            raise StateConflict(
                f"the review flows {', '.join(sorted(flows))} use the role "
                f"{role.name!r}",
                code="ROLE_IN_REVIEW_FLOW",
            )
        self.trigger_event(self.RoleRemoved, role_id=role_id)

    # --- accounts -------------------------------------------------------------

    def check_new_members(self, count: int, role_ids: Iterable[str]) -> None:
        """Checks a batch of sub-accounts before their accounts are opened."""
        if not 1 <= count <= MAX_ACCOUNTS_AT_ONCE:
            raise InvalidValue(
                f"create 1 to {MAX_ACCOUNTS_AT_ONCE} sub-accounts at a time, not "
                f"{count}",
                field="accounts",
                code="TOO_MANY_ACCOUNTS",
            )
        for role_id in role_ids:
            self._assignable_role(role_id)

    def add_members(self, members: Sequence[Member]) -> None:
        self.check_new_members(len(members), (m.role_id for m in members))
        self.trigger_event(
            self.MembersAdded,
            members=[
                {
                    "account_id": m.account_id,
                    "username": m.username,
                    "person_name": check_name(m.person_name, "person", "person_name"),
                    "role_id": m.role_id,
                    "visible": m.visible,
                }
                for m in members
            ],
        )

    def change_member(
        self,
        account_id: str,
        *,
        person_name: str | None = None,
        role_id: str | None = None,
        visible: bool | None = None,
        username: str | None = None,
    ) -> None:
        member = self._member(account_id)
        new_role = member.role_id if role_id is None else role_id
        if new_role != member.role_id:
            if member.role_id == ADMIN_ROLE:
                raise StateConflict(
                    "the administrator keeps the administrator role",
                    code="ADMIN_ROLE_FIXED",
                )
            self._assignable_role(new_role)
            self._check_not_in_flows(member, "given another role")
        name = member.person_name
        if person_name is not None:
            name = check_name(person_name, "person", "person_name")
        changed = Member(
            account_id,
            member.username if username is None else username,
            name,
            new_role,
            member.visible if visible is None else visible,
        )
        if changed != member:
            self.trigger_event(
                self.MemberChanged,
                account_id=account_id,
                username=changed.username,
                person_name=changed.person_name,
                role_id=changed.role_id,
                visible=changed.visible,
            )

    def remove_member(self, account_id: str) -> None:
        member = self._member(account_id)
        if member.role_id == ADMIN_ROLE:
            raise StateConflict(
                "the administrator's account cannot be deleted",
                code="ADMIN_ACCOUNT_FIXED",
            )
        self._check_not_in_flows(member, "deleted")
        if any(holder == account_id for _, holder in self.reviews.values()):
            raise StateConflict(
                f"the account {member.username} holds a review in progress",
                code="ACCOUNT_HOLDS_REVIEW",
            )
        self.trigger_event(self.MemberRemoved, account_id=account_id)

    # --- review flows ---------------------------------------------------------

    def define_flow(
        self,
        flow_id: str,
        name: str,
        trigger: str,
        levels: Sequence[Level],
        *,
        new: bool,
    ) -> None:
        """Adds a review flow (``new``) or replaces one not in use."""
        if not new:
            self._check_flow_idle(self._flow(flow_id), "changed")
        elif len(self.flows) >= MAX_FLOWS:
            raise StateConflict(
                f"an enterprise has at most {MAX_FLOWS} review flows",
                code="TOO_MANY_REVIEW_FLOWS",
            )
        cleaned = check_name(name, "review flow")
        if any(
            _key(f.name) == _key(cleaned) and f.flow_id != flow_id
            for f in self.flows.values()
        ):
            raise StateConflict(
                f"a review flow named {cleaned!r} exists already",
                code="REVIEW_FLOW_NAME_TAKEN",
            )
        try:
            when = Trigger(trigger)
        except ValueError:
            raise InvalidValue(
                f"a review flow is triggered by 'send' or 'accept', not {trigger!r}",
                field="trigger",
            ) from None
        self._check_levels(levels)
        self.trigger_event(
            self.FlowDefined,
            flow_id=flow_id,
            name=cleaned,
            trigger=when.value,
            levels=[level.as_dict() for level in levels],
        )

    def remove_flow(self, flow_id: str) -> None:
        self._check_flow_idle(self._flow(flow_id), "deleted")
        self.trigger_event(self.FlowRemoved, flow_id=flow_id)

    # --- reviews in progress (recorded by the exchange) -----------------------

    def start_review(self, package_id: str, flow_id: str) -> None:
        self._flow(flow_id)
        if package_id in self.reviews:
            raise StateConflict(
                "the package is under review already", code="REVIEW_IN_PROGRESS"
            )
        self.trigger_event(self.ReviewStarted, package_id=package_id, flow_id=flow_id)

    def take_review(self, package_id: str, account_id: str) -> None:
        self._member(account_id)
        if package_id not in self.reviews:
            raise UnknownPart(f"no review of package {package_id} is in progress")
        if self.reviews[package_id][1] != account_id:
            self.trigger_event(
                self.ReviewTaken, package_id=package_id, account_id=account_id
            )

    def end_review(self, package_id: str) -> None:
        if package_id in self.reviews:
            self.trigger_event(self.ReviewEnded, package_id=package_id)

    # --- helpers --------------------------------------------------------------

    def _check_department_name(self, name: str, department_id: str | None) -> None:
        if any(
            _key(d.name) == _key(name) and d.department_id != department_id
            for d in self.departments.values()
        ):
            raise StateConflict(
                f"a department named {name!r} exists already",
                code="DEPARTMENT_NAME_TAKEN",
            )

    def _check_levels(self, levels: Sequence[Level]) -> None:
        if not 1 <= len(levels) <= MAX_LEVELS:
            raise InvalidValue(
                f"a review flow has 1 to {MAX_LEVELS} levels, not {len(levels)}",
                field="levels",
                code="INVALID_REVIEW_FLOW",
            )
        seen: set[str] = set()
        for number, level in enumerate(levels, start=1):
            if level.role_id != ADMIN_ROLE:
                self._role(level.role_id, field=f"levels[{number - 1}].role_id")
            if level.role_id in seen:
                raise InvalidValue(
                    f"level {number} repeats the role {self.role_name(level.role_id)!r}"
                    "; each level has a role of its own",
                    field=f"levels[{number - 1}].role_id",
                    code="INVALID_REVIEW_FLOW",
                )
            seen.add(level.role_id)
            if level.account_id is not None:
                member = self.members.get(level.account_id)
                if member is None or member.role_id != level.role_id:
                    raise InvalidValue(
                        f"level {number} names an account that does not hold the "
                        "level's role",
                        field=f"levels[{number - 1}].account_id",
                        code="INVALID_REVIEW_FLOW",
                    )

    def _check_flow_idle(self, flow: Flow, what: str) -> None:
        busy = sum(1 for f, _ in self.reviews.values() if f == flow.flow_id)
        if busy:
            raise StateConflict(
                f"the review flow {flow.name!r} cannot be {what}: {busy} packages "
                "are under review with it",
                code="REVIEW_FLOW_IN_USE",
            )

    def _check_not_in_flows(self, member: Member, what: str) -> None:
        named = [
            f.name
            for f in self.flows.values()
            if any(level.account_id == member.account_id for level in f.levels)
        ]
        if named:
            raise StateConflict(
                f"the account {member.username} cannot be {what}: the review flows "
                f"{', '.join(sorted(named))} name it as reviewer",
                code="ACCOUNT_IN_REVIEW_FLOW",
            )

    def _department(self, department_id: str, field: str = "department") -> Department:
        found = self.departments.get(department_id)
        if found is None:
            raise UnknownPart(f"no department {department_id}", field=field)
        return found

    def _role(self, role_id: str, field: str = "role") -> RoleDefinition:
        found = self.roles.get(role_id)
        if found is None:
            raise UnknownPart(f"no role {role_id}", field=field)
        return found

    def _assignable_role(self, role_id: str) -> RoleDefinition:
        if role_id == ADMIN_ROLE:
            raise StateConflict(
                "an enterprise has one administrator; choose another role",
                code="ADMIN_ROLE_FIXED",
            )
        return self._role(role_id, field="role_id")

    def _member(self, account_id: str) -> Member:
        found = self.members.get(account_id)
        if found is None:
            raise UnknownPart(f"no account {account_id} in this enterprise")
        return found

    def _flow(self, flow_id: str) -> Flow:
        found = self.flows.get(flow_id)
        if found is None:
            raise UnknownPart(f"no review flow {flow_id}")
        return found


def _uses_role(flow: Flow, role_id: str) -> bool:
    return any(level.role_id == role_id for level in flow.levels)

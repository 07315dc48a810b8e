"""The organisation's rules with no I/O: a hypothesis state machine drives
random sequences of adds, changes and deletions and checks, after each step,
that a refusal happened exactly when a rule says so, that nothing ever points
at something gone, and that the aggregate read back from its events equals
the live one."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aggregates.errors import DomainError, InvalidValue, StateConflict
from aggregates.organisation import (
    ADMIN_ROLE,
    MAX_ACCOUNTS_AT_ONCE,
    MAX_LEVELS,
    Level,
    Member,
    Organisation,
    UnknownPart,
)
from aggregates.permissions import (
    ADMINISTRATOR_ONLY,
    ASSIGNABLE,
    ENTERPRISE_WIDE,
    EVERY_ACCOUNT,
)

ADMIN = "admin-account"


def new_organisation() -> Organisation:
    return Organisation.open(
        enterprise_id=str(uuid4()), admin_account_id=ADMIN, admin_username="admin"
    )


def member(role_id: str, name: str = "张三") -> Member:
    return Member(str(uuid4()), f"user-{uuid4().hex[:8]}", name, role_id, True)


def outcome(action: Any) -> str | None:
    """The code of the refusal, or None when the action was allowed."""
    try:
        action()
    except DomainError as e:
        return e.code
    return None


class OrganisationRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.org = new_organisation()
        self.app = Application[UUID]()
        self.serial = 0

    def _name(self) -> str:
        return f"名称{self._id('')}"

    def _id(self, prefix: str) -> str:
        # Ids follow the steps, never chance, so that hypothesis can replay
        # and shrink a failing sequence.
        self.serial += 1
        return f"{prefix}{self.serial:04d}"

    # --- steps ------------------------------------------------------------

    @rule()
    def add_department(self) -> None:
        self.org.add_department(self._id("d"), self._name())

    @precondition(lambda self: self.org.departments)
    @rule(data=st.data())
    def remove_department(self, data: st.DataObject) -> None:
        department = data.draw(st.sampled_from(sorted(self.org.departments)))
        has_roles = any(r.department_id == department for r in self.org.roles.values())

        code = outcome(lambda: self.org.remove_department(department))

        assert code == ("DEPARTMENT_HAS_ROLES" if has_roles else None)
        assert (department in self.org.departments) == has_roles

    @precondition(lambda self: self.org.departments)
    @rule(data=st.data(), permissions=st.sets(st.sampled_from(sorted(ASSIGNABLE))))
    def add_role(self, data: st.DataObject, permissions: set[str]) -> None:
        department = data.draw(st.sampled_from(sorted(self.org.departments)))
        self.org.define_role(
            self._id("r"), self._name(), department, permissions, new=True
        )

    @precondition(lambda self: self.org.roles)
    @rule(data=st.data())
    def remove_role(self, data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(sorted(self.org.roles)))
        held = any(m.role_id == role for m in self.org.members.values())
        in_flow = any(
            level.role_id == role for f in self.org.flows.values() for level in f.levels
        )

        code = outcome(lambda: self.org.remove_role(role))

        expected = "ROLE_HAS_ACCOUNTS" if held else None
        expected = expected or ("ROLE_IN_REVIEW_FLOW" if in_flow else None)
        assert code == expected

    @precondition(lambda self: self.org.roles)
    @rule(data=st.data(), count=st.integers(1, 3))
    def add_members(self, data: st.DataObject, count: int) -> None:
        roles = st.sampled_from(sorted(self.org.roles))
        self.org.add_members(
            [
                Member(self._id("a"), self._id("user"), "张三", data.draw(roles), True)
                for _ in range(count)
            ]
        )

    @precondition(lambda self: len(self.org.members) > 1)
    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        account = data.draw(st.sampled_from(sorted(self.org.members)))
        named = any(
            level.account_id == account
            for f in self.org.flows.values()
            for level in f.levels
        )
        holding = any(h == account for _, h in self.org.reviews.values())

        code = outcome(lambda: self.org.remove_member(account))

        if account == ADMIN:
            assert code == "ADMIN_ACCOUNT_FIXED"
        elif named:
            assert code == "ACCOUNT_IN_REVIEW_FLOW"
        elif holding:
            assert code == "ACCOUNT_HOLDS_REVIEW"
        else:
            assert code is None
            assert account not in self.org.members

    @precondition(lambda self: self.org.roles)
    @rule(data=st.data())
    def define_flow(self, data: st.DataObject) -> None:
        choices = sorted([*self.org.roles, ADMIN_ROLE])
        roles = data.draw(
            st.lists(
                st.sampled_from(choices), min_size=1, max_size=MAX_LEVELS, unique=True
            )
        )
        levels = []
        for role in roles:
            holders = sorted(
                m.account_id for m in self.org.members.values() if m.role_id == role
            )
            named = data.draw(st.none() | st.sampled_from(holders)) if holders else None
            levels.append(Level(role, named))
        existing = sorted(self.org.flows)
        target = data.draw(st.none() | st.sampled_from(existing)) if existing else None
        busy = target is not None and any(
            f == target for f, _ in self.org.reviews.values()
        )

        code = outcome(
            lambda: self.org.define_flow(
                target or self._id("f"),
                self._name(),
                data.draw(st.sampled_from(["send", "accept"])),
                levels,
                new=target is None,
            )
        )

        assert code == ("REVIEW_FLOW_IN_USE" if busy else None)

    @precondition(lambda self: self.org.flows)
    @rule(data=st.data())
    def remove_flow(self, data: st.DataObject) -> None:
        flow = data.draw(st.sampled_from(sorted(self.org.flows)))
        busy = any(f == flow for f, _ in self.org.reviews.values())

        code = outcome(lambda: self.org.remove_flow(flow))

        assert code == ("REVIEW_FLOW_IN_USE" if busy else None)

    @precondition(lambda self: self.org.flows)
    @rule(data=st.data())
    def start_and_take_review(self, data: st.DataObject) -> None:
        flow = data.draw(st.sampled_from(sorted(self.org.flows)))
        package = self._id("p")
        self.org.start_review(package, flow)
        holder = data.draw(st.sampled_from(sorted(self.org.members)))
        self.org.take_review(package, holder)

    @precondition(lambda self: self.org.reviews)
    @rule(data=st.data())
    def end_review(self, data: st.DataObject) -> None:
        self.org.end_review(data.draw(st.sampled_from(sorted(self.org.reviews))))

    # --- invariants ---------------------------------------------------------

    @invariant()
    def nothing_points_at_something_gone(self) -> None:
        org = self.org
        assert org.members[ADMIN].role_id == ADMIN_ROLE
        for role in org.roles.values():
            assert role.department_id in org.departments
            assert role.permissions <= ASSIGNABLE
        for m in org.members.values():
            assert m.role_id == ADMIN_ROLE or m.role_id in org.roles
        for flow in org.flows.values():
            assert 1 <= len(flow.levels) <= MAX_LEVELS
            roles = [level.role_id for level in flow.levels]
            assert len(set(roles)) == len(roles)
            for level in flow.levels:
                assert level.role_id == ADMIN_ROLE or level.role_id in org.roles
                if level.account_id is not None:
                    assert org.members[level.account_id].role_id == level.role_id
        for flow_id, holder in org.reviews.values():
            assert flow_id in org.flows
            assert holder is None or holder in org.members

    @invariant()
    def replay_equals_live(self) -> None:
        self.app.save(self.org)
        copy: Organisation = self.app.repository.get(self.org.id)
        for part in ("departments", "roles", "members", "flows", "reviews"):
            assert getattr(copy, part) == getattr(self.org, part), part


TestOrganisationRules = OrganisationRules.TestCase
TestOrganisationRules.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)


# --- single rules ------------------------------------------------------------


def with_role(*permissions: str) -> tuple[Organisation, str]:
    org = new_organisation()
    org.add_department("d1", "质量部")
    org.define_role("r1", "质量员", "d1", permissions, new=True)
    return org, "r1"


def test_the_administrator_holds_everything_and_a_member_its_role() -> None:
    org, role = with_role("library.read")
    account = member(role)
    org.add_members([account])

    assert org.permissions_of(ADMIN) == ENTERPRISE_WIDE
    assert org.permissions_of(account.account_id) == EVERY_ACCOUNT | {"library.read"}
    assert org.permissions_of("someone-else") is None


@pytest.mark.parametrize("permission", sorted(ADMINISTRATOR_ONLY | EVERY_ACCOUNT))
def test_permissions_no_role_may_grant(permission: str) -> None:
    org, _ = with_role()

    with pytest.raises(InvalidValue) as refused:
        org.define_role("r2", "越权", "d1", [permission], new=True)

    assert refused.value.code == "INVALID_PERMISSION"


@pytest.mark.parametrize("count", [0, MAX_ACCOUNTS_AT_ONCE + 1])
def test_sub_accounts_come_one_to_ten_at_a_time(count: int) -> None:
    org, role = with_role()

    with pytest.raises(InvalidValue) as refused:
        org.add_members([member(role) for _ in range(count)])

    assert refused.value.code == "TOO_MANY_ACCOUNTS"
    org.add_members([member(role) for _ in range(MAX_ACCOUNTS_AT_ONCE)])
    assert len(org.members) == MAX_ACCOUNTS_AT_ONCE + 1


def test_the_administrator_role_is_fixed() -> None:
    org, role = with_role()

    for action in (
        lambda: org.remove_role(ADMIN_ROLE),
        lambda: org.define_role(ADMIN_ROLE, "改名", "d1", [], new=False),
        lambda: org.add_members([member(ADMIN_ROLE)]),
        lambda: org.change_member(ADMIN, role_id=role),
    ):
        with pytest.raises(StateConflict) as refused:
            action()
        assert refused.value.code == "ADMIN_ROLE_FIXED"


def test_a_flow_under_review_is_locked_until_the_review_ends() -> None:
    org, role = with_role()
    org.define_flow("f1", "发送审核", "send", [Level(role)], new=True)
    org.start_review("p1", "f1")

    with pytest.raises(StateConflict) as changed:
        org.define_flow("f1", "发送审核", "send", [Level(ADMIN_ROLE)], new=False)
    with pytest.raises(StateConflict) as deleted:
        org.remove_flow("f1")
    org.end_review("p1")
    org.remove_flow("f1")

    assert changed.value.code == deleted.value.code == "REVIEW_FLOW_IN_USE"
    assert org.flows == {}


def test_an_account_holding_a_review_is_not_deleted() -> None:
    org, role = with_role()
    reviewer = member(role)
    org.add_members([reviewer])
    org.define_flow("f1", "查收审核", "accept", [Level(role)], new=True)
    org.start_review("p1", "f1")
    org.take_review("p1", reviewer.account_id)

    with pytest.raises(StateConflict) as refused:
        org.remove_member(reviewer.account_id)

    assert refused.value.code == "ACCOUNT_HOLDS_REVIEW"


def test_unknown_parts_answer_not_found() -> None:
    org, _ = with_role()

    for action in (
        lambda: org.remove_department("nope"),
        lambda: org.remove_role("nope"),
        lambda: org.remove_member("nope"),
        lambda: org.remove_flow("nope"),
    ):
        with pytest.raises(UnknownPart) as missing:
            action()
        assert missing.value.status == 404

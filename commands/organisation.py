"""Managing an enterprise's departments, roles, sub-accounts and review flows
(manual 12). Every command here is the administrator's.

A new sub-account gets a default password, generated here and shown once in
the answer to the administrator; it must be changed at first sign-in. The
password is never part of what the store keeps about the command, so a request
repeated with the same ``Idempotency-Key`` answers without it (the
administrator resets the password to see a new one).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from aggregates.account import Account, Role, check_username
from aggregates.base import TracedAggregate
from aggregates.errors import InvalidValue
from aggregates.organisation import Level, Member, Organisation, organisation_id
from commands.accounts import (
    MOBILE_CLAIM,
    USERNAME_CLAIM,
    claim_mobile,
    claim_username,
    new_invite_code,
    released,
    username_key,
)
from commands.passwords import hash_password
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

# Read aloud and typed by hand once: no look-alike characters.
_PASSWORD_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ"
DEFAULT_PASSWORD_LENGTH = 12


def default_password() -> str:
    """Random, with letters and digits both (the password rules ask for
    them)."""
    while True:
        password = "".join(
            secrets.choice(_PASSWORD_ALPHABET) for _ in range(DEFAULT_PASSWORD_LENGTH)
        )
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


@dataclass(frozen=True)
class NewAccount:
    username: str
    person_name: str
    role_id: str
    visible: bool = True
    mobile: str | None = None


@dataclass(frozen=True)
class Created:
    """The answer to creating sub-accounts: the command's result and, unless
    it was a replay, each account's default password by account id."""

    result: CommandResult
    passwords: dict[str, str] | None


class OrganisationCommands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    # --- reading (for the permission check on every request) ---------------------

    def permissions_of(
        self, enterprise_id: str, account_id: str
    ) -> frozenset[str] | None:
        """What a sub-account may do now, or None once it is deleted."""
        try:
            found: Organisation = self.runner.app.repository.get(
                organisation_id(enterprise_id)
            )
        except AggregateNotFoundError:
            return None
        return found.permissions_of(account_id)

    # --- departments ------------------------------------------------------------

    def add_department(self, caller: Caller, name: str) -> CommandResult:
        department_id = str(uuid4())
        return self._change(
            caller,
            "add_department",
            {"name": name},
            lambda o: o.add_department(department_id, name),
            {"department_id": department_id},
            created=True,
        )

    def rename_department(
        self, caller: Caller, department_id: UUID, name: str
    ) -> CommandResult:
        return self._change(
            caller,
            "rename_department",
            {"department_id": str(department_id), "name": name},
            lambda o: o.rename_department(str(department_id), name),
            {"department_id": str(department_id)},
        )

    def remove_department(self, caller: Caller, department_id: UUID) -> CommandResult:
        return self._change(
            caller,
            "remove_department",
            {"department_id": str(department_id)},
            lambda o: o.remove_department(str(department_id)),
            {"department_id": str(department_id)},
        )

    # --- roles ------------------------------------------------------------------

    def define_role(
        self,
        caller: Caller,
        *,
        role_id: str | None,
        name: str,
        department_id: str,
        permissions: Sequence[str],
    ) -> CommandResult:
        """Adds a role (no ``role_id``) or replaces one."""
        new = role_id is None
        rid = str(role_id or uuid4())
        arguments = {
            "role_id": None if new else rid,
            "name": name,
            "department_id": department_id,
            "permissions": sorted(permissions),
        }
        return self._change(
            caller,
            "define_role",
            arguments,
            lambda o: o.define_role(rid, name, department_id, permissions, new=new),
            {"role_id": rid},
            created=new,
        )

    def remove_role(self, caller: Caller, role_id: str) -> CommandResult:
        return self._change(
            caller,
            "remove_role",
            {"role_id": str(role_id)},
            lambda o: o.remove_role(str(role_id)),
            {"role_id": str(role_id)},
        )

    # --- sub-accounts -----------------------------------------------------------

    def create_accounts(
        self, caller: Caller, accounts: Sequence[NewAccount]
    ) -> Created:
        """Opens up to ten sub-accounts at once, each with a default password
        and an invite code of its own; all are created or none."""
        passwords = {a.username: default_password() for a in accounts}
        arguments = {
            "accounts": [
                {
                    "username": a.username,
                    "person_name": a.person_name,
                    "role_id": a.role_id,
                    "visible": a.visible,
                    "mobile": a.mobile,
                }
                for a in accounts
            ]
        }

        def work() -> Outcome:
            organisation = self._organisation(caller)
            organisation.check_new_members(len(accounts), (a.role_id for a in accounts))
            _check_distinct(accounts)
            owner = caller.enterprise_id
            to_save: list[TracedAggregate] = [organisation]
            members: list[Member] = []
            answer: list[dict[str, Any]] = []
            for a in accounts:
                account_id = uuid4()
                code, code_claim = new_invite_code(self.runner, account_id, owner)
                account = Account.open(
                    username=a.username,
                    password_hash=hash_password(passwords[a.username]),
                    role=Role.MEMBER,
                    enterprise_id=owner,
                    invite_code=code,
                    invited_by=UUID(caller.account_id),
                    mobile=a.mobile or "",
                    account_id=account_id,
                    must_change_password=True,
                )
                to_save += [
                    account,
                    claim_username(self.runner, a.username, account_id, owner),
                    code_claim,
                ]
                if a.mobile:
                    to_save.append(
                        claim_mobile(self.runner, a.mobile, account_id, owner)
                    )
                members.append(
                    Member(
                        str(account_id), a.username, a.person_name, a.role_id, a.visible
                    )
                )
                answer.append({"account_id": str(account_id), "username": a.username})
            organisation.add_members(members)
            return Outcome(
                to_save,
                {"organisation_id": str(organisation.id)},
                organisation,
                created=True,
                extra={"accounts": answer},
            )

        result = self.runner.run(caller, "create_accounts", arguments, work)
        if result.replayed:
            return Created(result, None)
        by_id = {
            a["account_id"]: passwords[a["username"]] for a in result.extra["accounts"]
        }
        return Created(result, by_id)

    def change_account(
        self,
        caller: Caller,
        account_id: UUID,
        *,
        person_name: str | None,
        role_id: str | None,
        visible: bool | None,
    ) -> CommandResult:
        arguments = {
            "account_id": str(account_id),
            "person_name": person_name,
            "role_id": role_id,
            "visible": visible,
        }
        return self._change(
            caller,
            "change_account",
            arguments,
            lambda o: o.change_member(
                str(account_id),
                person_name=person_name,
                role_id=role_id,
                visible=visible,
            ),
            {"account_id": str(account_id)},
        )

    def remove_account(self, caller: Caller, account_id: UUID) -> CommandResult:
        """Deletes a sub-account: it leaves the organisation, can no longer
        sign in, and its username and mobile number become free again."""

        def work() -> Outcome:
            organisation = self._organisation(caller)
            organisation.remove_member(str(account_id))
            account: Account = self.runner.load(account_id, Account)
            account.close()
            to_save: list[TracedAggregate] = [organisation, account]
            to_save += released(
                self.runner, USERNAME_CLAIM, username_key(account.username)
            )
            if account.mobile:
                to_save += released(self.runner, MOBILE_CLAIM, account.mobile)
            return Outcome(to_save, {"account_id": str(account_id)}, organisation)

        return self.runner.run(
            caller, "remove_account", {"account_id": str(account_id)}, work
        )

    def reset_password(
        self, caller: Caller, account_id: UUID
    ) -> tuple[CommandResult, str]:
        """A new default password for a sub-account, shown once. Not
        idempotent by key: each call makes a new password."""
        password = default_password()

        def work() -> Outcome:
            organisation = self._organisation(caller)
            organisation.member(str(account_id))
            account: Account = self.runner.load(account_id, Account)
            account.reset_password(hash_password(password))
            return Outcome([account], {"account_id": str(account_id)}, account)

        plain = Caller(
            account_id=caller.account_id,
            enterprise_id=caller.enterprise_id,
            role=caller.role,
            correlation_id=caller.correlation_id,
        )
        result = self.runner.run(
            plain, "reset_account_password", {"account_id": str(account_id)}, work
        )
        return result, password

    # --- review flows -------------------------------------------------------------

    def define_flow(
        self,
        caller: Caller,
        *,
        flow_id: UUID | None,
        name: str,
        trigger: str,
        levels: Sequence[Level],
    ) -> CommandResult:
        """Adds a review flow (no ``flow_id``) or replaces one not in use."""
        new = flow_id is None
        fid = str(flow_id or uuid4())
        arguments = {
            "flow_id": None if new else fid,
            "name": name,
            "trigger": trigger,
            "levels": [level.as_dict() for level in levels],
        }
        return self._change(
            caller,
            "define_flow",
            arguments,
            lambda o: o.define_flow(fid, name, trigger, levels, new=new),
            {"flow_id": fid},
            created=new,
        )

    def remove_flow(self, caller: Caller, flow_id: UUID) -> CommandResult:
        return self._change(
            caller,
            "remove_flow",
            {"flow_id": str(flow_id)},
            lambda o: o.remove_flow(str(flow_id)),
            {"flow_id": str(flow_id)},
        )

    # --- plumbing -----------------------------------------------------------------

    def _change(
        self,
        caller: Caller,
        command: str,
        arguments: dict[str, Any],
        change: Callable[[Organisation], None],
        ids: dict[str, str],
        *,
        created: bool = False,
    ) -> CommandResult:
        def work() -> Outcome:
            organisation = self._organisation(caller)
            self.runner.check_version(caller, organisation)
            change(organisation)
            return Outcome([organisation], ids, organisation, created=created)

        return self.runner.run(caller, command, arguments, work)

    def _organisation(self, caller: Caller) -> Organisation:
        """The caller's enterprise's organisation, opened on first use."""
        oid = organisation_id(caller.enterprise_id)
        try:
            found: Organisation = self.runner.app.repository.get(oid)
            return found
        except AggregateNotFoundError:
            pass
        enterprise: Any = self.runner.app.repository.get(UUID(caller.enterprise_id))
        admin: Account = self.runner.load(UUID(enterprise.admin_account_id), Account)
        return Organisation.open(
            enterprise_id=caller.enterprise_id,
            admin_account_id=str(admin.id),
            admin_username=admin.username,
        )


def _check_distinct(accounts: Sequence[NewAccount]) -> None:
    seen: set[str] = set()
    for number, a in enumerate(accounts):
        key = username_key(check_username(a.username))
        if key in seen:
            raise InvalidValue(
                f"the username {a.username!r} occurs twice in the batch",
                field=f"accounts[{number}].username",
                code="USERNAME_TAKEN",
            )
        seen.add(key)

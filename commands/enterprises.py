"""Registering enterprises and the platform's review of them."""

from __future__ import annotations

from uuid import UUID, uuid4

from aggregates.account import Account, Role
from aggregates.enterprise import Enterprise, check_credit_code, check_name
from aggregates.errors import AlreadyTaken
from aggregates.uniqueness import UniqueClaim, claim_id, normalise_name
from commands.accounts import claim_username
from commands.passwords import hash_password
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

NAME_CLAIM = "enterprise-name"
USCC_CLAIM = "uscc"


class EnterpriseCommands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def register(
        self,
        caller: Caller,
        *,
        name: str,
        uscc: str,
        category: str,
        admin_username: str,
        admin_password: str,
    ) -> CommandResult:
        """Registers an enterprise with its administrator account; the
        enterprise then waits for a platform operator's review."""
        arguments = {
            "name": name,
            "uscc": uscc,
            "category": category,
            "admin_username": admin_username,
        }

        def work() -> Outcome:
            admin_id = uuid4()
            enterprise = Enterprise.register(
                name=name, uscc=uscc, category=category, admin_account_id=admin_id
            )
            owner = str(enterprise.id)
            claims = [
                self._claim(NAME_CLAIM, normalise_name(check_name(name)), enterprise),
                self._claim(USCC_CLAIM, check_credit_code(uscc), enterprise),
                claim_username(self.runner, admin_username, admin_id, owner),
            ]
            admin = Account.open(
                username=admin_username,
                password_hash=hash_password(admin_password),
                role=Role.ENTERPRISE_ADMIN,
                enterprise_id=owner,
                account_id=admin_id,
            )
            return Outcome(
                [enterprise, admin, *claims],
                {"enterprise_id": owner, "account_id": str(admin_id)},
                enterprise,
                created=True,
            )

        return self.runner.run(caller, "register_enterprise", arguments, work)

    def approve(self, caller: Caller, enterprise_id: UUID) -> CommandResult:
        def work() -> Outcome:
            enterprise = self._load(caller, enterprise_id)
            enterprise.approve()
            return Outcome(
                [enterprise], {"enterprise_id": str(enterprise_id)}, enterprise
            )

        arguments = {"enterprise_id": str(enterprise_id)}
        return self.runner.run(caller, "approve_enterprise", arguments, work)

    def reject(self, caller: Caller, enterprise_id: UUID, reason: str) -> CommandResult:
        def work() -> Outcome:
            enterprise = self._load(caller, enterprise_id)
            enterprise.reject(reason)
            return Outcome(
                [enterprise], {"enterprise_id": str(enterprise_id)}, enterprise
            )

        arguments = {"enterprise_id": str(enterprise_id), "reason": reason}
        return self.runner.run(caller, "reject_enterprise", arguments, work)

    def _load(self, caller: Caller, enterprise_id: UUID) -> Enterprise:
        enterprise: Enterprise = self.runner.load(enterprise_id, Enterprise)
        self.runner.check_version(caller, enterprise)
        return enterprise

    def _claim(self, kind: str, value: str, enterprise: Enterprise) -> UniqueClaim:
        if self.runner.exists(claim_id(kind, value)):
            what = "name" if kind == NAME_CLAIM else "unified social credit code"
            raise AlreadyTaken(
                f"an enterprise with this {what} ({value}) is already registered",
                field="name" if kind == NAME_CLAIM else "uscc",
                code="ENTERPRISE_NAME_TAKEN" if kind == NAME_CLAIM else "USCC_TAKEN",
            )
        return UniqueClaim.claim(kind, value, enterprise.id, str(enterprise.id))

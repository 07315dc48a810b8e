"""Registering accounts and their enterprises, recording the enterprise's
information, and the platform's review of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID, uuid4

from aggregates.account import Account, Role
from aggregates.enterprise import Enterprise, Information, check_name
from aggregates.errors import AlreadyTaken
from aggregates.uniqueness import UniqueClaim, normalise_name
from commands.accounts import (
    claim_mobile,
    claim_username,
    inviter_of,
    new_invite_code,
)
from commands.claims import current_claim, take_claim
from commands.errors import NotFound
from commands.passwords import hash_password
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

NAME_CLAIM = "enterprise-name"
USCC_CLAIM = "uscc"


class EnterpriseCommands:
    def __init__(
        self,
        runner: CommandRunner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runner = runner
        self.clock = clock

    def register(
        self,
        caller: Caller,
        *,
        enterprise_name: str,
        username: str,
        mobile: str,
        password: str,
        invite_code: str | None = None,
        invite_from_link: bool = False,
    ) -> CommandResult:
        """Opens an account and the enterprise it administers (manual 5.1).
        An enterprise the platform already verified cannot be registered
        again."""
        arguments = {
            "enterprise_name": enterprise_name,
            "username": username,
            "mobile": mobile,
            "invite_code": invite_code,
            "invite_from_link": invite_from_link,
        }

        def work() -> Outcome:
            admin_id = uuid4()
            inviter = inviter_of(self.runner, invite_code) if invite_code else None
            enterprise = Enterprise.register(
                name=enterprise_name, admin_account_id=admin_id, now=self.clock()
            )
            owner = str(enterprise.id)
            code, code_claim = new_invite_code(self.runner, admin_id, owner)
            admin = Account.open(
                username=username,
                password_hash=hash_password(password),
                role=Role.ENTERPRISE_ADMIN,
                enterprise_id=owner,
                mobile=mobile,
                invite_code=code,
                invited_by=inviter,
                inviter_from_link=invite_from_link,
                account_id=admin_id,
            )
            claims = [
                self._claim_name(enterprise),
                claim_username(self.runner, username, admin_id, owner),
                claim_mobile(self.runner, mobile, admin_id, owner),
                code_claim,
            ]
            return Outcome(
                [enterprise, admin, *claims],
                {"enterprise_id": owner, "account_id": str(admin_id)},
                enterprise,
                created=True,
                extra={"invite_code": code},
            )

        return self.runner.run(caller, "register", arguments, work)

    def record_information(
        self, caller: Caller, enterprise_id: UUID, fields: Mapping[str, str]
    ) -> CommandResult:
        """Records the enterprise's information (manual 12, 完善企业信息)."""

        def work() -> Outcome:
            enterprise = self._own(caller, enterprise_id)
            now = self.clock()
            information = Information.checked(now.date(), **fields)
            to_save: list[Enterprise | UniqueClaim] = [enterprise]
            current = enterprise.information
            if current is None or current.uscc != information.uscc:
                to_save.append(self._claim_uscc(information.uscc, enterprise))
            enterprise.record_information(information, now)
            return Outcome(to_save, {"enterprise_id": str(enterprise_id)}, enterprise)

        arguments = {"enterprise_id": str(enterprise_id), **fields}
        return self.runner.run(caller, "record_information", arguments, work)

    def submit(self, caller: Caller, enterprise_id: UUID) -> CommandResult:
        def work() -> Outcome:
            enterprise = self._own(caller, enterprise_id)
            enterprise.submit(self.clock())
            return Outcome(
                [enterprise], {"enterprise_id": str(enterprise_id)}, enterprise
            )

        arguments = {"enterprise_id": str(enterprise_id)}
        return self.runner.run(caller, "submit_enterprise", arguments, work)

    def set_request_settings(
        self,
        caller: Caller,
        enterprise_id: UUID,
        *,
        allow_platform: bool,
        allow_partners: bool,
    ) -> CommandResult:
        def work() -> Outcome:
            enterprise = self._own(caller, enterprise_id)
            enterprise.set_request_settings(
                allow_platform=allow_platform, allow_partners=allow_partners
            )
            return Outcome(
                [enterprise], {"enterprise_id": str(enterprise_id)}, enterprise
            )

        arguments = {
            "enterprise_id": str(enterprise_id),
            "allow_platform": allow_platform,
            "allow_partners": allow_partners,
        }
        return self.runner.run(caller, "set_request_settings", arguments, work)

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

    def check_verified(self, enterprise_id: UUID) -> None:
        """Refuses every business command of an enterprise the platform has
        not approved (``ENTERPRISE_NOT_VERIFIED``)."""
        enterprise: Enterprise = self.runner.load(enterprise_id, Enterprise)
        enterprise.check_verified()

    def _load(self, caller: Caller, enterprise_id: UUID) -> Enterprise:
        enterprise: Enterprise = self.runner.load(enterprise_id, Enterprise)
        self.runner.check_version(caller, enterprise)
        return enterprise

    def _own(self, caller: Caller, enterprise_id: UUID) -> Enterprise:
        # Another enterprise's record does not exist for the caller.
        if caller.enterprise_id != str(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        return self._load(caller, enterprise_id)

    def _claim_name(self, enterprise: Enterprise) -> UniqueClaim:
        value = normalise_name(check_name(enterprise.name))

        def refuse() -> AlreadyTaken:
            holder = self._holder(NAME_CLAIM, value)
            verified = isinstance(holder, Enterprise) and holder.is_verified
            return AlreadyTaken(
                "该企业已存在，不可重复注册 (the enterprise is registered already)"
                if verified
                else "an enterprise of this name is being registered",
                field="enterprise_name",
                code="ENTERPRISE_EXISTS" if verified else "ENTERPRISE_NAME_TAKEN",
            )

        owner = str(enterprise.id)
        return take_claim(self.runner, NAME_CLAIM, value, enterprise.id, owner, refuse)

    def _claim_uscc(self, uscc: str, enterprise: Enterprise) -> UniqueClaim:
        return take_claim(
            self.runner,
            USCC_CLAIM,
            uscc,
            enterprise.id,
            str(enterprise.id),
            lambda: AlreadyTaken(
                f"an enterprise with the credit code {uscc} is registered already",
                field="uscc",
                code="USCC_TAKEN",
            ),
        )

    def _holder(self, kind: str, value: str) -> object | None:
        claim = current_claim(self.runner, kind, value)
        if claim is None:
            return None
        holder: object = self.runner.app.repository.get(UUID(claim.holder_id))
        return holder

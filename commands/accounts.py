"""Opening accounts and checking their credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from aggregates.account import PLATFORM, Account, Role, check_mobile, check_username
from aggregates.errors import AlreadyTaken, InvalidValue
from aggregates.organisation import Organisation, organisation_id
from aggregates.uniqueness import UniqueClaim, claim_id
from commands.claims import current_claim, release_claim, take_claim
from commands.errors import Unauthenticated
from commands.passwords import hash_password, verify_password
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

USERNAME_CLAIM = "username"
MOBILE_CLAIM = "mobile"
INVITE_CLAIM = "invite-code"
# Invite codes are read aloud and typed by hand: no 0/O, 1/I/L look-alikes.
_INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 8


@dataclass(frozen=True)
class Principal:
    account_id: str
    enterprise_id: str
    role: str
    username: str
    #: A default password not yet replaced: the account may do nothing else.
    must_change_password: bool = False


def principal_of(account: Account) -> Principal:
    if account.closed:
        raise Unauthenticated("wrong username or password")
    return Principal(
        account_id=str(account.id),
        enterprise_id=account.enterprise_id,
        role=account.role.value,
        username=account.username,
        must_change_password=account.must_change_password,
    )


def username_key(username: str) -> str:
    return username.casefold()


def claim_username(
    runner: CommandRunner, username: str, account_id: UUID, enterprise_id: str
) -> UniqueClaim:
    key = username_key(check_username(username))
    return take_claim(
        runner,
        USERNAME_CLAIM,
        key,
        account_id,
        enterprise_id,
        lambda: AlreadyTaken(
            f"username {username!r} is taken; choose another",
            field="username",
            code="USERNAME_TAKEN",
        ),
    )


def claim_mobile(
    runner: CommandRunner, mobile: str, account_id: UUID, enterprise_id: str
) -> UniqueClaim:
    return take_claim(
        runner,
        MOBILE_CLAIM,
        check_mobile(mobile),
        account_id,
        enterprise_id,
        lambda: AlreadyTaken(
            "this mobile number belongs to another account",
            field="mobile",
            code="MOBILE_TAKEN",
        ),
    )


def new_invite_code(
    runner: CommandRunner, account_id: UUID, enterprise_id: str
) -> tuple[str, UniqueClaim]:
    """A code of the account's own that others type when they register."""
    while True:
        code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        if not runner.exists(claim_id(INVITE_CLAIM, code)):
            return code, UniqueClaim.claim(
                INVITE_CLAIM, code, account_id, enterprise_id
            )


def inviter_of(runner: CommandRunner, code: str) -> UUID:
    """The account whose invite code this is."""
    normalised = code.strip().upper()
    try:
        claim: UniqueClaim = runner.app.repository.get(
            claim_id(INVITE_CLAIM, normalised)
        )
    except AggregateNotFoundError:
        raise InvalidValue(
            f"no account has the invite code {code!r}",
            field="invite_code",
            code="UNKNOWN_INVITE_CODE",
        ) from None
    return UUID(claim.holder_id)


def released(runner: CommandRunner, kind: str, value: str) -> list[UniqueClaim]:
    claim = release_claim(runner, kind, value)
    return [claim] if claim is not None else []


class AccountCommands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def open_operator(
        self, caller: Caller, username: str, password: str
    ) -> CommandResult:
        def work() -> Outcome:
            account_id = uuid4()
            claim = claim_username(self.runner, username, account_id, PLATFORM)
            code, code_claim = new_invite_code(self.runner, account_id, PLATFORM)
            account = Account.open(
                username=username,
                password_hash=hash_password(password),
                role=Role.OPERATOR,
                enterprise_id=PLATFORM,
                invite_code=code,
                account_id=account_id,
            )
            return Outcome(
                [account, claim, code_claim],
                {"account_id": str(account.id)},
                account,
                created=True,
            )

        return self.runner.run(caller, "open_operator", {"username": username}, work)

    def authenticate(self, username: str, password: str) -> Principal:
        """The account behind a username and password. A wrong username and a
        wrong password fail alike, so the answer never tells whether an account
        exists."""
        account = self._find(username)
        if account is not None and account.closed:
            account = None
        if not verify_password(account.password_hash if account else None, password):
            raise Unauthenticated("wrong username or password")
        assert account is not None
        return principal_of(account)

    def reset_password(
        self, caller: Caller, account_id: UUID, new_password: str
    ) -> CommandResult:
        """Sets a new password for an account whose holder proved the account's
        mobile number (the SMS code is checked by the caller)."""

        def work() -> Outcome:
            account: Account = self.runner.load(account_id, Account)
            account.change_password(hash_password(new_password), "reset by SMS code")
            return Outcome([account], {"account_id": str(account_id)}, account)

        return self.runner.run(
            caller, "reset_password", {"account_id": str(account_id)}, work
        )

    def change_password(
        self, caller: Caller, old_password: str, new_password: str
    ) -> CommandResult:
        def work() -> Outcome:
            account: Account = self.runner.load(UUID(caller.account_id), Account)
            if not verify_password(account.password_hash, old_password):
                raise InvalidValue(
                    "the current password is wrong",
                    field="old_password",
                    code="WRONG_PASSWORD",
                )
            account.change_password(hash_password(new_password), "by its holder")
            return Outcome([account], {"account_id": caller.account_id}, account)

        return self.runner.run(caller, "change_password", {}, work)

    def change_mobile(self, caller: Caller, mobile: str) -> CommandResult:
        """A new number for the caller's account; the old number (and, when
        the username was the number, the old username) is released."""

        def work() -> Outcome:
            account: Account = self.runner.load(UUID(caller.account_id), Account)
            old_mobile, old_username = account.mobile, account.username
            username = account.change_mobile(mobile)
            if account.mobile == old_mobile:
                return Outcome([], {"account_id": caller.account_id}, account)
            owner = account.enterprise_id
            changed: list[Account | UniqueClaim | Organisation] = [
                account,
                claim_mobile(self.runner, account.mobile, account.id, owner),
            ]
            if old_mobile:
                changed += released(self.runner, MOBILE_CLAIM, old_mobile)
            if username != old_username:
                changed.append(claim_username(self.runner, username, account.id, owner))
                changed += released(
                    self.runner, USERNAME_CLAIM, username_key(old_username)
                )
                changed += self._renamed_member(account, username)
            return Outcome(
                changed,
                {"account_id": caller.account_id},
                account,
                extra={"username": username},
            )

        return self.runner.run(caller, "change_mobile", {"mobile": mobile}, work)

    def change_inviter(self, caller: Caller, invite_code: str) -> CommandResult:
        def work() -> Outcome:
            account: Account = self.runner.load(UUID(caller.account_id), Account)
            # Platform operators have no enterprise to wait for: theirs is fixed.
            approved = True
            if account.enterprise_id != PLATFORM:
                enterprise: Any = self.runner.app.repository.get(
                    UUID(account.enterprise_id)
                )
                approved = bool(enterprise.ever_approved)
            inviter = inviter_of(self.runner, invite_code)
            account.change_inviter(inviter, enterprise_approved=approved)
            return Outcome([account], {"account_id": caller.account_id}, account)

        arguments = {"invite_code": invite_code.strip().upper()}
        return self.runner.run(caller, "change_inviter", arguments, work)

    def change_email(self, caller: Caller, email: str) -> CommandResult:
        def work() -> Outcome:
            account: Account = self.runner.load(UUID(caller.account_id), Account)
            account.change_email(email)
            return Outcome([account], {"account_id": caller.account_id}, account)

        return self.runner.run(caller, "change_email", {"email": email}, work)

    def principal(self, account_id: UUID) -> Principal:
        """Who an account is, for a token issued without a password (refresh)."""
        account: Account = self.runner.load(account_id, Account)
        return principal_of(account)

    def _renamed_member(self, account: Account, username: str) -> list[Organisation]:
        """The organisation, when it lists the account under its old name."""
        if account.enterprise_id == PLATFORM:
            return []
        try:
            organisation: Organisation = self.runner.app.repository.get(
                organisation_id(account.enterprise_id)
            )
        except AggregateNotFoundError:
            return []
        if str(account.id) not in organisation.members:
            return []
        organisation.change_member(str(account.id), username=username)
        return [organisation]

    def _find(self, username: str) -> Account | None:
        claim = current_claim(self.runner, USERNAME_CLAIM, username_key(username))
        if claim is None:
            return None
        account: Account = self.runner.app.repository.get(UUID(claim.holder_id))
        return account

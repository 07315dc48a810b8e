"""Signing in, refreshing and signing out.

A refresh token is ``<session id>.<secret>``: the id finds the session, and
the secret, 256 random bits, is compared by its SHA-256 hash (a slow password
hash adds nothing for a secret that cannot be guessed).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.enterprise import check_name
from aggregates.errors import AlreadyTaken
from aggregates.guest import Guest, guest_id
from aggregates.login_guard import LoginGuard, guard_id
from aggregates.session import Session, SessionRefused
from aggregates.uniqueness import normalise_name
from commands.accounts import AccountCommands, Principal, username_key
from commands.captcha import Captchas
from commands.claims import current_claim
from commands.enterprises import NAME_CLAIM
from commands.errors import Unauthenticated
from commands.platform import Caller, CommandRunner, Outcome

REFRESH_LIFETIME = timedelta(days=7)
GUEST_ROLE = "guest"


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    session_id: str
    refresh_token: str
    position: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_token(session_id: UUID | str, secret: str) -> str:
    return f"{session_id}.{secret}"


def _parse(token: str) -> tuple[UUID, str]:
    session_id, _, secret = token.partition(".")
    try:
        return UUID(session_id), secret
    except ValueError:
        raise SessionRefused(
            "this is not a refresh token of this platform", code="INVALID_TOKEN"
        ) from None


class SessionCommands:
    def __init__(
        self,
        runner: CommandRunner,
        accounts: AccountCommands,
        *,
        captchas: Captchas,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lifetime: timedelta = REFRESH_LIFETIME,
    ) -> None:
        self.runner = runner
        self.accounts = accounts
        self.captchas = captchas
        self.clock = clock
        self.lifetime = lifetime

    def sign_in(
        self,
        username: str,
        password: str,
        correlation_id: str,
        captcha: tuple[str, str] | None = None,
    ) -> SignedIn:
        """Checks the password, behind the username's login guard: after
        repeated failures a solved ``captcha`` (id, answer) must come along."""
        now = self.clock()
        guard = self._guard(username)
        solved = captcha is not None and self.captchas.solved(*captcha)
        guard.admit(now, captcha[0] if captcha else None, solved)
        try:
            principal = self.accounts.authenticate(username, password)
        except Unauthenticated:
            guard.record(succeeded=False, now=now)
            self._save_guard(guard, correlation_id)
            raise
        guard.record(succeeded=True, now=now)
        self._save_guard(guard, correlation_id)
        return self.open_for(principal, correlation_id, how="password")

    def sign_in_as_guest(
        self, name: str, verified_number: str, correlation_id: str
    ) -> SignedIn:
        """A session for a company not on the platform, whose number was
        proven by an SMS code. A registered enterprise signs in with its
        accounts instead."""
        cleaned = check_name(name)
        if current_claim(self.runner, NAME_CLAIM, normalise_name(cleaned)):
            raise AlreadyTaken(
                f"{cleaned} is registered on the platform; sign in with its account",
                field="enterprise_name",
                code="ENTERPRISE_EXISTS",
            )
        gid = guest_id(cleaned, verified_number)
        if not self.runner.exists(gid):
            guest = Guest.start(cleaned, verified_number)
            caller = Caller(
                account_id=str(gid),
                enterprise_id=str(gid),
                role=GUEST_ROLE,
                correlation_id=correlation_id,
            )
            self.runner.run(
                caller,
                "start_guest",
                {"guest": str(gid)},
                lambda: Outcome([guest], {"guest_id": str(gid)}, guest, created=True),
            )
        principal = Principal(
            account_id=str(gid),
            enterprise_id=str(gid),
            role=GUEST_ROLE,
            username=cleaned,
        )
        return self.open_for(principal, correlation_id, how="guest SMS code")

    def _guard(self, username: str) -> LoginGuard:
        key = username_key(username)
        try:
            found: LoginGuard = self.runner.app.repository.get(guard_id(key))
        except AggregateNotFoundError:
            return LoginGuard.start(key)
        return found

    def _save_guard(self, guard: LoginGuard, correlation_id: str) -> None:
        if not guard.pending_events:
            return
        caller = Caller(
            account_id="anonymous",
            enterprise_id="",
            role="anonymous",
            correlation_id=correlation_id,
        )
        self.runner.run(
            caller,
            "guard_sign_in",
            {"guard": str(guard.id)},
            lambda: Outcome([guard], {"guard_id": str(guard.id)}, guard),
        )

    def open_for(
        self, principal: Principal, correlation_id: str, *, how: str
    ) -> SignedIn:
        """Opens a session for an account whose holder proved who they are."""
        secret = secrets.token_urlsafe(32)

        def work() -> Outcome:
            session = Session.open(
                account_id=principal.account_id,
                enterprise_id=principal.enterprise_id,
                refresh_hash=_hash(secret),
                now=self.clock(),
                lifetime=self.lifetime,
            )
            return Outcome([session], {"session_id": str(session.id)}, session)

        caller = self._caller(principal, correlation_id)
        arguments = {"account_id": principal.account_id, "how": how}
        result = self.runner.run(caller, "sign_in", arguments, work)
        session_id = result.ids["session_id"]
        return SignedIn(
            principal, session_id, _new_token(session_id, secret), result.position
        )

    def refresh(self, token: str, correlation_id: str) -> SignedIn:
        """A new refresh token for a live session; the presented one stops
        working."""
        session_id, secret = _parse(token)
        session = self._load(session_id)
        principal = self.accounts.principal(UUID(session.account_id))
        new_secret = secrets.token_urlsafe(32)

        def work() -> Outcome:
            current = self._load(session_id)
            current.refresh(
                _hash(secret), _hash(new_secret), self.clock(), self.lifetime
            )
            return Outcome([current], {"session_id": str(session_id)}, current)

        caller = self._caller(principal, correlation_id)
        result = self.runner.run(caller, "refresh", {"session": str(session_id)}, work)
        return SignedIn(
            principal,
            str(session_id),
            _new_token(session_id, new_secret),
            result.position,
        )

    def sign_out(self, caller: Caller, session_id: UUID) -> int:
        def work() -> Outcome:
            session = self._load(session_id)
            session.close("signed out")
            return Outcome([session], {"session_id": str(session_id)}, session)

        return self.runner.run(
            caller, "sign_out", {"session": str(session_id)}, work
        ).position

    def is_live(self, session_id: UUID) -> bool:
        try:
            session: Session = self.runner.app.repository.get(session_id)
        except AggregateNotFoundError:
            return False
        return isinstance(session, Session) and session.is_live(self.clock())

    def _load(self, session_id: UUID) -> Session:
        session: object
        try:
            session = self.runner.app.repository.get(session_id)
        except AggregateNotFoundError:
            session = None
        if not isinstance(session, Session):
            raise SessionRefused("no such session; sign in again", code="INVALID_TOKEN")
        return session

    @staticmethod
    def _caller(principal: Principal, correlation_id: str) -> Caller:
        return Caller(
            account_id=principal.account_id,
            enterprise_id=principal.enterprise_id,
            role=principal.role,
            correlation_id=correlation_id,
        )

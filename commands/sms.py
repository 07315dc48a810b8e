"""SMS codes: sending them through a gateway and checking them.

The gateway is a port. The platform's default delivers to an outbox table an
operator (and the tests) can read; a real SMS provider implements the same
one-method interface.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.account import check_mobile
from aggregates.sms_challenge import Purpose, SmsChallenge, SmsRefused, challenge_id
from commands.accounts import MOBILE_CLAIM
from commands.claims import current_claim
from commands.platform import Caller, CommandRunner, Outcome

#: Who asks for a guest's code: nobody known yet.
GUEST_ACTOR = UUID(int=0)
GUEST_ENTERPRISE = "guest"


class SmsGateway(Protocol):
    def send(self, mobile: str, text: str) -> None:
        """Delivers ``text`` to ``mobile``."""


class SmsCommands:
    def __init__(
        self,
        runner: CommandRunner,
        gateway: SmsGateway,
        pepper: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runner = runner
        self.gateway = gateway
        self.pepper = pepper.encode()
        self.clock = clock

    def send_code(
        self,
        mobile: str,
        purpose: Purpose,
        correlation_id: str,
        *,
        holder: tuple[UUID, str] | None = None,
    ) -> None:
        """Sends a code to an account's number. A number with no account gets
        nothing, and the caller is answered alike, so that asking reveals no
        account. ``holder`` names the signed-in account a code for a new
        number (:attr:`Purpose.CHANGE_MOBILE`) is for."""
        number = check_mobile(mobile)
        holder = holder or self._holder(number, purpose)
        if holder is None:
            return
        account, enterprise = holder
        code = f"{secrets.randbelow(10**6):06d}"

        def work() -> Outcome:
            challenge = self._challenge(number, purpose, enterprise)
            challenge.issue(self._hash(number, code), self.clock())
            return Outcome([challenge], {"challenge_id": str(challenge.id)}, challenge)

        caller = Caller(
            account_id=str(account),
            enterprise_id=enterprise,
            role="sms",
            correlation_id=correlation_id,
        )
        self.runner.run(caller, "send_sms_code", {"purpose": purpose.value}, work)
        self.gateway.send(
            number, f"【首营平台】您的验证码是 {code}，5 分钟内有效，请勿告诉他人。"
        )

    def check_code(
        self,
        mobile: str,
        purpose: Purpose,
        code: str,
        correlation_id: str,
        *,
        holder: tuple[UUID, str] | None = None,
    ) -> UUID:
        """The account whose number received ``code``; the code is used up."""
        number = check_mobile(mobile)
        holder = holder or self._holder(number, purpose)
        if holder is None:
            raise SmsRefused("ask for a new code", code="SMS_CODE_INVALID")
        account, enterprise = holder

        def work() -> Outcome:
            challenge = self._challenge(number, purpose, enterprise)
            matched = challenge.verify(self._hash(number, code), self.clock())
            return Outcome(
                [challenge],
                {"challenge_id": str(challenge.id)},
                challenge,
                extra={"matched": matched},
            )

        caller = Caller(
            account_id=str(account),
            enterprise_id=enterprise,
            role="sms",
            correlation_id=correlation_id,
        )
        result = self.runner.run(
            caller, "check_sms_code", {"purpose": purpose.value}, work
        )
        if not result.extra["matched"]:
            raise SmsRefused("the code is wrong", code="SMS_CODE_WRONG")
        return account

    def _holder(self, number: str, purpose: Purpose) -> tuple[UUID, str] | None:
        """Who a code for ``number`` is for. A guest is by definition no
        account, so any number may ask for a guest code."""
        if purpose is Purpose.GUEST:
            return GUEST_ACTOR, GUEST_ENTERPRISE
        return self.account_of(number)

    def account_of(self, number: str) -> tuple[UUID, str] | None:
        """The account holding a mobile number, and its enterprise."""
        claim = current_claim(self.runner, MOBILE_CLAIM, number)
        if claim is None:
            return None
        return UUID(claim.holder_id), claim.enterprise_id

    def _challenge(
        self, number: str, purpose: Purpose, enterprise_id: str
    ) -> SmsChallenge:
        try:
            found: SmsChallenge = self.runner.app.repository.get(
                challenge_id(number, purpose)
            )
        except AggregateNotFoundError:
            return SmsChallenge.start(number, purpose, enterprise_id=enterprise_id)
        return found

    def _hash(self, number: str, code: str) -> str:
        message = f"{number}:{code.strip()}".encode()
        return hmac.new(self.pepper, message, hashlib.sha256).hexdigest()

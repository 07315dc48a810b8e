"""One-time SMS codes for one mobile number and one purpose.

A code lives five minutes, works once, and dies after five wrong tries; a
number gets at most one code a minute and ten a day (manual 5.3, 5.4). The
aggregate keeps only a keyed hash of each code: whoever reads the store cannot
use it.
"""

from __future__ import annotations

import enum
import hmac
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError

CODE_LIFETIME = timedelta(minutes=5)
RESEND_INTERVAL = timedelta(minutes=1)
DAILY_LIMIT = 10
MAX_FAILURES = 5

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:sms-challenge")


class Purpose(enum.StrEnum):
    LOGIN = "login"
    RESET_PASSWORD = "reset_password"
    #: A company not on the platform signing in as a guest (manual 5.5).
    GUEST = "guest"
    #: A signed-in account proving a new mobile number is its holder's.
    CHANGE_MOBILE = "change_mobile"


class SmsRefused(DomainError):
    def __init__(self, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def challenge_id(mobile: str, purpose: Purpose) -> UUID:
    return uuid5(_NAMESPACE, f"{purpose.value}:{mobile}")


class SmsChallenge(TracedAggregate):
    private_fields = frozenset({"code_hash"})

    class Started(TracedAggregate.Created):
        mobile: str
        purpose: str

        private_fields = frozenset({"mobile"})

    class CodeIssued(TracedAggregate.Event):
        private_fields = frozenset({"code_hash"})

        code_hash: str
        expires_at: datetime

        def summary(self) -> str:
            return "SMS code sent"

        def apply(self, aggregate: Any) -> None:
            aggregate.code_hash = self.code_hash
            aggregate.expires_at = self.expires_at
            aggregate.failures = 0
            aggregate.issued.append(self.timestamp)

    class CodeFailed(TracedAggregate.Event):
        def summary(self) -> str:
            return "wrong SMS code"

        def apply(self, aggregate: Any) -> None:
            aggregate.failures += 1

    class CodeUsed(TracedAggregate.Event):
        def summary(self) -> str:
            return "SMS code used"

        def apply(self, aggregate: Any) -> None:
            aggregate.code_hash = None

    def __init__(self, mobile: str, purpose: str) -> None:
        self.mobile = mobile
        self.purpose = Purpose(purpose)
        self.code_hash: str | None = None
        self.expires_at: datetime | None = None
        self.failures = 0
        self.issued: list[datetime] = []

    @classmethod
    def start(cls, mobile: str, purpose: Purpose, enterprise_id: str) -> SmsChallenge:
        return cls._create(
            cls.Started,
            id=challenge_id(mobile, purpose),
            enterprise_id=enterprise_id,
            mobile=mobile,
            purpose=purpose.value,
        )

    def issue(self, code_hash: str, now: datetime) -> None:
        """Records a new code, which replaces any earlier one."""
        recent = [t for t in self.issued if now - t < timedelta(days=1)]
        if recent and now - recent[-1] < RESEND_INTERVAL:
            raise SmsRefused(
                "a code was sent less than a minute ago; wait before asking again",
                code="SMS_TOO_FREQUENT",
                status=429,
            )
        if len(recent) >= DAILY_LIMIT:
            raise SmsRefused(
                f"this number has had {DAILY_LIMIT} codes today; try tomorrow",
                code="SMS_DAILY_LIMIT",
                status=429,
            )
        self.trigger_event(
            self.CodeIssued,
            code_hash=code_hash,
            expires_at=now + CODE_LIFETIME,
            timestamp=now,
        )

    def verify(self, code_hash: str, now: datetime) -> bool:
        """Uses the code if it matches; a wrong try is recorded and answers
        False. A missing, used, expired or exhausted code is refused."""
        if self.code_hash is None or self.expires_at is None:
            raise SmsRefused("ask for a new code", code="SMS_CODE_INVALID")
        if now >= self.expires_at or self.failures >= MAX_FAILURES:
            raise SmsRefused(
                "the code has expired; ask for a new one", code="SMS_CODE_INVALID"
            )
        if hmac.compare_digest(code_hash, self.code_hash):
            self.trigger_event(self.CodeUsed)
            return True
        self.trigger_event(self.CodeFailed)
        return False

"""Guarding password sign-in against guessing (manual 5.3).

Each username has a guard that counts failed sign-ins. After three failures
within fifteen minutes the next attempt must carry a solved captcha, and a
captcha works once. The guard exists whether or not the username does, so it
behaves the same for both and says nothing about which accounts exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError

FREE_FAILURES = 3
WINDOW = timedelta(minutes=15)

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shouying:login-guard")


def guard_id(username_key: str) -> UUID:
    return uuid5(_NAMESPACE, username_key)


class CaptchaRequired(DomainError):
    code = "CAPTCHA_REQUIRED"
    status = 401


class LoginGuard(TracedAggregate):
    class Started(TracedAggregate.Created):
        username_key: str

    class Failed(TracedAggregate.Event):
        def summary(self) -> str:
            return "failed sign-in"

        def apply(self, aggregate: Any) -> None:
            aggregate.failures.append(self.timestamp)

    class CaptchaUsed(TracedAggregate.Event):
        captcha_id: str

        def summary(self) -> str:
            return "captcha used"

        def apply(self, aggregate: Any) -> None:
            aggregate.used_captchas.append(self.captcha_id)

    class Succeeded(TracedAggregate.Event):
        def summary(self) -> str:
            return "signed in; failures cleared"

        def apply(self, aggregate: Any) -> None:
            aggregate.failures.clear()

    def __init__(self, username_key: str) -> None:
        self.username_key = username_key
        self.failures: list[datetime] = []
        self.used_captchas: list[str] = []

    @classmethod
    def start(cls, username_key: str) -> LoginGuard:
        return cls._create(
            cls.Started,
            id=guard_id(username_key),
            enterprise_id="",
            username_key=username_key,
        )

    def needs_captcha(self, now: datetime) -> bool:
        recent = [t for t in self.failures if now - t < WINDOW]
        return len(recent) >= FREE_FAILURES

    def admit(self, now: datetime, captcha_id: str | None, solved: bool) -> None:
        """Lets an attempt proceed to the password check, or refuses it when a
        captcha is due and none (or a used or wrong one) came with it."""
        if not self.needs_captcha(now):
            return
        if captcha_id is None or not solved or captcha_id in self.used_captchas:
            raise CaptchaRequired(
                "several sign-ins failed; solve a captcha "
                "(GET /api/v1/sessions/captchas)"
                " and send its id and answer"
            )
        self.trigger_event(self.CaptchaUsed, captcha_id=captcha_id, timestamp=now)

    def record(self, succeeded: bool, now: datetime) -> None:
        if succeeded:
            if self.failures:
                self.trigger_event(self.Succeeded, timestamp=now)
        else:
            self.trigger_event(self.Failed, timestamp=now)

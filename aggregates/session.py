"""A signed-in session: what a refresh token stands for.

Signing in opens a session; each refresh replaces its refresh token with a new
one (the old one stops working), and signing out closes it. Access tokens name
their session, so closing it ends them at once rather than when they expire.
The aggregate keeps only a hash of the refresh token's secret.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from aggregates.base import TracedAggregate
from aggregates.errors import DomainError


class SessionRefused(DomainError):
    """A refresh token or session that no longer admits its holder."""

    status = 401

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Session(TracedAggregate):
    private_fields = frozenset({"refresh_hash"})

    class Opened(TracedAggregate.Created):
        private_fields = frozenset({"refresh_hash"})

        account_id: str
        refresh_hash: str
        expires_at: datetime

        def summary(self) -> str:
            return f"signed in (account {self.account_id})"

    class Refreshed(TracedAggregate.Event):
        private_fields = frozenset({"refresh_hash"})

        refresh_hash: str
        expires_at: datetime

        def summary(self) -> str:
            return "session refreshed"

        def apply(self, aggregate: Any) -> None:
            aggregate.refresh_hash = self.refresh_hash
            aggregate.expires_at = self.expires_at

    class Closed(TracedAggregate.Event):
        reason: str

        def summary(self) -> str:
            return f"signed out ({self.reason})"

        def apply(self, aggregate: Any) -> None:
            aggregate.closed = True

    def __init__(
        self, account_id: str, refresh_hash: str, expires_at: datetime
    ) -> None:
        self.account_id = account_id
        self.refresh_hash = refresh_hash
        self.expires_at = expires_at
        self.closed = False

    @classmethod
    def open(
        cls,
        *,
        account_id: str,
        enterprise_id: str,
        refresh_hash: str,
        now: datetime,
        lifetime: timedelta,
    ) -> Session:
        return cls._create(
            cls.Opened,
            id=uuid4(),
            enterprise_id=enterprise_id,
            account_id=account_id,
            refresh_hash=refresh_hash,
            expires_at=now + lifetime,
        )

    def is_live(self, now: datetime) -> bool:
        return not self.closed and now < self.expires_at

    def refresh(
        self, presented_hash: str, new_hash: str, now: datetime, lifetime: timedelta
    ) -> None:
        """Replaces the refresh token; only the current one is accepted."""
        self.check_live(now)
        if not hmac.compare_digest(presented_hash, self.refresh_hash):
            raise SessionRefused(
                "this refresh token was already used; sign in again",
                code="REFRESH_TOKEN_REUSED",
            )
        self.trigger_event(
            self.Refreshed, refresh_hash=new_hash, expires_at=now + lifetime
        )

    def close(self, reason: str) -> None:
        if not self.closed:
            self.trigger_event(self.Closed, reason=reason)

    def check_live(self, now: datetime) -> None:
        if self.closed:
            raise SessionRefused("the session was signed out", code="SESSION_CLOSED")
        if now >= self.expires_at:
            raise SessionRefused("the session has expired", code="SESSION_EXPIRED")

"""Access tokens and permissions.

An access token is a short-lived JWT (HS256) naming the account, its
enterprise and its role. Every route declares the permission it needs with
:func:`require`; the route table in the tests is checked against it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Header, Request

from aggregates.account import PLATFORM, Role
from aggregates.permissions import ENTERPRISE_WIDE, EVERY_ACCOUNT, NEEDS_VERIFICATION
from commands.accounts import Principal
from commands.errors import CommandError, Unauthenticated

ISSUER = "shouying"

#: What each role may do. An enterprise's administrator holds the whole
#: catalogue; a sub-account (member) holds what every account holds plus what
#: its role grants, looked up on each request (see :func:`require`).
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OPERATOR.value: frozenset(
        {
            "enterprises.review",
            "enterprises.read",
            "audit.read",
            "history.read",
            "views.read",
            "sessions.own",
            "account.own",
            "sms.outbox.read",
        }
    ),
    Role.ENTERPRISE_ADMIN.value: ENTERPRISE_WIDE,
    Role.MEMBER.value: EVERY_ACCOUNT,
    # A guest sees the records sent to it (with the inbox issue) and signs out.
    "guest": frozenset({"sessions.own", "guest.inbox"}),
}

#: Business permissions: an enterprise the platform has not approved yet is
#: refused them (manual 5.1), whatever its accounts' roles.
BUSINESS = NEEDS_VERIFICATION

#: Permissions whose holder sees every enterprise's data, not only its own.
PLATFORM_WIDE = frozenset({Role.OPERATOR.value})


class Forbidden(CommandError):
    code = "FORBIDDEN"
    status = 403


class PasswordChangeRequired(CommandError):
    code = "PASSWORD_CHANGE_REQUIRED"
    status = 403


@dataclass(frozen=True)
class Identity:
    account_id: str
    enterprise_id: str
    role: str
    session_id: str
    must_change_password: bool = False

    @property
    def platform_wide(self) -> bool:
        return self.role in PLATFORM_WIDE and self.enterprise_id == PLATFORM

    def may_see(self, enterprise_id: str) -> bool:
        return self.platform_wide or enterprise_id == self.enterprise_id


def issue_token(
    principal: Principal, session_id: str, secret: str, minutes: int
) -> tuple[str, int]:
    now = int(time.time())
    lifetime = minutes * 60
    claims = {
        "iss": ISSUER,
        "sub": principal.account_id,
        "ent": principal.enterprise_id,
        "role": principal.role,
        "sid": session_id,
        "pwc": principal.must_change_password,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256"), lifetime


def identify(request: Request) -> Identity:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send an access token as 'Authorization: Bearer <token>'")
    secret: str = request.app.state.services.settings.jwt_secret
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "ent", "role", "sid"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired; sign in again") from None
    except jwt.PyJWTError:
        raise Unauthenticated("the access token is not valid") from None
    # Signing out ends the session's access tokens at once, not at expiry.
    try:
        live = request.app.state.services.sessions.is_live(UUID(str(claims["sid"])))
    except ValueError:
        live = False
    if not live:
        raise Unauthenticated("the session has ended; sign in again")
    return Identity(
        account_id=str(claims["sub"]),
        enterprise_id=str(claims["ent"]),
        role=str(claims["role"]),
        session_id=str(claims["sid"]),
        must_change_password=bool(claims.get("pwc", False)),
    )


def require(
    permission: str, *, before_password_change: bool = False
) -> Callable[[Request], Identity]:
    """A dependency admitting only callers whose role grants ``permission``.

    An account still on its default password is admitted only where
    ``before_password_change`` says so (changing it, signing out)."""

    def check(request: Request) -> Identity:
        identity = identify(request)
        services = request.app.state.services
        granted = PERMISSIONS.get(identity.role, frozenset())
        if identity.role == Role.MEMBER.value:
            # A sub-account's role may have changed, or the account been
            # deleted, since the token was issued: ask the organisation now.
            current = services.organisation.permissions_of(
                identity.enterprise_id, identity.account_id
            )
            if current is None:
                raise Unauthenticated("the account has been deleted")
            granted = current
        if permission not in granted:
            raise Forbidden(f"this needs the permission {permission!r}")
        if identity.must_change_password and not before_password_change:
            raise PasswordChangeRequired(
                "the account still has its default password; change it first "
                "(POST /api/v1/accounts/me/password), then refresh the token"
            )
        if permission in BUSINESS and not identity.platform_wide:
            services.enterprises.check_verified(UUID(identity.enterprise_id))
        return identity

    check.permission = permission  # type: ignore[attr-defined]
    return check


def public() -> None:
    """Marks a route anyone may call (registration, sign-in, health)."""


public.permission = None  # type: ignore[attr-defined]

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=200, min_length=1)
]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=40)]
Public = Depends(public)

"""Signing in, refreshing the tokens, and signing out."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.sessions import SignedIn
from read_api.auth import Identity, Public, issue_token, require
from read_api.http import OrjsonResponse, caller_of, request_id, services

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=128)
    captcha_id: str | None = Field(default=None, max_length=100)
    captcha_answer: str | None = Field(default=None, max_length=10)


class RefreshToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


def tokens(request: Request, signed_in: SignedIn) -> Response:
    settings = services(request).settings
    access, lifetime = issue_token(
        signed_in.principal,
        signed_in.session_id,
        settings.jwt_secret,
        settings.access_token_minutes,
    )
    return OrjsonResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": signed_in.refresh_token,
            "session_id": signed_in.session_id,
            "account_id": signed_in.principal.account_id,
            "enterprise_id": signed_in.principal.enterprise_id,
            "role": signed_in.principal.role,
            # True for a sub-account on its default password: change it
            # (POST /api/v1/accounts/me/password), then refresh.
            "must_change_password": signed_in.principal.must_change_password,
            "position": signed_in.position,
        },
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.post("", status_code=201, dependencies=[Public])
def sign_in(request: Request, body: Credentials) -> Response:
    """A short-lived access token and a refresh token. A wrong username and a
    wrong password answer alike; after three failures within fifteen minutes
    a captcha must come along."""
    captcha = (body.captcha_id, body.captcha_answer or "") if body.captcha_id else None
    signed_in = services(request).sessions.sign_in(
        body.username, body.password, request_id(request), captcha
    )
    return tokens(request, signed_in)


@router.get("/captchas", dependencies=[Public])
def new_captcha(request: Request) -> Response:
    """A captcha picture and its id, for a sign-in after repeated failures
    (``CAPTCHA_REQUIRED``). It works once, within two minutes."""
    captcha = services(request).sessions.captchas.new()
    return OrjsonResponse(captcha.as_json(), headers={"Cache-Control": "no-store"})


@router.post("/refresh", status_code=201, dependencies=[Public])
def refresh(request: Request, body: RefreshToken) -> Response:
    """New tokens for a live session; the refresh token sent stops working."""
    signed_in = services(request).sessions.refresh(
        body.refresh_token, request_id(request)
    )
    return tokens(request, signed_in)


@router.post("/current/sign-out", status_code=202)
def sign_out(
    request: Request,
    identity: Identity = Depends(require("sessions.own", before_password_change=True)),
) -> Response:
    """Ends the caller's session: its access and refresh tokens stop working."""
    caller = caller_of(request, identity, None)
    position = services(request).sessions.sign_out(caller, UUID(identity.session_id))
    return OrjsonResponse(
        {"session_id": identity.session_id, "position": position}, status_code=202
    )

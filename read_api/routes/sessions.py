"""Signing in with a username and password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from read_api.auth import Public, issue_token
from read_api.http import OrjsonResponse, services

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=128)


@router.post("", status_code=201, dependencies=[Public])
def sign_in(request: Request, body: Credentials) -> Response:
    found = services(request)
    principal = found.accounts.authenticate(body.username, body.password)
    token, lifetime = issue_token(
        principal, found.settings.jwt_secret, found.settings.access_token_minutes
    )
    return OrjsonResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "account_id": principal.account_id,
            "enterprise_id": principal.enterprise_id,
            "role": principal.role,
        },
        status_code=201,
    )

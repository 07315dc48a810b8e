"""Registering an account and, with it, the enterprise it administers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.platform import Caller
from read_api.auth import IdempotencyKey, Public
from read_api.http import answer, request_id, services

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    enterprise_name: str = Field(
        min_length=1, max_length=100, examples=["广州白云山医药有限公司"]
    )
    username: str = Field(min_length=3, max_length=40)
    mobile: str = Field(min_length=11, max_length=20, examples=["13800138000"])
    password: str = Field(min_length=8, max_length=128)
    invite_code: str | None = Field(default=None, min_length=1, max_length=20)


@router.post("", status_code=201, dependencies=[Public])
def register(
    request: Request, body: Registration, idempotency_key: IdempotencyKey = None
) -> Response:
    """Opens an administrator account and its enterprise, which then has 24
    hours to record its information and submit it for review. An enterprise
    the platform verified already answers ``ENTERPRISE_EXISTS``."""
    caller = Caller(
        account_id="anonymous",
        enterprise_id="",
        role="anonymous",
        correlation_id=request_id(request),
        idempotency_key=idempotency_key,
    )
    result = services(request).enterprises.register(
        caller,
        enterprise_name=body.enterprise_name,
        username=body.username,
        mobile=body.mobile,
        password=body.password,
        invite_code=body.invite_code,
    )
    return answer(result)

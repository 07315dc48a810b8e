"""Registering an account and, with it, the enterprise it administers."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.account import check_mobile
from aggregates.errors import AlreadyTaken
from aggregates.sms_challenge import Purpose
from commands.platform import Caller
from read_api.auth import IdempotencyKey, Identity, Public, require
from read_api.http import OrjsonResponse, answer, caller_of, request_id, services

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
    #: True when the code came with an invite link (it then cannot change).
    invite_from_link: bool = False


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
        invite_from_link=body.invite_from_link,
    )
    return answer(result)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)


class NewMobile(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mobile: str = Field(min_length=11, max_length=20)


class MobileChange(NewMobile):
    #: The code sent to the new number (POST /me/mobile/code).
    code: str = Field(min_length=4, max_length=8)


class EmailChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=254)


@router.post("/me/password", status_code=202)
def change_password(
    request: Request,
    body: PasswordChange,
    identity: Identity = Depends(require("account.own", before_password_change=True)),
) -> Response:
    """Changes the caller's password; the current one must be given."""
    caller = caller_of(request, identity, None)
    result = services(request).accounts.change_password(
        caller, body.old_password, body.new_password
    )
    return answer(result)


@router.post("/me/mobile/code", status_code=202)
def send_mobile_code(
    request: Request,
    body: NewMobile,
    identity: Identity = Depends(require("account.own")),
) -> Response:
    """Sends a one-time code to a new mobile number, to prove it is the
    caller's; a number another account holds answers ``MOBILE_TAKEN``."""
    found = services(request)
    number = check_mobile(body.mobile)
    holder = found.sms.account_of(number)
    if holder is not None and str(holder[0]) != identity.account_id:
        raise AlreadyTaken(
            "this mobile number belongs to another account",
            field="mobile",
            code="MOBILE_TAKEN",
        )
    found.sms.send_code(
        number,
        Purpose.CHANGE_MOBILE,
        request_id(request),
        holder=(UUID(identity.account_id), identity.enterprise_id),
    )
    return OrjsonResponse({"accepted": True}, status_code=202)


@router.post("/me/mobile", status_code=202)
def change_mobile(
    request: Request,
    body: MobileChange,
    identity: Identity = Depends(require("account.own")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Changes the caller's mobile number (unique on the platform) once the
    code sent to the new number is given; a username that was the old number
    becomes the new one."""
    found = services(request)
    found.sms.check_code(
        body.mobile,
        Purpose.CHANGE_MOBILE,
        body.code,
        request_id(request),
        holder=(UUID(identity.account_id), identity.enterprise_id),
    )
    caller = caller_of(request, identity, idempotency_key)
    return answer(found.accounts.change_mobile(caller, body.mobile))


@router.post("/me/email", status_code=202)
def change_email(
    request: Request,
    body: EmailChange,
    identity: Identity = Depends(require("account.own")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).accounts.change_email(caller, body.email))


class InviterChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    invite_code: str = Field(min_length=1, max_length=20)


@router.post("/me/inviter", status_code=202)
def change_inviter(
    request: Request,
    body: InviterChange,
    identity: Identity = Depends(require("account.own")),
) -> Response:
    """Corrects a hand-typed invite code, until the enterprise is approved."""
    caller = caller_of(request, identity, None)
    return answer(services(request).accounts.change_inviter(caller, body.invite_code))

"""SMS codes: asking for one, signing in with one, resetting a password with
one; and the outbox of the embedded SMS gateway, for operators."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.account import check_mobile
from aggregates.sms_challenge import Purpose
from commands.platform import Caller
from read_api.auth import Identity, Public, require
from read_api.http import MAX_LIMIT, OrjsonResponse, request_id, services
from read_api.routes.sessions import tokens

router = APIRouter(tags=["sms"])


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mobile: str = Field(min_length=11, max_length=20)
    purpose: Literal["login", "reset_password", "guest"]


class CodeSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mobile: str = Field(min_length=11, max_length=20)
    code: str = Field(min_length=4, max_length=8)


class PasswordReset(CodeSignIn):
    new_password: str = Field(min_length=8, max_length=128)


@router.post("/api/v1/sms-codes", status_code=202, dependencies=[Public])
def send_code(request: Request, body: CodeRequest) -> Response:
    """Sends a one-time code (five minutes, one use) to an account's mobile
    number; at most one a minute and ten a day per number. The answer is the
    same whether or not an account has the number."""
    services(request).sms.send_code(
        body.mobile, Purpose(body.purpose), request_id(request)
    )
    return OrjsonResponse({"accepted": True}, status_code=202)


@router.post("/api/v1/sessions/sms", status_code=201, dependencies=[Public])
def sign_in_by_sms(request: Request, body: CodeSignIn) -> Response:
    """Signs in with the mobile number and the code sent to it."""
    found = services(request)
    rid = request_id(request)
    account = found.sms.check_code(body.mobile, Purpose.LOGIN, body.code, rid)
    principal = found.accounts.principal(account)
    return tokens(request, found.sessions.open_for(principal, rid, how="SMS code"))


class GuestSignIn(CodeSignIn):
    enterprise_name: str = Field(min_length=1, max_length=100)


@router.post("/api/v1/sessions/guest", status_code=201, dependencies=[Public])
def sign_in_as_guest(request: Request, body: GuestSignIn) -> Response:
    """Guest sign-in (manual 5.5): a company not on the platform, by its name,
    a mobile number and the code sent to it. A guest sees only the records
    sent to it; to see files it registers."""
    found = services(request)
    rid = request_id(request)
    found.sms.check_code(body.mobile, Purpose.GUEST, body.code, rid)
    number = check_mobile(body.mobile)
    signed_in = found.sessions.sign_in_as_guest(body.enterprise_name, number, rid)
    return tokens(request, signed_in)


@router.post("/api/v1/accounts/password-reset", status_code=202, dependencies=[Public])
def reset_password(request: Request, body: PasswordReset) -> Response:
    """Forgot password (manual 5.4): a new password, proven by an SMS code."""
    found = services(request)
    rid = request_id(request)
    account = found.sms.check_code(body.mobile, Purpose.RESET_PASSWORD, body.code, rid)
    principal = found.accounts.principal(account)
    caller = Caller(
        account_id=principal.account_id,
        enterprise_id=principal.enterprise_id,
        role=principal.role,
        correlation_id=rid,
    )
    result = found.accounts.reset_password(caller, account, body.new_password)
    return OrjsonResponse(
        {"account_id": str(account), "position": result.position}, status_code=202
    )


@router.get("/api/v1/sms-outbox")
def sms_outbox(
    request: Request,
    identity: Identity = Depends(require("sms.outbox.read")),
    mobile: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> Response:
    """Messages the embedded SMS gateway delivered, newest first."""
    messages = services(request).sms_outbox.messages(mobile, limit)
    return OrjsonResponse({"items": messages})

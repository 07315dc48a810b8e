"""Enterprise registration and the platform's review of it."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.errors import NotFound
from projections.enterprises import EnterprisesView, query_enterprises
from read_api.auth import IdempotencyKey, Identity, IfMatch, require
from read_api.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    decode_cursor,
    page,
    services,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprises"])

Category = Literal[
    "enterprise",
    "retail_pharmacy",
    "public_hospital",
    "private_hospital",
    "clinic",
    "other_medical",
]


class InformationBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Category
    uscc: str = Field(min_length=18, max_length=18, examples=["91350100M000100Y43"])
    legal_representative: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=200)
    region: str = Field(default="", max_length=200)
    admin_name: str = Field(min_length=1, max_length=200)
    admin_id_number: str = Field(min_length=18, max_length=18)


class RequestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_platform: bool
    allow_partners: bool


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


@router.post("/{enterprise_id}/information", status_code=202)
def record_information(
    request: Request,
    enterprise_id: UUID,
    body: InformationBody,
    identity: Identity = Depends(require("enterprise.manage")),
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Records the enterprise's information. Within 24 hours of registering;
    after approval the category is fixed and a change of licence data or of
    the administrator's identity goes back to review."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).enterprises.record_information(
        caller, enterprise_id, body.model_dump()
    )
    return answer(result)


@router.post("/{enterprise_id}/submit", status_code=202)
def submit_enterprise(
    request: Request,
    enterprise_id: UUID,
    identity: Identity = Depends(require("enterprise.manage")),
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Sends the recorded information to the platform's review."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    return answer(services(request).enterprises.submit(caller, enterprise_id))


@router.post("/{enterprise_id}/request-settings", status_code=202)
def set_request_settings(
    request: Request,
    enterprise_id: UUID,
    body: RequestSettings,
    identity: Identity = Depends(require("product_requests.manage")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Whether all verified enterprises, and/or partner enterprises, may ask
    for this enterprise's product records (manual 12)."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).enterprises.set_request_settings(
        caller,
        enterprise_id,
        allow_platform=body.allow_platform,
        allow_partners=body.allow_partners,
    )
    return answer(result)


@router.post("/{enterprise_id}/approve", status_code=202)
def approve_enterprise(
    request: Request,
    enterprise_id: UUID,
    identity: Identity = Depends(require("enterprises.review")),
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key, if_match)
    return answer(services(request).enterprises.approve(caller, enterprise_id))


@router.post("/{enterprise_id}/reject", status_code=202)
def reject_enterprise(
    request: Request,
    enterprise_id: UUID,
    body: Rejection,
    identity: Identity = Depends(require("enterprises.review")),
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).enterprises.reject(caller, enterprise_id, body.reason)
    return answer(result)


@router.get("")
def list_enterprises(
    request: Request,
    identity: Identity = Depends(require("enterprises.read")),
    status: Literal["pending_review", "approved", "rejected"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Registrations: every one for operators, the caller's own otherwise."""
    caught_up = wait_for_view(request, EnterprisesView.name, after)
    found = services(request)
    last = decode_cursor(cursor)
    with found.views.transaction(write=False) as tx:
        rows = query_enterprises(
            found.engine,
            tx,
            status=status,
            enterprise_id=None if identity.platform_wide else identity.enterprise_id,
            after_name=str(last) if last is not None else None,
            limit=limit,
        )
    return page(rows, limit, rows[-1]["name"] if rows else None, caught_up=caught_up)


@router.get("/{enterprise_id}")
def get_enterprise(
    request: Request,
    enterprise_id: UUID,
    identity: Identity = Depends(require("enterprises.read")),
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    caught_up = wait_for_view(request, EnterprisesView.name, after)
    found = services(request)
    if not identity.may_see(str(enterprise_id)):
        raise NotFound(f"no enterprise {enterprise_id}")
    with found.views.transaction(write=False) as tx:
        rows = query_enterprises(
            found.engine,
            tx,
            status=None,
            enterprise_id=str(enterprise_id),
            after_name=None,
            limit=1,
        )
    if not rows:
        raise NotFound(f"no enterprise {enterprise_id}")
    row = rows[0]
    headers = {"ETag": f'"{row["version"]}"'}
    if not caught_up:
        headers["X-View-Stale"] = "true"
    return OrjsonResponse(row, headers=headers)

"""Seal images, certificates, sealing and verification (manual 6.2, 12).

Seal images go up as transparent PNGs and wait for a platform operator's
review before they can be used; replacing one sends it back to review.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from projections.signing import SigningView, query_certificates, query_seals
from read_api.auth import IdempotencyKey, Identity, require
from read_api.http import (
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    services,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1", tags=["signing"])

SealKindName = Literal["official", "contract", "quality", "legal_rep", "finance"]
Seals = Depends(require("seals.manage"))
After = Annotated[int | None, Query(ge=0)]


class SealReview(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: SealKindName
    #: The digest of the image the operator looked at.
    blob: str = Field(min_length=64, max_length=64)
    approved: bool
    reason: str | None = Field(default=None, max_length=500)


@router.get("/seal-images")
def seal_images(
    request: Request, identity: Identity = Seals, after: After = None
) -> Response:
    """The enterprise's seal images with their review status."""
    caught_up = wait_for_view(request, SigningView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_seals(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            status=None,
            limit=MAX_LIMIT,
        )
    return OrjsonResponse(
        {"items": items}, headers={} if caught_up else {"X-View-Stale": "true"}
    )


@router.post("/seal-images", status_code=202)
async def upload_seal_image(
    request: Request,
    kind: Annotated[SealKindName, Form()],
    file: UploadFile,
    identity: Identity = Seals,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Uploads (or replaces) the seal image of a kind: a PNG with a
    transparent background. It is usable once an operator approves it."""
    data = await file.read()
    caller = caller_of(request, identity, idempotency_key)
    result = await asyncio.to_thread(
        services(request).seal_images.upload, caller, kind, data
    )
    return answer(result)


@router.get("/seal-images/content")
def seal_image_content(
    request: Request, kind: SealKindName, identity: Identity = Seals
) -> Response:
    data = services(request).seal_images.content(identity.enterprise_id, kind)
    return Response(data, media_type="image/png")


@router.get("/seal-image-reviews")
def pending_seal_images(
    request: Request,
    identity: Identity = Depends(require("enterprises.review")),
    after: After = None,
) -> Response:
    """For operators: seal images of every enterprise waiting for review."""
    caught_up = wait_for_view(request, SigningView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_seals(
            found.engine, tx, enterprise_id=None, status="pending", limit=MAX_LIMIT
        )
    return OrjsonResponse(
        {"items": items}, headers={} if caught_up else {"X-View-Stale": "true"}
    )


@router.get("/enterprises/{enterprise_id}/seal-images/content")
def review_seal_image_content(
    request: Request,
    enterprise_id: UUID,
    kind: SealKindName,
    identity: Identity = Depends(require("enterprises.review")),
) -> Response:
    """For operators: the image under review."""
    data = services(request).seal_images.content(str(enterprise_id), kind)
    return Response(data, media_type="image/png")


@router.post("/enterprises/{enterprise_id}/seal-images/review", status_code=202)
def review_seal_image(
    request: Request,
    enterprise_id: UUID,
    body: SealReview,
    identity: Identity = Depends(require("enterprises.review")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """An operator approves or rejects (with a reason) the image they looked
    at; a verdict on an image replaced since is refused."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).seal_images.review(
        caller,
        enterprise_id,
        body.kind,
        body.blob,
        approved=body.approved,
        reason=body.reason,
    )
    return answer(result)


# --- certificates ---------------------------------------------------------------

Certs = Depends(require("certificates.manage"))


class CloudApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=8, max_length=128)


class TokenApplication(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mailing_address: str = Field(min_length=1, max_length=200)


class TokenKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The token's public key (PEM), read through the device bridge.
    public_key: str = Field(min_length=50, max_length=10_000)


class CertificateAction(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal[
        "activate", "cancel", "revoke", "report_lost", "reapply", "change_address"
    ]
    mailing_address: str | None = Field(default=None, max_length=200)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)


class PasswordFree(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=128)
    enabled: bool


@router.get("/certificates")
def certificates(
    request: Request, identity: Identity = Certs, after: After = None
) -> Response:
    """The enterprise's certificates: kind, status, serial, validity, the
    fee due for a token and whether password-free sealing is on."""
    caught_up = wait_for_view(request, SigningView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_certificates(found.engine, tx, identity.enterprise_id)
    return OrjsonResponse(
        {"items": items}, headers={} if caught_up else {"X-View-Stale": "true"}
    )


@router.post("/certificates/cloud", status_code=201)
def apply_cloud(
    request: Request,
    body: CloudApplication,
    identity: Identity = Certs,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A cloud certificate, issued at once by the platform CA; its key stays
    on the server, encrypted, usable with the signing password."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).certificates.apply_cloud(caller, body.password))


@router.post("/certificates/token", status_code=201)
def apply_token(
    request: Request,
    body: TokenApplication,
    identity: Identity = Certs,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Applies for a hardware-token certificate, mailed to the address given;
    the yearly fee is recorded as due."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).certificates.apply_token(caller, body.mailing_address)
    return answer(result)


@router.post("/certificates/{certificate_id}/issue", status_code=202)
def issue_token(
    request: Request, certificate_id: UUID, body: TokenKey, identity: Identity = Certs
) -> Response:
    """Issues the token certificate for the token's public key; write the
    returned certificate onto the token, then ``activate`` it."""
    caller = caller_of(request, identity, None)
    result, pem = services(request).certificates.issue_token(
        caller, str(certificate_id), body.public_key
    )
    return OrjsonResponse(
        {**result.body(), "certificate_pem": pem},
        status_code=202,
        headers={"X-Event-Position": str(result.position)},
    )


@router.post("/certificates/{certificate_id}/actions", status_code=202)
def certificate_action(
    request: Request,
    certificate_id: UUID,
    body: CertificateAction,
    identity: Identity = Certs,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Activate (on the token), cancel an application, revoke, report a lost
    token (revoked at once, a replacement applied for), re-apply after an
    enterprise information change, or change the mailing address."""
    caller = caller_of(request, identity, idempotency_key)
    values = {}
    if body.mailing_address is not None:
        values["mailing_address"] = body.mailing_address
    result = services(request).certificates.change(
        caller, str(certificate_id), body.action, **values
    )
    return answer(result)


@router.post("/certificates/{certificate_id}/password", status_code=202)
def change_signing_password(
    request: Request,
    certificate_id: UUID,
    body: PasswordChange,
    identity: Identity = Certs,
) -> Response:
    caller = caller_of(request, identity, None)
    result = services(request).certificates.change_password(
        caller, str(certificate_id), body.old_password, body.new_password
    )
    return answer(result)


@router.post("/certificates/{certificate_id}/password-reset", status_code=202)
def reset_signing_password(
    request: Request,
    certificate_id: UUID,
    body: PasswordReset,
    identity: Identity = Certs,
) -> Response:
    """A forgotten signing password, reset with the account's own password."""
    caller = caller_of(request, identity, None)
    result = services(request).certificates.reset_password(
        caller, str(certificate_id), body.account_password, body.new_password
    )
    return answer(result)


@router.post("/certificates/{certificate_id}/password-free", status_code=202)
def set_password_free(
    request: Request,
    certificate_id: UUID,
    body: PasswordFree,
    identity: Identity = Certs,
) -> Response:
    """Switches password-free sealing on or off; either needs the password."""
    caller = caller_of(request, identity, None)
    result = services(request).certificates.set_password_free(
        caller, str(certificate_id), body.password, body.enabled
    )
    return answer(result)

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

from projections.signing import SigningView, query_seals
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

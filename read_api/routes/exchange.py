"""First-business exchange (manual 6): compose, seal and send packages;
the outbox; the inbox, accepting into the library and rejecting.

Review flows on either side, supplements, the message centre and inspection
report lists come with the rest of the exchange issue.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.folders import zip_named
from projections.exchange import ExchangeView, query_inbox, query_outbox
from read_api.auth import IdempotencyKey, Identity, require
from read_api.http import (
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    services,
    wait_for_view,
)
from read_api.routes.library import disposition

router = APIRouter(prefix="/api/v1", tags=["exchange"])
After = Annotated[int | None, Query(ge=0)]


class RecipientBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    enterprise_id: UUID | None = None
    contact: str | None = Field(default=None, max_length=50)
    mobile: str | None = Field(default=None, max_length=20)
    department_id: str | None = Field(default=None, max_length=40)
    person_id: str | None = Field(default=None, max_length=40)
    message: str | None = Field(default=None, max_length=500)


class ItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: UUID
    document_ids: list[UUID] = Field(min_length=1, max_length=200)


class PackageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Bounds guard the parser; the domain answers TOO_MANY_RECIPIENTS etc.
    recipients: list[RecipientBody] = Field(min_length=1, max_length=1000)
    items: list[ItemBody] = Field(min_length=1, max_length=500)


class SealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate: Literal["cloud", "token"] = "cloud"
    password: str | None = Field(default=None, max_length=128)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


@router.post("/packages", status_code=201)
def compose(
    request: Request,
    body: PackageBody,
    identity: Identity = Depends(require("exchange.send")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A package of records and files of the library to at most 100
    recipients (at most 50 products and one enterprise dossier)."""
    caller = caller_of(request, identity, idempotency_key)
    recipients: list[dict[str, Any]] = [
        {
            **r.model_dump(),
            "enterprise_id": str(r.enterprise_id) if r.enterprise_id else None,
        }
        for r in body.recipients
    ]
    items = [
        {
            "record_id": str(i.record_id),
            "document_ids": [str(d) for d in i.document_ids],
        }
        for i in body.items
    ]
    return answer(services(request).exchange.compose(caller, recipients, items))


@router.post("/packages/{package_id}/seal", status_code=202)
async def seal_package(
    request: Request,
    package_id: UUID,
    body: SealBody,
    identity: Identity = Depends(require("exchange.seal")),
) -> Response:
    """Seals the package's files once: with the cloud certificate now; with a
    token, drive the returned seal task through the device bridge and then
    call ``/sealed``."""
    caller = caller_of(request, identity, None)
    summary = await asyncio.to_thread(
        services(request).exchange.seal,
        caller,
        package_id,
        certificate=body.certificate,
        password=body.password,
    )
    return OrjsonResponse(summary, status_code=202)


@router.post("/packages/{package_id}/sealed", status_code=202)
def package_sealed(
    request: Request,
    package_id: UUID,
    identity: Identity = Depends(require("exchange.seal")),
) -> Response:
    """After a token seal task finished: the package is ready to send."""
    caller = caller_of(request, identity, None)
    return answer(services(request).exchange.confirm_sealed(caller, package_id))


@router.post("/packages/{package_id}/send", status_code=202)
def send_package(
    request: Request,
    package_id: UUID,
    identity: Identity = Depends(require("exchange.seal")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Delivers the sealed package to each recipient."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).exchange.send(caller, package_id))


@router.post("/packages/{package_id}/withdraw", status_code=202)
def withdraw_package(
    request: Request,
    package_id: UUID,
    identity: Identity = Depends(require("exchange.withdraw")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Takes a sent package back while no recipient has accepted it
    (``PACKAGE_ACCEPTED`` once one has)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).exchange.withdraw(caller, package_id))


@router.get("/outbox")
def outbox(
    request: Request,
    identity: Identity = Depends(require("exchange.outbox")),
    per_recipient: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """The packages sent, one row each, or one row per recipient."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_outbox(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            per_recipient=per_recipient,
            limit=limit,
        )
    return OrjsonResponse(
        {"items": items}, headers={} if caught_up else {"X-View-Stale": "true"}
    )


@router.get("/inbox")
def inbox(
    request: Request,
    identity: Identity = Depends(require("exchange.inbox")),
    status: Literal["waiting", "accepted", "rejected", "withdrawn"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """Packages sent to the enterprise, newest first."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_inbox(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            status=status,
            limit=limit,
        )
    return OrjsonResponse(
        {"items": items}, headers={} if caught_up else {"X-View-Stale": "true"}
    )


@router.post("/inbox/{delivery_id}/accept", status_code=202)
def accept(
    request: Request,
    delivery_id: UUID,
    identity: Identity = Depends(require("exchange.accept")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Accepts the package into the library: files merge into the record of
    the same enterprise or product, restored from the recycle bin first."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).exchange.accept(caller, delivery_id))


@router.post("/inbox/{delivery_id}/reject", status_code=202)
def reject(
    request: Request,
    delivery_id: UUID,
    body: RejectBody,
    identity: Identity = Depends(require("exchange.accept")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Rejects the package; nothing reaches the library."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).exchange.reject(caller, delivery_id, body.reason))


@router.get("/inbox/{delivery_id}/download")
def download(
    request: Request,
    delivery_id: UUID,
    identity: Identity = Depends(require("exchange.download")),
) -> Response:
    """An accepted package's files as one zip."""
    caller = caller_of(request, identity, None)
    files = services(request).exchange.delivery_files(caller, delivery_id)
    return Response(
        zip_named(files),
        media_type="application/zip",
        headers={"Content-Disposition": disposition("首营资料.zip")},
    )

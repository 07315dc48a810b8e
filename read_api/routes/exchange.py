"""First-business exchange (manual 6): compose, seal and send packages;
the outbox; the inbox, accepting into the library and rejecting.

Review flows on either side, supplements, the message centre and inspection
report lists come with the rest of the exchange issue.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.errors import DomainError, InvalidValue, StateConflict
from commands.errors import CommandError
from commands.folders import zip_named
from projections.events import iso
from projections.exchange import (
    ExchangeView,
    Filters,
    query_inbox,
    query_outbox,
    query_queue,
)
from projections.organisation import query_organisation
from read_api.auth import IdempotencyKey, Identity, require
from read_api.http import (
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    services,
    view_answer,
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


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A send-triggered review flow; null skips review where allowed.
    flow_id: UUID | None = None


class ItemsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemBody] = Field(min_length=1, max_length=500)


def _items(body: ItemsBody | PackageBody) -> list[dict[str, Any]]:
    return [
        {
            "record_id": str(i.record_id),
            "document_ids": [str(d) for d in i.document_ids],
        }
        for i in body.items
    ]


def _recipients(body: PackageBody) -> list[dict[str, Any]]:
    return [
        {
            **r.model_dump(),
            "enterprise_id": str(r.enterprise_id) if r.enterprise_id else None,
        }
        for r in body.recipients
    ]


@router.patch("/packages/{package_id}", status_code=202)
def revise_package(
    request: Request,
    package_id: UUID,
    body: PackageBody,
    identity: Identity = Depends(require("exchange.send")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Edits a package not yet submitted, or withdrawn; it is then submitted,
    reviewed and sealed again."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).exchange.revise(
        caller, package_id, _recipients(body), _items(body)
    )
    return answer(result)


@router.post("/packages/{package_id}/supplement", status_code=201)
def supplement_package(
    request: Request,
    package_id: UUID,
    body: ItemsBody,
    identity: Identity = Depends(require("exchange.send")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """More files to a sent package's recipients (补发): a new package,
    submitted like any other."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).exchange.supplement(caller, package_id, _items(body))
    )


@router.post("/packages/{package_id}/submit", status_code=202)
def submit_package(
    request: Request,
    package_id: UUID,
    body: SubmitBody,
    identity: Identity = Depends(require("exchange.send")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Submits the package for sealing: into a review flow, or skipping
    review (the dispatch queue then shows it as to be sealed)."""
    caller = caller_of(request, identity, idempotency_key)
    found = services(request)
    if body.flow_id is not None:
        return answer(
            found.review.submit_package(caller, package_id, str(body.flow_id))
        )
    return answer(found.exchange.submit(caller, package_id, None))


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


Category = Literal["qualification", "inspection_report"]
Text = Annotated[str | None, Query(max_length=100)]


def _filters(
    status: str | None,
    category: str | None,
    q: str | None,
    since: datetime | None,
    until: datetime | None,
    submitter: str | None = None,
) -> Filters:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidValue(f"{name} needs a UTC offset (RFC 3339)", field=name)
    return Filters(
        status=status,
        category=category,
        text=q,
        since=iso(since) if since else None,
        until=iso(until) if until else None,
        submitter=submitter,
    )


@router.get("/outbox")
def outbox(
    request: Request,
    identity: Identity = Depends(require("exchange.outbox")),
    per_recipient: bool = False,
    status: Literal["sent", "withdrawn", "waiting", "accepted", "rejected"]
    | None = None,
    category: Category | None = None,
    q: Text = None,
    submitter: Annotated[str | None, Query(max_length=60)] = None,
    department_id: Annotated[str | None, Query(max_length=40)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """The packages sent, one row each, or one row per recipient with its
    state (``status=rejected`` there is the rejection history); filtered by
    recipient or summary (``q``), submitter or their department (per
    package), inspection reports or
    qualification documents, and time."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    filters = _filters(status, category, q, since, until, submitter)
    with found.views.transaction(write=False) as tx:
        if department_id is not None:
            # The submitter's department: its accounts, from the organisation.
            accounts = query_organisation(found.engine, tx, identity.enterprise_id)
            filters = replace(
                filters,
                submitters=tuple(
                    a["account_id"]
                    for a in accounts["accounts"]
                    if a["department_id"] == department_id
                ),
            )
        items = query_outbox(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            per_recipient=per_recipient,
            limit=limit,
            filters=filters,
        )
    return view_answer({"items": items}, caught_up=caught_up)


@router.get("/inbox")
def inbox(
    request: Request,
    identity: Identity = Depends(require("exchange.inbox")),
    status: Literal["waiting", "under_review", "accepted", "rejected", "withdrawn"]
    | None = None,
    category: Category | None = None,
    q: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """Packages sent to the enterprise, newest first (``status=rejected`` is
    the rejection history), filtered by summary, inspection reports or
    qualification documents, and time."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    mobile = found.exchange.mobile_of(caller_of(request, identity, None))
    with found.views.transaction(write=False) as tx:
        items = query_inbox(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            status=status,
            limit=limit,
            mobile=mobile,
            filters=_filters(status, category, q, since, until),
        )
    return view_answer({"items": items}, caught_up=caught_up)


@router.get("/guest/inbox")
def guest_inbox(
    request: Request,
    identity: Identity = Depends(require("guest.inbox")),
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """For a guest (manual 5.5): what was sent to its mobile number, as a
    list of records; no files until it registers."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    mobile = found.exchange.mobile_of(caller_of(request, identity, None))
    with found.views.transaction(write=False) as tx:
        items = query_inbox(
            found.engine,
            tx,
            enterprise_id="-",
            status=None,
            limit=limit,
            mobile=mobile,
        )
    shown = [
        {
            k: i[k]
            for k in (
                "delivery_id",
                "recipient_name",
                "summary",
                "files",
                "delivered_at",
            )
        }
        for i in items
    ]
    return view_answer({"items": shown}, caught_up=caught_up)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The rows of the page (at most one page).
    ids: list[UUID] = Field(min_length=1, max_length=MAX_LIMIT)
    password: str | None = Field(default=None, max_length=128)


def _each(ids: list[UUID], act: Any) -> list[dict[str, Any]]:
    """Runs ``act`` on each id; one refusal does not stop the others."""
    results = []
    for item in ids:
        try:
            act(item)
        except (DomainError, CommandError) as e:
            results.append(
                {"id": str(item), "ok": False, "code": e.code, "detail": str(e)}
            )
        else:
            results.append({"id": str(item), "ok": True, "code": None, "detail": None})
    return results


@router.get("/dispatch-queue")
def dispatch_queue(
    request: Request,
    identity: Identity = Depends(require("exchange.seal")),
    status: Literal[
        "under_review",
        "review_failed",
        "to_seal",
        "sealing",
        "seal_failed",
        "ready_to_send",
    ]
    | None = None,
    submitter: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """Packages on their way (签章发送): under review, review failed, to
    seal, sealing, seal failed, ready to send."""
    caught_up = wait_for_view(request, ExchangeView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_queue(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            status=status,
            submitter=submitter,
            limit=limit,
        )
    return view_answer({"items": items}, caught_up=caught_up)


@router.post("/packages/seal-batch", status_code=202)
def seal_batch(
    request: Request,
    body: Batch,
    identity: Identity = Depends(require("exchange.seal")),
) -> Response:
    """Batch sealing with the cloud certificate; packages under review, whose
    review failed, or ready to send are refused each with its code."""
    caller = caller_of(request, identity, None)
    exchange = services(request).exchange

    def seal(package_id: UUID) -> None:
        summary = exchange.seal(
            caller, package_id, certificate="cloud", password=body.password
        )
        if summary["status"] != "sealed":
            failed = next(f for f in summary["files"] if f["status"] == "failed")
            raise StateConflict(failed["message"] or "seal failed", code=failed["code"])

    return OrjsonResponse({"items": _each(body.ids, seal)}, status_code=202)


@router.post("/packages/send-batch", status_code=202)
def send_batch(
    request: Request,
    body: Batch,
    identity: Identity = Depends(require("exchange.seal")),
) -> Response:
    """Sends every package of the page that is ready to send (一键发送)."""
    caller = caller_of(request, identity, None)
    exchange = services(request).exchange
    return OrjsonResponse(
        {"items": _each(body.ids, lambda p: exchange.send(caller, p))}, status_code=202
    )


class RejectBatch(Batch):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/inbox/reject-batch", status_code=202)
def reject_batch(
    request: Request,
    body: RejectBatch,
    identity: Identity = Depends(require("exchange.accept")),
) -> Response:
    """Rejects every package of the page with one reason (inspection reports'
    全部拒收); each answers for itself."""
    caller = caller_of(request, identity, None)
    exchange = services(request).exchange
    return OrjsonResponse(
        {"items": _each(body.ids, lambda d: exchange.reject(caller, d, body.reason))},
        status_code=202,
    )


@router.post("/inbox/accept-batch", status_code=202)
def accept_batch(
    request: Request,
    body: Batch,
    identity: Identity = Depends(require("exchange.accept_all")),
) -> Response:
    """Accepts every package of the page (一键查收); each answers for itself."""
    caller = caller_of(request, identity, None)
    exchange = services(request).exchange
    return OrjsonResponse(
        {"items": _each(body.ids, lambda d: exchange.accept(caller, d))},
        status_code=202,
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

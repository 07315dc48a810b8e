"""Seal images, certificates, sealing and verification (manual 6.2, 12).

Seal images go up as transparent PNGs and wait for a platform operator's
review before they can be used; replacing one sends it back to review.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated, Literal
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.errors import InvalidValue
from commands.errors import NotFound
from projections.signing import SigningView, query_certificates, query_seals, query_task
from read_api.auth import IdempotencyKey, Identity, Public, require
from read_api.http import (
    MAX_LIMIT,
    OrjsonResponse,
    answer,
    caller_of,
    services,
    view_answer,
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
    return view_answer({"items": items}, caught_up=caught_up)


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
    return view_answer({"items": items}, caught_up=caught_up)


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
    return view_answer({"items": items}, caught_up=caught_up)


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


@router.post("/certificates/{certificate_id}/renew", status_code=202)
def renew_certificate(
    request: Request, certificate_id: UUID, identity: Identity = Certs
) -> Response:
    """A renewed certificate for the same key, valid for another year; for a
    token, write the returned certificate onto the token."""
    caller = caller_of(request, identity, None)
    result, pem = services(request).certificates.renew(caller, str(certificate_id))
    return OrjsonResponse(
        {**result.body(), "certificate_pem": pem},
        status_code=202,
        headers={"X-Event-Position": str(result.position)},
    )


@router.get("/crl/platform.crl", dependencies=[Public])
def revocation_list(request: Request) -> Response:
    """The platform CA's certificate revocation list (DER), as the
    certificates' CRL distribution point names it; anyone may fetch it."""
    crl = services(request).certificates.published_crl()
    return Response(
        crl,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/ca/root.crt", dependencies=[Public])
def root_certificate(request: Request) -> Response:
    """The platform CA's root certificate (PEM), for verifiers to trust."""
    root = services(request).certificates.authority.ca().root
    return Response(
        root.public_bytes(serialization.Encoding.PEM),
        media_type="application/x-pem-file",
    )


@router.post("/verification")
async def verify_any_pdf(
    request: Request,
    file: UploadFile,
    identity: Identity = Depends(require("signatures.verify")),
) -> Response:
    """A report on every signature of any uploaded PDF, against the
    platform's root and its current revocation list."""
    data = await file.read()
    report = await asyncio.to_thread(services(request).sealing.verify_pdf, data)
    return OrjsonResponse(report)


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


# --- sealing and verification -------------------------------------------------------

Seal = Depends(require("exchange.seal"))


class TaskFileRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: UUID
    document_id: UUID


class PlacementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: 1-based; absent (null) for every page.
    page: int | None = Field(default=None, ge=1, le=10_000)
    x: float = Field(ge=0, le=20_000)
    y: float = Field(ge=0, le=20_000)
    width: float = Field(default=119.0, gt=0, le=2_000)
    height: float = Field(default=119.0, gt=0, le=2_000)


class SealTaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[TaskFileRef] = Field(min_length=1, max_length=500)
    seal_kind: SealKindName | None = None
    placements: list[PlacementBody] = Field(default_factory=list, max_length=50)
    #: Centre a seal on each occurrence of this text (such as 盖章处).
    keyword: str | None = Field(default=None, min_length=1, max_length=50)
    #: A cross-page seal (骑缝章) over the right edges of all pages.
    cross_page: bool = False
    certificate: Literal["cloud", "token"] = "cloud"


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, max_length=128)


class TokenSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signature: str = Field(min_length=8, max_length=20_000)


class TokenFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=60, pattern=r"^[A-Z][A-Z0-9_]*$")
    message: str = Field(default="", max_length=500)


@router.post("/seal-tasks", status_code=201)
def start_seal_task(
    request: Request,
    body: SealTaskBody,
    identity: Identity = Seal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A task sealing library files with the enterprise's active cloud or
    token certificate and an approved seal image (the official seal by
    default; the quality seal for inspection reports), at the default
    position or the placements given."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).sealing.start(
        caller,
        [(f.record_id, str(f.document_id)) for f in body.files],
        seal_kind=body.seal_kind,
        placements=[p.model_dump() for p in body.placements],
        certificate=body.certificate,
        keyword=body.keyword,
        cross_page=body.cross_page,
    )
    return answer(result)


@router.get("/seal-tasks/{task_id}")
def seal_task(
    request: Request, task_id: UUID, identity: Identity = Seal, after: After = None
) -> Response:
    """The task's status (sealing, seal failed, sealed), progress and each
    file's status with the reason it failed."""
    caught_up = wait_for_view(request, SigningView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        task = query_task(found.engine, tx, identity.enterprise_id, str(task_id))
    if task is None:
        raise NotFound(f"no seal task {task_id}")
    return view_answer(task, caught_up=caught_up)


@router.post("/seal-tasks/{task_id}/run", status_code=202)
async def run_seal_task(
    request: Request, task_id: UUID, body: RunBody, identity: Identity = Seal
) -> Response:
    """Seals the task's pending files with the cloud certificate (the signing
    password unless password-free sealing is on); stops at the first
    failure, with the file marked."""
    caller = caller_of(request, identity, None)
    summary = await asyncio.to_thread(
        services(request).sealing.run_cloud, caller, task_id, body.password
    )
    return OrjsonResponse(summary, status_code=202)


@router.post("/seal-tasks/{task_id}/files/{document_id}/prepare", status_code=202)
async def prepare_token_seal(
    request: Request, task_id: UUID, document_id: UUID, identity: Identity = Seal
) -> Response:
    """Stages a file for a hardware token; have the device bridge sign
    ``data_to_sign`` (base64) with the certificate's key, then ``complete``."""
    caller = caller_of(request, identity, None)
    to_sign, about = await asyncio.to_thread(
        services(request).sealing.prepare, caller, task_id, str(document_id)
    )
    return OrjsonResponse(
        {"data_to_sign": base64.b64encode(to_sign).decode(), **about}, status_code=202
    )


@router.post("/seal-tasks/{task_id}/files/{document_id}/complete", status_code=202)
async def complete_token_seal(
    request: Request,
    task_id: UUID,
    document_id: UUID,
    body: TokenSignature,
    identity: Identity = Seal,
) -> Response:
    """Embeds the token's signature (base64) and stores the sealed file."""
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except binascii.Error:
        raise InvalidValue("signature must be base64", field="signature") from None
    caller = caller_of(request, identity, None)
    summary = await asyncio.to_thread(
        services(request).sealing.complete, caller, task_id, str(document_id), signature
    )
    return OrjsonResponse(summary, status_code=202)


@router.post("/seal-tasks/{task_id}/files/{document_id}/fail", status_code=202)
def fail_token_seal(
    request: Request,
    task_id: UUID,
    document_id: UUID,
    body: TokenFailure,
    identity: Identity = Seal,
) -> Response:
    """The token could not sign (removed, wrong PIN, bridge unreachable): the
    file is marked and the task stops in "seal failed"."""
    caller = caller_of(request, identity, None)
    summary = services(request).sealing.fail(
        caller, task_id, str(document_id), body.code, body.message
    )
    return OrjsonResponse(summary, status_code=202)


@router.post("/seal-tasks/{task_id}/resume", status_code=202)
def resume_seal_task(
    request: Request, task_id: UUID, identity: Identity = Seal
) -> Response:
    """After a failure: the failed files wait to be sealed again."""
    caller = caller_of(request, identity, None)
    return answer(services(request).sealing.resume(caller, task_id))


@router.get("/library/records/{record_id}/documents/{document_id}/verification")
async def verify_document(
    request: Request,
    record_id: UUID,
    document_id: UUID,
    identity: Identity = Depends(require("signatures.verify")),
) -> Response:
    """Every signature of a library file: signer, certificate validity and
    revocation, chain to the platform's root, intact or modified after
    signing, signing time."""
    caller = caller_of(request, identity, None)
    report = await asyncio.to_thread(
        services(request).sealing.verify_document, caller, record_id, str(document_id)
    )
    return OrjsonResponse(report)

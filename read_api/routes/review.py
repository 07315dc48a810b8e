"""Reviews (manual 6.2 and 6.4, 审核): the list with "assigned to me" (由我审核),
one review with its files and every level's verdicts and opinions, and a
reviewer's steps (open, save, submit); accepting a delivery through a review
flow; deleting a task from the dispatch queue, such as one whose review failed.

Reviewing needs no permission of the catalogue: the flow says who reviews,
and the commands check it (``NOT_YOUR_REVIEW``). The routes therefore ask only
for ``account.own``, which every signed-in account holds, and answer 404 for a
review of another enterprise.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.errors import NotFound
from projections.review import ReviewsView, query_review, query_reviews
from read_api.auth import IdempotencyKey, Identity, require
from read_api.http import (
    MAX_LIMIT,
    answer,
    caller_of,
    services,
    view_answer,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1", tags=["review"])
After = Annotated[int | None, Query(ge=0)]
Reviewer = Depends(require("account.own"))


class VerdictsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: document id -> "pass" or "fail"; files not named are unprocessed.
    verdicts: dict[str, Literal["pass", "fail"]] = Field(
        default_factory=dict, max_length=500
    )
    opinion: str | None = Field(default=None, max_length=500)


class FlowChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow_id: UUID


@router.get("/reviews")
def list_reviews(
    request: Request,
    identity: Identity = Reviewer,
    assigned_to_me: bool = False,
    status: Literal["in_review", "passed", "failed"] | None = None,
    subject_kind: Literal["package", "delivery"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    after: After = None,
) -> Response:
    """The enterprise's reviews, newest first, each saying whether the caller
    may act on it now; ``assigned_to_me`` keeps only those."""
    caught_up = wait_for_view(request, ReviewsView.name, after)
    found = services(request)
    role = found.review.role_of(identity.enterprise_id, identity.account_id)
    with found.views.transaction(write=False) as tx:
        items = query_reviews(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            account_id=identity.account_id,
            role_id=role,
            assigned_to_me=assigned_to_me,
            status=status,
            subject_kind=subject_kind,
            limit=limit,
        )
    return view_answer({"items": items}, caught_up=caught_up)


@router.get("/reviews/{review_id}")
def get_review(
    request: Request,
    review_id: UUID,
    identity: Identity = Reviewer,
    after: After = None,
) -> Response:
    """One review: its files, and each level's reviewer, lock, verdicts and
    opinion (every level reads the opinions of the levels before it)."""
    caught_up = wait_for_view(request, ReviewsView.name, after)
    found = services(request)
    role = found.review.role_of(identity.enterprise_id, identity.account_id)
    with found.views.transaction(write=False) as tx:
        review = query_review(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            review_id=str(review_id),
            account_id=identity.account_id,
            role_id=role,
        )
    if review is None:
        raise NotFound(f"no review {review_id}")
    return view_answer(review, caught_up=caught_up)


@router.post("/reviews/{review_id}/open", status_code=202)
def open_review(
    request: Request,
    review_id: UUID,
    identity: Identity = Reviewer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Opens the current level for the caller; the first member to open an
    any-member level locks it (``REVIEW_LOCKED`` for the others)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).review.open(caller, review_id))


@router.post("/reviews/{review_id}/save", status_code=202)
def save_review(
    request: Request,
    review_id: UUID,
    body: VerdictsBody,
    identity: Identity = Reviewer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Keeps the level's verdicts and opinion so far (保存审核结果)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).review.save(caller, review_id, body.verdicts, body.opinion)
    )


@router.post("/reviews/{review_id}/submit", status_code=202)
def submit_review(
    request: Request,
    review_id: UUID,
    body: VerdictsBody,
    identity: Identity = Reviewer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Passes the level on (提交审核结果). The final level judges every file
    (``REVIEW_INCOMPLETE``) and decides: the review passes when it failed no
    file."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).review.submit(caller, review_id, body.verdicts, body.opinion)
    )


@router.post("/inbox/{delivery_id}/accept-with-review", status_code=202)
def accept_with_review(
    request: Request,
    delivery_id: UUID,
    body: FlowChoice,
    identity: Identity = Depends(require("exchange.accept")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Accepts the package through an accept-triggered review flow: its
    files reach the library when the final level passes them."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).review.accept_with_review(
            caller, delivery_id, str(body.flow_id)
        )
    )


@router.post("/reviews/{review_id}/delete-package", status_code=202)
def delete_failed_package(
    request: Request,
    review_id: UUID,
    identity: Identity = Depends(require("account.own")),
) -> Response:
    """The final reviewer of a failed send review deletes the package's task
    (manual 6.2)."""
    caller = caller_of(request, identity, None)
    return answer(services(request).review.discard_failed(caller, review_id))


@router.post("/packages/{package_id}/delete", status_code=202)
def delete_package(
    request: Request,
    package_id: UUID,
    identity: Identity = Depends(require("exchange.send")),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes a task from the dispatch queue: one whose review failed, or
    one not sealed yet. It cannot be restored; compose it again."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).review.discard_package(caller, package_id))

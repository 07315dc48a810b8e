"""The audit trail and any record's state as of a past version or time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from aggregates.errors import InvalidValue
from commands.errors import NotFound
from projections.audit import AuditFilter, AuditView, query_audit
from projections.events import iso
from read_api.auth import Identity, require
from read_api.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OrjsonResponse,
    decode_cursor,
    page,
    services,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit-events")
def list_audit_events(
    request: Request,
    identity: Identity = Depends(require("audit.read")),
    aggregate_id: UUID | None = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    enterprise_id: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Who did what, when and for whom, in the order it happened. Callers of an
    enterprise see only their enterprise's events."""
    if not identity.platform_wide:
        if enterprise_id not in (None, identity.enterprise_id):
            raise NotFound(f"no audit trail for enterprise {enterprise_id}")
        enterprise_id = identity.enterprise_id
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidValue(f"{name} needs a UTC offset (RFC 3339)", field=name)
    caught_up = wait_for_view(request, AuditView.name, after)
    last = decode_cursor(cursor)
    where = AuditFilter(
        aggregate_id=str(aggregate_id) if aggregate_id else None,
        actor=actor,
        enterprise_id=enterprise_id,
        since=iso(since) if since else None,
        until=iso(until) if until else None,
        after_position=int(last) if isinstance(last, int) else 0,
    )
    found = services(request)
    with found.views.transaction(write=False) as tx:
        rows = query_audit(found.engine, tx, where, limit)
    return page(
        rows, limit, rows[-1]["position"] if rows else None, caught_up=caught_up
    )


@router.get("/aggregates/{aggregate_id}/state")
def aggregate_state(
    request: Request,
    aggregate_id: UUID,
    identity: Identity = Depends(require("history.read")),
    version: Annotated[int | None, Query(ge=1)] = None,
    at: datetime | None = None,
) -> Response:
    """A record's state replayed from its events, as it was after ``version``
    or at the time ``at`` (default: now)."""
    if version is not None and at is not None:
        raise InvalidValue("give either version or at, not both", field="at")
    if at is not None and at.tzinfo is None:
        raise InvalidValue("at needs a UTC offset (RFC 3339)", field="at")
    history = services(request).history
    if not identity.may_see(history.owner_of(aggregate_id)):
        raise NotFound(f"no record {aggregate_id}")
    return OrjsonResponse(history.state(aggregate_id, version=version, at=at))

"""The directory of verified enterprises, for choosing counterparts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from commands.errors import NotFound
from projections.enterprises import EnterprisesView, query_directory
from projections.organisation import OrganisationView, query_receivers
from read_api.auth import Identity, require
from read_api.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_cursor,
    page,
    services,
    view_answer,
    wait_for_view,
)
from read_api.routes.enterprises import Category

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])


@router.get("")
def search_directory(
    request: Request,
    identity: Identity = Depends(require("directory.read")),
    name: Annotated[str | None, Query(max_length=100)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    category: Category | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Verified enterprises (the "V" mark of manual 6.1) whose name or region
    contains the given text, by category, in name order."""
    caught_up = wait_for_view(request, EnterprisesView.name, after)
    found = services(request)
    last = decode_cursor(cursor)
    with found.views.transaction(write=False) as tx:
        rows = query_directory(
            found.engine,
            tx,
            name=name,
            region=region,
            category=category,
            after_name=str(last) if last is not None else None,
            limit=limit,
        )
    for row in rows:
        row["verified"] = bool(row["verified"])
    return page(rows, limit, rows[-1]["name"] if rows else None, caught_up=caught_up)


@router.get("/{enterprise_id}")
def directory_entry(
    request: Request,
    enterprise_id: UUID,
    identity: Identity = Depends(require("directory.read")),
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """One verified enterprise with its receiving departments and, in each,
    the persons who chose to be shown to senders (manual 6.1, 12). An
    enterprise that shows none is sent to as a whole."""
    caught_up = wait_for_view(request, OrganisationView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        rows = query_directory(
            found.engine,
            tx,
            name=None,
            region=None,
            category=None,
            after_name=None,
            limit=1,
            enterprise_id=str(enterprise_id),
        )
        if not rows:
            raise NotFound(f"no verified enterprise {enterprise_id}")
        entry = {**rows[0], "verified": True}
        entry["receivers"] = query_receivers(found.engine, tx, str(enterprise_id))
    return view_answer(entry, caught_up=caught_up)

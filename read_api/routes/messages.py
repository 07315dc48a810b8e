"""The message centre (manual 13): the enterprise's messages, newest first;
how many are unread; marking them read or unread, and deleting them."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from commands.messages import MarkAction, MessageCommands
from projections.messages import MessageKind, MessagesView, count_unread, query_messages
from read_api.auth import IdempotencyKey, Identity, require
from read_api.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadCursor,
    answer,
    caller_of,
    decode_cursor,
    page,
    services,
    view_answer,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
Read = Depends(require("messages.read"))
After = Annotated[int | None, Query(ge=0)]


class MessageIdsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The bound guards the parser; the mailbox answers TOO_MANY_MESSAGES.
    message_ids: list[UUID] = Field(min_length=1, max_length=1000)


def commands(request: Request) -> MessageCommands:
    found: MessageCommands = request.app.state.services.messages
    return found


def before_of(cursor: str | None) -> tuple[str, str] | None:
    """The (created_at, message_id) a cursor of :func:`list_messages` names."""
    last: Any = decode_cursor(cursor)
    if last is None:
        return None
    if (
        not isinstance(last, list)
        or len(last) != 2
        or not all(isinstance(part, str) for part in last)
    ):
        raise BadCursor("the cursor is not one this server gave out")
    return last[0], last[1]


@router.get("")
def list_messages(
    request: Request,
    identity: Identity = Read,
    unread: bool | None = None,
    kind: MessageKind | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """The enterprise's messages, newest first: only the unread ones with
    ``unread=true``, the read ones with ``unread=false``, one ``kind``."""
    caught_up = wait_for_view(request, MessagesView.name, after)
    before = before_of(cursor)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        rows = query_messages(
            found.engine,
            tx,
            enterprise_id=identity.enterprise_id,
            unread=unread,
            kind=kind.value if kind else None,
            before=before,
            limit=limit,
        )
    last = [rows[-1]["created_at"], rows[-1]["message_id"]] if rows else None
    return page(rows, limit, last, caught_up=caught_up)


@router.get("/unread-count")
def unread_count(
    request: Request, identity: Identity = Read, after: After = None
) -> Response:
    """How many of the enterprise's messages are unread."""
    caught_up = wait_for_view(request, MessagesView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        unread = count_unread(found.engine, tx, enterprise_id=identity.enterprise_id)
    return view_answer({"unread": unread}, caught_up=caught_up)


def _mark(
    request: Request,
    identity: Identity,
    idempotency_key: str | None,
    body: MessageIdsBody,
    action: MarkAction,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    ids = [str(i) for i in body.message_ids]
    return answer(commands(request).mark(caller, ids, action))


@router.post("/read", status_code=202)
def mark_read(
    request: Request,
    body: MessageIdsBody,
    identity: Identity = Read,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Marks up to 200 messages read; ids that are not the enterprise's
    messages change nothing."""
    return _mark(request, identity, idempotency_key, body, MarkAction.READ)


@router.post("/unread", status_code=202)
def mark_unread(
    request: Request,
    body: MessageIdsBody,
    identity: Identity = Read,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Marks up to 200 messages unread again."""
    return _mark(request, identity, idempotency_key, body, MarkAction.UNREAD)


@router.post("/delete", status_code=202)
def delete_messages(
    request: Request,
    body: MessageIdsBody,
    identity: Identity = Read,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes up to 200 messages from the message centre."""
    return _mark(request, identity, idempotency_key, body, MarkAction.DELETE)

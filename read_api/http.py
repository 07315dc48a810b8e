"""Plumbing shared by the routes: orjson responses, request ids, waiting for a
view to catch up with a client's own write, command answers, cursors."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from aggregates.errors import InvalidValue
from commands.errors import CommandError
from commands.platform import Caller, CommandResult
from read_api.auth import Identity
from read_api.wiring import Services

MAX_LIMIT = 200
DEFAULT_LIMIT = 20


class OrjsonResponse(JSONResponse):
    """JSON through orjson: fast, and Chinese text left unescaped."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


class BadCursor(CommandError):
    code = "INVALID_CURSOR"
    status = 400


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise BadCursor("the cursor is not one this server gave out") from None


def caller_of(
    request: Request,
    identity: Identity,
    idempotency_key: str | None,
    if_match: str | None = None,
) -> Caller:
    return Caller(
        account_id=identity.account_id,
        enterprise_id=identity.enterprise_id,
        role=identity.role,
        correlation_id=request_id(request),
        idempotency_key=idempotency_key,
        expected_version=parse_version(if_match),
    )


def parse_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().strip('"').removeprefix('W/"').strip('"')
    if not text.isdigit():
        raise InvalidValue(
            f"If-Match must be an aggregate version number, not {if_match!r}",
            field="If-Match",
        )
    return int(text)


def answer(result: CommandResult) -> Response:
    status = 201 if result.created else 202
    headers = {"X-Event-Position": str(result.position)}
    if result.version is not None:
        headers["ETag"] = f'"{result.version}"'
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return OrjsonResponse(result.body(), status_code=status, headers=headers)


def wait_for_view(request: Request, view: str, after: int | None) -> bool:
    """Waits, boundedly, until ``view`` has applied the event at position
    ``after`` (from ``?after=`` or a ``Wait-For`` header); says whether it did."""
    header = request.headers.get("wait-for")
    if after is None and header is not None:
        if not header.strip().isdigit():
            raise InvalidValue("Wait-For must be an event position", field="Wait-For")
        after = int(header)
    if after is None or after <= 0:
        return True
    found = services(request)
    part = found.partition_of(after)
    deadline = time.monotonic() + found.settings.wait_timeout_seconds
    pause = 0.005
    while not found.engine.has_reached(view, after, part):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return True


def view_answer(body: Any, *, caught_up: bool) -> Response:
    """A read from a view; ``X-View-Stale`` says it had not yet caught up
    with the position the client waited for."""
    headers = {} if caught_up else {"X-View-Stale": "true"}
    return OrjsonResponse(body, headers=headers)


def page(
    items: list[dict[str, Any]], limit: int, next_cursor: Any, *, caught_up: bool
) -> Response:
    body = {
        "items": items,
        "next_cursor": encode_cursor(next_cursor) if len(items) == limit else None,
    }
    headers = {} if caught_up else {"X-View-Stale": "true"}
    return OrjsonResponse(body, headers=headers)

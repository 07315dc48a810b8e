"""The FastAPI application: routes, problem documents, request ids, limits."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aggregates.errors import DomainError
from commands.errors import CommandError
from ocr_service.errors import OcrError
from projections.store import ViewStoreError
from read_api.http import OrjsonResponse
from read_api.problems import problem
from read_api.routes import (
    accounts,
    address_book,
    audit,
    directory,
    enterprises,
    exchange,
    library,
    messages,
    ocr,
    operations,
    organisation,
    review,
    sessions,
    signing,
    sms,
)
from read_api.settings import Settings
from read_api.wiring import Services, build
from signing_service.errors import SigningServiceError

#: Every router of the API; the permission tests walk these.
ROUTERS = (
    accounts.router,
    address_book.router,
    sessions.router,
    enterprises.router,
    directory.router,
    audit.router,
    operations.router,
    ocr.router,
    library.router,
    organisation.router,
    organisation.flows,
    signing.router,
    exchange.router,
    messages.router,
    review.router,
    sms.router,
)

logger = logging.getLogger(__name__)
access_log = logging.getLogger("shouying.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: HTTP statuses of the OCR service's refusals (others are 422).
OCR_STATUS = {
    "UNSUPPORTED_FILE": 415,
    "FILE_TOO_LARGE": 413,
    "IMAGE_TOO_LARGE": 413,
    "RECOGNITION_TIMEOUT": 503,
    "ENGINE_UNAVAILABLE": 503,
}

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in, so FastAPI's body reader passes it on
    to the problem handlers like any HTTP error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds {limit} bytes")


#: Routes taking a folder archive of many files, with a cap of their own.
_ARCHIVE_PATH = re.compile(r"^/api/v1/library/imports/[^/]+/folders$")


class Envelope:
    """Gives each request an id (``X-Request-ID``, taken from the request when
    it is well formed), caps the body size, and writes one access log line."""

    def __init__(
        self, app: ASGIApp, max_body: int, max_upload: int, max_archive: int
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.max_archive = max_archive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        # File uploads may be larger than JSON commands; each kind has its cap.
        uploading = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.max_upload if uploading else self.max_body
        if uploading and _ARCHIVE_PATH.match(scope.get("path", "")):
            limit = self.max_archive
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            status = 413
            await self._too_large(scope, receive, send, rid, limit)
            self._log(scope, status, started, rid)
            return

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", rid.encode())
                )
            await send(message)

        try:
            await self.app(scope, capped_receive, tagged_send)
        finally:
            self._log(scope, status, started, rid)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, rid: str, limit: int
    ) -> None:
        request = Request(scope, receive)
        response = problem(
            request,
            413,
            "BODY_TOO_LARGE",
            f"the body exceeds {limit} bytes",
            headers={"X-Request-ID": rid},
        )
        await response(scope, receive, send)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, rid: str) -> None:
        # The path only: query strings may carry names or phone numbers.
        access_log.info(
            "%s %s %d %.1fms rid=%s",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            rid,
        )


def _validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors = []
    malformed = False
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            malformed = True
        location = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(location), "message": str(error.get("msg"))})
    return ("MALFORMED_JSON" if malformed else "VALIDATION_FAILED"), errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(
        request: Request, exc: RequestValidationError
    ) -> Response:
        code, errors = _validation_errors(exc)
        status = 400 if code == "MALFORMED_JSON" else 422
        return problem(request, status, code, "the request is not valid", errors=errors)

    @app.exception_handler(DomainError)
    async def domain_rule(request: Request, exc: DomainError) -> Response:
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return problem(request, exc.status, exc.code, exc.message, errors=errors)

    @app.exception_handler(CommandError)
    async def command_failed(request: Request, exc: CommandError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(request, exc.status, exc.code, exc.message, headers=headers)

    @app.exception_handler(SigningServiceError)
    async def unsealable(request: Request, exc: SigningServiceError) -> Response:
        return problem(request, exc.status, exc.code, exc.message)

    @app.exception_handler(OcrError)
    async def unreadable(request: Request, exc: OcrError) -> Response:
        status = OCR_STATUS.get(exc.code, 422)
        return problem(request, status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            413: "BODY_TOO_LARGE",
            415: "UNSUPPORTED_MEDIA_TYPE",
        }
        code = codes.get(exc.status_code, "VALIDATION_FAILED")
        return problem(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(PersistenceError)
    @app.exception_handler(ViewStoreError)
    async def store_down(request: Request, exc: Exception) -> Response:
        logger.error("storage failed: %s", type(exc).__name__, exc_info=exc)
        return problem(
            request, 503, "SERVICE_UNAVAILABLE", "storage is unavailable; retry later"
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error", exc_info=exc)
        return problem(request, 500, "INTERNAL_ERROR", "an unexpected error occurred")


def create_app(
    settings: Settings | None = None, *, services: Services | None = None
) -> FastAPI:
    """The ASGI application. Without Kafka, the views are kept in-process."""
    settings = settings or (services.settings if services else Settings.from_env())
    owned = services is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        found: Services = app.state.services
        if not settings.kafka_bootstrap:
            found.start_follower()
        logger.info(
            "API ready (%s)", "postgres" if settings.uses_postgres else "sqlite"
        )
        yield
        if owned:
            found.close()
        else:
            found._stop.set()

    app = FastAPI(
        title="Shouying first-business document exchange",
        version="0.1.0",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    app.state.services = services or build(settings)
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        Envelope,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
        max_archive=settings.max_archive_bytes,
    )
    return app

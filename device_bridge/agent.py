"""The HTTP agent the user runs on the PC that holds the USB token.

The platform's web page calls it at ``http://127.0.0.1:<port>``:

* ``GET /tokens``: the tokens present (the module is re-initialised first, so
  a token plugged in after the agent started shows up);
* ``GET /tokens/{slot}/certificates``: the token's X.509 certificates;
* ``POST /tokens/{slot}/sign`` with ``{"key_id": hex, "pin": str, "data":
  base64}``: ``{"signature": base64, "mechanism": "CKM_...", "algorithm":
  "sha256_rsa" | "sha256_ecdsa"}``, the SHA-256 signature of exactly ``data``
  (see :mod:`device_bridge.token`).

Only web pages of the allowed origins may use it: every request must carry an
``Origin`` header naming one of them (else 403 ``ORIGIN_NOT_ALLOWED``), and a
``Host`` of ``127.0.0.1:<port>`` or ``localhost:<port>`` (else 403
``HOST_NOT_ALLOWED``: a DNS-rebinding page reaches it under its own name).
CORS preflights are answered for allowed origins only, echoing the origin
(never ``*``). Errors are ``application/problem+json`` documents ``{type,
title, status, detail, code, instance}``. Bodies are capped at 1 MiB, the data
to sign at 64 KiB. The PIN is never logged nor echoed.

Run it with ``python -m device_bridge --module /path/to/pkcs11.so --origin
https://platform.example`` (or ``SHOUYING_PKCS11_MODULE``,
``SHOUYING_BRIDGE_ORIGINS``, ``SHOUYING_BRIDGE_PORT``); it listens on
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from device_bridge.token import (
    MAX_SIGN_BYTES,
    BridgeError,
    CertificateInfo,
    TokenInfo,
    Tokens,
)

__all__ = [
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "create_agent",
    "main",
    "normalise_origin",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT: Final = 17890
MAX_BODY_BYTES: Final = 1024 * 1024
#: The only address the agent listens on.
LOOPBACK: Final = "127.0.0.1"
PROBLEM_TYPE: Final = "https://shouying.example/problems/"

_MAX_KEY_ID_BYTES: Final = 255
_MAX_PIN_CHARS: Final = 256
# Base64 of MAX_SIGN_BYTES, with room for padding and nothing more.
_MAX_DATA_CHARS: Final = 4 * ((MAX_SIGN_BYTES + 2) // 3)

TITLES: Final[dict[str, tuple[str, str]]] = {
    "ORIGIN_NOT_ALLOWED": ("不允许该网页调用证书助手", "The origin is not allowed"),
    "HOST_NOT_ALLOWED": ("请求地址不正确", "The host is not allowed"),
    "TOKEN_NOT_FOUND": ("未检测到 USB Key，请插入后重试", "The token is not present"),
    "PIN_INCORRECT": ("USB Key 口令错误", "The PIN is incorrect"),
    "PIN_LOCKED": ("USB Key 口令已锁定", "The PIN is locked"),
    "KEY_NOT_FOUND": ("USB Key 中没有该证书的私钥", "The key is not on the token"),
    "KEY_UNSUPPORTED": ("不支持该类型的密钥", "The key type is not supported"),
    "DATA_TOO_LARGE": ("待签名数据过大", "The data to sign is too large"),
    "TOKEN_ERROR": ("USB Key 操作失败", "The token failed"),
    "BODY_TOO_LARGE": ("请求体过大", "The request body is too large"),
    "MALFORMED_JSON": ("请求体不是合法的 JSON", "The request body is not valid JSON"),
    "UNSUPPORTED_MEDIA_TYPE": ("不支持的内容类型", "Unsupported content type"),
    "VALIDATION_FAILED": ("请求内容不符合要求", "The request is not valid"),
    "NOT_FOUND": ("资源不存在", "Not found"),
    "METHOD_NOT_ALLOWED": ("不支持该请求方法", "Method not allowed"),
    "INTERNAL_ERROR": ("证书助手内部错误", "Internal error"),
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# -- problem documents ---------------------------------------------------------


def _problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str,
    english: bool,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    zh, en = TITLES.get(code, (code, code))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code.lower().replace("_", "-"),
        "title": en if english else zh,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/problem+json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _english(headers: dict[str, str]) -> bool:
    return headers.get("accept-language", "zh-CN").strip().lower().startswith("en")


def _request_problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
) -> Response:
    return _problem(
        status,
        code,
        detail,
        instance=request.url.path,
        english=_english(dict(request.headers)),
        errors=errors,
    )


# -- origins and hosts ---------------------------------------------------------


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without the scheme's default
    port, as browsers send ``Origin``.

    Raises ``ValueError`` for anything else, ``*`` and ``null`` included.
    """
    text = origin.strip().rstrip("/")
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
    ):
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"not an origin (bad port): {origin!r}") from None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port == {"http": 80, "https": 443}[parts.scheme]:
        port = None  # browsers leave the default port out
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class _Guard:
    """Host and Origin checks, CORS, and the body cap, before any route runs."""

    def __init__(
        self, app: ASGIApp, origins: frozenset[str], hosts: frozenset[str]
    ) -> None:
        self.app = app
        self.origins = origins
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        english = _english(headers)
        path = scope.get("path", "")

        async def refuse(status: int, code: str, detail: str) -> None:
            response = _problem(status, code, detail, instance=path, english=english)
            await response(scope, receive, send)

        if headers.get("host", "").strip().lower() not in self.hosts:
            logger.warning("refused a request for another host (DNS rebinding?)")
            await refuse(
                403, "HOST_NOT_ALLOWED", "call the agent at 127.0.0.1 or localhost"
            )
            return
        origin = headers.get("origin")
        if origin is None or origin.lower() not in self.origins:
            logger.warning("refused a request from origin %r", origin)
            await refuse(
                403,
                "ORIGIN_NOT_ALLOWED",
                "the agent serves only the platform's pages"
                if origin
                else "the request carries no Origin header",
            )
            return
        allowed: str = origin
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, receive, send, allowed, headers)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await refuse(
                413, "BODY_TOO_LARGE", f"the body exceeds {MAX_BODY_BYTES} bytes"
            )
            return

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise BridgeError(
                        "BODY_TOO_LARGE",
                        413,
                        f"the body exceeds {MAX_BODY_BYTES} bytes",
                    )
            return message

        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = message.setdefault("headers", [])
                extra.append(
                    (b"access-control-allow-origin", allowed.encode("latin-1"))
                )
                extra.append((b"vary", b"Origin"))
                extra.append((b"x-content-type-options", b"nosniff"))
            await send(message)

        await self.app(scope, capped_receive, cors_send)

    @staticmethod
    async def _preflight(
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: str,
        headers: dict[str, str],
    ) -> None:
        answer = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, Accept-Language",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin, Access-Control-Request-Method, "
            "Access-Control-Request-Headers",
        }
        # Chrome's Private Network Access: a public page calling 127.0.0.1.
        if headers.get("access-control-request-private-network") == "true":
            answer["Access-Control-Allow-Private-Network"] = "true"
        await Response(status_code=204, headers=answer)(scope, receive, send)


# -- the application -------------------------------------------------------------


def _token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "slot": token.slot,
        "label": token.label,
        "serial": token.serial,
        "manufacturer": token.manufacturer,
        "model": token.model,
    }


def _certificate_json(certificate: CertificateInfo) -> dict[str, Any]:
    return {
        "id_hex": certificate.id_hex,
        "label": certificate.label,
        "subject": certificate.subject,
        "serial_hex": certificate.serial_hex,
        "not_after": certificate.not_after.isoformat(),
        "der": base64.b64encode(certificate.der).decode("ascii"),
    }


def _sign_request(body: bytes) -> tuple[str, str, bytes]:
    """``(key_id_hex, pin, data)`` from the body of a signing request.

    Messages name the field and the rule, never the value sent.
    """
    try:
        document = json.loads(body)
    except ValueError:
        raise BridgeError(
            "MALFORMED_JSON", 400, "the request body is not valid JSON"
        ) from None
    if not isinstance(document, dict):
        raise _invalid([("", "the body must be a JSON object")])
    errors: list[tuple[str, str]] = []
    key_id = document.get("key_id")
    if not isinstance(key_id, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", key_id):
        errors.append(("key_id", "must be the key's CKA_ID in hexadecimal"))
    elif len(key_id) > 2 * _MAX_KEY_ID_BYTES:
        errors.append(("key_id", f"must be at most {_MAX_KEY_ID_BYTES} bytes"))
    pin = document.get("pin")
    if not isinstance(pin, str) or not pin:
        errors.append(("pin", "must be a non-empty string"))
    elif len(pin) > _MAX_PIN_CHARS:
        errors.append(("pin", f"must be at most {_MAX_PIN_CHARS} characters"))
    encoded = document.get("data")
    data = b""
    if not isinstance(encoded, str):
        errors.append(("data", "must be a base64 string"))
    elif len(encoded) > _MAX_DATA_CHARS:
        raise BridgeError(
            "DATA_TOO_LARGE", 413, f"at most {MAX_SIGN_BYTES} bytes can be signed"
        )
    else:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            errors.append(("data", "must be base64 (RFC 4648, with padding)"))
        else:
            if not data:
                errors.append(("data", "must not be empty"))
    if errors:
        raise _invalid(errors)
    if len(data) > MAX_SIGN_BYTES:
        raise BridgeError(
            "DATA_TOO_LARGE", 413, f"at most {MAX_SIGN_BYTES} bytes can be signed"
        )
    assert isinstance(key_id, str) and isinstance(pin, str)
    return key_id.lower(), pin, data


class _Invalid(BridgeError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("VALIDATION_FAILED", 422, "the request is not valid")
        self.errors = errors


def _invalid(errors: Iterable[tuple[str, str]]) -> _Invalid:
    return _Invalid([{"field": f, "message": m} for f, m in errors])


def create_agent(
    tokens: Tokens, allowed_origins: set[str], *, port: int = DEFAULT_PORT
) -> FastAPI:
    """The agent's ASGI application over ``tokens``.

    ``allowed_origins`` are the platform's web origins (``scheme://host[:port]``,
    no ``*``); ``port`` is the one it listens on, which the ``Host`` check
    expects. Raises ``ValueError`` for an empty or malformed origin set.
    """
    origins = frozenset(normalise_origin(o) for o in allowed_origins)
    if not origins:
        raise ValueError("at least one allowed origin is needed")
    hosts = frozenset({f"{LOOPBACK}:{port}", f"localhost:{port}"})

    app = FastAPI(
        title="Shouying device bridge",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(_Guard, origins=origins, hosts=hosts)

    @app.exception_handler(BridgeError)
    async def refused(request: Request, exc: BridgeError) -> Response:
        errors = exc.errors if isinstance(exc, _Invalid) else None
        return _request_problem(request, exc.status, exc.code, exc.message, errors)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(
        request: Request, exc: RequestValidationError
    ) -> Response:
        # Field and rule only: pydantic's "input" would echo what was sent.
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e.get("msg")),
            }
            for e in exc.errors()
        ]
        return _request_problem(
            request, 422, "VALIDATION_FAILED", "the request is not valid", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        code = codes.get(exc.status_code, "VALIDATION_FAILED")
        return _request_problem(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # The type only: a message could quote what the request carried.
        logger.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return _request_problem(
            request, 500, "INTERNAL_ERROR", "an unexpected error occurred"
        )

    @app.get("/tokens")
    async def list_tokens() -> Response:
        found = await run_in_threadpool(tokens.list_tokens, rescan=True)
        return _json({"tokens": [_token_json(t) for t in found]})

    @app.get("/tokens/{slot}/certificates")
    async def certificates(slot: int) -> Response:
        found = await run_in_threadpool(tokens.certificates, slot)
        return _json({"certificates": [_certificate_json(c) for c in found]})

    @app.post("/tokens/{slot}/sign")
    async def sign(slot: int, request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0]
        if media_type.strip().lower() != "application/json":
            raise BridgeError(
                "UNSUPPORTED_MEDIA_TYPE", 415, "send the body as application/json"
            )
        key_id, pin, data = _sign_request(await request.body())
        signature = await run_in_threadpool(
            tokens.create_signature, slot, pin, key_id, data
        )
        return _json(
            {
                "signature": base64.b64encode(signature.value).decode("ascii"),
                "mechanism": signature.mechanism,
                "algorithm": signature.algorithm,
            }
        )

    return app


def _json(body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


# -- the command -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m device_bridge",
        description="Let the platform's web pages sign with the USB token "
        "(listens on 127.0.0.1 only).",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port (default: SHOUYING_BRIDGE_PORT or {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--module", help="the token's PKCS#11 module (default: SHOUYING_PKCS11_MODULE)"
    )
    parser.add_argument(
        "--origin",
        action="append",
        help="a web origin allowed to call the agent, repeatable "
        "(default: SHOUYING_BRIDGE_ORIGINS, comma-separated)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the agent until interrupted; returns the exit status."""
    import uvicorn

    parser = _parser()
    args = parser.parse_args(argv)
    port = args.port
    if port is None:
        given = os.environ.get("SHOUYING_BRIDGE_PORT", "").strip()
        if given and not given.isdigit():
            parser.error("SHOUYING_BRIDGE_PORT must be a port number")
        port = int(given) if given else DEFAULT_PORT
    if not 0 < port < 65536:
        parser.error(f"port {port} is out of range")
    module = args.module or os.environ.get("SHOUYING_PKCS11_MODULE", "").strip()
    if not module:
        parser.error("name the PKCS#11 module: --module or SHOUYING_PKCS11_MODULE")
    origins = args.origin or [
        o
        for o in re.split(r"[,\s]+", os.environ.get("SHOUYING_BRIDGE_ORIGINS", ""))
        if o
    ]
    if not origins:
        parser.error("name the allowed origin: --origin or SHOUYING_BRIDGE_ORIGINS")

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        tokens = Tokens(module)
    except BridgeError as e:
        print(f"{e.code}: {e.message}", file=sys.stderr)
        return 2
    try:
        try:
            app = create_agent(tokens, set(origins), port=port)
        except ValueError as e:
            print(str(e), file=sys.stderr)
            return 2
        uvicorn.run(
            app,
            host=LOOPBACK,
            port=port,
            proxy_headers=False,
            server_header=False,
            log_level="info",
        )
    finally:
        tokens.close()
    return 0

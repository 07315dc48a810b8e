"""The device bridge against a SoftHSM2 token, through the agent's HTTP API.

Each test gets a SoftHSM of its own (``tests/softhsm.py``); the module is
loaded by ``Tokens`` only after the token exists and unloaded before the next
test, as SoftHSM reads its configuration in ``C_Initialize``.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from typing import Any

import PyKCS11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_bridge import agent as agent_module
from device_bridge.agent import create_agent, normalise_origin
from device_bridge.token import BridgeError, Tokens, error_from_pkcs11
from tests.softhsm import SoftToken, remove, softhsm, softhsm_token

pytestmark = pytest.mark.integration

ORIGIN = "https://shouying.example"
BASE_URL = "http://127.0.0.1:17890"
# Distinctive, so that a leak anywhere is found by a substring search.
WRONG_PIN = "wrong-pin-5f3a9c"
# CMS signed attributes are DER; any bytes will do for the contract.
DATA = bytes.fromhex("3169301806092a864886f70d010903310b06092a864886f70d010701") * 9


@pytest.fixture(params=["rsa2048", "ec_p256"])
def token(request: pytest.FixtureRequest) -> Iterator[SoftToken]:
    with softhsm_token(request.param) as soft_token:
        yield soft_token


@pytest.fixture
def tokens(token: SoftToken) -> Iterator[Tokens]:
    with Tokens(token.module) as loaded:
        yield loaded


@pytest.fixture
def app(tokens: Tokens) -> FastAPI:
    return create_agent(tokens, {ORIGIN})


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL, headers={"Origin": ORIGIN}) as test_client:
        yield test_client


def sign_body(
    token: SoftToken, payload: bytes = DATA, **changes: Any
) -> dict[str, Any]:
    """The JSON of a signing request; ``changes`` replace its fields."""
    body: dict[str, Any] = {
        "key_id": token.key_id_hex,
        "pin": token.pin,
        "data": base64.b64encode(payload).decode(),
    }
    body.update(changes)
    return body


def verify(token: SoftToken, signature: bytes, data: bytes) -> None:
    public_key = token.certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# -- listing ------------------------------------------------------------------


def test_lists_the_token_and_its_certificate(
    client: TestClient, token: SoftToken
) -> None:
    response = client.get("/tokens")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.json()["tokens"] == [
        {
            "slot": token.slot,
            "label": token.label,
            "serial": token.serial,
            "manufacturer": "SoftHSM project",
            "model": "SoftHSM v2",
        }
    ]

    response = client.get(f"/tokens/{token.slot}/certificates")
    assert response.status_code == 200
    (certificate,) = response.json()["certificates"]
    expected = x509.load_der_x509_certificate(token.certificate_der)
    assert certificate["id_hex"] == token.key_id_hex
    assert certificate["label"] == token.label
    assert certificate["subject"] == expected.subject.rfc4514_string()
    assert certificate["serial_hex"] == format(expected.serial_number, "x")
    assert certificate["not_after"] == expected.not_valid_after_utc.isoformat()
    assert base64.b64decode(certificate["der"]) == token.certificate_der


def test_several_tokens_in_one_softhsm() -> None:
    with softhsm() as hsm:
        first = hsm.add_token("rsa2048")
        second = hsm.add_token("ec_p256")
        with Tokens(hsm.module) as tokens:
            listed = {t.serial: t.slot for t in tokens.list_tokens()}
            assert listed == {first.serial: first.slot, second.serial: second.slot}
            for soft_token in (first, second):
                signature = tokens.sign(
                    soft_token.slot, soft_token.pin, soft_token.key_id_hex, DATA
                )
                verify(soft_token, signature, DATA)


# -- signing ------------------------------------------------------------------


def test_signature_verifies_with_the_certificate(
    client: TestClient, token: SoftToken
) -> None:
    response = client.post(f"/tokens/{token.slot}/sign", json=sign_body(token))
    assert response.status_code == 200, response.text
    body = response.json()
    if token.kind == "rsa2048":
        assert body["mechanism"] == "CKM_SHA256_RSA_PKCS"
        assert body["algorithm"] == "sha256_rsa"
    else:
        assert body["mechanism"] == "CKM_ECDSA"
        assert body["algorithm"] == "sha256_ecdsa"
    verify(token, base64.b64decode(body["signature"]), DATA)


def test_rsa_token_that_cannot_hash_gets_the_digest_info() -> None:
    with (
        softhsm_token("rsa2048", mechanisms="CKM_RSA_PKCS,CKM_ECDSA") as token,
        Tokens(token.module) as tokens,
    ):
        signature = tokens.create_signature(
            token.slot, token.pin, token.key_id_hex, DATA
        )
        assert signature.mechanism == "CKM_RSA_PKCS"
        verify(token, signature.value, DATA)


def test_largest_data_is_signed(client: TestClient, token: SoftToken) -> None:
    data = os.urandom(64 * 1024)
    response = client.post(f"/tokens/{token.slot}/sign", json=sign_body(token, data))
    assert response.status_code == 200, response.text
    verify(token, base64.b64decode(response.json()["signature"]), data)


def test_wrong_pin_is_refused_and_never_shown(
    client: TestClient, token: SoftToken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client.post(
        f"/tokens/{token.slot}/sign", json=sign_body(token, pin=WRONG_PIN)
    )
    assert_problem(response, 403, "PIN_INCORRECT")
    assert WRONG_PIN not in response.text

    # The right PIN still works afterwards (the session was logged out).
    response = client.post(f"/tokens/{token.slot}/sign", json=sign_body(token))
    assert response.status_code == 200

    assert caplog.records, "the agent logs its work"
    assert WRONG_PIN not in caplog.text
    assert token.pin not in caplog.text


def test_invalid_pin_value_is_not_echoed(client: TestClient, token: SoftToken) -> None:
    response = client.post(
        f"/tokens/{token.slot}/sign", json=sign_body(token, pin=987654321)
    )
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert body["errors"] == [{"field": "pin", "message": "must be a non-empty string"}]
    assert "987654321" not in response.text


def test_unknown_key(client: TestClient, token: SoftToken) -> None:
    response = client.post(
        f"/tokens/{token.slot}/sign", json=sign_body(token, key_id="00ff")
    )
    assert_problem(response, 404, "KEY_NOT_FOUND")


def test_unknown_slot(client: TestClient, token: SoftToken) -> None:
    response = client.post("/tokens/4242/sign", json=sign_body(token))
    assert_problem(response, 404, "TOKEN_NOT_FOUND")
    assert_problem(client.get("/tokens/4242/certificates"), 404, "TOKEN_NOT_FOUND")
    assert_problem(client.get("/tokens/abc/certificates"), 422, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key_id": "xyz"}, "key_id"),
        ({"key_id": "abc"}, "key_id"),
        ({"key_id": None}, "key_id"),
        ({"pin": ""}, "pin"),
        ({"data": "not base64!"}, "data"),
        ({"data": ""}, "data"),
        ({"data": 12}, "data"),
    ],
)
def test_invalid_sign_requests(
    client: TestClient, token: SoftToken, changes: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/tokens/{token.slot}/sign", json=sign_body(token, **changes)
    )
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [e["field"] for e in body["errors"]] == [field]


def test_malformed_and_mistyped_bodies(client: TestClient, token: SoftToken) -> None:
    url = f"/tokens/{token.slot}/sign"
    json_type = {"Content-Type": "application/json"}
    assert_problem(
        client.post(url, content=b"{", headers=json_type), 400, "MALFORMED_JSON"
    )
    assert_problem(
        client.post(url, content=b"[]", headers=json_type), 422, "VALIDATION_FAILED"
    )
    response = client.post(url, data={"pin": token.pin})
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_data(client: TestClient, token: SoftToken) -> None:
    url = f"/tokens/{token.slot}/sign"
    response = client.post(url, json=sign_body(token, os.urandom(64 * 1024 + 1)))
    assert_problem(response, 413, "DATA_TOO_LARGE")


def test_oversized_body(client: TestClient, token: SoftToken) -> None:
    url = f"/tokens/{token.slot}/sign"
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    assert_problem(
        client.post(url, content=body, headers=headers), 413, "BODY_TOO_LARGE"
    )

    # Without a Content-Length (chunked), the cap applies as the body streams.
    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(url, content=chunks(), headers=headers)
    assert_problem(response, 413, "BODY_TOO_LARGE")


# -- origins and hosts ------------------------------------------------------------


def test_foreign_origin_is_refused(client: TestClient, token: SoftToken) -> None:
    evil = {"Origin": "https://evil.example"}
    response = client.get("/tokens", headers=evil)
    assert_problem(response, 403, "ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in response.headers
    response = client.post(
        f"/tokens/{token.slot}/sign", json=sign_body(token), headers=evil
    )
    assert_problem(response, 403, "ORIGIN_NOT_ALLOWED")
    # A lookalike of the allowed origin is foreign too.
    for lookalike in (ORIGIN + ".evil.example", "http://shouying.example", "null"):
        response = client.get("/tokens", headers={"Origin": lookalike})
        assert_problem(response, 403, "ORIGIN_NOT_ALLOWED")


def test_missing_origin_is_refused(app: FastAPI, token: SoftToken) -> None:
    with TestClient(app, base_url=BASE_URL) as bare:
        assert_problem(bare.get("/tokens"), 403, "ORIGIN_NOT_ALLOWED")
        response = bare.post(f"/tokens/{token.slot}/sign", json=sign_body(token))
        assert_problem(response, 403, "ORIGIN_NOT_ALLOWED")


def test_host_other_than_loopback_is_refused(client: TestClient) -> None:
    # TestClient sends the base URL's host and port as Host.
    assert client.get("/tokens").request.headers["host"] == "127.0.0.1:17890"
    assert client.get("/tokens", headers={"Host": "localhost:17890"}).status_code == 200
    for host in (
        "rebind.evil.example:17890",
        "127.0.0.1:80",
        "127.0.0.1",
        "0.0.0.0:17890",
    ):
        response = client.get("/tokens", headers={"Host": host})
        assert_problem(response, 403, "HOST_NOT_ALLOWED")


def test_preflight_only_for_allowed_origins(
    client: TestClient, token: SoftToken
) -> None:
    url = f"/tokens/{token.slot}/sign"
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true",
    }
    response = client.options(url, headers=asked)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-allow-private-network"] == "true"
    assert "Origin" in response.headers["vary"]

    response = client.options(url, headers={**asked, "Origin": "https://evil.example"})
    assert_problem(response, 403, "ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in response.headers


def test_allowed_origins_must_be_origins(tokens: Tokens) -> None:
    for bad in ("*", "null", "https://shouying.example/app", "shouying.example", ""):
        with pytest.raises(ValueError):
            create_agent(tokens, {bad})
    with pytest.raises(ValueError):
        create_agent(tokens, set())
    assert normalise_origin("HTTPS://Shouying.Example:8443/") == (
        "https://shouying.example:8443"
    )
    assert normalise_origin("https://shouying.example:443") == ORIGIN


# -- removal and errors -------------------------------------------------------------


def test_removed_token_is_not_found(client: TestClient, token: SoftToken) -> None:
    assert client.get("/tokens").json()["tokens"]
    remove(token)
    # Listing re-initialises the module, which is when SoftHSM notices.
    assert client.get("/tokens").json()["tokens"] == []
    response = client.post(f"/tokens/{token.slot}/sign", json=sign_body(token))
    assert_problem(response, 404, "TOKEN_NOT_FOUND")
    response = client.get(f"/tokens/{token.slot}/certificates")
    assert_problem(response, 404, "TOKEN_NOT_FOUND")


@pytest.mark.parametrize(
    ("ckr", "code", "status"),
    [
        (PyKCS11.CKR_TOKEN_NOT_PRESENT, "TOKEN_NOT_FOUND", 404),
        (PyKCS11.CKR_SLOT_ID_INVALID, "TOKEN_NOT_FOUND", 404),
        (PyKCS11.CKR_DEVICE_REMOVED, "TOKEN_NOT_FOUND", 404),
        (PyKCS11.CKR_SESSION_HANDLE_INVALID, "TOKEN_NOT_FOUND", 404),
        (PyKCS11.CKR_PIN_INCORRECT, "PIN_INCORRECT", 403),
        (PyKCS11.CKR_PIN_LOCKED, "PIN_LOCKED", 423),
        (PyKCS11.CKR_DEVICE_ERROR, "TOKEN_ERROR", 502),
        (PyKCS11.CKR_GENERAL_ERROR, "TOKEN_ERROR", 502),
    ],
)
def test_pkcs11_errors_map_to_stable_codes(ckr: int, code: str, status: int) -> None:
    error = error_from_pkcs11(PyKCS11.PyKCS11Error(ckr), "signing")
    assert (error.code, error.status) == (code, status)
    if code == "TOKEN_ERROR":
        assert PyKCS11.CKR[ckr] in error.message


def test_tokens_raises_bridge_errors(tokens: Tokens, token: SoftToken) -> None:
    with pytest.raises(BridgeError) as caught:
        tokens.sign(token.slot, WRONG_PIN, token.key_id_hex, DATA)
    assert caught.value.code == "PIN_INCORRECT"
    assert WRONG_PIN not in str(caught.value)
    assert WRONG_PIN not in repr(caught.value)
    remove(token)
    tokens.rescan()
    with pytest.raises(BridgeError) as caught:
        tokens.sign(token.slot, token.pin, token.key_id_hex, DATA)
    assert caught.value.code == "TOKEN_NOT_FOUND"


# -- the command ----------------------------------------------------------------------


def test_main_listens_on_loopback_only(
    token: SoftToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: dict[str, Any] = {}

    def fake_run(app: FastAPI, **options: Any) -> None:
        started.update(options)
        # While "serving": the allowed origins and the port reached the app.
        with TestClient(app, base_url=f"http://localhost:{options['port']}") as c:
            for origin in (ORIGIN, "https://other.example"):
                response = c.get("/tokens", headers={"Origin": origin})
                assert response.status_code == 200
                assert response.headers["access-control-allow-origin"] == origin
            response = c.get("/tokens", headers={"Host": "127.0.0.1:17890"})
            assert response.status_code == 403

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("SHOUYING_PKCS11_MODULE", token.module)
    monkeypatch.setenv("SHOUYING_BRIDGE_ORIGINS", f"{ORIGIN}, https://other.example")
    monkeypatch.setenv("SHOUYING_BRIDGE_PORT", "18000")
    assert agent_module.main([]) == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 18000)

    # Options win over the environment; --origin repeats.
    monkeypatch.setenv("SHOUYING_BRIDGE_ORIGINS", "https://third.example")
    arguments = ["--port", "18001", "--origin", ORIGIN]
    assert agent_module.main([*arguments, "--origin", "https://other.example"]) == 0
    assert started["port"] == 18001


def test_main_needs_a_module_and_an_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOUYING_PKCS11_MODULE", raising=False)
    monkeypatch.delenv("SHOUYING_BRIDGE_ORIGINS", raising=False)
    with pytest.raises(SystemExit) as exited:
        agent_module.main(["--origin", ORIGIN])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        agent_module.main(["--module", "/nonexistent/pkcs11.so"])
    assert exited.value.code == 2
    assert (
        agent_module.main(["--module", "/nonexistent/pkcs11.so", "--origin", ORIGIN])
        == 2
    )

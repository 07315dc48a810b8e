"""Every route declares who may call it, and refuses everyone else: no token,
a token without the permission, and a caller of another enterprise."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.routing import APIRoute
from PIL import Image

from aggregates.permissions import EVERY_ACCOUNT
from read_api.app import ROUTERS
from read_api.auth import PERMISSIONS
from read_api.settings import Settings
from tests.examples import information
from tests.integration.helpers import Api, running_api


@pytest.fixture
def api(sqlite_settings: Settings) -> Iterator[Api]:
    with running_api(sqlite_settings) as driver:
        yield driver


def declared_permission(route: APIRoute) -> tuple[bool, str | None]:
    """(declared, permission): ``public`` routes declare None."""
    for dependency in route.dependant.dependencies:
        call: Any = dependency.call
        if hasattr(call, "permission"):
            return True, call.permission
    return False, None


def business_routes(api: Api) -> list[APIRoute]:
    routes = [r for router in ROUTERS for r in router.routes]
    assert all(isinstance(r, APIRoute) for r in routes)
    return [r for r in routes if isinstance(r, APIRoute)]


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


PUBLIC_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    .decode()
)
PACKAGE: dict[str, Any] = {
    "recipients": [{"name": "某公司", "enterprise_id": str(uuid.uuid4())}],
    "items": [{"record_id": str(uuid.uuid4()), "document_ids": [str(uuid.uuid4())]}],
}
ROLE = {"name": "质量员", "department_id": "d", "permissions": []}
FLOW = {"name": "发送审核", "trigger": "send", "levels": [{"role_id": "r"}]}
VERDICTS = {"verdicts": {str(uuid.uuid4()): "pass"}, "opinion": "资料齐全"}

#: Valid bodies, so that a refusal comes from the permission or ownership
#: check and not from validating the body first.
BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/enterprises/{enterprise_id}/information": information(),
    "/api/v1/enterprises/{enterprise_id}/reject": {"reason": "资料不全"},
    "/api/v1/enterprises/{enterprise_id}/request-settings": {
        "allow_platform": True,
        "allow_partners": False,
    },
    "/api/v1/organisation/departments": {"name": "质量部"},
    "/api/v1/organisation/departments/{department_id}": {"name": "质量部"},
    "/api/v1/organisation/roles": ROLE,
    "/api/v1/organisation/roles/{role_id}": ROLE,
    "/api/v1/organisation/accounts": {
        "accounts": [{"username": "someone", "person_name": "张三", "role_id": "r"}]
    },
    "/api/v1/certificates/cloud": {"password": "sign-pass-1"},
    "/api/v1/certificates/token": {"mailing_address": "广州"},
    "/api/v1/certificates/{certificate_id}/issue": {"public_key": PUBLIC_KEY},
    "/api/v1/certificates/{certificate_id}/actions": {"action": "activate"},
    "/api/v1/certificates/{certificate_id}/password": {
        "old_password": "a",
        "new_password": "sign-pass-2",
    },
    "/api/v1/certificates/{certificate_id}/password-reset": {
        "account_password": "a",
        "new_password": "sign-pass-2",
    },
    "/api/v1/certificates/{certificate_id}/password-free": {
        "password": "a",
        "enabled": True,
    },
    "/api/v1/enterprises/{enterprise_id}/seal-images/review": {
        "kind": "official",
        "blob": "0" * 64,
        "approved": True,
    },
    "/api/v1/seal-tasks": {
        "files": [{"record_id": str(uuid.uuid4()), "document_id": str(uuid.uuid4())}]
    },
    "/api/v1/seal-tasks/{task_id}/files/{document_id}/complete": {
        "signature": "AAAAAAAAAAAA"
    },
    "/api/v1/seal-tasks/{task_id}/files/{document_id}/fail": {
        "code": "TOKEN_NOT_FOUND"
    },
    "/api/v1/packages": {
        "recipients": [{"name": "某公司", "enterprise_id": str(uuid.uuid4())}],
        "items": [
            {"record_id": str(uuid.uuid4()), "document_ids": [str(uuid.uuid4())]}
        ],
    },
    "/api/v1/inbox/{delivery_id}/reject": {"reason": "资料不全"},
    "/api/v1/packages/{package_id}": PACKAGE,
    "/api/v1/packages/{package_id}/supplement": {"items": PACKAGE["items"]},
    "/api/v1/review-flows": FLOW,
    "/api/v1/review-flows/{flow_id}": FLOW,
    "/api/v1/reviews/{review_id}/save": VERDICTS,
    "/api/v1/reviews/{review_id}/submit": VERDICTS,
    "/api/v1/inbox/{delivery_id}/accept-with-review": {"flow_id": str(uuid.uuid4())},
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    return buffer.getvalue()


#: Valid multipart bodies (files, form fields, query) for upload routes.
UPLOADS: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str]]] = {
    "/api/v1/library/records/{record_id}/documents": (
        {"file": ("a.png", _png())},
        {"qualification_type": "other"},
        {},
    ),
    "/api/v1/library/records/{record_id}/proposals": (
        {"file": ("a.png", _png())},
        {},
        {},
    ),
    "/api/v1/library/imports": ({"file": ("a.xlsx", b"PK")}, {}, {"kind": "drug"}),
    "/api/v1/verification": ({"file": ("a.pdf", b"%PDF-1.4")}, {}, {}),
    "/api/v1/library/imports/{import_id}/folders": (
        {"files": ("1/a.png", _png())},
        {},
        {},
    ),
}


def call(api: Api, route: APIRoute, path: str, headers: dict[str, str]) -> Any:
    method = sorted(route.methods)[0]
    if route.path in UPLOADS:
        files, data, params = UPLOADS[route.path]
        return api.client.request(
            method, path, headers=headers, files=files, data=data, params=params
        )
    body = BODIES.get(route.path, {})
    return api.client.request(method, path, headers=headers, json=body)


def test_every_route_declares_a_permission_or_that_it_is_public(api: Api) -> None:
    routes = business_routes(api)

    undeclared = [r.path for r in routes if not declared_permission(r)[0]]

    assert len(routes) >= 9
    assert undeclared == []


def test_every_protected_route_refuses_a_caller_without_a_token(api: Api) -> None:
    for route in business_routes(api):
        _, permission = declared_permission(route)
        if permission is None:
            continue

        response = call(api, route, fill(route.path, str(uuid.uuid4())), {})

        assert response.status_code == 401, route.path
        assert response.json()["code"] == "UNAUTHENTICATED"


def test_every_protected_route_refuses_a_role_without_its_permission(
    api: Api,
) -> None:
    admin = api.register()["headers"]
    held = PERMISSIONS["enterprise_admin"]
    checked = 0
    for route in business_routes(api):
        _, permission = declared_permission(route)
        if permission is None or permission in held:
            continue

        response = call(api, route, fill(route.path, str(uuid.uuid4())), admin)

        assert response.status_code == 403, route.path
        assert response.json()["code"] == "FORBIDDEN"
        checked += 1
    assert checked >= 3


def test_every_protected_route_refuses_a_sub_account_whose_role_lacks_it(
    api: Api,
) -> None:
    admin = api.verified()["headers"]
    bare = api.sub_account(admin, api.role(admin, [])["role_id"])
    checked = 0
    for route in business_routes(api):
        _, permission = declared_permission(route)
        if permission is None or permission in EVERY_ACCOUNT:
            continue

        response = call(
            api, route, fill(route.path, str(uuid.uuid4())), bare["headers"]
        )

        assert response.status_code == 403, route.path
        assert response.json()["code"] == "FORBIDDEN"
        checked += 1
    assert checked >= 20


def test_another_enterprises_resources_answer_not_found(api: Api) -> None:
    mine = api.verified()
    theirs = api.register()
    held = PERMISSIONS["enterprise_admin"]
    checked = 0
    for route in business_routes(api):
        _, permission = declared_permission(route)
        if permission not in held or "{" not in route.path:
            continue

        path = fill(route.path, theirs["enterprise_id"])
        response = call(api, route, path, mine["headers"])

        assert response.status_code == 404, route.path
        checked += 1
    assert checked >= 2


def test_a_forged_or_expired_token_is_refused(api: Api) -> None:
    import jwt

    secret = api.services.settings.jwt_secret
    forged = jwt.encode({"sub": "x", "ent": "platform", "role": "operator"}, "guess")
    expired = jwt.encode(
        {
            "iss": "shouying",
            "sub": "x",
            "ent": "platform",
            "role": "operator",
            "exp": 1,
        },
        secret,
    )

    for token in (forged, expired, "not-a-jwt"):
        response = api.client.get(
            "/api/v1/views", headers={"Authorization": f"Bearer {token}"}
        )

        assert response.status_code == 401

"""Certificates through the API on PostgreSQL: a cloud certificate issued at
once by the platform CA, its password, and a token certificate issued for a
token's key, activated, and replaced when lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from read_api.settings import Settings
from tests.integration.helpers import Api, running_api

pytestmark = pytest.mark.integration
CERTS = "/api/v1/certificates"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def code_of(response: Any) -> str:
    return str(response.json()["code"])


def listed(api: Api, headers: dict[str, str], position: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get(
        CERTS, params={"after": position}, headers=headers
    ).json()["items"]
    return items


def test_a_cloud_certificate_is_issued_at_once_and_guarded_by_its_password(
    api: Api,
) -> None:
    headers = api.verified()["headers"]

    applied = api.post(f"{CERTS}/cloud", headers, {"password": "sign-pass-1"}, 201)
    cid = applied["certificate_id"]
    token = api.client.post(
        f"{CERTS}/token", json={"mailing_address": "广州"}, headers=headers
    )
    wrong = api.client.post(
        f"{CERTS}/{cid}/password-free",
        json={"password": "nope", "enabled": True},
        headers=headers,
    )
    free = api.post(
        f"{CERTS}/{cid}/password-free",
        headers,
        {"password": "sign-pass-1", "enabled": True},
    )
    shown = listed(api, headers, free["position"])

    assert code_of(token) == "CERTIFICATE_KIND_LOCKED"
    assert code_of(wrong) == "SIGNING_PASSWORD_WRONG"
    assert [(c["kind"], c["status"], c["password_free"]) for c in shown] == [
        ("cloud", "active", True)
    ]
    assert shown[0]["serial"]


def test_a_token_certificate_is_issued_for_the_tokens_key_and_replaced_when_lost(
    api: Api,
) -> None:
    headers = api.verified()["headers"]
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    applied = api.post(
        f"{CERTS}/token", headers, {"mailing_address": "广州市天河区"}, 201
    )
    cid = applied["certificate_id"]
    issued = api.post(f"{CERTS}/{cid}/issue", headers, {"public_key": public.decode()})
    certificate = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    api.post(f"{CERTS}/{cid}/actions", headers, {"action": "activate"})
    lost = api.post(
        f"{CERTS}/{cid}/actions",
        headers,
        {"action": "report_lost", "mailing_address": "深圳市南山区"},
    )
    shown = listed(api, headers, lost["position"])
    crl = api.services.certificates.authority.ca().crl()

    assert (
        certificate.public_key().public_numbers() == key.public_key().public_numbers()
    )
    assert [(c["status"], c["mailing_address"]) for c in shown] == [
        ("revoked", "广州市天河区"),
        ("applied", "深圳市南山区"),
    ]
    assert shown[0]["fee_due_fen"] > 0
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert lost["new_certificate_id"] == shown[1]["certificate_id"]


def test_a_weak_key_is_refused_and_an_unissued_application_can_be_cancelled(
    api: Api,
) -> None:
    headers = api.verified()["headers"]
    cid = api.post(f"{CERTS}/token", headers, {"mailing_address": "广州"}, 201)[
        "certificate_id"
    ]
    weak = ec.generate_private_key(ec.SECP192R1()) if hasattr(ec, "SECP192R1") else None
    pem = (
        weak.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
        if weak
        else "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" * 2
    )

    refused = api.client.post(
        f"{CERTS}/{cid}/issue", json={"public_key": pem}, headers=headers
    )
    cancelled = api.post(f"{CERTS}/{cid}/actions", headers, {"action": "cancel"})
    again = api.client.post(
        f"{CERTS}/{cid}/actions", json={"action": "activate"}, headers=headers
    )

    assert refused.status_code == 422
    assert cancelled["certificate_id"] == cid
    assert code_of(again) == "CERTIFICATE_STATE"


def test_a_certificate_is_renewed_for_its_key_and_the_crl_is_published(
    api: Api,
) -> None:
    headers = api.verified()["headers"]
    cid = api.post(f"{CERTS}/cloud", headers, {"password": "sign-pass-1"}, 201)[
        "certificate_id"
    ]
    before = api.services.certificates.keys.certificate(cid)

    renewed = api.post(f"{CERTS}/{cid}/renew", headers)
    after = x509.load_pem_x509_certificate(renewed["certificate_pem"].encode())
    api.post(f"{CERTS}/{cid}/actions", headers, {"action": "revoke"})
    crl = x509.load_der_x509_crl(api.client.get("/api/v1/crl/platform.crl").content)
    root = x509.load_pem_x509_certificate(api.client.get("/api/v1/ca/root.crt").content)

    assert after.serial_number != before.serial_number
    assert after.public_key().public_numbers() == before.public_key().public_numbers()
    assert crl.get_revoked_certificate_by_serial_number(after.serial_number)
    assert crl.is_signature_valid(root.public_key())
    points = after.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert points.value[0].full_name[0].value.endswith("/api/v1/crl/platform.crl")

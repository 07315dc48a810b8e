"""Sealing library files through the API on PostgreSQL, with a cloud
certificate and with a SoftHSM token through the device bridge; each sealed
file validates with pyhanko (through the API) and independently with
poppler's pdfsig, and a byte changed after sealing is reported by both."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from device_bridge.agent import create_agent
from device_bridge.token import Tokens
from read_api.settings import Settings
from tests.integration.helpers import Api, running_api
from tests.softhsm import SoftHsm, SoftToken, softhsm

pytestmark = pytest.mark.integration

LIB = "/api/v1/library"
ORIGIN = "https://shouying.example"


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[Api]:
    with running_api(pg_settings) as driver:
        yield driver


def seal_png() -> bytes:
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 10, 390, 390), outline=(220, 0, 0, 255), width=16)
    draw.regular_polygon((200, 200, 60), 5, fill=(220, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pdf(pages: int = 1) -> bytes:
    images = [Image.new("RGB", (595, 842), "white") for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def ready_enterprise(api: Api) -> dict[str, Any]:
    """A verified enterprise with an approved official seal image."""
    enterprise = api.verified()
    headers = enterprise["headers"]
    uploaded = api.client.post(
        "/api/v1/seal-images",
        data={"kind": "official"},
        files={"file": ("seal.png", seal_png(), "image/png")},
        headers=headers,
    ).json()
    operator = api.operator(f"sealop{enterprise['enterprise_id'][:8]}")
    api.post(
        f"/api/v1/enterprises/{enterprise['enterprise_id']}/seal-images/review",
        operator,
        {"kind": "official", "blob": uploaded["blob"], "approved": True},
    )
    return enterprise


def files_in_a_record(
    api: Api, headers: dict[str, str], count: int
) -> list[dict[str, str]]:
    record = api.post(
        f"{LIB}/records",
        headers,
        {"kind": "enterprise", "base": {"name": "某某医药有限公司"}},
        201,
    )["record_id"]
    found = []
    for n in range(count):
        response = api.client.post(
            f"{LIB}/records/{record}/documents",
            files={"file": (f"质量保证协议{n}.pdf", pdf(1 + n % 2), "application/pdf")},
            data={
                "qualification_type": "quality_agreement",
                "card": '{"valid_until": "2028-01-01"}',
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        found.append(
            {"record_id": record, "document_id": response.json()["document_id"]}
        )
    return found


def content(api: Api, headers: dict[str, str], file: dict[str, str]) -> bytes:
    return api.client.get(
        f"{LIB}/records/{file['record_id']}/documents/{file['document_id']}/content",
        headers=headers,
    ).content


def verification(
    api: Api, headers: dict[str, str], file: dict[str, str]
) -> dict[str, Any]:
    report: dict[str, Any] = api.client.get(
        f"{LIB}/records/{file['record_id']}/documents/{file['document_id']}/verification",
        headers=headers,
    ).json()
    return report


def trust_store(api: Api, tmp_path: Path) -> Path:
    """An NSS database trusting the platform's root, for pdfsig."""
    store = tmp_path / "nss"
    if store.exists():
        return store
    store.mkdir()
    root = tmp_path / "root.pem"
    ca = api.services.certificates.authority.ca()
    root.write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    for command in (
        ["certutil", "-N", "-d", f"sql:{store}", "--empty-password"],
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{store}",
            "-n",
            "platform",
            "-t",
            "C,C,C",
            "-i",
            str(root),
        ],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return store


def pdfsig(data: bytes, tmp_path: Path, api: Api) -> str:
    """poppler's own check of every signature and of the signer's
    certificate, against a trust store holding only the platform's root."""
    path = tmp_path / "sealed.pdf"
    path.write_bytes(data)
    store = trust_store(api, tmp_path)
    done = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{store}", "-no-ocsp", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def tampered(data: bytes) -> bytes:
    """One byte changed inside the first signed range (the page content)."""
    at = data.index(b"stream") + 20
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


needs_pdfsig = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("certutil") is None,
    reason="poppler-utils (pdfsig) and libnss3-tools (certutil) are not installed",
)


@needs_pdfsig
def test_a_file_sealed_with_a_cloud_certificate_validates_and_a_changed_byte_shows(
    api: Api, tmp_path: Path
) -> None:
    enterprise = ready_enterprise(api)
    headers = enterprise["headers"]
    api.post("/api/v1/certificates/cloud", headers, {"password": "sign-pass-1"}, 201)
    files = files_in_a_record(api, headers, 2)

    task = api.post("/api/v1/seal-tasks", headers, {"files": files}, 201)["task_id"]
    wrong = api.client.post(
        f"/api/v1/seal-tasks/{task}/run", json={"password": "nope"}, headers=headers
    )
    ran = api.post(
        f"/api/v1/seal-tasks/{task}/run", headers, {"password": "sign-pass-1"}
    )
    sealed = content(api, headers, files[0])
    report = verification(api, headers, files[0])

    assert wrong.json()["code"] == "SIGNING_PASSWORD_WRONG"
    assert ran["status"] == "sealed"
    assert ran["progress"] == {"sealed": 2, "total": 2}
    assert report["valid"] is True
    signature = report["signatures"][0]
    assert signature["intact"] is True and signature["chain_trusted"] is True
    assert signature["revoked"] is False
    checked = pdfsig(sealed, tmp_path, api)
    assert "Signature is Valid" in checked
    assert "Certificate is Trusted" in checked
    assert "Signature is Valid" not in pdfsig(tampered(sealed), tmp_path, api)
    assert report_of_tampered(api, headers, files[0], sealed)["valid"] is False
    uploaded = api.client.post(
        "/api/v1/verification",
        files={"file": ("任意.pdf", sealed, "application/pdf")},
        headers=headers,
    )
    not_pdf = api.client.post(
        "/api/v1/verification",
        files={"file": ("x.pdf", b"MZ" + bytes(100), "application/pdf")},
        headers=headers,
    )
    assert uploaded.json()["valid"] is True
    assert not_pdf.json()["code"] == "UNSUPPORTED_FILE"

    history = api.client.get(
        f"{LIB}/records/{files[0]['record_id']}/documents/{files[0]['document_id']}/history",
        headers=headers,
    ).json()["items"]
    seal_event = next(e for e in history if e["event_type"] == "Dossier.Sealed")
    assert seal_event["data"]["blob_before"] != seal_event["data"]["blob"]
    assert seal_event["data"]["certificate_serial"] == signature["certificate_serial"]


def report_of_tampered(
    api: Api, headers: dict[str, str], file: dict[str, str], sealed: bytes
) -> dict[str, Any]:
    """The platform's verification of the sealed file with one byte changed,
    uploaded back into the library as a new file."""
    uploaded = api.client.post(
        f"{LIB}/records/{file['record_id']}/documents",
        files={"file": ("改过的.pdf", tampered(sealed), "application/pdf")},
        data={"qualification_type": "other"},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    changed = {
        "record_id": file["record_id"],
        "document_id": uploaded.json()["document_id"],
    }
    return verification(api, headers, changed)


def pull_out(hsm: SoftHsm) -> Path:
    """The token's files moved away, as when its USB key is pulled out."""
    away = hsm.token_dir.parent / "pulled"
    shutil.move(str(hsm.token_dir), str(away))
    hsm.token_dir.mkdir()
    return away


def plug_in(hsm: SoftHsm, away: Path) -> None:
    shutil.rmtree(hsm.token_dir)
    shutil.move(str(away), str(hsm.token_dir))


def sign_through_bridge(bridge: TestClient, token: SoftToken, data: str) -> Any:
    bridge.get("/tokens")  # the web client lists tokens first, as the agent rescans
    return bridge.post(
        f"/tokens/{token.slot}/sign",
        json={"key_id": token.key_id_hex, "pin": token.pin, "data": data},
    )


@needs_pdfsig
def test_a_token_pulled_out_mid_task_fails_that_file_and_a_second_run_completes(
    api: Api, tmp_path: Path
) -> None:
    enterprise = ready_enterprise(api)
    headers = enterprise["headers"]
    with softhsm() as hsm:
        token = hsm.add_token("ec_p256")
        public = token.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cid = api.post(
            "/api/v1/certificates/token", headers, {"mailing_address": "广州"}, 201
        )["certificate_id"]
        api.post(
            f"/api/v1/certificates/{cid}/issue",
            headers,
            {"public_key": public.decode()},
        )
        api.post(f"/api/v1/certificates/{cid}/actions", headers, {"action": "activate"})
        files = files_in_a_record(api, headers, 3)
        task = api.post(
            "/api/v1/seal-tasks", headers, {"files": files, "certificate": "token"}, 201
        )["task_id"]
        tokens = Tokens(token.module)
        try:
            bridge = TestClient(
                create_agent(tokens, {ORIGIN}),
                base_url="http://127.0.0.1:17890",
                headers={"Origin": ORIGIN},
            )

            def seal(file: dict[str, str]) -> Any:
                base = f"/api/v1/seal-tasks/{task}/files/{file['document_id']}"
                staged = api.post(f"{base}/prepare", headers)
                signed = sign_through_bridge(bridge, token, staged["data_to_sign"])
                if signed.status_code != 200:
                    problem = signed.json()
                    return api.post(
                        f"{base}/fail",
                        headers,
                        {"code": problem["code"], "message": problem["detail"]},
                    )
                return api.post(
                    f"{base}/complete",
                    headers,
                    {"signature": signed.json()["signature"]},
                )

            first = seal(files[0])
            away = pull_out(hsm)
            failed = seal(files[1])
            plug_in(hsm, away)
            api.post(f"/api/v1/seal-tasks/{task}/resume", headers)
            seal(files[1])
            done = seal(files[2])
        finally:
            tokens.close()

    assert first["progress"]["sealed"] == 1
    assert failed["status"] == "seal_failed"
    marked = {f["document_id"]: (f["status"], f["code"]) for f in failed["files"]}
    assert marked[files[1]["document_id"]] == ("failed", "TOKEN_NOT_FOUND")
    assert marked[files[2]["document_id"]] == ("pending", None)
    assert done["status"] == "sealed"
    for file in files:
        report = verification(api, headers, file)
        assert report["valid"] is True, report
        checked = pdfsig(content(api, headers, file), tmp_path, api)
        assert "Signature is Valid" in checked
        assert "Certificate is Trusted" in checked


def test_sealing_needs_an_approved_seal_image_and_an_active_certificate(
    api: Api,
) -> None:
    enterprise = api.verified()
    headers = enterprise["headers"]
    files = files_in_a_record(api, headers, 1)

    no_certificate = api.client.post(
        "/api/v1/seal-tasks", json={"files": files}, headers=headers
    )
    api.post("/api/v1/certificates/cloud", headers, {"password": "sign-pass-1"}, 201)
    no_seal = api.client.post(
        "/api/v1/seal-tasks", json={"files": files}, headers=headers
    )

    assert no_certificate.json()["code"] == "NO_ACTIVE_CERTIFICATE"
    assert no_seal.json()["code"] == "SEAL_IMAGE_NOT_APPROVED"


def test_a_cross_page_seal_binds_every_page_and_overlapping_placements_fail(
    api: Api,
) -> None:
    enterprise = ready_enterprise(api)
    headers = enterprise["headers"]
    api.post("/api/v1/certificates/cloud", headers, {"password": "sign-pass-1"}, 201)
    files = files_in_a_record(api, headers, 2)
    spot = {"page": 1, "x": 300, "y": 300, "width": 119, "height": 119}

    cross = api.post(
        "/api/v1/seal-tasks", headers, {"files": files[1:], "cross_page": True}, 201
    )["task_id"]
    crossed = api.post(
        f"/api/v1/seal-tasks/{cross}/run", headers, {"password": "sign-pass-1"}
    )
    first = api.post(
        "/api/v1/seal-tasks", headers, {"files": files[:1], "placements": [spot]}, 201
    )["task_id"]
    api.post(f"/api/v1/seal-tasks/{first}/run", headers, {"password": "sign-pass-1"})
    again = api.post(
        "/api/v1/seal-tasks", headers, {"files": files[:1], "placements": [spot]}, 201
    )["task_id"]
    overlapped = api.post(
        f"/api/v1/seal-tasks/{again}/run", headers, {"password": "sign-pass-1"}
    )

    assert crossed["status"] == "sealed"
    assert verification(api, headers, files[1])["valid"] is True
    assert overlapped["status"] == "seal_failed"
    assert overlapped["files"][0]["code"] == "SEAL_OVERLAP"
    assert len(verification(api, headers, files[0])["signatures"]) == 1


def test_with_a_timestamp_authority_seals_carry_its_timestamp(api: Api) -> None:
    from tests.unit.test_signing_seal import _test_tsa

    enterprise = ready_enterprise(api)
    headers = enterprise["headers"]
    api.post("/api/v1/certificates/cloud", headers, {"password": "sign-pass-1"}, 201)
    files = files_in_a_record(api, headers, 1)
    _, stamper = _test_tsa()
    api.services.sealing.timestamper = stamper
    try:
        task = api.post("/api/v1/seal-tasks", headers, {"files": files}, 201)["task_id"]
        ran = api.post(
            f"/api/v1/seal-tasks/{task}/run", headers, {"password": "sign-pass-1"}
        )
    finally:
        api.services.sealing.timestamper = None
    signature = verification(api, headers, files[0])["signatures"][0]

    assert ran["status"] == "sealed"
    assert signature["timestamp"] is not None
    assert signature["timestamp"]["intact"] is True
    assert signature["intact"] is True

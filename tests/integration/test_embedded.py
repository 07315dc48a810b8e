"""The embedded default: SQLite under a data folder, views kept in-process,
and the `shouying` command serving it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from read_api.settings import Settings
from tests.integration.helpers import running_api

ROOT = Path(__file__).resolve().parents[2]


def test_registration_review_and_audit_work_on_sqlite(
    sqlite_settings: Settings,
) -> None:
    with running_api(sqlite_settings) as api:
        operator = api.operator()
        registered = api.register()
        decided = api.client.post(
            f"/api/v1/enterprises/{registered['enterprise_id']}/reject",
            json={"reason": "资料不全"},
            headers=operator,
        )
        trail = api.client.get(
            "/api/v1/audit-events",
            params={
                "aggregate_id": registered["enterprise_id"],
                "after": decided.json()["position"],
            },
            headers=operator,
        )
        rebuilt = api.services.engine.rebuild(
            "audit", api.services.app.recorder, api.services.decoder
        )
        again = api.client.get(
            "/api/v1/audit-events",
            params={"aggregate_id": registered["enterprise_id"]},
            headers=operator,
        )

    assert (sqlite_settings.data_dir / "events.sqlite").exists()
    assert [e["event_type"] for e in trail.json()["items"]] == [
        "Enterprise.Registered",
        "Enterprise.InformationRecorded",
        "Enterprise.Submitted",
        "Enterprise.Rejected",
    ]
    assert rebuilt == 2
    assert again.json()["items"] == trail.json()["items"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_shouying_serve_runs_the_product_with_no_setup(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUYING_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "read_api.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert "/api/v1/enterprises" in docs.json()["paths"]
    assert (tmp_path / "var" / "events.sqlite").exists()
    assert "GET /healthz 200" in output


def shouying(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUYING_")}
    return subprocess.run(
        [sys.executable, "-m", "read_api.cli", *args],
        env={**env, "PYTHONPATH": str(ROOT), "SHOUYING_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_operators_inspect_and_rebuild_views_from_the_command_line(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    settings = Settings(data_dir=data, jwt_secret="x")
    with running_api(settings) as api:
        api.register()
        api.register()

    rebuilt = shouying(data, "projections", "rebuild", "audit")
    status = shouying(data, "projections", "status")
    pruned = shouying(data, "projections", "prune", "audit")

    assert "audit: generation 2 is now active" in rebuilt.stdout
    assert "rebuild audit" in rebuilt.stderr  # the progress bar
    audit_line = next(line for line in status.stdout.splitlines() if "audit" in line)
    _view, generation, position, lag, _rate = audit_line.split()[:5]
    assert (generation, lag) == ("2", "0")
    assert int(position) > 0
    assert "dropped generations [1]" in pruned.stdout


def test_a_sealed_package_is_sent_and_accepted_on_sqlite(
    sqlite_settings: Settings,
) -> None:
    from tests.integration.test_exchange_api import a_package, inbox
    from tests.integration.test_sealing_api import ready_enterprise

    with running_api(sqlite_settings) as api:
        sender = ready_enterprise(api)
        receiver = api.verified()
        package = a_package(
            api, sender, [{"name": "收件", "enterprise_id": receiver["enterprise_id"]}]
        )
        sent = api.post(f"/api/v1/packages/{package}/send", sender["headers"])
        delivery = inbox(api, receiver["headers"], sent["position"])[0]["delivery_id"]
        accepted = api.post(f"/api/v1/inbox/{delivery}/accept", receiver["headers"])
        records = api.client.get(
            "/api/v1/library/records",
            params={"after": accepted["position"]},
            headers=receiver["headers"],
        ).json()["items"]

    assert sorted(r["kind"] for r in records) == ["drug", "enterprise"]
    assert (sqlite_settings.data_dir / "blobs").is_dir()

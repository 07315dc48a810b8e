"""Events through a real Apache Kafka: the relay and projection workers as the
processes production runs, killed with SIGKILL mid-stream and restarted, and
the broker itself restarted under load. Nothing may be lost, nothing applied
twice, and each aggregate's events must arrive in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from projections.streams import all_streams
from read_api.settings import Settings
from read_api.wiring import Services, build
from tests.integration.helpers import running_api
from tests.integration.load import Writer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Processes:
    """`shouying relay` and `shouying project VIEW` as child processes."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SHOUYING_DATABASE_URL": str(settings.database_url),
            "SHOUYING_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
            "SHOUYING_KAFKA_TOPIC": settings.kafka_topic,
            "SHOUYING_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "SHOUYING_DATA_DIR": str(settings.data_dir),
            "SHOUYING_JWT_SECRET": settings.jwt_secret,
            "SHOUYING_LOG_LEVEL": "INFO",
        }
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{'-'.join(args)}-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "read_api.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def services(kafka_settings: Settings) -> Iterator[Services]:
    found = build(kafka_settings)
    yield found
    found.close()


@pytest.fixture
def processes(kafka_settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    children = Processes(kafka_settings, tmp_path)
    yield children
    children.stop_all()


def store_versions(found: Services, writer: Writer) -> dict[str, int]:
    return {
        str(meter_id): found.app.repository.get(meter_id).version
        for meter_id in writer.ids
    }


def wait_until_views_match_the_store(
    found: Services, writer: Writer, timeout: float = 90.0
) -> list[dict[str, object]]:
    expected = store_versions(found, writer)
    head = found.app.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while True:
        with found.views.transaction(write=False) as tx:
            streams = [
                s
                for s in all_streams(found.engine, tx)
                if s["aggregate_id"] in expected
            ]
            table = found.engine.active_tables(tx, "audit")["events"]
            row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
        audited = int(row["n"]) if row else 0
        current = {s["aggregate_id"]: s["last_version"] for s in streams}
        if current == expected and audited >= head:
            return streams
        if time.monotonic() > deadline:
            pytest.fail(f"views did not catch up: {audited}/{head} audited")
        time.sleep(0.2)


def assert_exactly_once_in_order(streams: list[dict[str, object]]) -> None:
    for stream in streams:
        seen = {k: stream[k] for k in ("events", "last_version", "first_anomaly")}
        assert stream["anomalies"] == 0, seen
        assert stream["events"] == stream["last_version"], seen


def test_killed_relay_and_worker_resume_with_nothing_lost_or_doubled(
    services: Services, processes: Processes
) -> None:
    relay = processes.start("relay")
    workers = [processes.start("project", "streams") for _ in range(2)]
    processes.start("project", "audit")
    writer = Writer(services.app)
    writer.start()

    time.sleep(4)
    processes.kill(relay)
    processes.kill(workers[0])
    time.sleep(2)
    processes.start("relay")
    time.sleep(3)
    processes.kill(workers[1])
    processes.start("project", "streams")
    time.sleep(2)
    writer.stop.set()
    writer.join()
    streams = wait_until_views_match_the_store(services, writer)

    assert writer.saved_events > 100
    assert_exactly_once_in_order(streams)
    assert sum(int(s["events"]) for s in streams) == writer.saved_events


def test_a_broker_restart_under_load_loses_nothing_and_keeps_order(
    services: Services, processes: Processes
) -> None:
    script = os.environ.get("SHOUYING_KAFKA_SCRIPT")
    if not script:
        pytest.skip("SHOUYING_KAFKA_SCRIPT is not set (run deploy/local/run-tests)")
    processes.start("relay")
    processes.start("project", "streams")
    processes.start("project", "audit")
    writer = Writer(services.app)
    writer.start()

    time.sleep(3)
    subprocess.run(["bash", script, "restart"], check=True, timeout=120)
    time.sleep(3)
    writer.stop.set()
    writer.join()
    streams = wait_until_views_match_the_store(services, writer, timeout=120)

    assert_exactly_once_in_order(streams)
    assert sum(int(s["events"]) for s in streams) == writer.saved_events


def test_a_client_waits_for_its_own_write_through_kafka(
    kafka_settings: Settings, processes: Processes
) -> None:
    processes.start("relay")
    processes.start("project", "enterprises")
    with running_api(replace(kafka_settings, wait_timeout_seconds=30)) as api:
        registered = api.register()
        operator = api.operator()

        shown = api.client.get(
            f"/api/v1/enterprises/{registered['enterprise_id']}",
            params={"after": registered["position"]},
            headers=operator,
        )
        ready = api.client.get("/readyz")

    assert shown.status_code == 200
    assert "x-view-stale" not in shown.headers
    assert shown.json()["status"] == "pending_review"
    assert ready.json()["checks"]["kafka"] == "ok"

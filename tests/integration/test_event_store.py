"""The event store under concurrent writers, on PostgreSQL with the default
locking insert: a reader tailing the notification log sees every event once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from aggregates.base import acting
from aggregates.enterprise import Enterprise, Information
from commands.platform import Platform
from read_api.settings import Settings
from tests.examples import information

pytestmark = pytest.mark.integration

WRITERS = 8
SAVES_PER_WRITER = 40


def test_a_tailing_reader_sees_every_event_of_concurrent_writers_exactly_once(
    pg_settings: Settings,
) -> None:
    env = pg_settings.eventsourcing_env()
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env
    app = Platform(env={**env, "POSTGRES_POOL_SIZE": "12"})
    written: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    seen: list[int] = []

    def write(writer: int) -> None:
        with acting(f"writer-{writer}", "load"):
            for _ in range(SAVES_PER_WRITER):
                now = datetime.now(UTC)
                enterprise = Enterprise.register(
                    name=f"企业{uuid4().hex}", admin_account_id=uuid4(), now=now
                )
                enterprise.record_information(
                    Information.checked(now.date(), **information()), now
                )
                enterprise.submit(now)
                enterprise.reject("测试")
                recordings = app.save(enterprise)
                with lock:
                    written.extend(r.notification.id or 0 for r in recordings)

    def tail() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = app.recorder.select_notifications(
                start=position, limit=50, inclusive_of_start=False
            )
            seen.extend(n.id for n in batch)
            if batch:
                position = batch[-1].id
            elif finished:
                return
            else:
                time.sleep(0.001)

    reader = threading.Thread(target=tail)
    reader.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)
    app.close()

    assert len(written) == WRITERS * SAVES_PER_WRITER * 4
    assert seen == sorted(written)
    assert len(set(seen)) == len(seen)

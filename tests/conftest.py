"""Shared fixtures.

Integration tests run on the real PostgreSQL and Kafka that
``deploy/local/run-tests`` starts and names in ``SHOUYING_TEST_DATABASE_URL``
and ``SHOUYING_TEST_KAFKA_BOOTSTRAP``. Each test gets a database of its own.
Outside that command they are skipped, except under CI, where a missing
service is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from read_api.settings import Settings


def _service(variable: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"{variable} is not set: run the tests with deploy/local/run-tests")
    pytest.skip(f"{variable} is not set (run deploy/local/run-tests)")


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    server = _service("SHOUYING_TEST_DATABASE_URL")
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def kafka_bootstrap() -> str:
    return _service("SHOUYING_TEST_KAFKA_BOOTSTRAP")


@pytest.fixture
def pg_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        wait_timeout_seconds=10.0,
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", jwt_secret="test-" + uuid.uuid4().hex)


@pytest.fixture
def kafka_settings(pg_settings: Settings, kafka_bootstrap: str) -> Settings:
    from dataclasses import replace

    return replace(
        pg_settings,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=f"t.{uuid.uuid4().hex[:12]}",
        kafka_partitions=4,
    )

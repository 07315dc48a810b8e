"""Configuration, read once from ``SHOUYING_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    kafka_topic: str = "shouying.events"
    kafka_partitions: int = 6
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Encrypts the platform CA's key and cloud certificates' keys at rest.
    signing_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    access_token_minutes: int = 15
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 21 * 1_048_576
    #: Folder archives of a library import (one zip of many files).
    max_archive_bytes: int = 201 * 1_048_576
    ocr_workers: int = 2
    #: An RFC 3161 timestamp authority; seals are PAdES B-T with one.
    tsa_url: str | None = None
    #: Where clients reach the API; certificates name the CRL under it.
    public_url: str = "http://127.0.0.1:8000"
    wait_timeout_seconds: float = 5.0
    pool_size: int = 10

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("SHOUYING_DATA_DIR", "var"))
        secret = env.get("SHOUYING_JWT_SECRET") or _local_secret(data_dir)
        signing = env.get("SHOUYING_SIGNING_SECRET") or _local_secret(
            data_dir, "signing-secret"
        )
        return cls(
            data_dir=data_dir,
            database_url=env.get("SHOUYING_DATABASE_URL") or None,
            kafka_bootstrap=env.get("SHOUYING_KAFKA_BOOTSTRAP") or None,
            kafka_topic=env.get("SHOUYING_KAFKA_TOPIC", "shouying.events"),
            kafka_partitions=int(env.get("SHOUYING_KAFKA_PARTITIONS", "6")),
            jwt_secret=secret,
            signing_secret=signing,
            access_token_minutes=int(env.get("SHOUYING_ACCESS_TOKEN_MINUTES", "15")),
            max_body_bytes=int(env.get("SHOUYING_MAX_BODY_BYTES", "1048576")),
            max_archive_bytes=int(
                env.get("SHOUYING_MAX_ARCHIVE_BYTES", str(201 * 1_048_576))
            ),
            max_upload_bytes=int(
                env.get("SHOUYING_MAX_UPLOAD_BYTES", str(21 * 1_048_576))
            ),
            ocr_workers=int(env.get("SHOUYING_OCR_WORKERS", "2")),
            tsa_url=env.get("SHOUYING_TSA_URL") or None,
            public_url=env.get("SHOUYING_PUBLIC_URL", "http://127.0.0.1:8000").rstrip(
                "/"
            ),
            wait_timeout_seconds=float(env.get("SHOUYING_WAIT_TIMEOUT", "5")),
            pool_size=int(env.get("SHOUYING_POOL_SIZE", "10")),
        )

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) and str(self.database_url).startswith(
            ("postgresql://", "postgres://")
        )

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's infrastructure factory reads."""
        if not self.uses_postgres:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        url = urlparse(str(self.database_url))
        # The default locking insert is kept on purpose: the database-function
        # insert lets a reader tailing the log skip events under concurrent
        # writers, so POSTGRES_ENABLE_DB_FUNCTIONS is never set here.
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "shouying",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "commands.recorder:PlatformRecorder",
        }


def _local_secret(data_dir: Path, name: str = "jwt-secret") -> str:
    """On the embedded default, a secret is made once and kept in the data
    folder, so tokens and keys survive a restart without any setup."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret

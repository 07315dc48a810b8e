"""Where read models live: a small port over PostgreSQL and SQLite.

Projections write SQL in one dialect-neutral subset (``%s`` placeholders,
``INSERT ... ON CONFLICT``, TEXT for JSON and timestamps) and run it inside a
:meth:`ViewDatabase.transaction`. The tracking position of a view is written in
the same transaction as its rows, which is what makes an update exactly-once.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Row = dict[str, Any]


#: The escape character of :func:`contains`; write ``LIKE %s ESCAPE '!'``.
LIKE_ESCAPE = "!"


def contains(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere, its own ``%`` and ``_``
    taken literally (with ``ESCAPE '!'``, on both databases)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return f"%{text}%"


class ViewStoreError(Exception):
    """The view database failed; the original driver error is chained."""


class Tx(ABC):
    """One open transaction on the view database."""

    dialect: str

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def lock_clause(self, mode: str) -> str:
        """``FOR SHARE`` / ``FOR UPDATE`` on PostgreSQL; SQLite locks the whole
        database for a write transaction instead."""
        return f" FOR {mode}" if self.dialect == "postgres" else ""


class ViewDatabase(ABC):
    dialect: str

    @abstractmethod
    def transaction(self, *, write: bool = True) -> Any:
        """A context manager yielding a :class:`Tx`, committed on success."""

    @abstractmethod
    def close(self) -> None: ...


class _PgTx(Tx):
    dialect = "postgres"

    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(sql, params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cursor.execute(sql, params or None)
        return self.cursor.fetchall()


class PostgresViews(ViewDatabase):
    dialect = "postgres"

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            # Views are read with parameters whose selectivity varies widely
            # (a search for a rare word, a page deep in a list): a generic
            # plan cached for one would serve the others badly.
            kwargs={
                "row_factory": dict_row,
                "options": "-c plan_cache_mode=force_custom_plan",
            },
            open=True,
            name="views",
        )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        try:
            with self.pool.connection() as conn, conn.transaction():
                if not write:
                    conn.execute("SET TRANSACTION READ ONLY")
                with conn.cursor() as cursor:
                    yield _PgTx(cursor)
        except psycopg.Error as e:
            raise ViewStoreError(str(e)) from e

    def close(self) -> None:
        self.pool.close()


_PLACEHOLDER = re.compile(r"%s")


class _SqliteTx(Tx):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_PLACEHOLDER.sub("?", sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(_PLACEHOLDER.sub("?", sql), [tuple(r) for r in rows])

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.conn.execute(_PLACEHOLDER.sub("?", sql), tuple(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SqliteViews(ViewDatabase):
    """Views in one SQLite file, one connection per thread, WAL journal so
    readers never wait for the writer."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _SqliteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise ViewStoreError(str(e)) from e

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

"""The PostgreSQL recorder the platform stores events with.

It is eventsourcing's own application recorder, keeping its insert exactly:
each transaction that inserts events first takes ``LOCK TABLE ... IN EXCLUSIVE
MODE``, so that notification ids are issued in commit order and a reader
tailing the log can never pass over an event that commits late. (The
database-function insert, ``POSTGRES_ENABLE_DB_FUNCTIONS``, gives that up and
is never enabled.)

What it leaves out is the ``NOTIFY`` sent with every insert for LISTEN-based
subscriptions. Nothing here listens: the relay and the in-process follower
read the log by position. A NOTIFY makes every committing transaction take a
cluster-wide lock on the notification queue, which costs each save time.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow


class PlatformRecorder(PostgresApplicationRecorder):
    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        """Sends nothing: no process of the platform LISTENs (see above)."""

"""The projection engine: read models kept exactly once, rebuilt without a gap.

Each view is a :class:`Projection`: a few tables and a function applying one
event to them. The engine stores every view in *generations*. Readers always
read the active generation; ``rebuild`` fills a new generation from the event
store beside the old one and then makes it active in one transaction, so a
reader sees either the old view or the complete new one, never a half-built one.

Exactly once. A view's tracking position is written in the same transaction as
the rows an event changed. Positions are notification ids, tracked per source
partition: the in-process follower reads the whole log in order (partition
``WHOLE_LOG``); Kafka delivers each partition in order, but partitions
interleave, so each keeps its own watermark. An event at or below its
partition's watermark was applied already and is dropped, which makes the
at-least-once delivery of the relay and of consumer restarts harmless.

A rebuilt generation starts with a *base* position: every event up to it came
from the store, in every partition, so the effective watermark of a partition is
the larger of the base and its own position.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from eventsourcing.persistence import ApplicationRecorder

from projections.events import EventDecoder, EventRecord
from projections.store import Tx, ViewDatabase

logger = logging.getLogger(__name__)

WHOLE_LOG = -1
REBUILD_BATCH = 2000

CATALOGUE_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_views ("
    " view TEXT PRIMARY KEY, active INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_generations ("
    " view TEXT NOT NULL, generation INTEGER NOT NULL,"
    " base_position BIGINT NOT NULL DEFAULT 0, state TEXT NOT NULL,"
    " started_at TEXT NOT NULL, finished_at TEXT,"
    " PRIMARY KEY (view, generation))",
    "CREATE TABLE IF NOT EXISTS projection_positions ("
    " view TEXT NOT NULL, generation INTEGER NOT NULL, part INTEGER NOT NULL,"
    " position BIGINT NOT NULL, applied BIGINT NOT NULL DEFAULT 0,"
    " kafka_offset BIGINT, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (view, generation, part))",
)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


class Projection(ABC):
    """A read model: its tables, and how one event changes them.

    ``tables`` maps a short name to its ``CREATE TABLE`` statement, written with
    ``{name}`` placeholders for the real, generation-qualified table names;
    ``indexes`` are further statements with the same placeholders.
    """

    name: ClassVar[str]
    tables: ClassVar[Mapping[str, str]]
    indexes: ClassVar[Sequence[str]] = ()

    @abstractmethod
    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        """Applies one event; ``t`` maps short table names to real ones."""

    def apply_many(
        self, tx: Tx, t: Mapping[str, str], events: Sequence[EventRecord]
    ) -> None:
        """Applies events in order; a view whose rows do not depend on each
        other can write a whole batch in one statement instead."""
        for event in events:
            self.apply(tx, t, event)


def table_names(projection: Projection, generation: int) -> dict[str, str]:
    return {
        short: f"{projection.name}_g{generation}_{short}" for short in projection.tables
    }


def read_after(
    recorder: ApplicationRecorder, decoder: EventDecoder, after: int, limit: int
) -> list[EventRecord]:
    """Up to ``limit`` events from the store after position ``after``."""
    notifications = recorder.select_notifications(
        start=after, limit=limit, inclusive_of_start=False
    )
    return [decoder.decode(n) for n in notifications]


class UnknownView(LookupError):
    pass


class OffsetGap(Exception):
    """A Kafka batch does not continue where the view's partition stopped."""

    def __init__(self, view: str, part: int, expected: int, got: int) -> None:
        super().__init__(
            f"view {view} partition {part}: expected offset {expected}, got {got}"
        )
        self.part = part
        self.expected = expected


def _past(mark: int, events: Sequence[EventRecord]) -> list[EventRecord]:
    """The events of a partition's batch not yet applied. The relay may publish
    an event twice (a retry, a restart); a later copy always follows the first
    in its partition, so it is at or below the positions before it, whether
    the first copy came in an earlier batch or in this one."""
    fresh = []
    for event in events:
        if event.position > mark:
            fresh.append(event)
            mark = event.position
    return fresh


def _after_offset(
    view: str,
    part: int,
    events: Sequence[EventRecord],
    offsets: Sequence[int],
    last: int | None,
) -> tuple[Sequence[EventRecord], Sequence[int]]:
    """The events of a batch past the stored offset; raises :class:`OffsetGap`
    if the batch starts beyond the next one."""
    if last is None:
        return events, offsets
    kept = [(e, o) for e, o in zip(events, offsets, strict=True) if o > last]
    if kept and kept[0][1] != last + 1:
        raise OffsetGap(view, part, last + 1, kept[0][1])
    return [e for e, _ in kept], [o for _, o in kept]


@dataclass(frozen=True)
class ViewStatus:
    view: str
    active: int
    building: int | None
    position: int
    applied: int
    updated_at: str | None


class Engine:
    """Keeps a set of projections in one view database."""

    def __init__(self, db: ViewDatabase, projections: Iterable[Projection]) -> None:
        self.db = db
        self.projections = {p.name: p for p in projections}

    def projection(self, view: str) -> Projection:
        try:
            return self.projections[view]
        except KeyError:
            known = ", ".join(sorted(self.projections))
            raise UnknownView(f"no view {view!r}; the views are {known}") from None

    # Setting up -----------------------------------------------------------

    def setup(self) -> None:
        """Creates the catalogue and, for a view seen for the first time, its
        first generation."""
        with self.db.transaction() as tx:
            self._serialise_setup(tx)
            for statement in CATALOGUE_DDL:
                tx.execute(statement)
            for projection in self.projections.values():
                found = tx.one(
                    "SELECT active FROM projection_views WHERE view = %s",
                    (projection.name,),
                )
                if found is None:
                    self._create_generation(tx, projection, 1, state="active")
                    tx.execute(
                        "INSERT INTO projection_views (view, active) VALUES (%s, 1)",
                        (projection.name,),
                    )

    @staticmethod
    def _serialise_setup(tx: Tx) -> None:
        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's
        # catalogue; an advisory lock makes processes starting together take turns.
        if tx.dialect == "postgres":
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('shouying-views'))")

    def _create_generation(
        self, tx: Tx, projection: Projection, generation: int, *, state: str
    ) -> None:
        names = table_names(projection, generation)
        for short, ddl in projection.tables.items():
            tx.execute(f"DROP TABLE IF EXISTS {names[short]}")
            tx.execute(ddl.format(**names))
        for ddl in projection.indexes:
            tx.execute(ddl.format(**names))
        tx.execute(
            "DELETE FROM projection_generations WHERE view = %s AND generation = %s",
            (projection.name, generation),
        )
        tx.execute(
            "INSERT INTO projection_generations"
            " (view, generation, base_position, state, started_at)"
            " VALUES (%s, %s, 0, %s, %s)",
            (projection.name, generation, state, now_text()),
        )

    # Reading ---------------------------------------------------------------

    def active_tables(self, tx: Tx, view: str) -> dict[str, str]:
        """The real table names of a view's active generation, read inside the
        reader's own transaction."""
        row = tx.one("SELECT active FROM projection_views WHERE view = %s", (view,))
        if row is None:
            raise UnknownView(f"view {view!r} is not set up")
        return table_names(self.projection(view), int(row["active"]))

    def watermark(self, tx: Tx, view: str, generation: int, part: int) -> int:
        row = tx.one(
            "SELECT g.base_position AS base,"
            " (SELECT position FROM projection_positions p WHERE p.view = g.view"
            "  AND p.generation = g.generation AND p.part = %s) AS own"
            " FROM projection_generations g WHERE g.view = %s AND g.generation = %s",
            (part, view, generation),
        )
        if row is None:
            return 0
        return max(int(row["base"]), int(row["own"] or 0))

    def has_reached(self, view: str, position: int, part: int = WHOLE_LOG) -> bool:
        with self.db.transaction(write=False) as tx:
            row = tx.one("SELECT active FROM projection_views WHERE view = %s", (view,))
            if row is None:
                return False
            return self.watermark(tx, view, int(row["active"]), part) >= position

    # Applying --------------------------------------------------------------

    def apply(
        self,
        view: str,
        part: int,
        events: Sequence[EventRecord],
        offsets: Sequence[int] | None = None,
    ) -> int:
        """Applies a batch of events from one partition, in order, to the active
        generation; returns the watermark after the batch.

        ``offsets`` are the events' Kafka offsets. They are stored with the
        watermark, and a batch that does not continue from the stored offset
        raises :class:`OffsetGap` instead of being applied, so a consumer that
        jumped ahead (a client bug, a stale fetch after a rebalance) can never
        make the watermark pass over events it did not apply.
        """
        projection = self.projection(view)
        with self.db.transaction() as tx:
            # FOR SHARE: a rebuild's switch (FOR UPDATE) waits for this batch,
            # and this batch waits for the switch, so no batch straddles it.
            row = tx.one(
                "SELECT active FROM projection_views WHERE view = %s"
                + tx.lock_clause("SHARE"),
                (view,),
            )
            if row is None:
                raise UnknownView(f"view {view!r} is not set up")
            generation = int(row["active"])
            mark, last_offset = self._lock_watermark(tx, view, generation, part)
            if offsets is not None:
                events, offsets = _after_offset(
                    view, part, events, offsets, last_offset
                )
                if not events:
                    return mark
            fresh = _past(mark, events)
            names = table_names(projection, generation)
            projection.apply_many(tx, names, fresh)
            mark = max(mark, fresh[-1].position) if fresh else mark
            offset = offsets[-1] if offsets else last_offset
            self._advance(tx, view, generation, part, mark, len(fresh), offset)
            return mark

    def _lock_watermark(
        self, tx: Tx, view: str, generation: int, part: int
    ) -> tuple[int, int | None]:
        # Two workers can hold the same partition for a moment while the group
        # rebalances. Locking the partition's position row makes the second
        # wait for the first to commit and then read its watermark, so a batch
        # both received is applied once.
        tx.execute(
            "INSERT INTO projection_positions"
            " (view, generation, part, position, applied, updated_at)"
            " VALUES (%s, %s, %s, 0, 0, %s)"
            " ON CONFLICT (view, generation, part) DO NOTHING",
            (view, generation, part, now_text()),
        )
        row = tx.one(
            "SELECT kafka_offset FROM projection_positions"
            " WHERE view = %s AND generation = %s AND part = %s"
            + tx.lock_clause("UPDATE"),
            (view, generation, part),
        )
        stored = row["kafka_offset"] if row is not None else None
        mark = self.watermark(tx, view, generation, part)
        return mark, None if stored is None else int(stored)

    def stored_offsets(self, view: str) -> dict[int, int]:
        """The Kafka offset last applied per partition to the active generation:
        where a worker that is handed a partition resumes."""
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT p.part, p.kafka_offset FROM projection_positions p"
                " JOIN projection_views v ON v.view = p.view"
                " AND v.active = p.generation"
                " WHERE p.view = %s AND p.kafka_offset IS NOT NULL",
                (view,),
            )
        return {int(r["part"]): int(r["kafka_offset"]) for r in rows}

    @staticmethod
    def _advance(
        tx: Tx,
        view: str,
        generation: int,
        part: int,
        position: int,
        count: int,
        offset: int | None,
    ) -> None:
        tx.execute(
            "UPDATE projection_positions SET position = %s,"
            " applied = applied + %s, kafka_offset = %s, updated_at = %s"
            " WHERE view = %s AND generation = %s AND part = %s",
            (position, count, offset, now_text(), view, generation, part),
        )

    # Status ----------------------------------------------------------------

    def status(self) -> list[ViewStatus]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT v.view, v.active,"
                " (SELECT MAX(generation) FROM projection_generations b"
                "  WHERE b.view = v.view AND b.state = 'building') AS building,"
                " g.base_position AS base,"
                " (SELECT MAX(position) FROM projection_positions p"
                "  WHERE p.view = v.view AND p.generation = v.active) AS own,"
                " (SELECT SUM(applied) FROM projection_positions p"
                "  WHERE p.view = v.view AND p.generation = v.active) AS applied,"
                " (SELECT MAX(updated_at) FROM projection_positions p"
                "  WHERE p.view = v.view AND p.generation = v.active) AS updated_at"
                " FROM projection_views v JOIN projection_generations g"
                " ON g.view = v.view AND g.generation = v.active ORDER BY v.view"
            )
        return [
            ViewStatus(
                view=r["view"],
                active=int(r["active"]),
                building=None if r["building"] is None else int(r["building"]),
                position=max(int(r["base"]), int(r["own"] or 0)),
                applied=int(r["applied"] or 0),
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    # Rebuilding ------------------------------------------------------------

    def rebuild(
        self,
        view: str,
        recorder: ApplicationRecorder,
        decoder: EventDecoder,
        *,
        progress: Callable[[int, int], None] | None = None,
        batch: int = REBUILD_BATCH,
    ) -> int:
        """Builds a new generation of ``view`` from the event store, then makes
        it the active one; returns the new generation.

        The old generation keeps serving readers and being updated by workers
        until the switch. A rebuild interrupted part way resumes where its
        building generation had got to.
        """
        projection = self.projection(view)
        generation, base = self._building_generation(projection)
        names = table_names(projection, generation)
        total = recorder.max_notification_id() or 0
        logger.info("rebuilding %s as generation %d from %d", view, generation, base)

        # Catch up without blocking anyone, batch by batch.
        while True:
            done = self._fill(
                projection, names, generation, base, recorder, decoder, batch
            )
            if done == base:
                break
            base = done
            total = max(total, base)
            if progress:
                progress(base, total)

        # Switch: block writers of this view, take the last events, flip.
        with self.db.transaction() as tx:
            tx.one(
                "SELECT active FROM projection_views WHERE view = %s"
                + tx.lock_clause("UPDATE"),
                (view,),
            )
            while True:
                records = read_after(recorder, decoder, base, batch)
                if not records:
                    break
                projection.apply_many(tx, names, records)
                base = records[-1].position
            # Kafka workers continue the new generation from the offsets the old
            # one reached; every event up to ``base`` is in it already.
            tx.execute(
                "INSERT INTO projection_positions"
                " (view, generation, part, position, applied, kafka_offset,"
                " updated_at)"
                " SELECT p.view, %s, p.part, 0, 0, p.kafka_offset, %s"
                " FROM projection_positions p JOIN projection_views v"
                " ON v.view = p.view AND v.active = p.generation"
                " WHERE p.view = %s AND p.kafka_offset IS NOT NULL",
                (generation, now_text(), view),
            )
            tx.execute(
                "UPDATE projection_generations SET state = 'retired', finished_at = %s"
                " WHERE view = %s AND state = 'active'",
                (now_text(), view),
            )
            tx.execute(
                "UPDATE projection_generations SET state = 'active',"
                " base_position = %s, finished_at = %s"
                " WHERE view = %s AND generation = %s",
                (base, now_text(), view, generation),
            )
            tx.execute(
                "UPDATE projection_views SET active = %s WHERE view = %s",
                (generation, view),
            )
        if progress:
            progress(base, max(total, base))
        logger.info("view %s now reads generation %d at %d", view, generation, base)
        return generation

    def _building_generation(self, projection: Projection) -> tuple[int, int]:
        with self.db.transaction() as tx:
            building = tx.one(
                "SELECT generation, base_position FROM projection_generations"
                " WHERE view = %s AND state = 'building'"
                " ORDER BY generation DESC LIMIT 1",
                (projection.name,),
            )
            if building is not None:
                return int(building["generation"]), int(building["base_position"])
            top = tx.one(
                "SELECT MAX(generation) AS top FROM projection_generations"
                " WHERE view = %s",
                (projection.name,),
            )
            generation = int(top["top"] or 0) + 1 if top else 1
            self._create_generation(tx, projection, generation, state="building")
            return generation, 0

    def _fill(
        self,
        projection: Projection,
        names: Mapping[str, str],
        generation: int,
        base: int,
        recorder: ApplicationRecorder,
        decoder: EventDecoder,
        batch: int,
    ) -> int:
        records = read_after(recorder, decoder, base, batch)
        if not records:
            return base
        with self.db.transaction() as tx:
            projection.apply_many(tx, names, records)
            tx.execute(
                "UPDATE projection_generations SET base_position = %s"
                " WHERE view = %s AND generation = %s",
                (records[-1].position, projection.name, generation),
            )
        return records[-1].position

    def prune(self, view: str) -> list[int]:
        """Drops the tables of a view's retired generations."""
        projection = self.projection(view)
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT generation FROM projection_generations"
                " WHERE view = %s AND state = 'retired'",
                (view,),
            )
            dropped = [int(r["generation"]) for r in rows]
            for generation in dropped:
                for table in table_names(projection, generation).values():
                    tx.execute(f"DROP TABLE IF EXISTS {table}")
                tx.execute(
                    "DELETE FROM projection_positions"
                    " WHERE view = %s AND generation = %s",
                    (view, generation),
                )
                tx.execute(
                    "DELETE FROM projection_generations"
                    " WHERE view = %s AND generation = %s",
                    (view, generation),
                )
        return dropped


class LogFollower:
    """Applies new events from the notification log to every view, in-process.

    This is how views stay current on the embedded default (SQLite offers no
    subscription) and whenever no Kafka is configured.
    """

    def __init__(
        self,
        engine: Engine,
        recorder: ApplicationRecorder,
        decoder: EventDecoder,
        *,
        batch: int = 500,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.decoder = decoder
        self.batch = batch
        self.marks: dict[str, int] = {}

    def load_marks(self) -> None:
        with self.engine.db.transaction(write=False) as tx:
            for view in self.engine.projections:
                row = tx.one(
                    "SELECT active FROM projection_views WHERE view = %s", (view,)
                )
                active = int(row["active"]) if row else 1
                self.marks[view] = self.engine.watermark(tx, view, active, WHOLE_LOG)

    def step(self) -> int:
        """Reads one batch after the slowest view and applies it; returns how
        many events were read."""
        if not self.marks:
            self.load_marks()
        start = min(self.marks.values(), default=0)
        records = read_after(self.recorder, self.decoder, start, self.batch)
        for view, mark in self.marks.items():
            fresh = [r for r in records if r.position > mark]
            if fresh:
                self.marks[view] = self.engine.apply(view, WHOLE_LOG, fresh)
        return len(records)

    def run(
        self,
        stop: Callable[[], bool],
        idle: float = 0.05,
        wake: threading.Event | None = None,
    ) -> None:
        """Follows the log until ``stop()``; between empty reads it waits
        ``idle`` seconds, or less when ``wake`` is set by a local save."""
        wake = wake or threading.Event()
        while not stop():
            wake.clear()
            try:
                read = self.step()
            except Exception:
                logger.exception("projection follower failed; retrying in 1 s")
                self.marks.clear()
                time.sleep(1.0)
                continue
            if read < self.batch:
                wake.wait(idle)

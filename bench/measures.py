"""The measurements themselves, each beside its raw baseline.

:mod:`bench.run` explains what each one measures and why its baseline is fair;
this module is the how. Every measurement takes a :class:`Bench` and answers a
mapping of result names to :class:`Result` (or :class:`Skipped`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import groupby, pairwise
from operator import itemgetter
from time import perf_counter
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import Notification, Recording
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from bench.exchange import exchange
from bench.library import library_list
from bench.signing import signing
from bench.stats import format_ms, format_rate, latency_summary, rate, ratio
from bench.workload import BenchItem, RowShape, new_enterprise, row_shapes
from commands.platform import Caller, Platform
from projections.audit import AuditView
from projections.engine import WHOLE_LOG, Engine, LogFollower
from projections.store import Tx
from projections.transport import (
    ProjectionWorker,
    Relay,
    encode,
    ensure_topic,
    new_producer,
    partition_for,
)
from read_api.wiring import Services

logger = logging.getLogger("shouying.bench")

WARMUP = 20  # operations run before timing, on both sides
ROUNDS = 5  # slices in which the sides of a throughput comparison alternate
THREADS = 4
BATCH_EVENTS = 100
SEED_STREAM = 50  # events per aggregate when seeding the store for a rebuild
SCAN_PAGE = 2000
PARTITIONS = 4
VISIBILITY_VIEW = "streams"
SPACING = 0.010  # seconds between the saves whose visibility is timed
POLL = 0.001  # seconds between two looks at a view's watermark
VISIBLE_TIMEOUT = 30.0
CATCH_UP_TIMEOUT = 120.0
APPEND_GOAL = 0.6
REBUILD_GOAL = 100_000
KAFKA_P99_GOAL_MS = 200.0

RAW_TABLE = "bench_raw_events"
RAW_DDL = (
    f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} ("
    " originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
    " topic text, state bytea, notification_id bigserial,"
    " PRIMARY KEY (originator_id, originator_version))"
)
RAW_INSERT = (
    f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, topic, state)"
    " VALUES (%s, %s, %s, %s)"
)
RAW_INSERT_MANY = (
    f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, topic, state)"
    " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
)


class BenchError(Exception):
    """A measurement could not complete (an event never became visible)."""


@dataclass(frozen=True)
class Counts:
    single: int
    batches: int
    concurrent: int
    commands: int
    visibility: int
    rebuild: int
    library: int
    seal_batch: int
    exchange: int


FULL = Counts(
    single=2000,
    batches=100,
    concurrent=2000,
    commands=500,
    visibility=300,
    rebuild=100_000,
    library=10_000,
    seal_batch=50,
    exchange=100,
)
QUICK = Counts(
    single=300,
    batches=20,
    concurrent=400,
    commands=100,
    visibility=60,
    rebuild=10_000,
    library=2_000,
    seal_batch=10,
    exchange=20,
)


@dataclass
class Result:
    ours: dict[str, Any]
    baseline: dict[str, Any]
    ratio: float | None
    goal: str
    met: bool | None
    #: What the line printed for people shows of each side.
    ours_line: str = ""
    baseline_line: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "goal": self.goal,
            "met": self.met,
        }
        if self.note:
            body["note"] = self.note
        return body


@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Failed(Skipped):
    """Reported among the skipped, with its error, and fails the run."""


Outcome = dict[str, Result | Skipped]


@dataclass
class Bench:
    """What every measurement works on: the platform built on a scratch
    database, and that database's URL for the raw baselines."""

    counts: Counts
    url: str
    services: Services
    kafka: str | None
    topics: list[str] = field(default_factory=list)

    @property
    def app(self) -> Platform:
        return self.services.app

    @property
    def engine(self) -> Engine:
        return self.services.engine

    def raw(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=autocommit)

    def events_table(self) -> str:
        recorder: Any = self.app.recorder
        return str(recorder.events_table_name)

    def stored_events(self) -> int:
        return self.app.recorder.max_notification_id() or 0


# Timing ----------------------------------------------------------------------

Timing = tuple[float, list[float]]  # wall seconds, and each call's seconds
#: Runs calls ``start`` .. ``start + count - 1`` of one side of a comparison.
Side = Callable[[int, int], Timing]


def run_timed(count: int, op: Callable[[int], object], start: int = 0) -> Timing:
    """Runs ``op(start)`` .. ``op(start + count - 1)``, timing each call."""
    latencies: list[float] = []
    began = perf_counter()
    for i in range(start, start + count):
        before = perf_counter()
        op(i)
        latencies.append(perf_counter() - before)
    return perf_counter() - began, latencies


def run_concurrently(
    ops: Sequence[Callable[[int], object]], count: int, start: int = 0
) -> Timing:
    """Runs ``count`` calls of every op, from ``start``, one thread per op,
    all released at once."""
    gate = threading.Barrier(len(ops) + 1, timeout=60)

    def work(op: Callable[[int], object]) -> list[float]:
        gate.wait()
        return run_timed(count, op, start)[1]

    with ThreadPoolExecutor(max_workers=len(ops)) as pool:
        futures = [pool.submit(work, op) for op in ops]
        gate.wait()
        began = perf_counter()
        latencies = [t for f in futures for t in f.result()]
        wall = perf_counter() - began
    return wall, latencies


def sequential(op: Callable[[int], object]) -> Side:
    return lambda start, count: run_timed(count, op, start)


def parallel(ops: Sequence[Callable[[int], object]]) -> Side:
    return lambda start, count: run_concurrently(ops, count, start)


def interleaved(count: int, sides: Mapping[str, Side]) -> dict[str, Timing]:
    """Runs every side over calls 0 .. ``count - 1`` in ``ROUNDS`` alternating
    slices, so that load changing during the run (other processes on the
    machine, the server's checkpoints) falls on every side alike."""
    walls = dict.fromkeys(sides, 0.0)
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    bounds = [count * r // ROUNDS for r in range(ROUNDS + 1)]
    for start, stop in pairwise(bounds):
        for name, side in sides.items():
            wall, each = side(start, stop - start)
            walls[name] += wall
            latencies[name] += each
    return {name: (walls[name], latencies[name]) for name in sides}


def throughput(events: int, wall: float, latencies: Sequence[float]) -> dict[str, Any]:
    return {
        "events": events,
        "seconds": round(wall, 3),
        "events_per_s": rate(events, wall),
        "per_op": latency_summary(latencies),
    }


def rate_result(
    ours: dict[str, Any], baseline: dict[str, Any], goal: float | None, note: str = ""
) -> Result:
    """Two throughputs side by side; the goal, if any, is a least ratio."""
    r = ratio(ours["events_per_s"], baseline["events_per_s"])
    return Result(
        ours=ours,
        baseline=baseline,
        ratio=r,
        goal="none: shown for context" if goal is None else f"ours/raw >= {goal}",
        met=None if goal is None else (r is not None and r >= goal),
        ours_line=format_rate(ours["events_per_s"]),
        baseline_line=format_rate(baseline["events_per_s"]),
        note=note,
    )


def latency_line(summary: Mapping[str, float]) -> str:
    return f"p50 {format_ms(summary['p50_ms'])} p99 {format_ms(summary['p99_ms'])}"


def position_of(recordings: Sequence[Recording[UUID]]) -> int:
    return max((r.notification.id or 0) for r in recordings)


# Raw rows --------------------------------------------------------------------


def create_raw_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_DDL)


def raw_insert_one(conn: psycopg.Connection[Any], shape: RowShape) -> None:
    conn.execute(RAW_INSERT, (uuid4(), 1, shape.topic, shape.state))
    conn.commit()


def raw_insert_stream(
    conn: psycopg.Connection[Any], aggregate_id: UUID, shapes: Sequence[RowShape]
) -> None:
    """One transaction inserting a whole stream of rows with one statement."""
    conn.execute(
        RAW_INSERT_MANY,
        (
            [aggregate_id] * len(shapes),
            list(range(1, len(shapes) + 1)),
            [s.topic for s in shapes],
            [s.state for s in shapes],
        ),
    )
    conn.commit()


def raw_insert_as_eventsourcing(conn: psycopg.Connection[Any], shape: RowShape) -> None:
    """The statements the platform's recorder (eventsourcing's, less its
    NOTIFY) sends for one save, pipelined the same way: table lock, INSERT ...
    RETURNING, a sync to surface conflicts, then COMMIT (``conn`` is in
    autocommit mode, as the recorder's are)."""
    with conn.pipeline() as pipeline, conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '10s'")
        conn.execute(f"LOCK TABLE {RAW_TABLE} IN EXCLUSIVE MODE")
        cursor = conn.execute(
            RAW_INSERT + " RETURNING notification_id",
            (uuid4(), 1, shape.topic, shape.state),
        )
        pipeline.sync()
        cursor.fetchall()


# 1. One event per save -------------------------------------------------------


def append_single(b: Bench) -> Outcome:
    n, app = b.counts.single, b.app
    shape = row_shapes(app, BenchItem.new())[0]
    items = [BenchItem.new() for _ in range(n)]
    with b.raw() as plain, b.raw(autocommit=True) as like_es:
        for _ in range(WARMUP):
            app.save(BenchItem.new())
            raw_insert_one(plain, shape)
            raw_insert_as_eventsourcing(like_es, shape)
        timings = interleaved(
            n,
            {
                "ours": sequential(lambda i: app.save(items[i])),
                "raw": sequential(lambda _: raw_insert_one(plain, shape)),
                "like_es": sequential(
                    lambda _: raw_insert_as_eventsourcing(like_es, shape)
                ),
            },
        )
    size = {"state_bytes": len(shape.state)}
    ours = throughput(n, *timings["ours"]) | size
    baseline = throughput(n, *timings["raw"]) | size
    baseline["with_eventsourcing_statements"] = throughput(n, *timings["like_es"])
    note = (
        "baseline: one plain INSERT and COMMIT per event; "
        "with_eventsourcing_statements sends, raw, the statements the recorder "
        "sends (lock, INSERT RETURNING, sync, COMMIT), so the gap between "
        "it and ours is the library's Python, the gap below it the SQL's shape"
    )
    return {"append_single": rate_result(ours, baseline, APPEND_GOAL, note)}


# 2. A hundred events in one save ---------------------------------------------


def append_batch_100(b: Bench) -> Outcome:
    n, app = b.counts.batches, b.app
    shapes = row_shapes(app, BenchItem.new(BATCH_EVENTS))
    items = [BenchItem.new(BATCH_EVENTS) for _ in range(n)]
    with b.raw() as conn:
        for _ in range(WARMUP // 4):
            app.save(BenchItem.new(BATCH_EVENTS))
            raw_insert_stream(conn, uuid4(), shapes)
        timings = interleaved(
            n,
            {
                "ours": sequential(lambda i: app.save(items[i])),
                "raw": sequential(lambda _: raw_insert_stream(conn, uuid4(), shapes)),
            },
        )
    ours = throughput(n * BATCH_EVENTS, *timings["ours"])
    baseline = throughput(n * BATCH_EVENTS, *timings["raw"])
    return {"append_batch_100": rate_result(ours, baseline, APPEND_GOAL)}


# 3. Four writers at once -----------------------------------------------------


def saver(app: Platform, count: int) -> Callable[[int], object]:
    items = [BenchItem.new() for _ in range(count)]
    return lambda i: app.save(items[i])


def inserter(conn: psycopg.Connection[Any], shape: RowShape) -> Callable[[int], None]:
    return lambda _: raw_insert_one(conn, shape)


def append_concurrent_4(b: Bench) -> Outcome:
    each, app = b.counts.concurrent // THREADS, b.app
    shape = row_shapes(app, BenchItem.new())[0]
    conns = [b.raw() for _ in range(THREADS)]
    try:
        for _ in range(WARMUP):
            app.save(BenchItem.new())
        for conn in conns:
            run_timed(WARMUP // THREADS, inserter(conn, shape))
        timings = interleaved(
            each,
            {
                "ours": parallel([saver(app, each) for _ in range(THREADS)]),
                "raw": parallel([inserter(conn, shape) for conn in conns]),
            },
        )
    finally:
        for conn in conns:
            conn.close()
    threads = {"threads": THREADS}
    ours = throughput(each * THREADS, *timings["ours"]) | threads
    baseline = throughput(each * THREADS, *timings["raw"]) | threads
    note = (
        "eventsourcing takes LOCK TABLE ... IN EXCLUSIVE MODE for every insert, so "
        "concurrent saves commit one at a time and a reader tailing the log never "
        "skips an event committed late; the raw inserts take no such lock"
    )
    return {"append_concurrent_4": rate_result(ours, baseline, None, note)}


# 3b. A whole command, for context --------------------------------------------


def stored_enterprises(app: Platform, count: int) -> list[UUID]:
    """Registered enterprises, saved a hundred to a transaction."""
    enterprises = [new_enterprise(serial) for serial in range(1, count + 1)]
    for start in range(0, count, 100):
        app.save(*enterprises[start : start + 100])
    return [e.id for e in enterprises]


def raw_streams(
    conn: psycopg.Connection[Any], shapes: list[RowShape], count: int
) -> list[UUID]:
    """Raw streams of the given rows, inserted in one transaction."""
    ids = [uuid4() for _ in range(count)]
    for row_id in ids:
        for version, shape in enumerate(shapes, start=1):
            conn.execute(RAW_INSERT, (row_id, version, shape.topic, shape.state))
    conn.commit()
    return ids


def command_approve(b: Bench) -> Outcome:
    """``EnterpriseCommands.approve``: fingerprint, load, method, save."""
    n, app = b.counts.commands, b.app
    template = new_enterprise(0)
    template.approve()
    *submitted, approved = row_shapes(app, template)
    ids = stored_enterprises(app, WARMUP + n)
    caller = Caller(account_id="bench", enterprise_id="platform", role="operator")
    approve = b.services.enterprises.approve
    with b.raw() as conn:
        raw_ids = raw_streams(conn, submitted, WARMUP + n)

        def load_and_append(i: int) -> None:
            conn.execute(
                f"SELECT * FROM {RAW_TABLE} WHERE originator_id = %s", (raw_ids[i],)
            ).fetchall()
            version = len(submitted) + 1
            conn.execute(
                RAW_INSERT, (raw_ids[i], version, approved.topic, approved.state)
            )
            conn.commit()

        for i in range(WARMUP):
            approve(caller, ids[n + i])
            load_and_append(n + i)
        timings = interleaved(
            n,
            {
                "ours": sequential(lambda i: approve(caller, ids[i])),
                "raw": sequential(load_and_append),
            },
        )
    note = (
        "the full command path (idempotency fingerprint, load and replay, "
        "method, save) against a raw SELECT of the stream, INSERT and COMMIT"
    )
    ours, baseline = throughput(n, *timings["ours"]), throughput(n, *timings["raw"])
    return {"command_approve": rate_result(ours, baseline, None, note)}


# 4. Rebuilding the audit view ------------------------------------------------


def seed(app: Platform, events: int) -> dict[str, Any]:
    """Adds streams of ``SEED_STREAM`` events until the store holds at least
    ``events``."""
    have = app.recorder.max_notification_id() or 0
    saves = max(0, -(-(events - have) // SEED_STREAM))
    start = perf_counter()
    for _ in range(saves):
        app.save(BenchItem.new(SEED_STREAM))
    seconds = perf_counter() - start
    added = saves * SEED_STREAM
    return {
        "seeded_events": added,
        "seed_events_per_s": rate(added, seconds) if added else None,
    }


Rows = list[tuple[Any, ...]]


def notifications(rows: Rows) -> list[Notification]:
    return [
        Notification(
            id=row[4],
            originator_id=row[0],
            originator_version=row[1],
            topic=row[2],
            state=bytes(row[3]),
        )
        for row in rows
    ]


def scan(
    b: Bench, per_page: Callable[[psycopg.Connection[Any], Rows], object] | None = None
) -> dict[str, Any]:
    """Reads the whole notification table in pages, handing each page to
    ``per_page``."""
    query = (
        "SELECT originator_id, originator_version, topic, state, notification_id"
        f" FROM {b.events_table()} WHERE notification_id > %s"
        " ORDER BY notification_id LIMIT %s"
    )
    count, after = 0, 0
    with b.raw() as conn:
        start = perf_counter()
        while rows := conn.execute(query, (after, SCAN_PAGE)).fetchall():
            if per_page is not None:
                per_page(conn, rows)
            count += len(rows)
            after = rows[-1][4]
        seconds = perf_counter() - start
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": rate(count, seconds),
    }


class CollectingTx(Tx):
    """Keeps a projection's statements instead of running them, so that a
    page of them can go to the server as one ``executemany``."""

    dialect = "postgres"

    def __init__(self) -> None:
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.statements.append((sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.statements.extend((sql, row) for row in rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise BenchError("a projection that reads cannot have its writes batched")


def batched_audit_writes(b: Bench) -> dict[str, Any]:
    """The audit view's own ``apply`` on every decoded event, its INSERTs sent
    with one ``executemany`` per page, one transaction per page, into a
    scratch table with the view's columns and indexes."""
    projection, decoder = AuditView(), b.services.decoder
    names = {short: f"bench_raw_{short}" for short in projection.tables}
    with b.raw() as conn:
        for short, ddl in projection.tables.items():
            conn.execute(f"DROP TABLE IF EXISTS {names[short]}")
            conn.execute(ddl.format(**names))
        for ddl in projection.indexes:
            conn.execute(ddl.format(**names))
        conn.commit()

    def write(conn: psycopg.Connection[Any], rows: Rows) -> None:
        tx = CollectingTx()
        for notification in notifications(rows):
            projection.apply(tx, names, decoder.decode(notification))
        with conn.cursor() as cursor:
            for sql, same in groupby(tx.statements, key=itemgetter(0)):
                cursor.executemany(sql, [params for _, params in same])
        conn.commit()

    return scan(b, write)


def rebuild_audit(b: Bench) -> Outcome:
    seeding = seed(b.app, b.counts.rebuild)
    events = b.stored_events()
    start = perf_counter()
    generation = b.engine.rebuild("audit", b.app.recorder, b.services.decoder)
    seconds = perf_counter() - start
    ours = {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": rate(events, seconds),
        "generation": generation,
        **seeding,
    }
    mapper, decoder = b.app.mapper, b.services.decoder
    baseline = scan(b) | {
        "with_mapper": scan(
            b, lambda _, rows: [mapper.to_domain_event(n) for n in notifications(rows)]
        ),
        "with_event_decoder": scan(
            b, lambda _, rows: [decoder.decode(n) for n in notifications(rows)]
        ),
        "with_batched_view_writes": batched_audit_writes(b),
    }
    note = (
        "baseline: the raw paged scan; with_mapper adds the application mapper's "
        "to_domain_event per row, with_event_decoder the engine's EventDecoder "
        "(mapper plus flattening), with_batched_view_writes also the audit view's "
        "own INSERTs, sent one executemany per page instead of one round trip each"
    )
    return {
        "rebuild_audit": Result(
            ours=ours,
            baseline=baseline,
            ratio=ratio(ours["events_per_s"], baseline["events_per_s"]),
            goal=f"ours >= {REBUILD_GOAL:,} events/s",
            met=ours["events_per_s"] >= REBUILD_GOAL,
            ours_line=format_rate(ours["events_per_s"]),
            baseline_line=format_rate(baseline["events_per_s"]),
            note=note,
        )
    }


# 5. From commit to view ------------------------------------------------------


@contextmanager
def running(*loops: Callable[[Callable[[], bool]], None]) -> Iterator[None]:
    """Runs each ``loop(stop)`` in a thread of its own until the block ends."""
    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(stop.is_set,)) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise BenchError(f"threads did not stop: {', '.join(stuck)}")


def wait_visible(
    engine: Engine, view: str, position: int, part: int, timeout: float
) -> None:
    deadline = perf_counter() + timeout
    while not engine.has_reached(view, position, part):
        if perf_counter() > deadline:
            raise BenchError(
                f"event {position} did not reach view {view} (part {part})"
                f" within {timeout:.0f} s"
            )
        time.sleep(POLL)


def visibility(
    b: Bench, count: int, part_of: Callable[[UUID], int], timeout: float
) -> list[float]:
    """Saves ``count`` single-event aggregates, one every ``SPACING`` seconds,
    and times each from ``save()`` returning to the view showing it."""
    latencies: list[float] = []
    for _ in range(count):
        item = BenchItem.new()
        part = part_of(item.id)
        position = position_of(b.app.save(item))
        start = perf_counter()
        wait_visible(b.engine, VISIBILITY_VIEW, position, part, timeout)
        latencies.append(perf_counter() - start)
        time.sleep(SPACING)
    return latencies


def caught_up(b: Bench, part_of: Callable[[UUID], int]) -> dict[str, Any]:
    """Waits, untimed, until the view has applied everything stored so far
    (the earlier measurements' events) and the transport is warm."""
    backlog = b.stored_events()
    start = perf_counter()
    visibility(b, 5, part_of, CATCH_UP_TIMEOUT)
    return {"backlog_events": backlog, "catch_up_s": round(perf_counter() - start, 3)}


def latency_result(
    ours: dict[str, Any],
    baseline: dict[str, Any],
    goal_ms: float | None,
    note: str,
) -> Result:
    r = ratio(ours["latency"]["p99_ms"], baseline["latency"]["p99_ms"])
    return Result(
        ours=ours,
        baseline=baseline,
        ratio=r,
        goal="none: shown for context" if goal_ms is None else f"p99 <= {goal_ms} ms",
        met=None if goal_ms is None else ours["latency"]["p99_ms"] <= goal_ms,
        ours_line=latency_line(ours["latency"]),
        baseline_line=latency_line(baseline["latency"]),
        note=note,
    )


def raw_select_visibility(b: Bench, count: int) -> list[float]:
    """INSERT and COMMIT on one connection, then SELECT on another until the
    row shows."""
    shape = row_shapes(b.app, BenchItem.new())[0]
    latencies: list[float] = []
    query = f"SELECT 1 FROM {RAW_TABLE} WHERE originator_id = %s"
    with b.raw() as writer, b.raw(autocommit=True) as reader:
        for _ in range(WARMUP + count):
            row_id = uuid4()
            writer.execute(RAW_INSERT, (row_id, 1, shape.topic, shape.state))
            writer.commit()
            start = perf_counter()
            while reader.execute(query, (row_id,)).fetchone() is None:
                time.sleep(POLL)
            latencies.append(perf_counter() - start)
    return latencies[WARMUP:]


def in_process_visibility(b: Bench) -> Result:
    count = b.counts.visibility
    follower = LogFollower(b.engine, b.app.recorder, b.services.decoder)
    # As the API wires it: the application's saves wake the follower.
    wake = threading.Event()
    b.app.saved_listeners.append(wake.set)

    def follow(stop: Callable[[], bool]) -> None:
        follower.run(stop, wake=wake)

    try:
        with running(follow):
            warm = caught_up(b, lambda _: WHOLE_LOG)
            latencies = visibility(b, count, lambda _: WHOLE_LOG, VISIBLE_TIMEOUT)
    finally:
        b.app.saved_listeners.remove(wake.set)
    ours = {"latency": latency_summary(latencies), "view": VISIBILITY_VIEW, **warm}
    baseline = {"latency": latency_summary(raw_select_visibility(b, count))}
    note = (
        "a LogFollower thread keeps all three views; it waits on the "
        "application's save signal (50 ms at most when idle), as the API runs "
        "it; the latency is the follower's read of the log and the views' "
        "transactions"
    )
    return latency_result(ours, baseline, None, note)


def message_like_the_relays(b: Bench) -> bytes:
    shape = row_shapes(b.app, BenchItem.new())[0]
    return encode(
        Notification(
            id=1,
            originator_id=uuid4(),
            originator_version=1,
            topic=shape.topic,
            state=shape.state,
        )
    )


def kafka_round_trip(
    bootstrap: str, topic: str, body: bytes, count: int
) -> list[float]:
    """Produce (acks=all, the relay's producer settings) and consume one
    message at a time through a one-partition topic."""
    ensure_topic(bootstrap, topic, 1)
    topic_ready(bootstrap, topic, 1)
    producer = new_producer(bootstrap)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="shouying-bench",
        enable_auto_commit=False,
    )
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    latencies: list[float] = []
    try:
        for _ in range(WARMUP + count):
            start = perf_counter()
            producer.send(topic, value=body, partition=0)
            producer.flush()
            deadline = start + VISIBLE_TIMEOUT
            while not consumer.poll(timeout_ms=100, max_records=1):
                if perf_counter() > deadline:
                    raise BenchError(f"no message came back from {topic}")
            latencies.append(perf_counter() - start)
    finally:
        producer.close(timeout=5)
        consumer.close()
    return latencies[WARMUP:]


def topic_ready(bootstrap: str, topic: str, partitions: int) -> None:
    """Waits until the broker describes every partition of a new topic with a
    leader. A consumer that joins its group before then can be assigned
    nothing and, with kafka-python's defaults, only notice the partitions at
    its next metadata refresh, five minutes later."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shouying-bench")
    deadline = perf_counter() + VISIBLE_TIMEOUT
    try:
        while True:
            found = admin.describe_topics([topic])[0].get("partitions") or []
            if sum(1 for p in found if p.get("leader", -1) >= 0) >= partitions:
                return
            if perf_counter() > deadline:
                raise BenchError(f"topic {topic} has no leaders after creation")
            time.sleep(0.1)
    finally:
        admin.close()


def kafka_visibility(b: Bench, bootstrap: str) -> Result:
    count = b.counts.visibility
    topic = f"bench.{secrets.token_hex(6)}"
    b.topics += [topic, f"{topic}.raw"]
    ensure_topic(bootstrap, topic, PARTITIONS)
    topic_ready(bootstrap, topic, PARTITIONS)
    relay = Relay(
        b.app.recorder,
        b.services.views,
        lambda: new_producer(bootstrap),
        topic=topic,
        partitions=PARTITIONS,
    )
    worker = ProjectionWorker(
        b.engine, VISIBILITY_VIEW, b.services.decoder, bootstrap, topic=topic
    )

    def part_of(aggregate_id: UUID) -> int:
        return partition_for(aggregate_id, PARTITIONS)

    with running(relay.run, worker.run):
        try:
            warm = caught_up(b, part_of)
        except BenchError as e:
            held = sorted(p.partition for p in worker.consumer.assignment())
            raise BenchError(f"{e}; the worker held partitions {held}") from e
        latencies = visibility(b, count, part_of, VISIBLE_TIMEOUT)
    ours = {
        "latency": latency_summary(latencies),
        "view": VISIBILITY_VIEW,
        "partitions": PARTITIONS,
        **warm,
    }
    round_trips = kafka_round_trip(
        bootstrap, f"{topic}.raw", message_like_the_relays(b), count
    )
    baseline = {"latency": latency_summary(round_trips)}
    note = (
        "ours: relay polls the store (idle 20 ms), produces with acks=all, a "
        "ProjectionWorker consumes and applies in a view transaction; baseline: "
        "one produce (acks=all) and consume round trip of a same-sized message"
    )
    return latency_result(ours, baseline, KAFKA_P99_GOAL_MS, note)


def commit_to_view(b: Bench) -> Outcome:
    outcome: Outcome = {"commit_to_view.in_process": in_process_visibility(b)}
    if b.kafka is None:
        outcome["commit_to_view.kafka"] = Skipped(
            "no Kafka: set SHOUYING_BENCH_KAFKA_BOOTSTRAP or SHOUYING_KAFKA_BOOTSTRAP"
        )
        return outcome
    try:
        outcome["commit_to_view.kafka"] = kafka_visibility(b, b.kafka)
    except (BenchError, KafkaError) as e:
        logger.exception("the measurement through Kafka failed")
        outcome["commit_to_view.kafka"] = Failed(f"failed: {type(e).__name__}: {e}")
    return outcome


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shouying-bench")
    try:
        with suppress(KafkaError):
            admin.delete_topics(topics)
    finally:
        admin.close()


MEASUREMENTS: dict[str, Callable[[Bench], Outcome]] = {
    "append_single": append_single,
    "append_batch_100": append_batch_100,
    "append_concurrent_4": append_concurrent_4,
    "command_approve": command_approve,
    # Before the rebuild's seeding, so that the view catches up on less.
    "commit_to_view": commit_to_view,
    "rebuild_audit": rebuild_audit,
    "library_list": library_list,
    "signing": signing,
    "exchange": exchange,
}

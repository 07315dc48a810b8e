"""``shouying bench``: how fast the platform's own paths are, each beside the
raw floor under it, measured in the same run on the same PostgreSQL server.

What is measured
    append_single
        ``Platform.save()`` of a new aggregate carrying one event (about 200
        bytes of business state, ~460 bytes stored), one save at a time.
    append_batch_100
        ``save()`` of one aggregate carrying 100 events (a creation and 99 more).
    append_concurrent_4
        Four threads doing single-event saves on one application at once.
    command_approve
        For context: ``EnterpriseCommands.approve``, the full command path
        (idempotency fingerprint, load and replay, method, save).
    commit_to_view
        Latency from ``save()`` returning to the event being visible in a view,
        polled every millisecond with ``Engine.has_reached``: in-process through
        a ``LogFollower`` thread, and through Kafka (``Relay`` thread, topic of
        4 partitions, ``ProjectionWorker`` for the streams view).
    rebuild_audit
        ``Engine.rebuild("audit", ...)`` over a store seeded with E events
        (saved directly as streams of 50 events, never through password
        hashing, so seeding is quick).
    library_list
        A page of 20 drug records of an enterprise holding N records (10,000;
        three more enterprises hold N/10 each), from the cursor of a random
        row so pages come from all over the list, through the list route's
        read path (``query_records`` in a read-only view transaction);
        ``library_list_search`` adds a two-character search. The rows are
        written straight into the view's table, shaped as the projection
        writes them, since what is measured is the reading. Baseline: the
        same SELECT of the same columns from the same table, hand-written,
        on one autocommit connection, rows fetched as tuples. Goal: p99 <= 20 ms.
    signing
        ``seal_one_page``: ``Sealer.seal`` of a one-page A4 text PDF, the
        Sealer (its 400x400 transparent PNG decoded and deflated) made once
        before timing, beside the bare pyhanko call a developer would write
        for the same visible seal (``PdfSigner`` with a new field of the same
        box on the last page, ``StaticStampStyle`` showing the same PNG as a
        ``PdfImage``): the same PDF, the same ECDSA P-256 signer whose
        certificate the platform CA issued, certificate and root embedded,
        PAdES B-B with SHA-256 on both sides, checked valid and alike before
        timing. Goal: mean time per seal <= 1.1x pyhanko's.
        ``seal_batch_50`` (``seal_batch_10`` with --quick): seals per second
        over 50 distinct one- and two-page PDFs on the same two sides, and,
        in ``through_run_cloud``, through ``SealingCommands.run_cloud`` on a
        seal task of 50 freshly uploaded files (password check, per-file
        loads, blob writes and saves on the bench's PostgreSQL); no goal.
    exchange
        ``exchange_send``: ``ExchangeCommands`` compose, submit (no review),
        seal with the cloud certificate and send, called directly, of a
        package of four fresh records (an enterprise dossier with a business
        licence, three drugs with a registration certificate each, one-page
        PDFs) to 100 recipients (30 verified enterprises, 70 by mobile, told
        by SMS through the embedded outbox), five timed packages from one
        sender after one untimed: seconds per package and events per second
        (``max_notification_id`` before and after). ``exchange_accept_100``:
        100 verified enterprises accept their delivery of one such package at
        once from 10 threads calling ``ExchangeCommands.accept``: accepts and
        events per second, p50/p99 per accept, and whether every accept
        succeeded (0 conflicts: different recipients must not conflict).
        Every enterprise is registered, informed, submitted and approved
        through the real commands once, before timing (argon2 hashing makes
        that slow; ``seed_s``); the commands' files go to a temporary folder.
        Baselines are the spine's raw appends in the same run: the send
        beside one connection's single-row INSERT and COMMIT, alternating in
        five slices; the accepts beside 10 threads doing the same, each its
        own connection, half before and half after; as many rows as ours
        writes events. Ratios are events/s over raw events/s (20 recipients
        and accepts with --quick); no goal but every accept succeeding.

Why the baselines are fair
    Each baseline does the least the database (or broker) must do for the same
    outcome, through the same driver, server and settings (``fsync`` and
    ``synchronous_commit`` as the server has them), in the same run:

    * appends insert into a scratch table shaped exactly like eventsourcing's
      (``originator_id uuid, originator_version bigint, topic text, state
      bytea, notification_id bigserial``, the same primary key), rows whose
      topic and state are the very bytes the application's mapper produced,
      one transaction per save, the same number of saves; the hundred-event
      baseline inserts with one ``INSERT ... SELECT FROM unnest(...)`` as
      eventsourcing does; the concurrent baseline gives each thread its own
      connection; beside the single-event baseline, the recorder's own
      statements (table lock, INSERT ... RETURNING, pipeline sync,
      COMMIT) sent raw split the gap into SQL shape and library overhead;
    * the command's baseline reads the stream and appends one row;
    * the rebuild's baseline pages through the real notification table 2000
      rows at a time, then again converting every row with the application's
      mapper, with the engine's decoder, and finally also writing the audit
      view's own rows with one ``executemany`` per page, so each step's cost
      shows;
    * the Kafka baseline is one produce-and-consume round trip of a message
      of the relay's size, with the relay's producer settings (acks=all), on
      the same broker; the in-process one is INSERT and COMMIT on one
      connection, then SELECT on another until the row shows.

    Both sides are warmed up (connections, prepared statements) before timing,
    and throughput sides alternate in five slices each, so that load changing
    during the run falls on both alike. Ratios are ours/baseline: for rates
    higher is better, for latencies (p99) lower.

Configuration
    SHOUYING_BENCH_DATABASE_URL or SHOUYING_DATABASE_URL: a PostgreSQL server;
    the bench creates a scratch database ``bench_<random>`` there and drops it
    at the end. SHOUYING_BENCH_KAFKA_BOOTSTRAP or SHOUYING_KAFKA_BOOTSTRAP:
    a Kafka broker; without one the Kafka measurement is skipped.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg
from psycopg import sql

from bench.measures import (
    FULL,
    MEASUREMENTS,
    QUICK,
    Bench,
    Counts,
    Failed,
    Outcome,
    Result,
    Skipped,
    create_raw_table,
    delete_topics,
)
from read_api.settings import Settings
from read_api.wiring import build

logger = logging.getLogger("shouying.bench")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="shouying bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object to stdout"
    )
    parser.add_argument("--quick", action="store_true", help="small counts (~1 min)")
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help=f"run only these: {', '.join(MEASUREMENTS)}",
    )
    # ``shouying bench -- --json``: the command line hands over what follows
    # the subcommand, separator included.
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    args.names = list(MEASUREMENTS)
    if args.only:
        args.names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in args.names if n not in MEASUREMENTS]
        if unknown:
            parser.error(
                f"no measurement {', '.join(unknown)}; "
                f"choose from {', '.join(MEASUREMENTS)}"
            )
    return args


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database on ``server``, dropped afterwards; yields its URL."""
    name = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlparse(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def machine(url: str, kafka: str | None) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        settings = {
            name: str(row[0])
            for name in ("server_version", "synchronous_commit", "fsync")
            if (row := conn.execute(f"SHOW {name}").fetchone()) is not None
        }
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": settings.get("server_version"),
        "postgres_synchronous_commit": settings.get("synchronous_commit"),
        "postgres_fsync": settings.get("fsync"),
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "psycopg": psycopg.__version__,
        "kafka": kafka,
    }


def line(name: str, entry: Result | Skipped) -> str:
    if isinstance(entry, Skipped):
        return f"{name:<27} skipped: {entry.reason}"
    verdict = {True: "met", False: "MISSED", None: "-"}[entry.met]
    return (
        f"{name:<27} ours {entry.ours_line:<22} raw {entry.baseline_line:<22}"
        f" ratio {entry.ratio}  goal {entry.goal} [{verdict}]"
    )


def measure(bench: Bench, names: list[str]) -> tuple[Outcome, bool]:
    """Runs the named measurements; a failed one is reported as skipped, with
    its error, and makes the run fail."""
    outcome: Outcome = {}
    failed = False
    for name in names:
        say(f"-- {name}")
        started = perf_counter()
        try:
            found = MEASUREMENTS[name](bench)
        except Exception as e:
            logger.exception("measurement %s failed", name)
            found = {name: Failed(f"failed: {type(e).__name__}: {e}")}
        failed = failed or any(isinstance(e, Failed) for e in found.values())
        for result_name, entry in found.items():
            say(line(result_name, entry))
        say(f"   ({perf_counter() - started:.1f} s)")
        outcome |= found
    return outcome, failed


def report(
    info: dict[str, Any],
    counts: Counts,
    seconds: float,
    load_before: tuple[float, ...],
    outcome: Outcome,
) -> dict[str, Any]:
    return {
        "machine": info,
        "run": {
            "quick": counts is QUICK,
            "seconds": round(seconds, 1),
            "counts": vars(counts),
            # Other work on the machine skews figures; this shows how much ran.
            "load_average_1m_before": round(load_before[0], 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "results": {
            n: e.as_json() for n, e in outcome.items() if isinstance(e, Result)
        },
        "skipped": {n: e.reason for n, e in outcome.items() if isinstance(e, Skipped)},
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    env = os.environ
    server = env.get("SHOUYING_BENCH_DATABASE_URL") or env.get("SHOUYING_DATABASE_URL")
    if not server:
        say("shouying bench: set SHOUYING_BENCH_DATABASE_URL to a PostgreSQL server")
        return 2
    kafka = (
        env.get("SHOUYING_BENCH_KAFKA_BOOTSTRAP")
        or env.get("SHOUYING_KAFKA_BOOTSTRAP")
        or None
    )
    counts = QUICK if args.quick else FULL
    logging.getLogger("kafka").setLevel(logging.WARNING)

    started, load_before = perf_counter(), os.getloadavg()
    with scratch_database(server) as url:
        info = machine(url, kafka)
        say(f"bench on {info['postgres']} ({info['cpus']} CPUs), scratch {url}")
        create_raw_table(url)
        services = build(Settings(database_url=url, kafka_bootstrap=kafka))
        bench = Bench(counts=counts, url=url, services=services, kafka=kafka)
        try:
            outcome, failed = measure(bench, args.names)
        finally:
            services.close()
            if kafka and bench.topics:
                delete_topics(kafka, bench.topics)
    document = report(info, counts, perf_counter() - started, load_before, outcome)
    if args.json:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        for name, entry in outcome.items():
            print(line(name, entry))
    return 1 if failed else 0

"""The exchange: one sender composing, sealing and sending a package of three
products and its enterprise dossier to many recipients, and those recipients
accepting it all at once, each beside the spine's raw append baseline.

The commands are driven directly (no HTTP) with a :class:`Caller`, wired as
:func:`read_api.wiring.build` wires them on the bench's application and views,
their files (blobs, CA, keys) in a temporary folder so ``./var`` is never
touched. SMS to recipients named by mobile go to the embedded outbox table in
the bench's database, as the API's default gateway sends them.

Every enterprise is registered, its information recorded and submitted, and
approved through :class:`EnterpriseCommands`, as ``Api.verified()`` does over
HTTP. Registration hashes the administrator's password with argon2, so all of
them are seeded once, before any timing.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aggregates.account import PLATFORM, Role
from aggregates.package import Delivery
from bench.signing import SIGNING_PASSWORD, seal_png, text_pdf
from bench.stats import format_ms, format_rate, rate, ratio
from bench.workload import BenchItem, credit_code, row_shapes
from commands.blobs import FilesystemBlobStore
from commands.certificates import Authority, CertificateCommands, KeyStore
from commands.errors import Conflict
from commands.exchange import ExchangeCommands
from commands.library import LibraryCommands
from commands.platform import Caller
from commands.seal_images import SealImageCommands
from commands.sealing import SealingCommands

if TYPE_CHECKING:
    from bench.measures import Bench, Outcome, Result, Side, Timing

PACKAGES = 5  # timed packages in exchange_send, one per slice of interleaving
ACCEPT_THREADS = 10
VERIFIED_SHARE = 0.3  # of a sent package's recipients; the rest named by mobile
SERIAL = 7_400_000  # enterprises' serials start here, apart from the others'
PRODUCTS = ["阿莫西林胶囊", "布洛芬缓释胶囊", "头孢克肟片"]
MANUFACTURER = "某某制药厂"
OPERATOR = Caller(
    account_id="bench-operator", enterprise_id=PLATFORM, role=Role.OPERATOR.value
)
ANONYMOUS = Caller(account_id="anonymous", enterprise_id="", role="anonymous")


# Who sends and who receives --------------------------------------------------


def verified(b: Bench, serial: int) -> Caller:
    """An enterprise registered (account with an argon2 password hash),
    its information recorded and submitted, and approved by an operator: its
    administrator, as the API would authenticate them."""
    enterprises = b.services.enterprises
    registered = enterprises.register(
        ANONYMOUS,
        enterprise_name=f"基准收发医药有限公司{serial}号",
        username=f"bench{serial}",
        mobile=f"139{serial:08d}",
        password="bench-pass-1",
    )
    enterprise_id = registered.ids["enterprise_id"]
    admin = Caller(
        account_id=registered.ids["account_id"],
        enterprise_id=enterprise_id,
        role=Role.ENTERPRISE_ADMIN.value,
        correlation_id="bench-exchange",
    )
    enterprises.record_information(
        admin,
        UUID(enterprise_id),
        {
            "category": "enterprise",
            "uscc": credit_code(serial),
            "legal_representative": "王建国",
            "address": "广州市天河区体育西路1号",
            "region": "广东省广州市",
            "admin_name": "李四",
            "admin_id_number": "11010519491231002X",
        },
    )
    enterprises.submit(admin, UUID(enterprise_id))
    enterprises.approve(OPERATOR, UUID(enterprise_id))
    return admin


@dataclass
class Sender:
    """The exchange commands on the bench's application and views, and a
    verified enterprise holding an approved official seal and an active cloud
    certificate."""

    exchange: ExchangeCommands
    library: LibraryCommands
    caller: Caller
    serial: int

    def items(self, package: int) -> list[dict[str, Any]]:
        """Four fresh records, each with one one-page PDF: the enterprise
        dossier with its business licence, and three drugs with their
        registration certificates. Fresh for every package, so that no file
        is sealed twice."""
        uscc = credit_code(self.serial)
        records: list[tuple[str, dict[str, str], str, dict[str, str]]] = [
            (
                "enterprise",
                {"name": f"基准收发医药有限公司{self.serial}号", "uscc": uscc},
                "business_licence",
                {"uscc": uscc, "valid_until": "长期"},
            )
        ]
        for n, name in enumerate(PRODUCTS):
            number = f"国药准字H44{package:03d}{n:03d}"
            records.append(
                (
                    "drug",
                    {
                        "product_name": name,
                        "approval_no": number,
                        "manufacturer": MANUFACTURER,
                    },
                    "drug_registration_certificate",
                    {"licence_no": number, "valid_until": "2029-01-01"},
                )
            )
        items = []
        for n, (kind, base, qualification, card) in enumerate(records):
            record = self.library.create_record(self.caller, kind, base, {})
            record_id = UUID(record.ids["record_id"])
            added = self.library.add_document(
                self.caller,
                record_id,
                data=text_pdf(package * 10 + n),
                name=f"资质{package}-{n}.pdf",
                qualification_type=qualification,
                card=card,
            )
            items.append(
                {
                    "record_id": str(record_id),
                    "document_ids": [added.ids["document_id"]],
                }
            )
        return items

    def send(
        self, recipients: Sequence[Mapping[str, Any]], items: list[dict[str, Any]]
    ) -> tuple[list[str], dict[str, float]]:
        """Compose, submit without review, seal with the cloud certificate,
        send: the deliveries, and each step's seconds."""
        from bench.measures import BenchError

        caller, exchange = self.caller, self.exchange
        steps: dict[str, float] = {}
        began = perf_counter()
        composed = exchange.compose(caller, recipients, items)
        package_id = UUID(composed.ids["package_id"])
        steps["compose"] = perf_counter() - began
        began = perf_counter()
        exchange.submit(caller, package_id, None)
        steps["submit"] = perf_counter() - began
        began = perf_counter()
        summary = exchange.seal(
            caller, package_id, certificate="cloud", password=SIGNING_PASSWORD
        )
        steps["seal"] = perf_counter() - began
        if summary["status"] != "sealed":
            raise BenchError(f"the package was not sealed: {summary['status']}")
        began = perf_counter()
        sent = exchange.send(caller, package_id)
        steps["send"] = perf_counter() - began
        deliveries = [str(d) for d in sent.extra["deliveries"]]
        if len(deliveries) != len(recipients):
            raise BenchError(f"{len(deliveries)} deliveries for {len(recipients)}")
        return deliveries, steps


def sender(b: Bench, folder: Path, serial: int) -> Sender:
    """Commands built as :func:`read_api.wiring.build` builds them, on the
    bench's runner, views and SMS outbox, their files under ``folder``."""
    runner = b.services.runner
    blobs = FilesystemBlobStore(folder / "blobs")
    secret = b"bench-exchange-signing-secret-0123456789"
    library = LibraryCommands(runner, blobs)
    seal_images = SealImageCommands(runner, blobs)
    certificates = CertificateCommands(
        runner,
        Authority(folder / "ca", secret, crl_url="http://127.0.0.1/crl"),
        KeyStore(folder / "keys", secret),
    )
    sealing = SealingCommands(runner, library, seal_images, certificates)
    exchange = ExchangeCommands(
        runner, library, sealing, b.services.views, b.engine, b.services.sms_outbox
    )
    caller = verified(b, serial)
    blob = seal_images.upload(caller, "official", seal_png()).ids["blob"]
    seal_images.review(
        OPERATOR,
        UUID(caller.enterprise_id),
        "official",
        blob,
        approved=True,
        reason=None,
    )
    certificates.apply_cloud(caller, SIGNING_PASSWORD)
    return Sender(exchange, library, caller, serial)


def by_enterprise(recipients: Sequence[Caller]) -> list[dict[str, str]]:
    return [
        {"name": f"收件{n}", "enterprise_id": r.enterprise_id}
        for n, r in enumerate(recipients)
    ]


def by_mobile(count: int) -> list[dict[str, str]]:
    return [
        {"name": f"药房{n}", "contact": "联系人", "mobile": f"1370000{n:04d}"}
        for n in range(count)
    ]


# 1. Compose, seal and send ----------------------------------------------------


def raw_side(conn: Any, shape: Any, events_each: int) -> Side:
    """``events_each`` raw single-row transactions per call."""
    from bench.measures import raw_insert_one, run_timed

    def side(start: int, count: int) -> Timing:
        return run_timed(count * events_each, lambda _: raw_insert_one(conn, shape))

    return side


def exchange_send(
    b: Bench, origin: Sender, verified_recipients: list[Caller]
) -> Result:
    from bench.measures import (
        WARMUP,
        interleaved,
        rate_result,
        raw_insert_one,
        throughput,
    )

    recipients = by_enterprise(verified_recipients)
    recipients += by_mobile(b.counts.exchange - len(recipients))
    items = [origin.items(n) for n in range(PACKAGES + 1)]  # untimed setup

    # One package untimed: Sealer cached, key store read, statements prepared.
    before = b.stored_events()
    origin.send(recipients, items[PACKAGES])
    per_package = b.stored_events() - before

    shape = row_shapes(b.app, BenchItem.new())[0]
    events: list[int] = []
    steps: dict[str, list[float]] = {}

    def ours(start: int, count: int) -> Timing:
        seconds: list[float] = []
        for j in range(start, start + count):
            first = b.stored_events()
            began = perf_counter()
            _, took = origin.send(recipients, items[j])
            seconds.append(perf_counter() - began)
            events.append(b.stored_events() - first)
            for step, s in took.items():
                steps.setdefault(step, []).append(s)
        return sum(seconds), seconds

    with b.raw() as conn:
        for _ in range(WARMUP):
            raw_insert_one(conn, shape)
        timings = interleaved(
            PACKAGES, {"ours": ours, "raw": raw_side(conn, shape, per_package)}
        )
    wall, per = timings["ours"]
    verified_count = len(verified_recipients)
    body = throughput(sum(events), wall, per)
    body["seconds_per_package"] = round(wall / PACKAGES, 3)
    body |= {
        "packages": PACKAGES,
        "recipients": len(recipients),
        "verified_recipients": verified_count,
        "mobile_recipients": len(recipients) - verified_count,
        "records": len(items[0]),
        "files": len(items[0]),
        "events_per_package": sorted(set(events)),
        "steps_mean_ms": {
            step: round(1000 * sum(s) / len(s), 1) for step, s in steps.items()
        },
    }
    baseline = throughput(PACKAGES * per_package, *timings["raw"]) | {
        "connections": 1,
        "state_bytes": len(shape.state),
    }
    note = (
        "ours: ExchangeCommands.compose, submit (no review), seal (cloud "
        "certificate: password check, 4 one-page PDFs sealed once) and send "
        f"of one package of 4 records (enterprise dossier + {len(PRODUCTS)} "
        f"drugs, one file each) to {len(recipients)} recipients "
        f"({verified_count} verified enterprises, the rest by mobile, told by "
        "SMS through the embedded outbox table), called directly; each package "
        f"fresh (its records made untimed), {PACKAGES} timed after one untimed; "
        "events counted by max_notification_id; every enterprise seeded "
        "before timing through the real commands (argon2: seed_s). Baseline: "
        "append_single's raw "
        "INSERT and COMMIT of one eventsourcing-shaped row per transaction on one "
        "connection, as many rows as a package writes events, alternating with "
        "ours in five slices; ratio is events/s over raw events/s"
    )
    result = rate_result(body, baseline, None, note)
    result.ours_line = (
        f"{format_ms(1000 * wall / PACKAGES)}/pkg {format_rate(body['events_per_s'])}"
    )
    return result


# 2. A hundred accepts at once -------------------------------------------------


@dataclass
class Tally:
    succeeded: int = 0
    conflicts: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepter(
        self, exchange: ExchangeCommands, pairs: Sequence[tuple[Caller, UUID]]
    ) -> Callable[[int], None]:
        def accept(i: int) -> None:
            caller, delivery_id = pairs[i]
            try:
                exchange.accept(caller, delivery_id)
            except Conflict:
                with self.lock:
                    self.conflicts += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                with self.lock:
                    self.failed.append(f"{type(e).__name__}: {e}")
            else:
                with self.lock:
                    self.succeeded += 1

        return accept


def delivered(
    b: Bench, origin: Sender, recipients: list[Caller], items: list[dict[str, Any]]
) -> list[tuple[Caller, UUID]]:
    """Sends a package to ``recipients``: each with its delivery."""
    deliveries, _ = origin.send(by_enterprise(recipients), items)
    holder = {r.enterprise_id: r for r in recipients}
    pairs = []
    for d in deliveries:
        delivery: Delivery = b.app.repository.get(UUID(d))
        pairs.append((holder[str(delivery.recipient.enterprise_id)], UUID(d)))
    return pairs


def accept_all(
    b: Bench, exchange: ExchangeCommands, pairs: list[tuple[Caller, UUID]]
) -> tuple[Tally, Timing, int]:
    """Every recipient accepts at once, ``ACCEPT_THREADS`` threads sharing
    them out: the tally, the timing and the events written."""
    from bench.measures import run_concurrently

    tally = Tally()
    each = len(pairs) // ACCEPT_THREADS
    ops = [
        tally.accepter(exchange, pairs[t * each : (t + 1) * each])
        for t in range(ACCEPT_THREADS)
    ]
    first = b.stored_events()
    timing = run_concurrently(ops, each)
    return tally, timing, b.stored_events() - first


def exchange_accept(
    b: Bench, origin: Sender, recipients: list[Caller], warm: list[Caller]
) -> Result:
    from bench.measures import (
        WARMUP,
        BenchError,
        Result,
        inserter,
        parallel,
        run_timed,
        throughput,
    )

    n = len(recipients)
    # Untimed: both packages sent, then the warm-up recipients accept theirs at
    # once (connections of both pools opened, code paths and statements warm).
    warm_pairs = delivered(b, origin, warm, origin.items(PACKAGES + 1))
    pairs = delivered(b, origin, recipients, origin.items(PACKAGES + 2))
    warmed, _, warm_events = accept_all(b, origin.exchange, warm_pairs)
    if warmed.succeeded != len(warm):
        raise BenchError(f"warm-up accepts failed: {warmed.failed[:1]}")
    per_accept = warm_events // len(warm)

    shape = row_shapes(b.app, BenchItem.new())[0]
    conns = [b.raw() for _ in range(ACCEPT_THREADS)]
    try:
        for conn in conns:
            run_timed(WARMUP, inserter(conn, shape))
        raw = parallel([inserter(conn, shape) for conn in conns])
        # The raw side runs as many rows as the accepts write, half before
        # and half after them, so that load changing falls on both alike.
        half = max(1, n * per_accept // ACCEPT_THREADS // 2)
        raw_before = raw(0, half)
        tally, (wall, latencies), events = accept_all(b, origin.exchange, pairs)
        raw_after = raw(0, half)
    finally:
        for conn in conns:
            conn.close()

    ours = throughput(events, wall, latencies) | {
        "accepts": n,
        "accepts_per_s": rate(n, wall),
        "succeeded": tally.succeeded,
        "conflicts": tally.conflicts,
        "failed": len(tally.failed),
        "threads": ACCEPT_THREADS,
        "events_per_accept": round(events / n, 2),
    }
    if tally.failed:
        ours["first_failure"] = tally.failed[0]
    raw_events = 2 * half * ACCEPT_THREADS
    baseline = throughput(
        raw_events, raw_before[0] + raw_after[0], raw_before[1] + raw_after[1]
    ) | {"threads": ACCEPT_THREADS, "state_bytes": len(shape.state)}
    all_ok = tally.succeeded == n and tally.conflicts == 0 and not tally.failed
    note = (
        f"ours: {n} verified enterprises each accept their delivery of one "
        "package (4 records, 4 sealed files) with ExchangeCommands.accept "
        f"called directly, all released at once from {ACCEPT_THREADS} threads "
        f"({n // ACCEPT_THREADS} each): load delivery and account, match records, "
        "open 4 library records, save; latency per accept. Enterprises seeded "
        "before timing through the real register/record/submit/approve commands "
        "(argon2 hashing; seed_s, untimed); "
        f"{len(warm)} other recipients accept a package concurrently first, "
        "untimed. Baseline: append_concurrent_4's raw single-row INSERT and "
        f"COMMIT from {ACCEPT_THREADS} threads, each its own connection, as many "
        "rows as the accepts write, half before and half after them; ratio is "
        "events/s over raw events/s"
    )
    return Result(
        ours=ours,
        baseline=baseline,
        ratio=ratio(ours["events_per_s"], baseline["events_per_s"]),
        goal=f"all {n} accepts succeed, 0 conflicts (ratio for context)",
        met=all_ok,
        ours_line=(
            f"{format_rate(ours['accepts_per_s'])} acc "
            f"{format_rate(ours['events_per_s'])}"
        ),
        baseline_line=format_rate(baseline["events_per_s"]),
        note=note,
    )


# The measurement --------------------------------------------------------------


def exchange(b: Bench) -> Outcome:
    """A package to ``counts.exchange`` recipients composed, sealed and sent,
    and as many recipients accepting theirs at once."""
    # Sealer logs a line per seal at INFO.
    quiet = logging.getLogger("signing_service.sealing")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="shouying-bench-exchange-") as tmp:
            return exchange_results(b, Path(tmp))
    finally:
        quiet.setLevel(level)


def exchange_results(b: Bench, folder: Path) -> Outcome:
    n = b.counts.exchange
    if n % ACCEPT_THREADS:
        raise ValueError(f"{n} recipients do not share out over {ACCEPT_THREADS}")
    began = perf_counter()
    origin = sender(b, folder, SERIAL)
    enterprises = [verified(b, SERIAL + k) for k in range(1, n + ACCEPT_THREADS + 1)]
    seed_s = perf_counter() - began
    recipients, warm = enterprises[:n], enterprises[n:]
    sent = exchange_send(b, origin, recipients[: round(n * VERIFIED_SHARE)])
    seeding = {"seeded_enterprises": len(enterprises) + 1, "seed_s": round(seed_s, 3)}
    sent.ours |= seeding
    accepted = exchange_accept(b, origin, recipients, warm)
    accepted.ours |= seeding
    return {"exchange_send": sent, f"exchange_accept_{n}": accepted}

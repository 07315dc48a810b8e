"""``shouying``: the product's command.

shouying serve [--host H] [--port P]     the HTTP API
shouying relay                           store -> Kafka
shouying project VIEW                    a Kafka projection worker for VIEW
shouying projections status|rebuild VIEW|prune VIEW
shouying operators create USERNAME       a platform operator account
shouying bench [--json]                  the benchmark suite
"""

from __future__ import annotations

import argparse
import faulthandler
import getpass
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from commands.platform import Caller
from read_api.settings import Settings
from read_api.wiring import Services, build

logger = logging.getLogger("shouying")


def _configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("SHOUYING_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _stop_flag() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from read_api.app import create_app

    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
    )
    return 0


@contextmanager
def _kafka_role() -> Iterator[tuple[Services, str, threading.Event]]:
    """What the relay and the workers share: the services, the broker (with
    the event topic made sure of) and a flag that SIGTERM or SIGINT sets."""
    from projections.transport import ensure_topic

    settings = Settings.from_env()
    bootstrap = _require_kafka(settings)
    found = build(settings)
    try:
        ensure_topic(bootstrap, settings.kafka_topic, settings.kafka_partitions)
        yield found, bootstrap, _stop_flag()
    finally:
        found.close()


def relay(_: argparse.Namespace) -> int:
    from projections.transport import Relay, new_producer

    with _kafka_role() as (found, bootstrap, stop):
        settings = found.settings
        Relay(
            found.app.recorder,
            found.views,
            lambda: new_producer(bootstrap),
            topic=settings.kafka_topic,
            partitions=settings.kafka_partitions,
        ).run(stop.is_set)
    return 0


def project(args: argparse.Namespace) -> int:
    from projections.transport import ProjectionWorker

    with _kafka_role() as (found, bootstrap, stop):
        worker = ProjectionWorker(
            found.engine,
            args.view,
            found.decoder,
            bootstrap,
            topic=found.settings.kafka_topic,
        )
        worker.run(stop.is_set)
    return 0


def _require_kafka(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise SystemExit(
            "SHOUYING_KAFKA_BOOTSTRAP is not set; without Kafka the API keeps the "
            "views in-process and needs no relay or workers"
        )
    return settings.kafka_bootstrap


def projections(args: argparse.Namespace) -> int:
    found = build(Settings.from_env())
    try:
        if args.action == "status":
            first = {s.view: s for s in found.engine.status()}
            time.sleep(1.0)
            head = found.app.recorder.max_notification_id() or 0
            print(f"{'view':<14}{'gen':>4}{'position':>12}{'lag':>10}{'rate/s':>10}")
            for s in found.engine.status():
                rate = s.applied - first[s.view].applied if s.view in first else 0
                building = f"  (building g{s.building})" if s.building else ""
                print(
                    f"{s.view:<14}{s.active:>4}{s.position:>12}"
                    f"{max(0, head - s.position):>10}{rate:>10}{building}"
                )
        elif args.action == "rebuild":
            from tqdm import tqdm

            with tqdm(unit="ev", desc=f"rebuild {args.view}") as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                generation = found.engine.rebuild(
                    args.view, found.app.recorder, found.decoder, progress=progress
                )
            print(f"{args.view}: generation {generation} is now active")
        elif args.action == "prune":
            dropped = found.engine.prune(args.view)
            print(f"{args.view}: dropped generations {dropped or 'none'}")
    finally:
        found.close()
    return 0


def operators(args: argparse.Namespace) -> int:
    password = os.environ.get("SHOUYING_OPERATOR_PASSWORD") or getpass.getpass()
    found = build(Settings.from_env())
    try:
        caller = Caller(account_id="cli", enterprise_id="platform", role="operator")
        result = found.accounts.open_operator(caller, args.username, password)
        print(f"operator {args.username}: account {result.ids['account_id']}")
    finally:
        found.close()
    return 0


def bench(argv: list[str]) -> int:
    """``--ocr`` runs the OCR bench; anything else the platform bench."""
    if "--ocr" in argv:
        from bench.ocr import main as run_ocr_bench

        return run_ocr_bench([a for a in argv if a != "--ocr"])
    from bench.run import main as run_bench

    return run_bench(argv)


def ocr(argv: list[str]) -> int:
    from ocr_service.cli import main as run_ocr

    return run_ocr(argv)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="shouying", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=serve)

    sub.add_parser("relay", help="publish stored events to Kafka").set_defaults(
        run=relay
    )

    p = sub.add_parser("project", help="run a Kafka projection worker")
    p.add_argument("view")
    p.set_defaults(run=project)

    p = sub.add_parser("projections", help="inspect and rebuild views")
    views = p.add_subparsers(dest="action", required=True)
    views.add_parser("status")
    views.add_parser("rebuild").add_argument("view")
    views.add_parser("prune").add_argument("view")
    p.set_defaults(run=projections)

    p = sub.add_parser("operators", help="manage platform operator accounts")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("create").add_argument("username")
    p.set_defaults(run=operators)

    sub.add_parser("bench", help="run the benchmarks (--ocr for the OCR bench)")
    sub.add_parser("ocr", help="read a licence or ID-card file (FILE [--json])")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
    # `kill -USR1 <pid>` prints every thread's stack: how an operator finds
    # where a stuck relay or worker waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    arguments = list(sys.argv[1:] if argv is None else argv)
    # `bench` and `ocr` parse their own options.
    if arguments[:1] == ["bench"]:
        return bench(arguments[1:])
    if arguments[:1] == ["ocr"]:
        return ocr(arguments[1:])
    args = parser().parse_args(arguments)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

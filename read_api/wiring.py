"""Builds the platform's parts from the settings, for every entry point."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from pyhanko.sign.timestamps import HTTPTimeStamper

from commands.accounts import AccountCommands
from commands.address_book import AddressBookCommands
from commands.blobs import FilesystemBlobStore
from commands.captcha import Captchas
from commands.certificates import Authority, CertificateCommands, KeyStore
from commands.enterprises import EnterpriseCommands
from commands.exchange import ExchangeCommands
from commands.history import History
from commands.library import LibraryCommands
from commands.library_import import LibraryImports
from commands.messages import MessageCommands
from commands.organisation import OrganisationCommands
from commands.platform import CommandRunner, Platform
from commands.review import ReviewCommands
from commands.seal_images import SealImageCommands
from commands.sealing import SealingCommands
from commands.sessions import SessionCommands
from commands.sms import SmsCommands
from ocr_service.errors import OcrError
from ocr_service.service import Recogniser
from projections.address_book import AddressBookView
from projections.audit import AuditView
from projections.engine import WHOLE_LOG, Engine, LogFollower, Projection
from projections.enterprises import EnterprisesView
from projections.events import EventDecoder
from projections.exchange import ExchangeView
from projections.library import LibraryView
from projections.messages import MessagesView
from projections.organisation import OrganisationView
from projections.review import ReviewsView
from projections.signing import SigningView
from projections.store import PostgresViews, SqliteViews, ViewDatabase
from projections.streams import StreamsView
from projections.transport import partition_for
from read_api.settings import Settings
from read_api.sms_outbox import OutboxGateway

SCHEMA_LOCK = 0x5359_0001  # an arbitrary advisory-lock key owned by this module


def all_projections() -> list[Projection]:
    return [
        AddressBookView(),
        AuditView(),
        EnterprisesView(),
        ExchangeView(),
        LibraryView(),
        MessagesView(),
        OrganisationView(),
        ReviewsView(),
        SigningView(),
        StreamsView(),
    ]


class Clock:
    """What the platform takes for now: the system clock, unless set to a
    moment (tests move it to see expiry change as the calendar moves)."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def now(self) -> datetime:
        return self.moment if self.moment is not None else datetime.now(UTC)

    def set(self, moment: datetime | None) -> None:
        self.moment = moment


@dataclass
class Services:
    settings: Settings
    app: Platform
    views: ViewDatabase
    engine: Engine
    decoder: EventDecoder
    runner: CommandRunner
    enterprises: EnterpriseCommands
    accounts: AccountCommands
    organisation: OrganisationCommands
    sessions: SessionCommands
    sms: SmsCommands
    sms_outbox: OutboxGateway
    history: History
    address_book: AddressBookCommands
    library: LibraryCommands
    library_imports: LibraryImports
    seal_images: SealImageCommands
    certificates: CertificateCommands
    sealing: SealingCommands
    exchange: ExchangeCommands
    messages: MessageCommands
    review: ReviewCommands
    clock: Clock
    _stop: threading.Event = field(default_factory=threading.Event)
    _follower: threading.Thread | None = None
    _recogniser: Recogniser | None = None
    _recogniser_lock: threading.Lock = field(default_factory=threading.Lock)

    def recogniser(self) -> Recogniser:
        """The OCR worker pool, started on first use: Tesseract's engines take
        a moment to load and most processes never read an image."""
        with self._recogniser_lock:
            if self._recogniser is None:
                self._recogniser = Recogniser(workers=self.settings.ocr_workers)
            return self._recogniser

    def recognise_quietly(self, data: bytes, name: str) -> dict[str, Any] | None:
        """What the OCR pool reads off a file, or None when it cannot read it
        (a blank page, a photo of nothing): the caller goes on without."""
        try:
            result: dict[str, Any] = self.recogniser().recognise(data, name)
        except OcrError:
            return None
        return result

    def start_follower(self) -> None:
        """Keeps the views current in-process, when no Kafka carries events."""
        follower = LogFollower(self.engine, self.app.recorder, self.decoder)
        wake = threading.Event()
        self.app.saved_listeners.append(wake.set)
        self._follower = threading.Thread(
            target=follower.run,
            args=(self._stop.is_set, 0.05, wake),
            name="projection-follower",
            daemon=True,
        )
        self._follower.start()

    def partition_of(self, position: int) -> int:
        """The partition whose watermark says whether the event at
        ``position`` has reached a view."""
        if not self.settings.kafka_bootstrap:
            return WHOLE_LOG
        found = self.app.recorder.select_notifications(start=position, limit=1)
        if not found:
            return WHOLE_LOG
        return partition_for(found[0].originator_id, self.settings.kafka_partitions)

    def close(self) -> None:
        self._stop.set()
        if self._recogniser is not None:
            self._recogniser.close()
        if self._follower is not None:
            self._follower.join(timeout=5)
        self.views.close()
        self.app.close()


@contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    """Serialises creating tables across processes: the API replicas, relay
    and workers all start together, and PostgreSQL's catalogue refuses
    concurrent ``CREATE TABLE IF NOT EXISTS`` of the same table."""
    if not settings.uses_postgres:
        yield
        return
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def build(settings: Settings) -> Services:
    views: ViewDatabase
    with schema_lock(settings):
        app = Platform(env=settings.eventsourcing_env())
        if settings.uses_postgres:
            url = str(settings.database_url)
            views = PostgresViews(url, max_size=settings.pool_size)
        else:
            views = SqliteViews(settings.data_dir / "views.sqlite")
        engine = Engine(views, all_projections())
        engine.setup()
    runner = CommandRunner(app)
    accounts = AccountCommands(runner)
    clock = Clock()
    blobs = FilesystemBlobStore(settings.data_dir / "blobs")
    library = LibraryCommands(runner, blobs, clock=clock.now)
    seal_images = SealImageCommands(runner, blobs)
    certificates = CertificateCommands(
        runner,
        Authority(
            settings.data_dir / "ca",
            settings.signing_secret.encode(),
            crl_url=f"{settings.public_url}/api/v1/crl/platform.crl",
        ),
        KeyStore(settings.data_dir / "keys", settings.signing_secret.encode()),
        clock=clock.now,
    )
    sealing = SealingCommands(
        runner,
        library,
        seal_images,
        certificates,
        timestamper=HTTPTimeStamper(settings.tsa_url) if settings.tsa_url else None,
    )
    outbox = OutboxGateway(views)
    exchange = ExchangeCommands(runner, library, sealing, views, engine, outbox)
    found = Services(
        settings=settings,
        app=app,
        views=views,
        engine=engine,
        decoder=EventDecoder(app.mapper),
        runner=runner,
        enterprises=EnterpriseCommands(runner),
        accounts=accounts,
        organisation=OrganisationCommands(runner),
        sessions=SessionCommands(
            runner, accounts, captchas=Captchas(settings.jwt_secret)
        ),
        sms=SmsCommands(runner, outbox, settings.jwt_secret),
        sms_outbox=outbox,
        history=History(app),
        address_book=AddressBookCommands(runner),
        library=library,
        library_imports=LibraryImports(library),
        seal_images=seal_images,
        certificates=certificates,
        sealing=sealing,
        exchange=exchange,
        messages=MessageCommands(runner),
        review=ReviewCommands(runner, exchange),
        clock=clock,
    )
    # Files of a folder import whose names do not settle their type are
    # recognised by the OCR pool (manual 9.1, 智能识别).
    found.library_imports.recognise = found.recognise_quietly
    return found

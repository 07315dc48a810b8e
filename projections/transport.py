"""Carrying events from the store to projection workers through Apache Kafka.

The relay tails the notification log and publishes each event to one topic,
keyed and partitioned by aggregate id so that each aggregate's events stay in
order. Its own position is stored only after the broker acknowledged every
event up to it: a crash between the two sends some events again, never loses
one (at-least-once). Workers drop the repeats by their watermarks
(:mod:`projections.engine`).

Partitioning is explicit (CRC-32 of the aggregate id modulo the partition
count) rather than left to the client's partitioner, so that the read API can
tell which partition's watermark to wait on for a given event.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import ApplicationRecorder, Notification
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from projections.engine import Engine, OffsetGap, now_text
from projections.events import EventDecoder, EventRecord
from projections.store import ViewDatabase

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = "shouying.events"


class TransportError(Exception):
    """Kafka refused or failed; the client's error is chained."""


def partition_for(aggregate_id: str | UUID, partitions: int) -> int:
    return zlib.crc32(str(aggregate_id).encode()) % partitions


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, *, attempts: int = 30
) -> None:
    """Creates the event topic unless it exists, waiting for the broker to
    answer (processes may start before it)."""
    for attempt in range(1, attempts + 1):
        try:
            _create_topic(bootstrap, topic, partitions)
            return
        except KafkaError as e:
            if attempt == attempts:
                raise TransportError(f"cannot reach Kafka at {bootstrap}: {e}") from e
            logger.warning("Kafka at %s not reachable yet; retrying", bootstrap)
            time.sleep(min(attempt, 5))


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shouying-admin")
    try:
        admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=-1)]
        )
        logger.info("created topic %s with %d partitions", topic, partitions)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def encode(notification: Notification) -> bytes:
    return orjson.dumps(
        {
            "notification_id": notification.id,
            "originator_id": str(notification.originator_id),
            "originator_version": notification.originator_version,
            "topic": notification.topic,
            "state": orjson.Fragment(notification.state),
        }
    )


def decode(body: bytes) -> Notification:
    message = orjson.loads(body)
    return Notification(
        id=int(message["notification_id"]),
        originator_id=UUID(message["originator_id"]),
        originator_version=int(message["originator_version"]),
        topic=message["topic"],
        state=orjson.dumps(message["state"]),
    )


RELAY_DDL = (
    "CREATE TABLE IF NOT EXISTS relay_positions ("
    " topic TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)


class Relay:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        db: ViewDatabase,
        producer: Callable[[], KafkaProducer],
        *,
        topic: str = DEFAULT_TOPIC,
        partitions: int = 6,
        batch: int = 500,
        ack_timeout: float = 15.0,
    ) -> None:
        self.recorder = recorder
        self.ack_timeout = ack_timeout
        self.db = db
        self.new_producer = producer
        self.topic = topic
        self.partitions = partitions
        self.batch = batch
        self._producer: KafkaProducer | None = None
        with db.transaction() as tx:
            tx.execute(RELAY_DDL)

    def position(self) -> int:
        with self.db.transaction(write=False) as tx:
            row = tx.one(
                "SELECT position FROM relay_positions WHERE topic = %s", (self.topic,)
            )
        return int(row["position"]) if row else 0

    def step(self, after: int) -> int:
        """Publishes one batch after ``after``; returns the new position."""
        notifications = self.recorder.select_notifications(
            start=after, limit=self.batch, inclusive_of_start=False
        )
        if not notifications:
            return after
        try:
            producer = self._producer or self.new_producer()
            self._producer = producer
            futures = [
                producer.send(
                    self.topic,
                    key=str(n.originator_id).encode(),
                    value=encode(n),
                    partition=partition_for(n.originator_id, self.partitions),
                    headers=[
                        ("notification_id", str(n.id).encode()),
                        ("event_type", n.topic.encode()),
                    ],
                )
                for n in notifications
            ]
            # Bounded waits: after a broker restart an idempotent producer can
            # stall for good; a fresh producer resends from our stored position.
            producer.flush(timeout=self.ack_timeout)
            for future in futures:
                future.get(timeout=self.ack_timeout)
        except KafkaError as e:
            self._drop_producer()
            raise TransportError(f"publishing after {after} failed: {e}") from e
        last = int(notifications[-1].id)
        self._store(last)
        return last

    def _store(self, position: int) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO relay_positions (topic, position, updated_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (topic) DO UPDATE SET"
                " position = excluded.position, updated_at = excluded.updated_at",
                (self.topic, position, now_text()),
            )

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:
                logger.debug("closing the producer failed", exc_info=True)
        self._producer = None

    def run(self, stop: Callable[[], bool], idle: float = 0.02) -> None:
        position = self.position()
        logger.info("relay starts after position %d", position)
        while not stop():
            try:
                moved = self.step(position)
            except TransportError:
                logger.warning("relay could not publish; retrying", exc_info=True)
                time.sleep(1.0)
                continue
            if moved == position:
                time.sleep(idle)
            position = moved
        self._drop_producer()


def new_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="shouying-relay",
        acks="all",
        enable_idempotence=True,
        # One request in flight: a retried batch can never land behind a later
        # one, so each partition holds its events in notification order.
        max_in_flight_requests_per_connection=1,
        linger_ms=2,
        retries=10,
        delivery_timeout_ms=60_000,
    )


def records_of(messages: list[Any], decoder: EventDecoder) -> list[EventRecord]:
    return [decoder.decode(decode(m.value)) for m in messages]


class ProjectionWorker:
    """Consumes the event topic in a consumer group and keeps one view.

    Partitions spread over the group's workers; when one dies, the group hands
    its partitions to another. The view's database, not Kafka, says where a
    partition stands: a worker handed a partition seeks to the offset after
    the last one applied there, and the engine refuses a batch that does not
    continue from it. Offsets are also committed to Kafka after each batch,
    for the group's lag to show in Kafka's own tools.
    """

    def __init__(
        self,
        engine: Engine,
        view: str,
        decoder: EventDecoder,
        bootstrap: str,
        *,
        topic: str = DEFAULT_TOPIC,
    ) -> None:
        engine.projection(view)
        self.engine = engine
        self.view = view
        self.decoder = decoder
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"{topic}.view.{view}",
            client_id=f"shouying-project-{view}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            # A fetch answer may carry every partition's share; the client's
            # frame limit (1 MB by default) must be above the fetch limit, or a
            # catching-up worker drops its connection on each large answer.
            fetch_max_bytes=8 * 1024 * 1024,
            receive_message_max_bytes=16 * 1024 * 1024,
            # Notice new partitions (or a topic created a moment ago) in
            # seconds rather than the default five minutes.
            metadata_max_age_ms=10_000,
        )
        self.consumer.subscribe([topic], listener=_ResumeFromView(self))

    def resume(self, partitions: list[TopicPartition]) -> None:
        stored = self.engine.stored_offsets(self.view)
        for tp in partitions:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition] + 1)

    def step(self, timeout_ms: int = 200) -> int:
        batches: dict[TopicPartition, list[Any]] = self.consumer.poll(
            timeout_ms=timeout_ms
        )
        count = 0
        for tp, messages in batches.items():
            try:
                self.engine.apply(
                    self.view,
                    tp.partition,
                    records_of(messages, self.decoder),
                    [m.offset for m in messages],
                )
            except OffsetGap as gap:
                logger.warning("%s; seeking back", gap)
                self.consumer.seek(tp, gap.expected)
                continue
            offset = OffsetAndMetadata(messages[-1].offset + 1, "", -1)
            try:
                self.consumer.commit({tp: offset})
            except CommitFailedError:
                # The group rebalanced; the partition's new owner resumes from
                # the view's stored offset.
                logger.info("offset commit lost to a rebalance on %s", tp)
            count += len(messages)
        return count

    def run(self, stop: Callable[[], bool]) -> None:
        logger.info("worker for view %s starts", self.view)
        try:
            while not stop():
                try:
                    self.step()
                except KafkaError:
                    # The broker is away (restart, network); the consumer
                    # reconnects by itself.
                    logger.warning("worker for %s lost Kafka; retrying", self.view)
                    time.sleep(1.0)
        finally:
            self.consumer.close()


class _ResumeFromView(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: ProjectionWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.worker.resume(assigned)

"""The engine's bookkeeping of Kafka offsets and watermarks, on the embedded
SQLite view store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from projections.engine import Engine, OffsetGap
from projections.events import EventRecord
from projections.store import SqliteViews
from projections.streams import StreamsView, all_streams


def event(position: int, version: int) -> EventRecord:
    return EventRecord(
        position=position,
        originator_id="aggregate-1",
        originator_version=version,
        topic="tests:Meter.Ticked",
        type="Meter.Ticked",
        timestamp=datetime.now(UTC),
        actor="a",
        enterprise_id="e",
        correlation_id="c",
        summary="s",
        data={},
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    found = Engine(SqliteViews(tmp_path / "views.sqlite"), [StreamsView()])
    found.setup()
    return found


def stream(engine: Engine) -> dict[str, object]:
    with engine.db.transaction(write=False) as tx:
        return all_streams(engine, tx)[0]


def test_a_redelivered_overlapping_batch_is_applied_once(engine: Engine) -> None:
    first = [event(10 * v, v) for v in range(1, 6)]
    overlap = [event(10 * v, v) for v in range(3, 9)]

    engine.apply("streams", 2, first, offsets=[0, 1, 2, 3, 4])
    engine.apply("streams", 2, overlap, offsets=[2, 3, 4, 5, 6, 7])

    assert stream(engine)["events"] == 8
    assert stream(engine)["anomalies"] == 0
    assert engine.stored_offsets("streams") == {2: 7}


def test_a_batch_that_skips_offsets_is_refused_and_changes_nothing(
    engine: Engine,
) -> None:
    engine.apply("streams", 0, [event(10, 1)], offsets=[0])

    with pytest.raises(OffsetGap) as gap:
        engine.apply("streams", 0, [event(30, 3)], offsets=[2])

    assert gap.value.expected == 1
    assert stream(engine)["events"] == 1
    assert engine.stored_offsets("streams") == {0: 0}


def test_a_relayed_duplicate_at_a_new_offset_is_dropped(engine: Engine) -> None:
    engine.apply("streams", 1, [event(10, 1), event(20, 2)], offsets=[0, 1])

    engine.apply("streams", 1, [event(20, 2), event(30, 3)], offsets=[2, 3])

    assert stream(engine)["events"] == 3
    assert stream(engine)["anomalies"] == 0
    assert engine.stored_offsets("streams") == {1: 3}


def test_a_copy_repeated_inside_one_batch_is_applied_once(engine: Engine) -> None:
    repeated = [event(10, 1), event(20, 2), event(10, 1), event(20, 2), event(30, 3)]

    engine.apply("streams", 0, repeated, offsets=[0, 1, 2, 3, 4])

    assert stream(engine)["events"] == 3
    assert stream(engine)["anomalies"] == 0

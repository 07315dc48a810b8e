"""A steady writer for transport tests: many aggregates, each with a long run
of events, so that loss, repetition and reordering all show in the views."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID, uuid4

from aggregates.base import TracedAggregate, acting
from commands.platform import Platform


class Meter(TracedAggregate):
    """A test aggregate whose events only count."""

    class Started(TracedAggregate.Created):
        label: str

    class Ticked(TracedAggregate.Event):
        tick: int

        def apply(self, aggregate: Any) -> None:
            aggregate.ticks = self.tick

    def __init__(self, label: str) -> None:
        self.label = label
        self.ticks = 0

    @classmethod
    def start(cls, label: str) -> Meter:
        meter_id = uuid4()
        return cls._create(
            cls.Started, id=meter_id, enterprise_id=str(meter_id), label=label
        )

    def tick(self) -> None:
        self.trigger_event(self.Ticked, tick=self.ticks + 1)


class Writer(threading.Thread):
    """Appends ticks to ``streams`` meters round-robin until stopped; each save
    carries a few events of one meter."""

    def __init__(self, app: Platform, streams: int = 12, per_save: int = 3) -> None:
        super().__init__(name="load-writer", daemon=True)
        self.app = app
        self.per_save = per_save
        self.stop = threading.Event()
        self.saved_events = 0
        with acting("load", "load"):
            meters = [Meter.start(f"m{i}") for i in range(streams)]
            app.save(*meters)
        self.saved_events = streams
        self.ids: list[UUID] = [m.id for m in meters]
        self.meters = meters

    def run(self) -> None:
        with acting("load", "load"):
            while not self.stop.is_set():
                for meter in self.meters:
                    for _ in range(self.per_save):
                        meter.tick()
                    self.app.save(meter)
                    self.saved_events += self.per_save
                    if self.stop.wait(0.002):
                        return

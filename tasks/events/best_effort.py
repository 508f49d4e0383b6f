"""A flow's view of the A2A bus: events durable before ``publish`` returns, no problem fatal.

The seed's bus is best-effort ("deployment continues even if A2A is unavailable"), yet an event
must never vanish unnoticed. :class:`BestEffortBus` wraps an :class:`EventPublisher` so that
every way the bus can let a flow down (a spool that cannot be opened or written, a drain or a
close that raises, events lost at close) becomes an :class:`A2AProblem`, handed to the caller's
``on_problem`` (a flow logs it and emits an event) and kept in the :class:`BusSummary`, never
an exception. Events are published durably: committed to the spool first, then delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.events.a2a_event import A2AEvent
from tasks.events.drain import DrainResult
from tasks.events.errors import EventConfigError
from tasks.events.publisher import EventPublisher
from tasks.events.sink import check_sink_url

log = logging.getLogger(__name__)


class ProblemKind(StrEnum):
    SINK_UNUSABLE = "sink_unusable"  # the webhook URL cannot be used: events are spooled only
    SPOOL_UNAVAILABLE = "spool_unavailable"  # no spool and no publisher: events cannot be kept
    SPOOL_SET_ASIDE = "spool_set_aside"  # a damaged spool was moved aside, a fresh one made
    NOT_DURABLE = "not_durable"  # the spool refused an event; it is held in memory, retried
    DRAIN_FAILED = "drain_failed"  # delivering earlier runs' events raised
    DROPPED = "dropped"  # events lost: neither delivered nor kept in the spool
    CLOSE_FAILED = "close_failed"  # closing the publisher or reading its counters raised


class A2AProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ProblemKind
    message: str


class BusSummary(BaseModel):
    """What the bus did for one run; ``pending`` is None when the spool could not be read."""

    model_config = ConfigDict(frozen=True)

    published: int = 0  # events this run handed to the bus
    durable: int = 0  # of those, committed to the spool before publish returned
    sent: int = 0  # delivered (2xx) during the run, earlier runs' spooled events included
    pending: int | None = None  # waiting in the spool for a later delivery
    dropped: int = 0  # lost for good: neither delivered nor in the spool
    drain: DrainResult | None = None  # the start-of-run delivery of earlier events
    problems: tuple[A2AProblem, ...] = ()


OnProblem = Callable[[A2AProblem], None]


class BestEffortBus:
    """Publish, drain and close without ever raising; problems go to ``on_problem``."""

    def __init__(self, publisher: EventPublisher | None, on_problem: OnProblem) -> None:
        self._publisher = publisher
        self._on_problem = on_problem
        self._problems: list[A2AProblem] = []
        self._published = self._durable = self._lost = 0
        self._drain: DrainResult | None = None

    @classmethod
    def open(
        cls,
        sink_url: str | None,
        spool_path: Path,
        *,
        timeout: float,
        on_problem: OnProblem,
    ) -> BestEffortBus:
        """A bus on a new publisher; a publisher that cannot start is a problem, not an error.

        A webhook URL that cannot be used is a problem too: the events are then spooled only,
        for a later run with a working URL to deliver.
        """
        bus = cls(None, on_problem)
        if sink_url is not None:
            try:
                check_sink_url(sink_url)
            except EventConfigError as exc:
                bus.note(ProblemKind.SINK_UNUSABLE, f"{exc.message}; spooling only")
                sink_url = None
        try:
            bus._publisher = EventPublisher(sink_url, spool_path, timeout=timeout)
        except Exception as exc:
            bus.note(
                ProblemKind.SPOOL_UNAVAILABLE,
                f"the A2A publisher cannot start ({type(exc).__name__}: {exc}); this run's "
                "events go to Prefect only and are counted as dropped for the bus",
            )
            return bus
        for warning in bus._publisher.spool.warnings:
            bus.note(ProblemKind.SPOOL_SET_ASIDE, warning)
        return bus

    def drain(self, *, budget_seconds: float, now: datetime | None = None) -> DrainResult | None:
        """Deliver earlier runs' spooled events, for at most ``budget_seconds`` (+ one timeout)."""
        if self._publisher is None:
            return None
        try:
            self._drain = self._publisher.drain_spool(now=now, budget_seconds=budget_seconds)
        except Exception as exc:
            self.note(ProblemKind.DRAIN_FAILED, f"{type(exc).__name__}: {exc}")
            return None
        return self._drain

    def publish(self, event: A2AEvent) -> bool:
        """Commit ``event`` to the spool, then hand it to the sender; True when it is durable."""
        self._published += 1
        if self._publisher is None:
            self._lost += 1
            return False
        try:
            durable = self._publisher.publish(event, durable=True)
        except Exception as exc:
            self._lost += 1
            self.note(ProblemKind.DROPPED, f"{event.event_type}: {type(exc).__name__}: {exc}")
            return False
        if durable:
            self._durable += 1
        else:
            self.note(
                ProblemKind.NOT_DURABLE,
                f"{event.event_type} could not be written to the spool; held in memory and "
                "retried until the run ends",
            )
        return durable

    def close(self, timeout: float = 5.0) -> BusSummary:
        """Flush and close (bounded by ``timeout`` plus one sink timeout); the run's summary."""
        sent = pending = None
        dropped = self._lost
        if self._publisher is not None:
            try:
                self._publisher.close(timeout=timeout)
                stats = self._publisher.stats()
                sent, pending, dropped = stats.sent, stats.pending, dropped + stats.dropped
            except Exception as exc:
                self.note(ProblemKind.CLOSE_FAILED, f"{type(exc).__name__}: {exc}")
        if dropped:
            self.note(
                ProblemKind.DROPPED,
                f"{dropped} event(s) of this run were neither delivered to the A2A bus nor kept "
                "in the spool",
            )
        return BusSummary(
            published=self._published,
            durable=self._durable,
            sent=sent or 0,
            pending=pending,
            dropped=dropped,
            drain=self._drain,
            problems=tuple(self._problems),
        )

    @property
    def problems(self) -> tuple[A2AProblem, ...]:
        return tuple(self._problems)

    def note(self, kind: ProblemKind, message: str) -> None:
        """Record a problem and hand it to ``on_problem``; never raises."""
        problem = A2AProblem(kind=kind, message=message)
        self._problems.append(problem)
        try:
            self._on_problem(problem)
        except Exception:  # reporting a problem must not become one
            log.exception("A2A problem handler failed for %s", problem)

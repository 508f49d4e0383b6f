"""The project's one event publisher: never blocks a flow, never drops an event.

``publish`` puts the event on a bounded in-memory queue and returns; a daemon thread takes
batches off it and POSTs each event to the sink while the breaker allows. Whatever is not
delivered (no sink, breaker open, timeout, refused connection, non-2xx, shutting down) is
committed to the durable spool, one transaction per batch. A full queue sends the event to
the spool from the caller's thread instead. ``drain_spool`` delivers spooled events later,
oldest first, stopping at the first failure so order is kept (see ``drain``).

"Acknowledged" has two honest meanings here, and neither is "publish() returned":
  * ``flush(timeout)`` returning True: every event published before the call was delivered
    (2xx) or committed to the spool;
  * ``publish(event, durable=True)`` returning True: that event is committed to the spool first
    (outbox style) and deleted from it once delivered.

An event the spool cannot take is held in memory and retried by the sender thread. Once the
publisher is closed nothing is left to retry it: what is still held then is lost, and counted
in ``stats().dropped`` (logged as an error), never silently (``spool_writer`` decides that).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict

from tasks.events.a2a_event import A2AEvent
from tasks.events.breaker import BreakerState, CircuitBreaker, OpenReason
from tasks.events.drain import DrainResult, DrainStop, drain
from tasks.events.errors import DeliveryFailed, EventConfigError, InvalidEvent
from tasks.events.sink import EventSink, WebhookSink
from tasks.events.spool import Spool, Synchronous
from tasks.events.spool_writer import SpoolWriter, Tally

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.1
OVERFLOW_TAKE = 100  # queued events a caller takes along when the queue is full


class PublisherStats(BaseModel):
    """Counters since the publisher started.

    ``dropped`` counts events lost for good: the spool could not be written and the publisher
    was closed (no sender thread is left to retry them), so they were neither delivered nor
    kept. While the publisher is open, such events are held in memory and retried instead.
    """

    model_config = ConfigDict(frozen=True)

    published: int
    sent: int
    spooled: int
    failed: int
    overflowed: int  # went to the spool from the caller's thread because the queue was full
    dropped: int
    queued: int
    pending: int
    breaker: BreakerState
    breaker_reason: OpenReason | None
    spool_errors: int
    spool_warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Item:
    event: A2AEvent
    durable: bool  # already committed to the spool by publish()


class EventPublisher:
    """Publish A2A events to a webhook sink, spooling whatever cannot be delivered now."""

    def __init__(
        self,
        sink_url: str | None,
        spool_path: Path,
        *,
        queue_size: int = 1000,
        timeout: float = 2.0,
        breaker: CircuitBreaker | None = None,
        sender: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        batch_size: int = 500,
        synchronous: Synchronous | str = Synchronous.FULL,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise EventConfigError(
                f"queue_size ({queue_size}) and batch_size ({batch_size}) must be >= 1"
            )
        self._sink: EventSink | None = (
            WebhookSink(sink_url, timeout=timeout, client=sender) if sink_url else None
        )
        try:
            self._spool = Spool(spool_path, synchronous=synchronous)
        except Exception:
            if self._sink is not None:
                self._sink.close()
            raise
        self._breaker = breaker or CircuitBreaker(clock=clock)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._join_s = timeout + 1.0
        self._tally = Tally()
        self._writer = SpoolWriter(self._spool, self._tally, self._retired)
        self._closed = False
        self._gate = threading.Lock()  # no item enters the queue once close() took it over
        self._stop = threading.Event()
        self._drain_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
        self._thread.start()

    # -- the caller's side ---------------------------------------------------------------

    def publish(self, event: A2AEvent, *, durable: bool = False) -> bool:
        """Hand the event over and return at once; never raises for delivery or I/O problems.

        With ``durable=True`` the event is committed to the spool before this returns True.
        False means the spool cannot be written now: the event is held in memory and retried
        (``flush`` waits for it), so it is not durable yet.
        """
        if not isinstance(event, A2AEvent):
            raise InvalidEvent(f"publish() takes an A2AEvent, got {type(event).__name__}")
        self._tally.count("published")
        self._breaker.record_event(event.event_type)
        if durable and not self._writer.write([event]):
            return False  # held in memory for the worker to retry; flush() waits for it
        with self._gate:
            closed = self._closed
            queued = not closed and self._enqueue(_Item(event, durable))
        return queued or self._overflow(event, durable, queue_full=not closed)

    def _enqueue(self, item: _Item) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        self._tally.accept()
        return True

    def _overflow(self, event: A2AEvent, durable: bool, *, queue_full: bool) -> bool:
        """Spool from the caller's thread; on a full queue take queued events along.

        Taking up to ``OVERFLOW_TAKE`` queued events into the same transaction costs the
        caller one commit per hundred events instead of one per event while the sender
        thread is behind (measured: ~3,000/s -> ~15,000/s with synchronous=FULL).
        """
        taken: list[_Item] = []
        while queue_full and len(taken) < OVERFLOW_TAKE:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        events = [item.event for item in taken if not item.durable]
        if not durable:
            events.append(event)
        if queue_full:
            self._tally.count("overflowed", len(taken) + 1)
        committed = self._writer.write(events)
        self._tally.settle(len(taken))
        return committed or durable

    def flush(self, timeout: float = 5.0) -> bool:
        """True once everything published before the call is delivered or in the spool."""
        deadline, tally = time.monotonic() + timeout, self._tally
        with tally.cond:
            target = tally.accepted
            return tally.cond.wait_for(
                lambda: tally.settled >= target and not self._writer.holding,
                timeout=max(0.0, deadline - time.monotonic()),
            )

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the sender thread and spool anything still queued; idempotent."""
        if self._closed:
            return
        self.flush(timeout)
        with self._gate:
            self._closed = True
        self._stop.set()
        self._thread.join(max(timeout, self._join_s))
        leftovers: list[_Item] = []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._writer.write([item.event for item in leftovers if not item.durable])
        self._tally.settle(len(leftovers))
        if self._thread.is_alive():
            log.warning("event publisher thread still busy at close; it spools what it holds")
            return
        self._writer.give_up()
        if self._sink is not None:
            self._sink.close()
        self._spool.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self) -> PublisherStats:
        counts = self._tally.snapshot()
        return PublisherStats(
            published=counts["published"],
            sent=counts["sent"],
            spooled=counts["spooled"],
            failed=counts["failed"],
            overflowed=counts["overflowed"],
            dropped=counts["dropped"],
            queued=self._queue.qsize(),
            pending=self._spool.pending_count(),
            breaker=self._breaker.state,
            breaker_reason=self._breaker.reason,
            spool_errors=counts["errors"],
            spool_warnings=tuple(self._spool.warnings),
        )

    @property
    def spool(self) -> Spool:
        return self._spool

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    # -- draining the spool --------------------------------------------------------------

    def drain_spool(
        self,
        max_events: int = 1000,
        *,
        now: datetime | None = None,
        budget_seconds: float | None = None,
    ) -> DrainResult:
        """Send due spooled events oldest first while the breaker allows; stop at a failure.

        With ``budget_seconds`` no send starts once that many seconds have passed, so the call
        returns within the budget plus one sink timeout (stopped ``budget``).
        """
        if max_events < 1:
            raise EventConfigError(f"drain_spool(max_events={max_events}): must be >= 1")
        if budget_seconds is not None and not budget_seconds > 0:
            raise EventConfigError(f"drain_spool(budget_seconds={budget_seconds}): must be > 0")
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        if self._sink is None:
            return DrainResult(
                sent=0, pending=self._spool.pending_count(), stopped=DrainStop.NO_SINK
            )
        if not self._drain_lock.acquire(blocking=False):
            return DrainResult(sent=0, pending=self._spool.pending_count(), stopped=DrainStop.BUSY)
        try:
            result = drain(
                self._spool,
                self._send,
                self._breaker,
                max_events=max_events,
                now=now,
                deadline=deadline,
            )
        finally:
            self._drain_lock.release()
        self._tally.count("sent", result.sent)
        return result

    # -- the sender thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                batch = self._take()
                if batch:
                    self._deliver(batch)
                self._writer.retry()
            except Exception:  # the thread must outlive any surprise; events stay queued
                log.exception("event publisher thread: unexpected error")
                time.sleep(IDLE_POLL_S)
        if self._closed:  # close() gave up waiting for this thread: settle what it holds
            self._writer.give_up()

    def _take(self) -> list[_Item]:
        try:
            batch = [self._queue.get(timeout=IDLE_POLL_S)]
        except queue.Empty:
            return []
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _deliver(self, batch: list[_Item]) -> None:
        to_spool: list[A2AEvent] = []
        errors: dict[str, str] = {}
        delivered_durable: list[str] = []
        # Older events waiting in the spool go first: while any wait, new ones queue behind
        # them (drain_spool delivers them in order), so the bus never sees an event overtaken.
        backlog = self._sink is not None and self._backlog(batch)
        for item in batch:
            event = item.event
            if backlog or self._sink is None or self._stop.is_set() or not self._breaker.allow():
                if not item.durable:
                    to_spool.append(event)
                continue
            error = self._send(event.to_json(), event.id)
            if error is None:
                if item.durable:
                    delivered_durable.append(event.id)
                self._tally.count("sent")
            elif item.durable:
                self._writer.quietly(self._spool.mark_failed, event.id, error)
            else:
                to_spool.append(event)
                errors[event.id] = error
        self._writer.write(to_spool, errors=errors)
        # a failed delete only means a duplicate later, which the idempotency key absorbs
        self._writer.quietly(self._spool.mark_sent, delivered_durable)
        self._tally.settle(len(batch))

    def _backlog(self, batch: list[_Item]) -> bool:
        """Spooled events wait besides this batch's own durable ones (already in the spool)."""
        try:
            return self._spool.pending_count() > sum(item.durable for item in batch)
        except Exception:  # an unreadable spool: the writer will report it
            return False

    def _send(self, body: str, event_id: str) -> str | None:
        """Deliver one body and tell the breaker; the failure's reason, or None when sent."""
        assert self._sink is not None
        try:
            self._sink.send(body, event_id)
        except DeliveryFailed as exc:
            error = exc.message
        except Exception as exc:  # a sink bug must not take the sender thread down
            error = f"{type(exc).__name__}: {exc}"
        else:
            self._breaker.record_success()
            return None
        self._breaker.record_failure()
        self._tally.count("failed")
        return error

    def _retired(self) -> bool:
        """Closed, and no sender thread is left to retry held events."""
        return self._stop.is_set() and not self._thread.is_alive()

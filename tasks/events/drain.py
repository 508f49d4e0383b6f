"""Delivering the spool: oldest first, while the breaker allows, stopping at the first failure.

Stopping at a failure (the failed event is marked with its backoff) keeps publishing order:
``Spool.due`` returns only the due prefix, so nothing behind a backed-off event overtakes it.
A ``deadline`` bounds the drain in time: no send starts after it, so a drain lasts at most
until the deadline plus one sink timeout, however many events wait.
Delivered events are deleted per batch; a crash between sending and deleting re-sends them
later with the same ``Idempotency-Key``, which the receiver uses to drop the duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from tasks.events.breaker import CircuitBreaker
from tasks.events.spool import Spool, SpooledEvent

DRAIN_BATCH = 100

# (body, idempotency key) -> None when delivered, else the failure's reason
Send = Callable[[str, str], str | None]


class DrainStop(StrEnum):
    """Why a drain_spool call stopped."""

    EMPTY = "empty"  # nothing left in the spool
    LIMIT = "limit"  # max_events sent
    NOT_DUE = "not_due"  # the oldest event is in backoff
    SEND_FAILED = "send_failed"
    BREAKER_OPEN = "breaker_open"
    NO_SINK = "no_sink"
    BUSY = "busy"  # another drain of this publisher is running
    BUDGET = "budget"  # its time budget ran out; the rest waits for a later drain


class DrainResult(BaseModel):
    """What one ``drain_spool`` call did and why it stopped."""

    model_config = ConfigDict(frozen=True)

    sent: int
    pending: int
    stopped: DrainStop
    error: str | None = None


def drain(
    spool: Spool,
    send: Send,
    breaker: CircuitBreaker,
    *,
    max_events: int,
    now: datetime | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Send up to ``max_events`` due events in spool order; say how many and why it stopped.

    ``deadline`` is a ``clock()`` reading after which no further send starts.
    """
    sent, stopped, error = 0, DrainStop.LIMIT, None
    while sent < max_events and stopped is DrainStop.LIMIT:
        rows = spool.due(min(DRAIN_BATCH, max_events - sent), now=now)
        if not rows:
            stopped = DrainStop.NOT_DUE if spool.pending_count() else DrainStop.EMPTY
            break
        done, stopped, error = _send_rows(rows, send, breaker, deadline, clock)
        spool.mark_sent(done)
        sent += len(done)
        if error is not None:
            spool.mark_failed(rows[len(done)].id, error, now=now)
    return DrainResult(sent=sent, pending=spool.pending_count(), stopped=stopped, error=error)


def _send_rows(
    rows: list[SpooledEvent],
    send: Send,
    breaker: CircuitBreaker,
    deadline: float | None,
    clock: Callable[[], float],
) -> tuple[list[str], DrainStop, str | None]:
    done: list[str] = []
    for row in rows:
        if deadline is not None and clock() >= deadline:
            return done, DrainStop.BUDGET, None
        if not breaker.allow():
            return done, DrainStop.BREAKER_OPEN, None
        error = send(row.body, row.id)
        if error is not None:
            return done, DrainStop.SEND_FAILED, error
        done.append(row.id)
    return done, DrainStop.LIMIT, None

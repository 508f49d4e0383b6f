"""What happens to events the publisher must keep: committed to the spool in order, or held.

An event the spool cannot take now (a full disk, a locked file) is held in memory, and later
events queue up behind it so the spool keeps publishing order; the sender thread retries the
held ones. Once no sender thread is left to retry (the publisher is closed), what still fails
is lost and counted as dropped (logged as an error), never silently. The :class:`Tally` holds
the publisher's counters and the items it has settled, under the one condition ``flush``
waits on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tasks.events.a2a_event import A2AEvent
from tasks.events.spool import Spool

log = logging.getLogger("tasks.events.publisher")
COUNTERS = ("published", "sent", "spooled", "failed", "overflowed", "errors", "dropped")


class Tally:
    """Counters, and queue items accepted vs settled (delivered or committed to the spool)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.accepted = 0  # items that went onto the queue
        self.settled = 0  # queue items delivered or committed to the spool

    def count(self, name: str, amount: int = 1) -> None:
        with self.cond:
            self.counts[name] += amount

    def accept(self) -> None:
        with self.cond:
            self.accepted += 1

    def settle(self, count: int) -> None:
        with self.cond:
            self.settled += count
            self.cond.notify_all()

    def snapshot(self) -> dict[str, int]:
        with self.cond:
            return dict(self.counts)


class SpoolWriter:
    """Commit events to ``spool``; hold what it cannot take while ``retired()`` is False."""

    def __init__(self, spool: Spool, tally: Tally, retired: Callable[[], bool]) -> None:
        self._spool = spool
        self._tally = tally
        self._retired = retired
        self._unsaved: list[A2AEvent] = []  # spool writes that failed; retried by the worker

    @property
    def holding(self) -> bool:
        """Events wait in memory for a retry (read under the tally's condition)."""
        return bool(self._unsaved)

    def write(self, events: list[A2AEvent], errors: dict[str, str] | None = None) -> bool:
        """Commit events to the spool; on failure hold them for the worker to retry.

        While events are held, later ones queue up behind them, so the spool keeps order.
        """
        if not events:
            return True
        tally = self._tally
        with tally.cond:
            if self._unsaved:
                self._unsaved.extend(events)
                return False
        try:
            self._spool.put_many(events, errors=errors)
        except Exception as exc:
            with tally.cond:
                tally.counts["errors"] += 1
                retried = not self._retired()
                if retried:
                    self._unsaved.extend(events)
                else:
                    tally.counts["dropped"] += len(events)
            if retried:
                log.warning("event spool write failed (%s); holding %d events", exc, len(events))
            else:
                log.error(
                    "event spool write failed after close (%s): %d events lost", exc, len(events)
                )
            return False
        tally.count("spooled", len(events))
        return True

    def quietly(self, action: Callable[..., object], *args: object) -> None:
        """Spool bookkeeping that must not stop the sender thread; failures are counted."""
        try:
            action(*args)
        except Exception as exc:
            log.warning("event spool bookkeeping failed: %s", exc)
            self._tally.count("errors")

    def retry(self) -> None:
        """Retry held events; they stay held (so flush waits) until committed."""
        tally = self._tally
        with tally.cond:
            held = list(self._unsaved)
        if not held:
            return
        try:
            self._spool.put_many(held)
        except Exception as exc:
            log.warning("event spool still failing (%s); holding %d events", exc, len(held))
            return
        with tally.cond:
            del self._unsaved[: len(held)]  # others only ever append behind these
            tally.counts["spooled"] += len(held)
            tally.cond.notify_all()

    def give_up(self) -> None:
        """One last write of the held events; whatever still fails is counted as dropped."""
        self.retry()
        tally = self._tally
        with tally.cond:
            lost, self._unsaved = len(self._unsaved), []
            tally.counts["dropped"] += lost
            tally.cond.notify_all()
        if lost:
            log.error("event spool unwritable at close: %d events lost (stats().dropped)", lost)

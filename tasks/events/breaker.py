"""When to stop calling the sink: a circuit breaker with failure and flood triggers.

closed -> open after ``failure_threshold`` consecutive delivery failures, or when a flood is
seen (seed 002's storm limits: more than 100 events in 1 s of one event type, or more than
500 events in 10 s of all types). open -> half-open once ``cooldown_seconds`` have passed;
half-open lets exactly one probe through: success closes the breaker, failure re-opens it.
A flood seen while already open restarts the cooldown, so the breaker stays open while the
storm lasts. Flood windows are deques capped at threshold + 1 timestamps: O(1) amortised per
event and bounded memory whatever the rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from tasks.events.errors import EventConfigError

FLOOD_PER_TYPE = 100  # events of one type ...
FLOOD_PER_TYPE_WINDOW = 1.0  # ... within this many seconds
FLOOD_TOTAL = 500  # events of all types ...
FLOOD_TOTAL_WINDOW = 10.0  # ... within this many seconds


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OpenReason(StrEnum):
    FAILURES = "failures"  # N consecutive delivery failures
    FLOOD = "flood"  # too many events per second of one type, or in 10 s overall


class SlidingCounter:
    """Says whether more than ``limit`` hits fell within the last ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque(maxlen=limit + 1)

    def hit(self, now: float) -> bool:
        """Record one hit at ``now``; True when the window now holds more than ``limit``."""
        hits = self._hits
        hits.append(now)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return len(hits) > self.limit


class CircuitBreaker:
    """Thread-safe breaker; ``clock`` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        flood_per_type: int = FLOOD_PER_TYPE,
        flood_total: int = FLOOD_TOTAL,
    ) -> None:
        _check_limits(failure_threshold, cooldown_seconds, flood_per_type, flood_total)
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._reason: OpenReason | None = None
        self._opened_at = 0.0
        self._probe_out = False
        self._failures = 0
        self.times_opened = 0
        self._flood_per_type = flood_per_type
        self._per_type: dict[str, SlidingCounter] = {}
        self._total = SlidingCounter(flood_total, FLOOD_TOTAL_WINDOW)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._cool_down(self._clock())
            return self._state

    @property
    def reason(self) -> OpenReason | None:
        """Why the breaker last opened; None while it never has."""
        return self._reason

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May the caller contact the sink now? In half-open, True once: the caller is the probe.

        A caller that got True must report back with ``record_success`` or ``record_failure``.
        """
        with self._lock:
            self._cool_down(self._clock())
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probe_out = False
            if self._state is BreakerState.HALF_OPEN:
                self._state = BreakerState.CLOSED

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            probe_failed = self._state is BreakerState.HALF_OPEN
            self._probe_out = False
            if probe_failed or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._open(OpenReason.FAILURES, self._clock())

    def record_event(self, event_type: str) -> bool:
        """Count one published event; True when it made (or keeps) the breaker open for a flood."""
        with self._lock:
            now = self._clock()
            counter = self._per_type.get(event_type)
            if counter is None:
                counter = self._per_type[event_type] = SlidingCounter(
                    self._flood_per_type, FLOOD_PER_TYPE_WINDOW
                )
            flood = counter.hit(now)
            flood = self._total.hit(now) or flood
            if flood:
                self._open(OpenReason.FLOOD, now)
            return flood

    def _open(self, reason: OpenReason, now: float) -> None:
        if self._state is not BreakerState.OPEN:
            self.times_opened += 1
        self._state = BreakerState.OPEN
        self._reason = reason
        self._opened_at = now
        self._probe_out = False

    def _cool_down(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.cooldown_seconds:
            self._state = BreakerState.HALF_OPEN
            self._probe_out = False


def _check_limits(threshold: int, cooldown: float, per_type: int, total: int) -> None:
    problems = []
    if threshold < 1:
        problems.append(f"failure_threshold must be >= 1, got {threshold}")
    if not cooldown > 0:
        problems.append(f"cooldown_seconds must be > 0, got {cooldown}")
    if per_type < 1 or total < 1:
        problems.append(f"flood limits must be >= 1, got per_type={per_type}, total={total}")
    if problems:
        raise EventConfigError("circuit breaker settings cannot work", problems=problems)

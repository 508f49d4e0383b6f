"""The circuit breaker: failures and floods open it, cooldown half-opens it, one probe decides."""

from __future__ import annotations

import pytest

from blocks.errors import ExitCode
from tasks.events import BreakerState, CircuitBreaker, EventConfigError, OpenReason
from tasks.events.breaker import SlidingCounter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_after_n_consecutive_failures_only(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=60, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the run of failures
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason is OpenReason.FAILURES
    assert not breaker.allow()


def test_half_opens_after_cooldown_lets_one_probe_and_closes_on_success(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=60, clock=clock)
    breaker.record_failure()
    clock.advance(59.9)
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()
    assert breaker.times_opened == 1


def test_failed_probe_reopens_for_a_full_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=5, cooldown_seconds=10, clock=clock)
    for _ in range(5):
        breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.record_failure()  # one failed probe is enough, not five
    assert breaker.state is BreakerState.OPEN
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()
    assert breaker.times_opened == 2


def test_flood_of_one_type_opens_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    for _ in range(100):  # exactly 100 in one second is allowed
        assert not breaker.record_event("GAUNTLET_BEGIN")
        clock.advance(0.005)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.record_event("GAUNTLET_BEGIN")  # the 101st inside one second
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason is OpenReason.FLOOD


def test_per_type_window_slides(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    for _ in range(300):  # ~99 per second for three seconds: never 101 inside one second
        assert not breaker.record_event("GAUNTLET_PASS")
        clock.advance(0.0101)
    assert breaker.state is BreakerState.CLOSED


def test_flood_across_types_in_ten_seconds_opens_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    kinds = [f"KIND_{index}" for index in range(10)]
    for step in range(500):  # 500 in 10 s, 50 per type per second at most: allowed
        assert not breaker.record_event(kinds[step % 10])
        clock.advance(0.0199)
    assert breaker.record_event("KIND_0")  # the 501st within 10 s
    assert breaker.reason is OpenReason.FLOOD


def test_flood_while_open_restarts_the_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(cooldown_seconds=60, clock=clock)
    for _ in range(101):
        breaker.record_event("STORM")
    clock.advance(50)
    for _ in range(101):
        breaker.record_event("STORM")
    clock.advance(50)  # 100 s after the first flood, 50 s after the last
    assert breaker.state is BreakerState.OPEN
    clock.advance(10)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.times_opened == 1


@pytest.mark.parametrize(
    ("hits", "spacing", "limit", "window", "flooded"),
    [
        pytest.param(5, 0.0, 5, 1.0, False, id="at-limit"),
        pytest.param(6, 0.0, 5, 1.0, True, id="over-limit"),
        pytest.param(6, 0.2, 5, 1.0, False, id="oldest-expired-at-window-edge"),
        pytest.param(6, 0.19, 5, 1.0, True, id="all-inside-window"),
    ],
)
def test_sliding_counter(hits: int, spacing: float, limit: int, window: float, flooded: bool):
    counter = SlidingCounter(limit, window)
    results = [counter.hit(index * spacing) for index in range(hits)]
    assert results[-1] is flooded
    assert len(counter._hits) <= limit + 1  # bounded memory whatever the rate


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"failure_threshold": 0}, id="threshold"),
        pytest.param({"cooldown_seconds": 0}, id="cooldown"),
        pytest.param({"flood_total": 0}, id="flood"),
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs: dict) -> None:
    with pytest.raises(EventConfigError) as caught:
        CircuitBreaker(**kwargs)
    assert caught.value.code == ExitCode.USAGE_ERROR

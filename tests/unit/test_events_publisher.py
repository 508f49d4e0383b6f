"""The publisher against a real webhook on 127.0.0.1 that records requests and can fail or hang."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from blocks.errors import ConfigError, ExitCode
from tasks.events import (
    A2AEvent,
    BreakerState,
    CircuitBreaker,
    EventConfigError,
    EventPublisher,
    InvalidEvent,
    OpenReason,
)
from tasks.platform.clock import utc_now
from tests.loopback import QuietHandler, free_port, host_port, loopback_server
from tests.unit.a2a_events import numbered

LATER = timedelta(minutes=10)  # a drain "now" past any first backoff


class Sink:
    """What the fake webhook does (mode "ok", "fail" or "hang", or scripted statuses)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.statuses: deque[int] = deque()  # scripted answers first, then the mode's
        self.requests: list[tuple[int, dict[str, str], dict]] = []  # answered, with status
        self.arrived = 0  # requests received, answered or still hanging
        self.delay = 0.0  # seconds every answer takes
        self.release = threading.Event()
        self.lock = threading.Lock()

    def accepted(self) -> list[dict]:
        with self.lock:
            return [body for status, _, body in self.requests if status == 200]

    def ids(self) -> list[str]:
        with self.lock:
            return [h["idempotency-key"] for status, h, _ in self.requests if status == 200]


class Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        sink: Sink = self.server.sink  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with sink.lock:
            sink.arrived += 1
            status = sink.statuses.popleft() if sink.statuses else None
        if status is None and sink.mode == "hang":
            sink.release.wait(5)
        time.sleep(sink.delay)
        status = status or (503 if sink.mode == "fail" else 200)
        with sink.lock:
            headers = {key.lower(): value for key, value in self.headers.items()}
            sink.requests.append((status, headers, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()  # the client may have given up (the timeout tests)


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    with loopback_server(Handler, poll_interval=0.05) as server:
        sink = server.sink = Sink()  # type: ignore[attr-defined]
        yield sink, f"http://{host_port(server)}/a2a/events?token=SECRET"
        sink.release.set()  # a hanging request lets go before the server stops


@pytest.fixture
def closed_url() -> str:
    port = free_port()
    return f"http://127.0.0.1:{port}/a2a/events?token=SECRET"


@pytest.fixture
def make(tmp_path: Path) -> Iterator:
    made: list[EventPublisher] = []

    def factory(url: str | None, **kwargs) -> EventPublisher:
        kwargs.setdefault("timeout", 0.5)
        publisher = EventPublisher(
            url, kwargs.pop("spool_path", tmp_path / "spool.sqlite"), **kwargs
        )
        made.append(publisher)
        return publisher

    yield factory
    for publisher in made:
        publisher.close(timeout=2)


def published_within(publisher: EventPublisher, events: list[A2AEvent]) -> float:
    """Publish each event; the slowest publish() call in seconds."""
    slowest = 0.0
    for event in events:
        started = time.perf_counter()
        publisher.publish(event)
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


def wait_for(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_delivers_the_seed_bodies_with_their_idempotency_keys(make, sink) -> None:
    server, url = sink
    events = [
        A2AEvent.gauntlet_begin(source="deploy_lora.sh"),
        A2AEvent.gauntlet_pass(duration_seconds=135, source="deploy_lora.sh"),
        A2AEvent.gauntlet_fail(failure_reason="canary_test_failed", source="deploy_lora.sh"),
    ]
    publisher = make(url)
    for event in events:
        publisher.publish(event)
    assert publisher.flush(3)
    assert server.accepted() == [json.loads(event.to_json()) for event in events]
    assert server.ids() == [event.id for event in events]
    assert all(h["content-type"] == "application/json" for _, h, _ in server.requests)
    stats = publisher.stats()
    assert (stats.sent, stats.spooled, stats.pending, stats.failed, stats.dropped) == (
        3,
        0,
        0,
        0,
        0,
    )


def test_sink_down_spools_everything_and_publish_stays_fast(make, closed_url) -> None:
    publisher = make(closed_url)
    events = numbered(40)
    assert published_within(publisher, events) < 0.05
    assert publisher.flush(3)
    stats = publisher.stats()
    assert (stats.pending, stats.spooled, stats.sent, stats.dropped) == (40, 40, 0, 0)
    assert stats.failed == 5 and stats.breaker is BreakerState.OPEN  # then no more attempts
    rows = publisher.spool.pending(100)
    assert [row.id for row in rows] == [event.id for event in events]
    assert "ConnectError" in rows[0].last_error and "SECRET" not in rows[0].last_error


def test_publish_stays_fast_while_the_sink_hangs(make, sink) -> None:
    server, url = sink
    server.mode = "hang"
    publisher = make(url, timeout=0.3, breaker=CircuitBreaker(failure_threshold=2))
    assert published_within(publisher, numbered(30)) < 0.05
    publisher.close(timeout=3)
    assert server.arrived == 2  # two timeouts opened the breaker; the rest never went out
    assert publisher.stats().pending == 30
    error = publisher.spool.pending(1)[0].last_error
    assert "no answer within 0.3s" in error and "SECRET" not in error


def test_sink_back_up_drain_delivers_in_original_order(make, closed_url, sink, tmp_path) -> None:
    server, url = sink
    spool_path = tmp_path / "shared.sqlite"
    down = make(closed_url, spool_path=spool_path)
    events = numbered(30)
    for event in events:
        down.publish(event)
    down.close()
    up = make(url, spool_path=spool_path)  # a later run: the spool survived the reopen
    result = up.drain_spool(now=utc_now() + LATER)
    assert (result.sent, result.pending, result.stopped) == (30, 0, "empty")
    assert server.ids() == [event.id for event in events]
    assert up.spool.pending_count() == 0


def test_drain_stops_at_the_first_failure_and_keeps_order(make, sink) -> None:
    server, url = sink
    publisher = make(url)
    events = numbered(10)
    publisher.spool.put_many(events)
    server.statuses.extend([200, 200, 200, 503])
    first = publisher.drain_spool()
    assert (first.sent, first.pending, first.stopped) == (3, 7, "send_failed")
    assert "HTTP 503" in first.error
    assert publisher.drain_spool().stopped == "not_due"  # the failed head is in backoff
    again = publisher.drain_spool(now=utc_now() + LATER)
    assert (again.sent, again.pending, again.stopped) == (7, 0, "empty")
    assert server.ids() == [event.id for event in events]


def test_drain_respects_max_events(make, sink) -> None:
    _, url = sink
    publisher = make(url)
    publisher.spool.put_many(numbered(5))
    result = publisher.drain_spool(max_events=2)
    assert (result.sent, result.pending, result.stopped) == (2, 3, "limit")


def test_breaker_opens_spools_half_opens_and_closes(make, sink) -> None:
    server, url = sink
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=lambda: now[0])
    publisher = make(url, breaker=breaker)
    server.mode = "fail"
    for event in numbered(3):
        publisher.publish(event)
    assert publisher.flush(3)
    assert breaker.state is BreakerState.OPEN and breaker.reason is OpenReason.FAILURES
    for event in numbered(5, start=3):
        publisher.publish(event)
    assert publisher.flush(3)
    assert len(server.requests) == 3  # while open the sink is not contacted
    assert publisher.stats().pending == 8
    now[0] = 29.9
    assert publisher.drain_spool(now=utc_now() + LATER).stopped == "breaker_open"
    now[0] = 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    probe_failed = publisher.drain_spool(now=utc_now() + LATER)
    assert (probe_failed.sent, probe_failed.stopped) == (0, "send_failed")
    assert breaker.state is BreakerState.OPEN
    now[0] = 60.0
    server.mode = "ok"
    result = publisher.drain_spool(now=utc_now() + timedelta(days=1))
    assert (result.sent, result.pending) == (8, 0)
    assert breaker.state is BreakerState.CLOSED
    assert [body["metadata"]["n"] for body in server.accepted()] == list(range(8))


def test_flood_opens_the_breaker_and_later_events_are_spooled(make, sink) -> None:
    server, url = sink
    publisher = make(url, breaker=CircuitBreaker(clock=lambda: 5.0))  # all in the same instant
    for event in numbered(101, kind="GAUNTLET_BEGIN"):
        publisher.publish(event)
    assert publisher.breaker.state is BreakerState.OPEN
    assert publisher.breaker.reason is OpenReason.FLOOD
    assert publisher.flush(3)
    sent_before = len(server.requests)
    for event in numbered(10, start=101, kind="GAUNTLET_PASS"):
        publisher.publish(event)
    assert publisher.flush(3)
    stats = publisher.stats()
    assert len(server.requests) == sent_before == stats.sent < 101
    assert stats.sent + stats.pending == 111 and stats.dropped == 0
    assert stats.breaker_reason is OpenReason.FLOOD


def test_full_queue_sends_events_to_the_spool_directly(make, sink) -> None:
    server, url = sink
    server.mode = "hang"
    publisher = make(url, queue_size=2, breaker=CircuitBreaker(failure_threshold=100))
    events = numbered(8)
    publisher.publish(events[0])
    wait_for(lambda: server.arrived == 1)  # the sender thread now waits on the hanging sink
    for event in events[1:]:
        publisher.publish(event)
    stats = publisher.stats()  # each overflow took the two queued events along: 2+1, 2+1
    assert (stats.queued, stats.spooled, stats.pending, stats.overflowed) == (1, 6, 6, 6)
    assert [row.id for row in publisher.spool.pending()] == [e.id for e in events[1:7]]
    server.mode = "ok"
    server.release.set()
    assert publisher.flush(3)
    pending = [row.id for row in publisher.spool.pending()]
    assert sorted(server.ids() + pending) == sorted(event.id for event in events)
    assert publisher.stats().dropped == 0


def test_a_failing_spool_write_is_held_and_retried_not_dropped(make, monkeypatch) -> None:
    publisher = make(None)
    real_put_many = publisher.spool.put_many
    failures = [sqlite3.OperationalError("disk I/O error")] * 3

    def flaky_put_many(events, **kwargs):
        if failures:
            raise failures.pop()
        return real_put_many(events, **kwargs)

    monkeypatch.setattr(publisher.spool, "put_many", flaky_put_many)
    events = numbered(4)
    # must not raise although the write failed; False says "not durable yet"
    assert publisher.publish(events[0], durable=True) is False
    for event in events[1:]:
        assert publisher.publish(event) is True  # queued
    assert publisher.flush(3)  # only true once the held events are committed
    assert [row.id for row in publisher.spool.pending()] == [event.id for event in events]
    stats = publisher.stats()
    assert stats.spool_errors >= 1 and stats.dropped == 0


def test_events_the_spool_still_refuses_at_close_are_counted_as_dropped(make, monkeypatch) -> None:
    publisher = make(None)

    def broken_put_many(events, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(publisher.spool, "put_many", broken_put_many)
    for event in numbered(3):
        publisher.publish(event)
    assert not publisher.flush(0.3)  # held in memory, not durable
    assert publisher.stats().dropped == 0  # still retried while open
    publisher.close(timeout=0.3)
    assert publisher.stats().dropped == 3
    publisher.publish(numbered(1, start=3)[0])  # after close nothing can retry it
    assert publisher.stats().dropped == 4


def test_a_drain_stops_starting_sends_when_its_budget_is_spent(make, sink) -> None:
    server, url = sink
    server.delay = 0.05  # a slow but working bus: the breaker never opens
    publisher = make(url)
    publisher.spool.put_many(numbered(200))  # unbounded: 200 x 0.05 s = 10 s
    started = time.monotonic()
    result = publisher.drain_spool(budget_seconds=0.3)
    elapsed = time.monotonic() - started
    assert result.stopped == "budget" and 0 < result.sent < 200
    assert result.sent + result.pending == 200
    assert elapsed < 0.3 + 0.5 + 0.5  # the budget, one sink timeout, slack for a busy machine
    with pytest.raises(ConfigError):
        publisher.drain_spool(budget_seconds=0)


def test_close_spools_what_is_queued_and_later_publishes(make, sink) -> None:
    server, url = sink
    server.mode = "hang"
    publisher = make(url, timeout=0.3, breaker=CircuitBreaker(failure_threshold=100))
    for event in numbered(5):
        publisher.publish(event)
    publisher.close(timeout=0.1)
    assert server.arrived == 1 and publisher.stats().pending == 5
    publisher.publish(numbered(1, start=5)[0])  # after close: straight to the spool
    assert publisher.stats().pending == 6


def test_without_a_sink_everything_is_spooled(make) -> None:
    publisher = make(None)
    for event in numbered(3):
        publisher.publish(event)
    assert publisher.flush(3)
    assert publisher.stats().pending == 3
    assert publisher.drain_spool().stopped == "no_sink"


def test_durable_publish_is_in_the_spool_when_it_returns(make, sink, tmp_path) -> None:
    offline = make(None, spool_path=tmp_path / "offline.sqlite")
    event = A2AEvent.gauntlet_begin()
    offline.publish(event, durable=True)
    assert [row.id for row in offline.spool.pending()] == [event.id]  # no flush needed
    server, url = sink
    online = make(url)
    online.publish(event, durable=True)
    assert online.flush(3)
    wait_for(lambda: online.spool.pending_count() == 0)  # delivered, then deleted
    assert server.ids() == [event.id]


def test_an_injected_client_is_used_and_left_open(make) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    publisher = make("https://bus.example/a2a", sender=client)
    event = A2AEvent.gauntlet_begin()
    publisher.publish(event)
    assert publisher.flush(3)
    publisher.close()
    assert [r.headers["idempotency-key"] for r in seen] == [event.id]
    assert seen[0].content == event.to_json().encode()
    assert not client.is_closed
    client.close()


# fmt: off
BAD_SETTINGS = [
    pytest.param("ftp://user:pw@bus.example/x?token=SECRET", {}, id="ftp-url"),
    pytest.param("bus.example/events", {}, id="no-scheme"),
    pytest.param("http://", {}, id="no-host"),
    pytest.param("http://bus.example", {"timeout": 0}, id="zero-timeout"),
    pytest.param("http://bus.example", {"timeout": 60}, id="long-timeout"),
    pytest.param("http://bus.example", {"queue_size": 0}, id="no-queue"),
]
# fmt: on


@pytest.mark.parametrize(("url", "kwargs"), BAD_SETTINGS)
def test_bad_settings_are_refused_and_show_no_secret(url, kwargs, tmp_path) -> None:
    with pytest.raises(EventConfigError) as caught:
        EventPublisher(url, tmp_path / "spool.sqlite", **kwargs)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert "SECRET" not in str(caught.value) and "pw" not in caught.value.message


def test_publish_refuses_what_is_not_an_event(make) -> None:
    publisher = make(None)
    with pytest.raises(InvalidEvent, match="takes an A2AEvent, got dict"):
        publisher.publish({"event_type": "GAUNTLET_BEGIN"})  # type: ignore[arg-type]
    assert publisher.stats().published == 0

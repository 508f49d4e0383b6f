"""The storm watch on plain events and a fake clock: the seed's two flood limits, the sources
it pauses, the cooldown and the close; sources read from resource ids."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tasks.guard.platform_writes import _soon
from tasks.guard.storm import (
    Source,
    SourceKind,
    StormWatch,
    close_decision,
    open_decision,
    sources_of,
)
from tasks.platform.decisions import DecisionKind

AUTO = Source(kind=SourceKind.AUTOMATION, id="a1")
DEPLOY = Source(kind=SourceKind.DEPLOYMENT, id="d1")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watch(clock: Clock) -> StormWatch:
    return StormWatch(per_type=100, total=500, cooldown_sec=60, clock=clock)


def test_sources_are_automations_and_deployments_named_by_the_event() -> None:
    ids = [
        "prefect.flow-run.r1",
        "prefect.automation.a1",
        "prefect.deployment.d1",
        "prefect.automation.a1",
        "prefect.deployment.d1.extra",
    ]
    assert sources_of(ids) == (AUTO, DEPLOY)


def test_more_than_100_of_one_type_in_a_second_opens_and_names_its_sources() -> None:
    clock = Clock()
    storm = watch(clock)
    floods = []
    for i in range(101):
        clock.now = i * 0.009  # 101 events within 0.91 s
        floods.append(storm.observe("storm.tick", (AUTO,)))
    assert floods[:100] == [None] * 100
    flood = floods[100]
    assert flood.opening and flood.sources == [AUTO] and flood.event_types == ["storm.tick"]
    assert "Threshold exceeded: 101 storm.tick events in 1 s > 100" in flood.why
    clock.now = 1.0
    assert storm.observe("storm.tick", (AUTO,)) is None  # open, nothing new to pause


def test_100_a_second_is_not_a_storm_but_more_than_500_in_10_s_is() -> None:
    clock = Clock()
    storm = watch(clock)
    seen = []
    for i in range(501):
        clock.now = i * 0.0199  # ~50 a second of each of two types: 501 in 9.97 s
        seen.append(storm.observe("a" if i % 2 else "b", (DEPLOY,) if i % 2 else ()))
    assert seen[:500] == [None] * 500
    flood = seen[500]
    assert flood.why[1] == "Threshold exceeded: 501 > 500 events in 10 s"
    assert flood.sources == [DEPLOY]


def test_it_closes_after_a_quiet_cooldown_and_a_new_flood_restarts_it() -> None:
    clock = Clock()
    storm = watch(clock)
    for i in range(101):
        clock.now = i * 0.001
        storm.observe("x", (AUTO,))
    clock.now = 30
    assert not storm.quiet()
    for i in range(101):  # the storm goes on: the cooldown restarts
        clock.now = 30 + i * 0.001
        storm.observe("x", (AUTO,))
    clock.now = 80
    assert not storm.quiet()
    clock.now = 90.2
    assert storm.quiet() and not storm.is_open
    assert not storm.quiet()  # once


def test_the_cooldown_counts_from_the_pause_when_pausing_took_longer() -> None:
    clock = Clock()
    storm = watch(clock)
    for i in range(101):
        clock.now = i * 0.001
        storm.observe("x", (AUTO,))
    clock.now = 70  # a pause that took 70 s (a loaded API): the sources were just paused
    storm.sources_paused()
    assert not storm.quiet()
    clock.now = 129.9
    assert not storm.quiet()
    clock.now = 130
    assert storm.quiet()


def test_decisions_carry_the_seeds_reasoning() -> None:
    clock = Clock()
    storm = watch(clock)
    flood = None
    for _ in range(101):
        flood = storm.observe("x", (AUTO,)) or flood
    when = datetime(2026, 11, 30, tzinfo=UTC)
    opened = open_decision(flood, ["automation:a1"], 60, when)
    assert opened.what is DecisionKind.CIRCUIT_OPEN
    assert opened.context["playbook"] == "trigger_storm_mitigation"
    assert opened.why[-1] == "Auto-close after 60s cooldown"
    closed = close_decision(["automation:a1"], "No flood for 60s", when)
    assert closed.what is DecisionKind.CIRCUIT_CLOSE and "automation:a1" in closed.why[1]


def test_a_pause_answered_503_is_retried_soon_and_other_errors_are_not() -> None:
    """The embedded SQLite API answers 503 while it writes a flood (Prefect would wait 2 s)."""

    def answered(status: int) -> httpx.HTTPStatusError:
        request = httpx.Request("PATCH", "http://127.0.0.1/api/automations/a1")
        return httpx.HTTPStatusError("", request=request, response=httpx.Response(status))

    calls: list[int] = []

    def busy_twice() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise answered(503)
        return "paused"

    assert _soon(busy_twice) == "paused" and len(calls) == 3

    def refused() -> None:
        calls.append(1)
        raise answered(404)

    calls.clear()
    with pytest.raises(httpx.HTTPStatusError):
        _soon(refused)
    assert len(calls) == 1

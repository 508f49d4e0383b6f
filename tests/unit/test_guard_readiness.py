"""PlatformReadiness checks on plain snapshots: each check's level, and the verdict is the worst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blocks.guard import GuardFile, PoolLimits
from tasks.guard.models import (
    CheckName,
    HealthStatus,
    Level,
    PlatformSnapshot,
    PoolSnapshot,
    Probe,
    ScheduleSeen,
    StartedRun,
)
from tasks.guard.readiness import assess, telemetry
from tasks.platform.workers import WorkerSeen

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POOL = "p"
CONFIG = GuardFile(
    pools=[PoolLimits(name=POOL, min_workers=2, queue_warn=10, queue_critical=20)],
    window_sec=100,
)


def worker(name: str, age_sec: float = 5, online: bool = True) -> WorkerSeen:
    return WorkerSeen(name=name, online=online, last_heartbeat=NOW - timedelta(seconds=age_sec))


def pool(**fields) -> PoolSnapshot:
    return PoolSnapshot(**({"name": POOL, "workers": [worker("a"), worker("b")]} | fields))


def snapshot(*pools: PoolSnapshot, **fields) -> PlatformSnapshot:
    base = {
        "taken_at": NOW,
        "window_sec": 100,
        "health": Probe(ok=True, elapsed_ms=3),
        "ready": Probe(ok=True, elapsed_ms=4),
        "pools": list(pools) or [pool()],
    }
    return PlatformSnapshot(**(base | fields))


def levels(snap: PlatformSnapshot) -> dict[CheckName, Level]:
    return {c.name: c.level for c in assess(snap, CONFIG).checks}


def test_a_healthy_platform_passes_every_check() -> None:
    readiness = assess(snapshot(), CONFIG)
    assert readiness.status is HealthStatus.HEALTHY
    assert readiness.exit_code == 0
    assert not readiness.failed
    assert {c.name for c in readiness.checks} == set(CheckName) - {CheckName.READ}


def late_start(ms: float) -> StartedRun:
    return StartedRun(name="r", expected_start=NOW, started=NOW + timedelta(milliseconds=ms))


@pytest.mark.parametrize(
    ("snap", "check", "level"),
    [
        (snapshot(health=Probe(ok=False, elapsed_ms=1, error="refused")), CheckName.API, 2),
        (snapshot(ready=Probe(ok=False, elapsed_ms=1, error="HTTP 503")), CheckName.DATABASE, 2),
        (snapshot(health=Probe(ok=True, elapsed_ms=31_000)), CheckName.API, 2),
        (snapshot(read_error="ReadTimeout"), CheckName.READ, 2),
        (
            snapshot(
                schedules=[
                    ScheduleSeen(deployment="f/d", changed=NOW - timedelta(hours=1), future_runs=0)
                ]
            ),
            CheckName.SCHEDULER,
            2,
        ),
        (snapshot(late_total=500), CheckName.LATE_RUNS, 1),
        (snapshot(late_total=2000), CheckName.LATE_RUNS, 2),
        (snapshot(pool(found=False)), CheckName.POOL, 2),
        (snapshot(pool(paused=True)), CheckName.POOL, 2),
        (snapshot(pool(workers=[worker("a")])), CheckName.WORKERS, 2),
        (snapshot(pool(workers=[worker("a"), worker("b", age_sec=31)])), CheckName.WORKERS, 2),
        (snapshot(pool(workers=[worker("a"), worker("b", online=False)])), CheckName.WORKERS, 2),
        (snapshot(pool(scheduled=5, late=3, pending=2)), CheckName.QUEUE_DEPTH, 1),
        (snapshot(pool(late=20)), CheckName.QUEUE_DEPTH, 2),
        (snapshot(pool(late=10, started_in_window=50)), CheckName.DISPATCH_RATE, 1),
        (snapshot(pool(recent_starts=[late_start(1500)])), CheckName.START_LATENESS, 1),
        (snapshot(pool(crashed_in_window=1)), CheckName.CRASHED_RUNS, 2),
    ],
    ids=[
        "api-down",
        "db-down",
        "api-slow",
        "unreadable",
        "scheduler-dead",
        "late-warn",
        "late-critical",
        "pool-missing",
        "pool-paused",
        "too-few-workers",
        "stale-heartbeat",
        "worker-offline",
        "queue-warn",
        "queue-critical",
        "dispatch-slow",
        "sla-breach",
        "crashed",
    ],
)
def test_each_failed_check_sets_its_level(snap: PlatformSnapshot, check: CheckName, level: int):
    readiness = assess(snap, CONFIG)
    assert levels(snap)[check] == Level(level)
    assert readiness.status is HealthStatus.of(Level(level))
    assert readiness.exit_code == 1
    assert check in {c.name for c in readiness.failed}


def test_a_new_schedule_gets_a_grace_period_before_its_runs_exist() -> None:
    fresh = ScheduleSeen(deployment="f/d", changed=NOW - timedelta(seconds=10), future_runs=0)
    assert levels(snapshot(schedules=[fresh]))[CheckName.SCHEDULER] is Level.OK


def test_dispatch_at_the_minimum_rate_with_a_backlog_passes() -> None:
    assert levels(snapshot(pool(late=10, started_in_window=100)))[CheckName.DISPATCH_RATE] == 0


def test_telemetry_carries_the_seed_payload_and_the_reasoning_chain() -> None:
    snap = snapshot(pool(scheduled=12, workers=[worker("a")], recent_starts=[late_start(2000)]))
    (row,) = telemetry(snap, assess(snap, CONFIG), CONFIG)
    assert row.component == f"work-pool:{POOL}"
    assert (row.queue_depth, row.active_workers, row.sla_breaches) == (12, 1, 1)
    assert row.health_status is HealthStatus.CRITICAL
    assert row.reasoning_chain[1].startswith("Queue depth: 12 (warning: 10)")
    assert len(row.reasoning_chain) == 4  # workers, depth, dispatch rate, lateness

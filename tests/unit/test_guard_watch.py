"""The watchdog's cadence, its alert dedupe and the decision log (SQLite) on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.guard.models import HealthStatus, Telemetry
from tasks.guard.watch import Cadence, alerts
from tasks.platform.decisions import Decision, DecisionKind, DecisionLog, parse_since

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def row(status: HealthStatus, *why: str, component: str = "work-pool:p") -> Telemetry:
    return Telemetry(
        component=component,
        queue_depth=1200,
        active_workers=8,
        runs_per_second=1.5,
        sla_breaches=3,
        health_status=status,
        reasoning_chain=list(why),
    )


def test_checks_every_10_s_and_telemetry_every_15_s() -> None:
    cadence = Cadence(0.0, 10.0, 15.0)
    seen = {t: cadence.due(t) for t in (0, 5, 10, 15, 20, 29.9, 30)}
    assert seen == {
        0: (True, True),
        5: (False, False),
        10: (True, False),
        15: (False, True),
        20: (True, False),
        29.9: (False, False),
        30: (True, True),
    }
    assert cadence.wake_at() == 40


def test_an_overrun_cycle_is_not_repeated_to_catch_up() -> None:
    cadence = Cadence(0.0, 10.0, 15.0)
    cadence.due(0)
    assert cadence.due(35) == (True, True)
    assert cadence.next_check == 45 and cadence.next_telemetry == 50


def test_alerts_only_when_a_pools_problems_change() -> None:
    warn = row(HealthStatus.DEGRADED, "Queue depth: 1200 (warning: 1000)")
    first, keys = alerts([warn], {}, NOW, "w")
    assert [d.what for d in first] == [DecisionKind.ALERT]
    assert first[0].why[0] == "Queue depth: 1200 (warning: 1000)"
    again, keys = alerts([warn], keys, NOW, "w")
    assert again == []
    worse = row(HealthStatus.CRITICAL, "Queue depth: 5200 (critical: 5000)")
    changed, keys = alerts([worse], keys, NOW, "w")
    assert len(changed) == 1
    healthy, keys = alerts([row(HealthStatus.HEALTHY)], keys, NOW, "w")
    assert healthy == []
    back, _ = alerts([worse], keys, NOW, "w")
    assert len(back) == 1


def decision(what: DecisionKind, minutes_ago: float) -> Decision:
    return Decision(
        who="w",
        what=what,
        where="work-pool:p",
        when=NOW - timedelta(minutes=minutes_ago),
        why=["reason"],
        how="threshold_check",
        context={"n": 1},
    )


def test_the_log_keeps_decisions_and_filters_by_window_and_kind(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "guard" / "decisions.sqlite")
    assert log.read(timedelta(hours=1), now=NOW) == []
    kept = [
        decision(DecisionKind.ALERT, 90),
        decision(DecisionKind.SHED, 30),
        decision(DecisionKind.ALERT, 5),
    ]
    assert log.append(kept) == 3
    assert log.read(timedelta(hours=1), now=NOW) == kept[1:]
    assert log.read(timedelta(hours=2), DecisionKind.SHED, now=NOW) == [kept[1]]


@pytest.mark.parametrize("text", ["", "1", "h", "0h", "-1h", "1y", "1.5h"])
def test_a_window_that_is_not_a_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(text)
    assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_since(text).total_seconds() == seconds


def test_a_new_alert_of_a_critical_queue_cues_the_shedding() -> None:
    from blocks.guard import GuardFile, PoolLimits
    from tasks.guard.models import PlatformSnapshot, PoolSnapshot, Probe
    from tasks.guard.readiness import assess, telemetry
    from tasks.guard.watch import queue_critical_alerts
    from tasks.platform.workers import WorkerSeen

    guard = GuardFile(
        pools=[PoolLimits(name=n, min_workers=1, queue_warn=2, queue_critical=4) for n in "ab"]
    )
    worker = WorkerSeen(name="w", online=True, last_heartbeat=NOW)
    snapshot = PlatformSnapshot(
        taken_at=NOW,
        window_sec=300,
        health=Probe(ok=True, elapsed_ms=1),
        ready=Probe(ok=True, elapsed_ms=1),
        pools=[
            PoolSnapshot(name="a", late=5, workers=[worker]),
            PoolSnapshot(name="b", late=2, workers=[worker]),
        ],
    )
    readiness = assess(snapshot, guard)
    decisions, keys = alerts(telemetry(snapshot, readiness, guard), {}, NOW, "w")
    assert [d.where for d in decisions] == ["work-pool:a", "work-pool:b"]
    assert queue_critical_alerts(readiness, decisions) == ["a"]
    again, _ = alerts(telemetry(snapshot, readiness, guard), keys, NOW, "w")
    assert queue_critical_alerts(readiness, again) == []  # once per new alert, not per cycle

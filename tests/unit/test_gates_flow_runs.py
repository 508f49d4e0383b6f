"""The flow-run gate's decision, table-driven, without a Prefect server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blocks.gates import FlowRunGate
from tasks.gates.flow_runs import LatestRun, evaluate_flow_run

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
GATE = FlowRunGate(kind="flow-run", name="nightly", deployment="e2e/nightly", max_age_hours=24)


def latest(state: str, hours_ago: float) -> LatestRun:
    end = NOW - timedelta(hours=hours_ago)
    return LatestRun(
        id="1",
        name="run",
        state_type=state,
        state_name=state.title(),
        start_time=end - timedelta(minutes=5),
        end_time=end,
    )


@pytest.mark.parametrize(
    ("run", "ok", "reason"),
    [
        (None, False, "no_run"),
        (latest("COMPLETED", 1), True, ""),
        (latest("COMPLETED", 23.9), True, ""),
        (latest("COMPLETED", 24.1), False, "stale"),
        (latest("FAILED", 1), False, "not_completed"),
        (latest("RUNNING", 0), False, "not_completed"),
    ],
)
def test_latest_run_must_be_completed_and_recent(run, ok: bool, reason: str) -> None:
    outcome = evaluate_flow_run(GATE, run, NOW)
    assert (outcome.ok, outcome.reason) == (ok, reason)

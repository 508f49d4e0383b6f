"""Cascade breaker (seed 002 §2, the ``event_cascade_breaker``) on Prefect's flow runs.

load the guard file -> read active runs that have a parent, with their ancestors -> plan
(pure: chains deeper than storm.cascade_max_depth) -> kill switch -> per chain: cancel its
runs below the limit, deepest first, and pause the automations that started runs of it ->
5W1H cascade-stop decisions (event + durable log) -> summary artifact. Completed when no chain
is (any longer) too deep.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.defaults import DEFAULT_GUARD_FILE
from blocks.storage import persisted_results
from tasks.guard.cascade import CASCADE_BREAKER, cascade_decision, plan_cascade_stops
from tasks.guard.outputs import decisions_markdown
from tasks.guard.steps import load_guard, read_run_chains, record_decisions, stop_cascade
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="orchestration-cascade-breaker",
    description="Stop chains of flow runs deeper than the limit (10 levels).",
    **persisted_results(),
)
def orchestration_cascade_breaker(config: str = str(DEFAULT_GUARD_FILE)) -> State:
    """Stop every chain deeper than the guard file's ``storm.cascade_max_depth``."""
    guard = load_guard(config)
    limit = guard.storm.cascade_max_depth
    stops = plan_cascade_stops(read_run_chains(guard), limit)
    decisions, unstopped = [], 0
    if stops:
        ensure_kill_switch_off(CASCADE_BREAKER)  # raises: the run ends Failed, exit 3
    for stop in stops:
        message = (
            f"stopped by {CASCADE_BREAKER}: chain of {stop.depth} levels from run "
            f"{stop.root} (limit {limit})"
        )
        cancelled, paused = stop_cascade(guard, stop, message)
        unstopped += len(stop.cancel) - len(cancelled)
        decisions.append(cascade_decision(stop, cancelled, paused, limit, utc_now()))
    if decisions:
        record_decisions(decisions)
    publish_summary(
        artifact_key(CASCADE_BREAKER, "decisions"),
        decisions_markdown(decisions),
        [d.model_dump(mode="json") for d in decisions] or [{"decisions": "none"}],
        "cascade breaker: chains stopped by the latest run",
    )
    message = f"{len(stops)} chain(s) deeper than {limit}; {unstopped} run(s) not stopped"
    run_logger().info(message)
    return (Failed if unstopped else Completed)(message=message, data=decisions)

"""Storm breaker (seed 002 §2, the ``trigger_storm_mitigation`` playbook) on Prefect's event
stream.

load the guard file -> kill switch -> subscribe to the event stream -> per event: count it
(the project's breaker: > 100 of one type in 1 s, > 500 in 10 s) -> on a flood: pause the
automations and deployment schedules its events name, emit warden.orchestrator.circuit-open
-> after 60 s without a flood: restore exactly what was paused, emit circuit-close -> when
the run ends, nothing stays paused -> summary artifact.
"""

from __future__ import annotations

from prefect import flow

from blocks.defaults import DEFAULT_GUARD_FILE
from blocks.storage import persisted_results
from tasks.guard.event_stream import StormReport
from tasks.guard.outputs import decisions_markdown
from tasks.guard.steps import load_guard, watch_event_stream
from tasks.guard.storm import STORM_BREAKER
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="orchestration-storm-breaker",
    description="Pause the sources of an event storm; restore them after a quiet cooldown.",
    **persisted_results(),
)
def orchestration_storm_breaker(
    config: str = str(DEFAULT_GUARD_FILE), max_runtime_sec: float = 3600
) -> StormReport:
    """Watch the event stream for ``max_runtime_sec``; the deployment's schedule starts the
    next run (one at a time)."""
    guard = load_guard(config)
    ensure_kill_switch_off(STORM_BREAKER)  # it pauses automations and schedules
    report = watch_event_stream(guard, max_runtime_sec)
    run_logger().info(
        "%d events seen; breaker opened %d, closed %d",
        report.events_seen,
        report.opened,
        report.closed,
    )
    publish_summary(
        artifact_key(STORM_BREAKER, "decisions"),
        decisions_markdown(report.decisions),
        [d.model_dump(mode="json") for d in report.decisions] or [{"decisions": "none"}],
        "storm breaker: decisions of the latest run",
    )
    return report

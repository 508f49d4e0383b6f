"""Orchestration guard (seed 002 §1, §3 and the watchdog): is the Prefect platform that runs
every other flow ready, and does it stay so.

readiness: load the guard file -> read the platform (API, database, scheduler, pools) ->
assess every check -> summary artifact and event -> Completed only when healthy.
watchdog: every 10 s read and assess, alert (event + 5W1H record) when a pool's problems
change; every 15 s publish telemetry events and the latest-telemetry table.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.defaults import DEFAULT_GUARD_FILE
from blocks.storage import persisted_results
from tasks.guard.outputs import (
    decisions_markdown,
    readiness_markdown,
    readiness_rows,
    telemetry_rows,
)
from tasks.guard.readiness import assess, telemetry
from tasks.guard.report import WatchdogReport
from tasks.guard.steps import PROCESS, load_guard, read_platform, record_decisions
from tasks.guard.watch import (
    WATCHDOG,
    Cadence,
    alerts,
    queue_critical_alerts,
    refusal_decision,
)
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import emit, ensure_storage_ready, publish_summary, run_logger

READINESS = "orchestration-readiness"


@flow(
    name="orchestration-readiness",
    description="Is the Prefect platform ready: API, database, scheduler, workers, queues.",
    **persisted_results(),
)
def orchestration_readiness(
    config: str = str(DEFAULT_GUARD_FILE), pool: str | None = None, boot_guard: bool = False
) -> State:
    """Every readiness check of the guarded pools (or just ``pool``); the run ends Completed
    only when the verdict is healthy. ``boot_guard`` records a refusal decision when not."""
    ensure_storage_ready()  # no kill switch (it only reads), but its result storage must work
    guard = load_guard(config)
    snapshot = read_platform(guard, guard.pool_names(pool))
    readiness = assess(snapshot, guard)
    scope = pool or "all-pools"
    publish_summary(
        artifact_key(READINESS, scope),
        readiness_markdown(readiness),
        readiness_rows(readiness),
        f"orchestration readiness ({scope})",
    )
    failed = [f"{c.where}: {c.name}: {c.reason}" for c in readiness.failed]
    emit(
        PROCESS, "readiness", "orchestrator", scope, {"status": readiness.status, "failed": failed}
    )
    if boot_guard and failed:
        record_decisions([refusal_decision(readiness, READINESS)])
    run_logger().info("orchestration %s (%d failed checks)", readiness.status, len(failed))
    message = f"{readiness.status}" + (": " + "; ".join(failed) if failed else "")
    if readiness.exit_code:
        return Failed(message=message, data=readiness)
    return Completed(message=message, data=readiness)


@flow(
    name="orchestration-watchdog",
    description="Watch the platform every 10 s; telemetry every 15 s; alert on new problems.",
    **persisted_results(),
)
def orchestration_watchdog(
    config: str = str(DEFAULT_GUARD_FILE), cycles: int | None = None, max_runtime_sec: float = 3600
) -> WatchdogReport:
    """Check until ``cycles`` checks are done or ``max_runtime_sec`` has passed, whichever is
    first; the deployment's schedule starts the next run (one at a time)."""
    ensure_storage_ready()
    guard = load_guard(config)
    report = WatchdogReport(started=utc_now(), pools=guard.pool_names())
    cadence = Cadence(
        time.monotonic(), guard.watchdog.check_every_sec, guard.watchdog.telemetry_every_sec
    )
    deadline = time.monotonic() + max_runtime_sec
    alerted: dict[str, tuple[str, ...]] = {}
    while (cycles is None or report.checks < cycles) and time.monotonic() < deadline:
        check, publish = cadence.due(time.monotonic())
        if check:
            alerted = _check(guard, report, alerted)
        if publish and report.latest is not None:
            _publish_telemetry(report)
        if cycles is not None and report.checks >= cycles:
            break
        time.sleep(max(0.0, min(cadence.wake_at(), deadline) - time.monotonic()))
    if report.latest is not None and report.telemetry_published == 0:
        _publish_telemetry(report)
    publish_summary(
        artifact_key(WATCHDOG, "decisions"),
        decisions_markdown(report.decisions),
        [d.model_dump(mode="json") for d in report.decisions] or [{"decisions": "none"}],
        "orchestration watchdog: decisions of the latest run",
    )
    return report


def _check(guard, report: WatchdogReport, alerted: dict) -> dict:
    """One check cycle: read, assess, alert on changed problems; returns the alert keys."""
    started = time.perf_counter()
    snapshot = read_platform(guard, report.pools)
    readiness = assess(snapshot, guard)
    rows = telemetry(snapshot, readiness, guard)
    decisions, alerted = alerts(rows, alerted, readiness.checked_at, WATCHDOG)
    if decisions:
        record_decisions(decisions)
    for pool in queue_critical_alerts(readiness, decisions):  # the shedding automation's cue
        emit(PROCESS, "queue-critical", "work-pool", pool, {"pool": pool})
    report.checks += 1
    report.latest, report.telemetry = readiness, rows
    report.decisions += decisions
    report.worst_cycle_ms = max(report.worst_cycle_ms, (time.perf_counter() - started) * 1000)
    return alerted


def _publish_telemetry(report: WatchdogReport) -> None:
    for row in report.telemetry:
        emit(PROCESS, "telemetry", "orchestrator", row.component, row.model_dump(mode="json"))
    report.telemetry_published += 1
    publish_summary(
        artifact_key(WATCHDOG, "telemetry"),
        f"Latest telemetry per pool: {report.latest.status if report.latest else 'none'}",
        telemetry_rows(report.telemetry),
        "orchestration watchdog: latest telemetry per pool",
    )

"""Load shedding (seed 002's ``scheduler_load_shedding`` playbook) on the Prefect platform.

load the guard file and the playbook -> kill switch (unless a dry run) -> per guarded pool:
read its depth and waiting runs -> plan (pure: which runs, which rule) -> cancel them, each
state message naming the rule -> 5W1H decisions (event + durable log) -> summary artifact.
The run ends Completed only when every pool is (a dry run: would be) below critical and
every planned cancellation held.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.defaults import DEFAULT_GUARD_FILE, DEFAULT_SHED_PLAYBOOK
from blocks.storage import persisted_results
from tasks.guard.outputs import shed_markdown, shed_rows
from tasks.guard.shed_report import SHEDDER, ShedReport, shed_decisions
from tasks.guard.shedding import plan_shedding
from tasks.guard.steps import (
    cancel_runs,
    load_guard,
    load_playbook,
    read_backlog,
    record_decisions,
)
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="orchestration-load-shedding",
    description="Cancel low-priority waiting runs of a pool whose queue depth is critical.",
    **persisted_results(),
)
def orchestration_load_shedding(
    config: str = str(DEFAULT_GUARD_FILE),
    playbook: str = str(DEFAULT_SHED_PLAYBOOK),
    pool: str | None = None,
    dry_run: bool = False,
) -> State:
    """Shed what the playbook says in each guarded pool (or just ``pool``); ``dry_run``
    reports what it would cancel and cancels nothing."""
    guard = load_guard(config)
    book = load_playbook(playbook)
    pools = guard.pool_names(pool)
    if not dry_run:
        ensure_kill_switch_off(SHEDDER)  # raises: the run ends Failed, the CLI exits 3
    report = ShedReport(dry_run=dry_run, playbook=book.playbook, plans=[])
    for name in pools:
        backlog = read_backlog(guard, name)
        critical = guard.limits(name).queue_critical
        plan = plan_shedding(name, backlog.depth, critical, backlog.runs, book, utc_now())
        report.plans.append(plan)
        if dry_run or not plan.cancel:
            continue
        outcomes = cancel_runs(guard, plan.cancel)
        report.outcomes += outcomes
        report.decisions += shed_decisions(plan, outcomes, book, utc_now())
    if report.decisions:
        record_decisions(report.decisions)
    publish_summary(
        artifact_key(SHEDDER, pool or "all-pools"),
        shed_markdown(report),
        shed_rows(report),
        f"load shedding ({'dry run' if dry_run else 'applied'})",
    )
    message = "; ".join(
        f"{p.pool}: depth {p.depth} -> {p.depth_after} (critical {p.critical}), "
        f"{len(p.cancel)} {'to shed' if dry_run else 'shed'}, shortfall {p.shortfall}"
        for p in report.plans
    )
    run_logger().info(message)
    return (Completed if report.ok else Failed)(message=message, data=report)

"""Safety plan (seed 004): a phased work package run with strict failure; evidence, not status
lines, decides what is done.

validate the plan whole -> kill switch -> inputs (git revision) -> tasks in plan order, each
check run or its cached proof reused, the first unverified task stopping the plan -> claims
vs evidence, residual risk -> plan_report.json, plan_status.md, plan_evidence.md -> artifacts
and events. A plan not all verified ends the run Failed, with the report as its result.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.storage import persisted_results, warden_home
from flows.plan_dispatch import RunContext, run_task
from tasks.plans.cache import LATEST_REPORT, VerifiedCache, plan_folder
from tasks.plans.models import TaskResult
from tasks.plans.outputs import summary_markdown, table_rows
from tasks.plans.report import assemble_report
from tasks.plans.runner import execute, selected_ids
from tasks.plans.steps import plan_safety_tasks, read_run_inputs, write_plan_outputs
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.keys import artifact_key, slug
from tasks.platform.steps import emit, ensure_kill_switch_off, progress, publish_summary, run_logger

PROCESS = "safety-plan"


@flow(
    name="safety-plan",
    description="Run a phased safety plan with strict failure; evidence decides its status.",
    **persisted_results(),
)
def safety_plan(
    plan: str = "deployments/plans/demo.yaml",
    base_dir: str = ".",
    from_id: str | None = None,
    only: list[str] | None = None,
    out: str | None = None,
    interactive: bool = False,
    sign_off_timeout_sec: int = 3600,
) -> State:
    """Run ``plan``'s tasks in order from ``base_dir``; stop at the first unverified one.

    Verified tasks are cached under ``$WARDEN_HOME/plans/`` (plan, task, check and git
    revision), so a re-run starts at the first unverified task; ``from_id``/``only`` re-check
    the tasks at/under those ids. ``interactive`` pauses for a sign-off of manual tasks;
    otherwise they are refused (not verified).
    """
    logger = run_logger()
    started = utc_now()
    spec = plan_safety_tasks(plan, from_id, only)
    scope = slug(spec.title)[:40]
    folder = plan_folder(warden_home(), spec)
    out_dir = Path(out) if out else folder / "runs" / run_stamp(started)
    ensure_kill_switch_off(PROCESS)  # KillSwitchOn ends the run Failed before any side effect
    base = Path(base_dir).resolve()
    inputs = read_run_inputs(str(base))
    cache = VerifiedCache(folder / "cache.json", spec, inputs)
    emit(PROCESS, "begin", "plan", scope, {"tasks": len(spec.tasks()), "inputs": inputs})
    context = RunContext(base, out_dir / "scratch", started, interactive, sign_off_timeout_sec)
    update = progress(artifact_key(PROCESS, f"{scope}-progress"))
    total = max(len(spec.tasks()), 1)
    done: list[TaskResult] = []

    def record(result: TaskResult) -> None:
        done.append(result)
        cache.put(next(t for _, _, t in spec.tasks() if t.id == result.task_id), result)
        verb = "task-verified" if result.verified else "task-failed"
        emit(PROCESS, verb, "plan", scope, {"task": result.task_id, "reason": result.reason})
        logger.info("task %s: %s %s", result.task_id, result.status.value, result.message)
        update(100.0 * len(done) / total)

    results = execute(
        spec,
        run=lambda phase, step, task: run_task(phase, step, task, context),
        cached=cache.get,
        selection=selected_ids(spec, from_id, only),
        on_result=record,
    )
    report = assemble_report(
        spec,
        results,
        plan_file=plan,
        started=started,
        finished=utc_now(),
        inputs=inputs,
        out_dir=str(out_dir),
    )
    write_plan_outputs(spec, report, str(out_dir), str(folder / LATEST_REPORT))
    publish_summary(
        artifact_key(PROCESS, scope), summary_markdown(spec, report), table_rows(report), spec.title
    )
    verdict = "verified" if report.all_verified else "not-verified"
    payload = {"stopped_at": report.stopped_at, "claims_unverified": report.claims_unverified}
    emit(PROCESS, verdict, "plan", scope, {**payload, "overall_level": report.overall_level})
    message = _message(report.all_verified, report.stopped_at, report.claims_unverified)
    logger.info("%s; residual risk %s", message, report.overall_text)
    if report.exit_code:
        return Failed(message=message, data=report)
    return Completed(message=message, data=report)


def _message(proven: bool, stopped_at: str | None, claims: list[str]) -> str:
    if proven:
        return "every task verified"
    parts = [f"stopped at task {stopped_at}" if stopped_at else "not every task verified"]
    if claims:
        parts.append("CLAIM_UNVERIFIED: " + ", ".join(claims))
    return "; ".join(parts)

"""A task's result from its check's outcome, and the plan report from the task results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from blocks.errors import ExitCode
from blocks.plans import PlanFile, PlanPhase, PlanStep, PlanTask
from tasks.plans.cache import plan_hash
from tasks.plans.models import (
    PlanReport,
    RollbackOutcome,
    TaskOutcome,
    TaskResult,
    TaskStatus,
)
from tasks.plans.risk import assess, level_text
from tasks.plans.runner import describe_check
from tasks.plans.verdicts import all_verified, claims_unverified, phase_verdicts, step_verdicts


def task_result(
    phase: PlanPhase,
    step: PlanStep,
    task: PlanTask,
    outcome: TaskOutcome,
    *,
    duration_sec: float,
    finished: datetime,
    rollback: RollbackOutcome | None = None,
) -> TaskResult:
    return TaskResult(
        task_id=task.id,
        step_id=step.id,
        phase_id=phase.id,
        kind=task.verify.kind if task.verify else "none",
        check=describe_check(task),
        status=TaskStatus.VERIFIED if outcome.ok else TaskStatus.FAILED,
        reason=outcome.reason,
        message=outcome.message,
        duration_sec=round(duration_sec, 3),
        evidence=outcome.evidence,
        verified_at=finished if outcome.ok else None,
        rollback=rollback,
    )


def crashed_outcome(exc: BaseException) -> TaskOutcome:
    """A check that crashed could not run: a failure in the record, not a lost run."""
    return TaskOutcome(ok=False, reason="check_crashed", message=f"{type(exc).__name__}: {exc}")


def assemble_report(
    plan: PlanFile,
    results: Sequence[TaskResult],
    *,
    plan_file: str,
    started: datetime,
    finished: datetime,
    inputs: dict[str, str],
    out_dir: str = "",
) -> PlanReport:
    steps = step_verdicts(plan, results)
    phases = phase_verdicts(plan, results)
    risks, overall = assess(plan, results)
    proven = all_verified(phases, steps)
    stopped = next(
        (r.task_id for r in results if r.status in (TaskStatus.FAILED, TaskStatus.BLOCKED)), None
    )
    return PlanReport(
        title=plan.title,
        plan_file=plan_file,
        plan_hash=plan_hash(plan),
        started=started,
        finished=finished,
        inputs=inputs,
        tasks=list(results),
        steps=steps,
        phases=phases,
        risks=risks,
        overall_level=overall,
        overall_text=level_text(overall),
        stopped_at=stopped,
        claims_unverified=claims_unverified(phases, steps),
        all_verified=proven,
        exit_code=int(ExitCode.OK if proven else ExitCode.VERDICT_FAILED),
        out_dir=out_dir,
    )

"""Strict failure: the order in which a plan's tasks run, and where the plan stops.

Phases run in order and tasks in order within them. The first task whose check does not
verify (failed, timed out, could not run, refused) stops the plan: every later task is
``not_run``. No skip, no fallback. A verified result cached for the same inputs stands in for
a run, so a re-run starts at the first unverified task. A phase starts only when the ones
before it are verified: a task after a phase with a step that has no checks (it can never be
verified), or a ``--from``/``--only`` task after a phase not all verified, is ``blocked`` and
stops the plan too.
"""

from __future__ import annotations

from collections.abc import Callable

from blocks.plans import PlanFile, PlanPhase, PlanStep, PlanTask
from tasks.plans.models import TaskResult, TaskStatus

RunTask = Callable[[PlanPhase, PlanStep, PlanTask], TaskResult]
Cached = Callable[[PlanTask], TaskResult | None]


def selected_ids(plan: PlanFile, from_id: str | None, only: list[str] | None) -> set[str] | None:
    """Task ids ``--from``/``--only`` force to run; None when neither is given (run all)."""
    if from_id is None and not only:
        return None
    ids = [task.id for _, _, task in plan.tasks()]
    chosen: set[str] = set()
    if from_id is not None:
        start = next((i for i, task_id in enumerate(ids) if _under(task_id, from_id)), len(ids))
        chosen.update(ids[start:])
    for name in only or []:
        chosen.update(task_id for task_id in ids if _under(task_id, name))
    return chosen


def _under(task_id: str, name: str) -> bool:
    return task_id == name or task_id.startswith(name + ".")


def execute(
    plan: PlanFile,
    *,
    run: RunTask,
    cached: Cached,
    selection: set[str] | None = None,
    on_result: Callable[[TaskResult], None] = lambda result: None,
) -> list[TaskResult]:
    """Every task's result, in plan order; ``run`` is called only for tasks that must run."""
    results: list[TaskResult] = []
    stopped: str | None = None
    for phase, step, task in plan.tasks():
        if stopped is not None:
            results.append(_unrun(phase, step, task, f"the plan stopped at task {stopped}"))
            continue
        unprovable = _steps_without_checks_before(plan, phase.id)
        if unprovable:
            message = f"earlier phases cannot be verified: step {unprovable[0]} has no checks"
            results.append(_unrun(phase, step, task, message, TaskStatus.BLOCKED))
            stopped = task.id
            continue
        forced = selection is not None and task.id in selection
        if not forced:
            hit = cached(task)
            if hit is not None:
                results.append(hit)
                continue
            if selection is not None:
                results.append(_unrun(phase, step, task, "not selected and no cached proof"))
                continue
        unproven = [r.task_id for r in results if r.phase_id != phase.id and not r.verified]
        if unproven:
            message = f"earlier phases are not verified (first: task {unproven[0]})"
            results.append(_unrun(phase, step, task, message, TaskStatus.BLOCKED))
            stopped = task.id
            continue
        result = run(phase, step, task)
        on_result(result)
        results.append(result)
        if not result.verified:
            stopped = task.id
    return results


def _steps_without_checks_before(plan: PlanFile, phase_id: str) -> list[str]:
    """Steps of the phases before ``phase_id`` that have no task: those phases never verify."""
    earlier = []
    for phase in plan.phases:
        if phase.id == phase_id:
            break
        earlier += [step.id for step in phase.steps if not step.tasks]
    return earlier


def _unrun(
    phase: PlanPhase,
    step: PlanStep,
    task: PlanTask,
    message: str,
    status: TaskStatus = TaskStatus.NOT_RUN,
) -> TaskResult:
    return TaskResult(
        task_id=task.id,
        step_id=step.id,
        phase_id=phase.id,
        kind=task.verify.kind if task.verify else "none",
        check=describe_check(task),
        status=status,
        reason=status.value,
        message=message,
    )


def describe_check(task: PlanTask) -> str:
    """One line naming what proves the task."""
    check = task.verify
    if check is None:
        return "no check"
    match check.kind:
        case "command":
            return "command: " + " ".join(check.argv)
        case "pytest":
            return "pytest " + " ".join(check.node_ids)
        case "gate":
            return f"gate {check.gate} of {check.config}"
        case "flow-run":
            return f"flow-run {check.deployment} within {check.max_age_hours:g} h"
        case "checkpoint":
            return f"checkpoint {check.path}"
        case "drill":
            return f"drill: {check.events} events, SIGKILL after {check.kill_after} acks"
        case "manual":
            return f"sign-off by {check.sign_off}"
        case "rehearsal":
            return "rehearsal of " + ", ".join(check.paths)
    return check.kind

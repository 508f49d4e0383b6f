"""Which runner proves a plan task, by check kind: the one place concerns meet for the plan.

tasks/plans runs its own checks (command, pytest, rehearsal, drill); a ``gate`` or
``flow-run`` check runs through the go/no-go suite's own step, a ``manual`` one pauses for a
sign-off, a ``checkpoint`` one runs the checkpoint verifier's step. Adding a kind is one model
in ``blocks.plan_checks`` and one entry in ``RUNNERS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from blocks.errors import CheckpointInputError
from blocks.gates import FlowRunGate
from blocks.plan_checks import CheckKind, CheckpointCheck, FlowRunCheck, GateCheck
from blocks.plans import PlanPhase, PlanStep, PlanTask
from tasks.checkpoints.steps import check_checkpoint
from tasks.gates.models import GateResult, GateStatus
from tasks.gates.steps import plan_gates, run_gate
from tasks.plans.models import TaskOutcome, TaskResult
from tasks.plans.report import crashed_outcome, task_result
from tasks.plans.steps import (
    refused_sign_off,
    request_task_sign_off,
    roll_back_task,
    run_plan_check,
)
from tasks.platform.clock import utc_now
from tasks.platform.keys import slug

PROVEN_GATE = {GateStatus.PASSED, GateStatus.SIGNED_OFF}  # a manual follow-up is not a proof


@dataclass(frozen=True)
class RunContext:
    base_dir: Path
    scratch: Path
    started: datetime
    interactive: bool = False
    sign_off_timeout_sec: int = 3600


Runner = Callable[[PlanTask, RunContext], TaskOutcome]


def _local(task: PlanTask, ctx: RunContext) -> TaskOutcome:
    return run_plan_check(task, str(ctx.base_dir), str(ctx.scratch / slug(task.id)))


def _gate(task: PlanTask, ctx: RunContext) -> TaskOutcome:
    check = task.verify
    assert isinstance(check, GateCheck)
    config = check.config  # read from the working directory, as the plan's validation did
    gates = plan_gates(config, [check.gate], None, None)
    result = run_gate(gates.gates[0], str(ctx.base_dir), gates.env, None, ctx.started, [])
    return _gate_outcome(result, {"gates_file": config, "notes": gates.notes})


def _flow_run(task: PlanTask, ctx: RunContext) -> TaskOutcome:
    check = task.verify
    assert isinstance(check, FlowRunCheck)
    gate = FlowRunGate(
        name=slug(f"task-{task.id}"),
        kind="flow-run",
        deployment=check.deployment,
        max_age_hours=check.max_age_hours,
    )
    return _gate_outcome(run_gate(gate, str(ctx.base_dir), {}, None, ctx.started, []), {})


def _manual(task: PlanTask, ctx: RunContext) -> TaskOutcome:
    if not ctx.interactive:
        return refused_sign_off(task)
    return request_task_sign_off(task, ctx.sign_off_timeout_sec)


def _checkpoint(task: PlanTask, ctx: RunContext) -> TaskOutcome:
    check = task.verify
    assert isinstance(check, CheckpointCheck)
    directory = ctx.base_dir / check.path
    try:
        report = check_checkpoint(str(directory), check.require_manifest)
    except CheckpointInputError as exc:  # cannot be checked at all: proves nothing
        code = exc.reason.value
        evidence = {"directory": str(directory), "code": code, "remediation": exc.remediation}
        return TaskOutcome(ok=False, reason=code.lower(), message=exc.message, evidence=evidence)
    findings = [f"{f.code.value} {f.path}" for f in report.findings]
    message = f"checkpoint {directory}: {report.code.value}" + (
        f" ({len(findings)} findings)" if findings else ""
    )
    evidence = {
        "directory": str(directory),
        "code": report.code.value,
        "manifest_checked": report.manifest_checked,
        "files": len(report.files),
        "findings": findings[:20],
    }
    reason = "" if report.ok else report.code.value.lower()
    return TaskOutcome(ok=report.ok, reason=reason, message=message, evidence=evidence)


def _gate_outcome(result: GateResult, extra: dict[str, object]) -> TaskOutcome:
    ok = result.status in PROVEN_GATE
    reason = "" if ok else (result.reason or result.status.value)
    message = str(result.details.get("message") or f"gate {result.name}: {result.status.value}")
    evidence = {"gate": result.name, "status": result.status.value, **result.details, **extra}
    return TaskOutcome(ok=ok, reason=reason, message=message, evidence=evidence)


RUNNERS: dict[CheckKind, Runner] = {
    CheckKind.COMMAND: _local,
    CheckKind.PYTEST: _local,
    CheckKind.REHEARSAL: _local,
    CheckKind.DRILL: _local,
    CheckKind.GATE: _gate,
    CheckKind.FLOW_RUN: _flow_run,
    CheckKind.MANUAL: _manual,
    CheckKind.CHECKPOINT: _checkpoint,
}


def run_task(phase: PlanPhase, step: PlanStep, task: PlanTask, ctx: RunContext) -> TaskResult:
    """Run the task's check; a failed task with a declared rollback is rolled back (and the
    restore proven) before the plan stops."""
    clock = time.perf_counter()
    try:
        outcome = RUNNERS[CheckKind(task.verify.kind)](task, ctx)
    except Exception as exc:  # a check that crashed could not run: a failure, never a pass
        outcome = crashed_outcome(exc)
    duration = time.perf_counter() - clock
    rollback = None
    if not outcome.ok and task.rollback is not None:
        rollback = roll_back_task(task, str(ctx.base_dir))
    return task_result(
        phase, step, task, outcome, duration_sec=duration, finished=utc_now(), rollback=rollback
    )

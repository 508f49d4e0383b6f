"""What the task results prove about each step and phase, against what the markdown claims.

A step or phase is ``complete`` only when it has checks and every one verified. One the
document claims "Complete" whose checks failed, did not run or do not exist is
``CLAIM_UNVERIFIED``. The status lines written back into the markdown say exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from blocks.plans import PlanFile
from tasks.plans.models import TaskResult, TaskStatus, UnitStatus, UnitVerdict

CLAIMS_COMPLETE = re.compile(r"^\s*(complete|completed|done)\b", re.I)


def claims_complete(claimed: str | None) -> bool:
    return bool(claimed and CLAIMS_COMPLETE.match(claimed))


def unit_verdict(
    unit_id: str,
    title: str,
    claimed: str | None,
    results: Sequence[TaskResult],
    *,
    has_empty_step: bool = False,
) -> UnitVerdict:
    """The verdict of a step (or phase: ``has_empty_step`` when one of its steps has no task)."""
    verified = [r for r in results if r.status is TaskStatus.VERIFIED]
    failed = [r for r in results if r.status in (TaskStatus.FAILED, TaskStatus.BLOCKED)]
    complete = bool(results) and len(verified) == len(results) and not has_empty_step
    if complete:
        status = UnitStatus.COMPLETE
    elif claims_complete(claimed):
        status = UnitStatus.CLAIM_UNVERIFIED
    elif failed:
        status = UnitStatus.FAILED
    elif not results:
        status = UnitStatus.NO_CHECKS
    else:
        status = UnitStatus.INCOMPLETE
    proven = [r.verified_at for r in verified if r.verified_at is not None]
    return UnitVerdict(
        id=unit_id,
        title=title,
        claimed=claimed,
        status=status,
        verified=len(verified),
        total=len(results),
        proven_at=max(proven) if complete and proven else None,
        first_failure=failed[0].task_id if failed else None,
    )


def step_verdicts(plan: PlanFile, results: Sequence[TaskResult]) -> list[UnitVerdict]:
    return [
        unit_verdict(step.id, step.title, step.status, [r for r in results if r.step_id == step.id])
        for phase in plan.phases
        for step in phase.steps
    ]


def phase_verdicts(plan: PlanFile, results: Sequence[TaskResult]) -> list[UnitVerdict]:
    return [
        unit_verdict(
            phase.id,
            phase.title,
            phase.status,
            [r for r in results if r.phase_id == phase.id],
            has_empty_step=any(not step.tasks for step in phase.steps) or not phase.steps,
        )
        for phase in plan.phases
    ]


def status_line(verdict: UnitVerdict, results: Sequence[TaskResult]) -> str:
    """The regenerated ``**Status:**`` text: "Complete (2026-11-29), 6/6 checks verified"."""
    count = f"{verdict.verified}/{verdict.total} checks verified"
    first = _first_failure(verdict, results)
    match verdict.status:
        case UnitStatus.COMPLETE:
            return f"Complete ({_day(verdict.proven_at)}), {count}"
        case UnitStatus.CLAIM_UNVERIFIED:
            why = first or ("no checks declared" if not verdict.total else "not all checks ran")
            return f"CLAIM_UNVERIFIED (claimed: {_claim(verdict.claimed)}), {count}; {why}"
        case UnitStatus.FAILED:
            return f"Failed, {count}; {first}"
        case UnitStatus.NO_CHECKS:
            return "Not verified: no checks declared"
    return f"Not verified, {count}"


def _first_failure(verdict: UnitVerdict, results: Sequence[TaskResult]) -> str:
    if verdict.first_failure is None:
        return ""
    result = next(r for r in results if r.task_id == verdict.first_failure)
    return f"first failure: Task {result.task_id} ({result.status.value}: {result.reason})"


def _claim(claimed: str | None) -> str:
    text = (claimed or "").split(". ")[0]
    return text[:60]


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "date unknown"


def all_verified(phases: Sequence[UnitVerdict], steps: Sequence[UnitVerdict]) -> bool:
    """Every phase complete, and no step's claim left unverified."""
    return (
        bool(phases)
        and all(unit.status is UnitStatus.COMPLETE for unit in phases)
        and not claims_unverified(phases, steps)
    )


def claims_unverified(phases: Sequence[UnitVerdict], steps: Sequence[UnitVerdict]) -> list[str]:
    units = [*phases, *steps]
    return [unit.id for unit in units if unit.status is UnitStatus.CLAIM_UNVERIFIED]

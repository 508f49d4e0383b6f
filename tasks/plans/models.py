"""The run record of a safety plan: one entry per task, then what the entries prove.

``TaskResult`` is the journal entry (one per task, in plan order); step and phase verdicts,
residual risk and the exit code are derived from the entries, never set on their own.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from tasks.platform.frozen import Frozen


class TaskStatus(StrEnum):
    VERIFIED = "verified"  # its check ran (now or cached for the same inputs) and passed
    FAILED = "failed"  # its check failed, timed out, could not run, or was refused: plan stops
    BLOCKED = "blocked"  # selected, but an earlier phase is not verified: not run, plan stops
    NOT_RUN = "not_run"  # after the stop, or outside --from/--only with no cached proof


class TaskOutcome(Frozen):
    """What one check proved; ``reason`` names why it did not (``timeout``, ``exit_code``...)."""

    ok: bool
    reason: str = ""
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class RollbackOutcome(Frozen):
    ran: bool
    restored: bool
    message: str = ""


class TaskResult(Frozen):
    task_id: str
    step_id: str
    phase_id: str
    kind: str
    check: str  # one line: what was run
    status: TaskStatus
    reason: str = ""
    message: str = ""
    duration_sec: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict)
    cached: bool = False
    verified_at: datetime | None = None
    rollback: RollbackOutcome | None = None

    @property
    def verified(self) -> bool:
        return self.status is TaskStatus.VERIFIED


class UnitStatus(StrEnum):
    """A step's or phase's status from evidence."""

    COMPLETE = "complete"  # every task verified (at least one task)
    FAILED = "failed"  # a task failed or was blocked
    INCOMPLETE = "incomplete"  # not every task verified, none failed
    NO_CHECKS = "no_checks"  # no task, nothing claimed
    CLAIM_UNVERIFIED = "CLAIM_UNVERIFIED"  # claimed Complete; checks failed or do not exist


class UnitVerdict(Frozen):
    id: str
    title: str
    claimed: str | None
    status: UnitStatus
    verified: int
    total: int
    proven_at: datetime | None = None  # the latest verification of its tasks, when complete
    first_failure: str | None = None


class SubsystemRisk(Frozen):
    name: str
    level: str
    claimed: str | None
    tasks: int = 0
    unverified: list[str] = Field(default_factory=list)
    unverified_critical: list[str] = Field(default_factory=list)


class PlanReport(Frozen):
    title: str
    plan_file: str
    plan_hash: str
    started: datetime
    finished: datetime
    inputs: dict[str, str]
    tasks: list[TaskResult]
    steps: list[UnitVerdict]
    phases: list[UnitVerdict]
    risks: list[SubsystemRisk]
    overall_level: str
    overall_text: str
    stopped_at: str | None  # the task whose failure stopped the plan
    claims_unverified: list[str]
    all_verified: bool  # every task of the plan verified, and no claim unverified
    exit_code: int
    out_dir: str = ""

"""A vendor leg as a pipeline of named stages: each runs in order, its outcome and duration
recorded; the first failure stops the rest (``not_run``); the rollback always runs.

Pure: ``steps.py`` hands :func:`run_stages` one function per stage (each a call into a Prefect
task) and the rollback (terminate the host); the stages write what they found into a
:class:`LegDraft`, which becomes the leg's :class:`~tasks.matrix.evidence.LegResult`. A failure
inside a stage is evidence — a :class:`LegError` keeps its code, anything else is
``LEG_CRASHED`` — never a lost run; only what is not an ``Exception`` propagates (after the
rollback).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blocks.errors import WardenError
from tasks.matrix.errors import REMEDIATION, LegError, LegFailure
from tasks.matrix.evidence import (
    LegResult,
    LegStatus,
    OnboardingStatus,
    Stage,
    StageOutcome,
    StepStatus,
    tail,
)
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.legs import Onboarding, describe, judge_installer, judge_smoke
from tasks.platform.clock import utc_now

# The order a leg runs in (the seed's diagram); TERMINATE is the rollback, run always.
LEG_STAGES = (
    Stage.PROVISION,
    Stage.READY,
    Stage.INSTALLER,
    Stage.ONBOARDING,
    Stage.SMOKE,
    Stage.GPU_INFO,
)


@dataclass
class LegDraft:
    """What a leg's stages found so far; each ``*_ran`` records a result, then judges it."""

    gpu_required: str
    host: Host | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    installer_started: datetime | None = None
    smoke: CommandResult | None = None

    def provisioned(self, host: Host) -> None:
        self.host = host
        self.fields["host"] = host

    def installer_ran(self, result: CommandResult, started: datetime) -> None:
        self.installer_started = started
        self.fields.update(
            installer_exit_code=result.exit_code,
            installer_seconds=round(result.duration_seconds, 3),
            output_tail=tail(result.stdout + result.stderr),
        )
        failure = judge_installer(result)
        if failure:
            raise LegError(describe(result, "the installer"), failure=failure)

    def onboarded(self, onboarding: Onboarding) -> None:
        """Time to active counts from the installer's start to the control plane's answer."""
        self.fields.update(
            onboarding=onboarding.status, onboarding_seconds=round(onboarding.seconds, 3)
        )
        answer = onboarding.answer
        if onboarding.status is OnboardingStatus.VERIFIED and answer is not None:
            elapsed = (
                answer.received_at - (self.installer_started or answer.received_at)
            ).total_seconds()
            self.fields.update(
                control_plane_status=answer.status,
                activated_at=answer.activated_at,
                time_to_active_seconds=round(max(0.0, elapsed), 3),
            )

    def smoke_ran(self, result: CommandResult) -> None:
        """The job's evidence (and the GPU its output shows); it fails here when it did not
        finish or exited non-zero, else :meth:`gpu_judged` judges what it showed."""
        self.smoke = result
        failure, gpu = judge_smoke(self.gpu_required, result)
        self.fields.update(
            smoke_exit_code=result.exit_code,
            smoke_seconds=round(result.duration_seconds, 3),
            gpu=gpu,
            output_tail=tail(result.stdout + result.stderr),
            smoke_status=StepStatus.FAILED if failure else StepStatus.PASSED,
        )
        if failure and (result.timed_out or result.exit_code != 0):
            raise LegError(describe(result, "the smoke job"), failure=failure)

    def gpu_judged(self) -> None:
        """A smoke job that exited 0 still fails when its output shows no required GPU (or
        names a missing GPU or container runtime): :func:`judge_smoke` on what it printed."""
        if self.smoke is None:
            raise LegError(
                "no smoke job output to read GPU info from", failure=LegFailure.LEG_CRASHED
            )
        failure, _ = judge_smoke(self.gpu_required, self.smoke)
        if failure:
            raise LegError(describe(self.smoke, "the smoke job"), failure=failure)


StageStep = Callable[[LegDraft], None]


def run_stages(
    leg: Any,
    stages: Sequence[tuple[Stage, StageStep]],
    rollback: tuple[Stage, StageStep],
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = utc_now,
) -> LegResult:
    """Run ``stages`` in order, then ``rollback`` if a host was provisioned; the leg's result.

    ``leg`` names the leg (``name``, ``vendor``, ``provider``, ``gpu``). A rollback that fails
    leaves ``terminated`` false and says why in its stage (the janitor's TTL catches the host).
    """
    started = now()
    draft = LegDraft(gpu_required=leg.gpu)
    outcomes: list[StageOutcome] = []
    failure: LegFailure | None = None
    message: str | None = None
    try:
        for stage, run in stages:
            if failure is not None:
                outcomes.append(StageOutcome(stage=stage, status=StepStatus.NOT_RUN))
                continue
            begun = clock()
            failure, message = _run(run, draft)
            status = StepStatus.FAILED if failure else StepStatus.PASSED
            outcomes.append(
                StageOutcome(
                    stage=stage,
                    status=status,
                    seconds=round(clock() - begun, 3),
                    failure_code=failure,
                )
            )
    finally:
        outcomes.append(_roll_back(rollback, draft, clock))
    return _result(leg, draft, outcomes, started, now(), failure, message)


def _run(run: StageStep, draft: LegDraft) -> tuple[LegFailure | None, str | None]:
    try:
        run(draft)
    except LegError as exc:
        return exc.failure, exc.message
    except WardenError as exc:
        return LegFailure.LEG_CRASHED, str(exc)
    except Exception as exc:  # a crash inside one leg is evidence, never a lost run
        return LegFailure.LEG_CRASHED, f"{type(exc).__name__}: {exc}"
    return None, None


def _roll_back(
    rollback: tuple[Stage, StageStep], draft: LegDraft, clock: Callable[[], float]
) -> StageOutcome:
    stage, run = rollback
    if draft.host is None:
        return StageOutcome(stage=stage, status=StepStatus.NOT_RUN)
    begun = clock()
    try:
        run(draft)
    except Exception as exc:  # the janitor's TTL catches it; the evidence says so
        return StageOutcome(
            stage=stage,
            status=StepStatus.FAILED,
            seconds=round(clock() - begun, 3),
            message=f"could not terminate {draft.host.id}: {type(exc).__name__}: {exc}",
        )
    draft.fields["terminated"] = True
    return StageOutcome(stage=stage, status=StepStatus.PASSED, seconds=round(clock() - begun, 3))


def _result(
    leg: Any,
    draft: LegDraft,
    outcomes: list[StageOutcome],
    started: datetime,
    finished: datetime,
    failure: LegFailure | None,
    message: str | None,
) -> LegResult:
    """The leg's evidence; onboarding is ``failed`` when its stage failed."""
    fields = dict(draft.fields)
    if any(o.stage is Stage.ONBOARDING and o.status is StepStatus.FAILED for o in outcomes):
        fields["onboarding"] = OnboardingStatus.FAILED
    status = LegStatus.FAILED if failure else LegStatus.PASSED
    return LegResult(
        name=leg.name,
        vendor=leg.vendor,
        provider=leg.provider,
        status=status,
        started_at=started,
        finished_at=finished,
        failure_code=failure,
        remediation=REMEDIATION[failure] if failure else None,
        message=message,
        stages=outcomes,
        **fields,
    )

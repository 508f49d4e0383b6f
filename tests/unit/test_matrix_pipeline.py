"""A leg runs its named stages in order, records each one's outcome and duration, stops at the
first failure and always runs its rollback (terminate) once a host exists."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from blocks.errors import ConfigError
from tasks.matrix.control_plane import Activation, Answer
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.evidence import LegStatus, OnboardingStatus, Stage, StepStatus
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.legs import Onboarding
from tasks.matrix.pipeline import LEG_STAGES, LegDraft, run_stages

T0 = datetime(2026, 1, 19, 2, 0, tzinfo=UTC)
HOST = Host(id="local-cpu-1", provider="local", region="local", launched_at=T0)
LEG = SimpleNamespace(name="cpu", vendor="cpu", provider="local", gpu="none")
NVIDIA = SimpleNamespace(name="nvidia", vendor="nvidia", provider="local", gpu="nvidia")
OK = CommandResult(exit_code=0, stdout="ok\n", duration_seconds=0.5)


def ticks():
    """A clock that advances one second per reading."""
    count = iter(range(1000))
    return lambda: float(next(count))


def stages(**overrides):
    """Every stage passing (a host provisioned, scripts exiting 0), with ``overrides``."""
    run = {
        Stage.PROVISION: lambda draft: draft.provisioned(HOST),
        Stage.READY: lambda draft: None,
        Stage.INSTALLER: lambda draft: draft.installer_ran(OK, T0),
        Stage.ONBOARDING: lambda draft: draft.onboarded(
            Onboarding(status=OnboardingStatus.NOT_VERIFIED, seconds=0.2)
        ),
        Stage.SMOKE: lambda draft: draft.smoke_ran(OK),
        Stage.GPU_INFO: LegDraft.gpu_judged,
    }
    run.update({Stage(name): fn for name, fn in overrides.items()})
    return [(stage, run[stage]) for stage in LEG_STAGES]


def run(leg=LEG, rollback=None, **overrides):
    terminated: list[str] = []
    rollback = rollback or (lambda draft: terminated.append(draft.host.id))
    result = run_stages(
        leg, stages(**overrides), (Stage.TERMINATE, rollback), clock=ticks(), now=lambda: T0
    )
    return result, terminated


def statuses(result) -> dict[Stage, StepStatus]:
    return {outcome.stage: outcome.status for outcome in result.stages}


def test_the_stages_run_in_the_seeds_order_each_with_its_duration() -> None:
    result, terminated = run()
    assert result.status is LegStatus.PASSED and result.terminated
    assert [o.stage for o in result.stages] == [*LEG_STAGES, Stage.TERMINATE]
    assert all(o.status is StepStatus.PASSED and o.seconds == 1.0 for o in result.stages)
    assert terminated == [HOST.id] and result.host == HOST


def raising(exc: Exception):
    def stage(draft: LegDraft) -> None:
        raise exc

    return stage


def fail(code: LegFailure):
    def stage(draft: LegDraft) -> None:
        raise LegError("no", failure=code)

    return stage


@pytest.mark.parametrize(
    ("stage", "raised", "code"),
    [
        pytest.param(
            "ready", fail(LegFailure.HOST_NOT_READY), LegFailure.HOST_NOT_READY, id="leg-error"
        ),
        pytest.param(
            "installer",
            lambda draft: draft.installer_ran(CommandResult(exit_code=3, duration_seconds=1), T0),
            LegFailure.INSTALLER_FAILED,
            id="installer-exit",
        ),
        pytest.param(
            "smoke",
            lambda draft: draft.smoke_ran(
                CommandResult(exit_code=None, duration_seconds=9, timed_out=True)
            ),
            LegFailure.SMOKE_JOB_TIMEOUT,
            id="smoke-timeout",
        ),
        pytest.param("smoke", lambda draft: 1 / 0, LegFailure.LEG_CRASHED, id="a-crash"),
        pytest.param(
            "installer",
            raising(ConfigError("bad")),
            LegFailure.LEG_CRASHED,
            id="a-warden-error",
        ),
    ],
)
def test_the_first_failure_stops_the_rest_and_terminate_still_runs(stage, raised, code) -> None:
    result, terminated = run(**{stage: raised})
    assert (result.status, result.failure_code) == (LegStatus.FAILED, code)
    assert result.remediation and terminated == [HOST.id] and result.terminated
    after = LEG_STAGES[LEG_STAGES.index(Stage(stage)) + 1 :]
    assert statuses(result)[Stage(stage)] is StepStatus.FAILED
    assert all(statuses(result)[later] is StepStatus.NOT_RUN for later in after)
    assert statuses(result)[Stage.TERMINATE] is StepStatus.PASSED


def test_a_crash_is_named_by_its_type() -> None:
    result, _ = run(smoke=lambda draft: 1 / 0)
    assert result.message.startswith("ZeroDivisionError")


def test_without_a_host_there_is_nothing_to_terminate() -> None:
    result, terminated = run(provision=fail(LegFailure.CAPACITY_UNAVAILABLE))
    assert terminated == [] and not result.terminated and result.host is None
    assert statuses(result)[Stage.TERMINATE] is StepStatus.NOT_RUN


def test_a_failed_terminate_is_evidence_and_leaves_terminated_false() -> None:
    def refuse(draft: LegDraft) -> None:
        raise RuntimeError("api down")

    result, _ = run(rollback=refuse)
    assert result.status is LegStatus.PASSED and not result.terminated
    (outcome,) = [o for o in result.stages if o.stage is Stage.TERMINATE]
    assert outcome.status is StepStatus.FAILED and HOST.id in outcome.message


class Interrupted(BaseException):
    pass


def test_an_interrupt_propagates_after_the_host_is_terminated() -> None:
    terminated: list[str] = []

    def interrupt(draft: LegDraft) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        run_stages(
            LEG,
            stages(installer=interrupt),
            (Stage.TERMINATE, lambda draft: terminated.append(draft.host.id)),
        )
    assert terminated == [HOST.id]


def test_a_failed_onboarding_stage_says_onboarding_failed() -> None:
    result, _ = run(onboarding=fail(LegFailure.ONBOARDING_TIMEOUT))
    assert result.onboarding is OnboardingStatus.FAILED
    assert result.failure_code is LegFailure.ONBOARDING_TIMEOUT


def test_time_to_active_counts_from_the_installers_start() -> None:
    answer = Answer(
        activation=Activation.ACTIVE,
        detail="active",
        status="active",
        activated_at=T0,
        received_at=T0.replace(minute=2),
    )
    verified = Onboarding(status=OnboardingStatus.VERIFIED, seconds=3.0, answer=answer)
    result, _ = run(onboarding=lambda draft: draft.onboarded(verified))
    assert result.time_to_active_seconds == 120.0 and result.control_plane_status == "active"


def test_a_smoke_job_that_shows_no_gpu_fails_at_gpu_info() -> None:
    result, _ = run(leg=NVIDIA)
    assert result.failure_code is LegFailure.NO_GPU_DETECTED
    assert statuses(result)[Stage.SMOKE] is StepStatus.PASSED
    assert statuses(result)[Stage.GPU_INFO] is StepStatus.FAILED
    assert result.gpu is not None and result.gpu.count == 0


def test_a_smoke_job_showing_the_gpu_passes_gpu_info() -> None:
    shown = CommandResult(exit_code=0, stdout="NVIDIA A10G, 535.104.05\n", duration_seconds=1)
    result, _ = run(leg=NVIDIA, smoke=lambda draft: draft.smoke_ran(shown))
    assert result.status is LegStatus.PASSED
    assert (result.gpu.count, result.gpu.driver_version) == (1, "535.104.05")

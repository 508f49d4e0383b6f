"""What each step of a vendor leg means: installer and smoke-job judgements, onboarding.

Pure decisions over :class:`CommandResult` values; the Prefect tasks in ``steps.py`` run the
steps and hand their results here. Every script a leg runs on its host starts with
:data:`SCRIPT_PRELUDE`: bash with ``set -euo pipefail`` (a failing line fails the script, not
only the last one) in the leg's scratch directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from tasks.matrix.control_plane import Answer, ControlPlane, wait_until_active
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.evidence import OnboardingStatus
from tasks.matrix.gpuinfo import GpuInfo, classify_smoke, parse_gpu_info
from tasks.matrix.hosts import CommandResult, Host, HostProvider

# The local provider sets WARDEN_SCRATCH; a cloud host gets one per run and leg. Templates reach
# it as {{scratch}}.
SCRIPT_PRELUDE = (
    "#!/usr/bin/env bash\n"
    "set -euo pipefail\n"
    ': "${{WARDEN_SCRATCH:=/var/lib/warden-matrix/{run_id}-{leg}}}"\n'
    'export WARDEN_SCRATCH\nmkdir -p "$WARDEN_SCRATCH" && cd "$WARDEN_SCRATCH" || exit 90\n'
)


def host_script(body: str, *, run_id: str, leg: str) -> str:
    """A rendered installer, onboarding check or smoke job as the host runs it."""
    return SCRIPT_PRELUDE.format(run_id=run_id, leg=leg) + body


class Onboarding(BaseModel):
    """What the onboarding step proved: the host check passed, and the control plane's word."""

    model_config = ConfigDict(frozen=True)

    status: OnboardingStatus
    seconds: float
    answer: Answer | None = None


def onboard(
    provider: HostProvider,
    host: Host,
    check_script: str,
    plane: ControlPlane | None,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Onboarding:
    """The host check until it passes, then the control plane until it says ``active``.

    Both share ``timeout_seconds``. Without a control plane the result is ``not_verified``:
    the host check alone never proves the agent is onboarded.
    """
    start = clock()
    wait_for_onboarding(
        provider,
        host,
        check_script,
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
    )
    if plane is None:
        return Onboarding(status=OnboardingStatus.NOT_VERIFIED, seconds=clock() - start)
    answer = wait_until_active(
        plane,
        host.id,
        timeout_seconds=timeout_seconds - (clock() - start),
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
    )
    return Onboarding(status=OnboardingStatus.VERIFIED, seconds=clock() - start, answer=answer)


def judge_installer(result: CommandResult) -> LegFailure | None:
    """INSTALLER_TIMEOUT when it never finished, INSTALLER_FAILED on any non-zero exit."""
    if result.timed_out:
        return LegFailure.INSTALLER_TIMEOUT
    if result.exit_code != 0:
        return LegFailure.INSTALLER_FAILED
    return None


def judge_smoke(gpu_required: str, result: CommandResult) -> tuple[LegFailure | None, GpuInfo]:
    """The smoke job's verdict and the GPU info its output shows."""
    output = result.stdout + "\n" + result.stderr
    gpu = parse_gpu_info(gpu_required, result.stdout) if gpu_required != "none" else _NO_GPU
    if result.timed_out:
        return LegFailure.SMOKE_JOB_TIMEOUT, gpu
    return classify_smoke(gpu_required, result.exit_code, output), gpu


_NO_GPU = GpuInfo(vendor="none", model=None, driver_version=None, count=0)


def describe(result: CommandResult, what: str) -> str:
    if result.timed_out:
        return f"{what} did not finish within its timeout ({result.duration_seconds:.0f} s)"
    if result.exit_code is not None and result.exit_code < 0:
        return f"{what} was killed by signal {-result.exit_code}"
    last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    return f"{what} exited {result.exit_code}: {last[0][:300]}"


def wait_for_onboarding(
    provider: HostProvider,
    host: Host,
    check_script: str,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll the leg's onboarding check until it exits 0; seconds waited, or ONBOARDING_TIMEOUT."""
    start = clock()
    last: CommandResult | None = None
    while True:
        remaining = timeout_seconds - (clock() - start)
        if remaining <= 0:
            detail = f"; last check: {describe(last, 'the check')}" if last else ""
            raise LegError(
                f"the agent on {host.id} was not active after {timeout_seconds:.0f} s{detail}",
                failure=LegFailure.ONBOARDING_TIMEOUT,
            )
        last = provider.run(host, check_script, max(1.0, min(remaining, 60.0)))
        if last.ok:
            return clock() - start
        sleep(min(poll_seconds, max(0.0, timeout_seconds - (clock() - start))))

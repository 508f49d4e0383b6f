"""What each step of a vendor leg means: installer and smoke-job judgements, onboarding wait.

Pure decisions over :class:`CommandResult` values; the Prefect tasks in ``steps.py`` run the
steps and hand their results here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.gpuinfo import GpuInfo, classify_smoke, parse_gpu_info
from tasks.matrix.hosts import CommandResult, Host, HostProvider


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

"""Leg scripts run strictly, and onboarding passes only on the control plane's word."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from blocks.invariants import load_invariants, render
from tasks.matrix.control_plane import ControlPlane
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.evidence import OnboardingStatus
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.legs import describe, host_script, judge_installer, judge_smoke, onboard
from tests.control_plane import TOKEN, control_plane

HOST = Host(
    id="i-0123456789abcdef0", provider="ec2", region="us-west-2", launched_at=datetime.now(UTC)
)


def _run(script: str, tmp_path: Path, path_dirs: list[Path] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "WARDEN_SCRATCH": str(tmp_path / "scratch")}
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), env["PATH"]])
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=10, env=env, check=False
    )


@pytest.mark.parametrize(
    "body",
    ["false\ntrue", "echo $UNSET_VARIABLE_IN_SCRIPT; true", "false | cat"],
    ids=["a-failing-line", "an-unset-variable", "a-failing-pipe"],
)
def test_any_failing_line_fails_the_script(body: str, tmp_path: Path) -> None:
    assert _run(host_script(body, run_id="r", leg="cpu"), tmp_path).returncode != 0
    assert _run(host_script("true", run_id="r", leg="cpu"), tmp_path).returncode == 0


def _fake_docker(folder: Path, running: str, logs: str) -> Path:
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(
        "#!/usr/bin/env bash\n"
        f'case "$1" in inspect) echo {running} ;; logs) echo "{logs}" ;; esac\n'
    )
    docker.chmod(0o755)
    return folder


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_shipped_onboarding_check_fails_when_the_agent_is_not_running(
    env: str, tmp_path: Path
) -> None:
    """The old check passed here: its first line's failure was ignored and `grep -qi active`
    matched "inactive" in the agent's log."""
    leg = load_invariants().environment(env).agent_promotion.leg("nvidia")
    values = {"digest": "r.io/a@sha256:" + "a" * 64, "run_id": "r", "leg": "nvidia"}
    values |= {"region": "us-west-2", "scratch": "${WARDEN_SCRATCH}"}
    script = host_script(render(leg.onboarding_check, **values), run_id="r", leg="nvidia")
    stopped = _fake_docker(tmp_path / "stopped", "false", "agent inactive")
    assert _run(script, tmp_path, [stopped]).returncode != 0
    running = _fake_docker(tmp_path / "running", "true", "agent inactive")
    assert _run(script, tmp_path, [running]).returncode == 0  # the host side only: see below
    assert "grep" not in leg.onboarding_check  # activation is the control plane's answer


class Provider:
    """A host whose onboarding check passes from the ``passes_from``-th run on."""

    def __init__(self, passes_from: int = 1) -> None:
        self.runs = 0
        self.passes_from = passes_from

    def run(self, host: Host, script: str, timeout_seconds: float) -> CommandResult:
        self.runs += 1
        return CommandResult(
            exit_code=0 if self.runs >= self.passes_from else 1, duration_seconds=0
        )


def _onboard(plane, provider=None, timeout: float = 1.0):
    return onboard(
        provider or Provider(), HOST, "check", plane, timeout_seconds=timeout, poll_seconds=0.02
    )


def test_without_a_control_plane_onboarding_is_not_verified() -> None:
    result = _onboard(None)
    assert result.status is OnboardingStatus.NOT_VERIFIED and result.answer is None


def test_the_host_check_then_the_control_plane_verify_onboarding() -> None:
    provider = Provider(passes_from=3)
    with control_plane("active") as fake:
        result = _onboard(ControlPlane(fake.url, SecretStr(TOKEN)), provider)
    assert provider.runs == 3 and fake.hosts_asked() == [HOST.id]
    assert result.status is OnboardingStatus.VERIFIED and result.answer.status == "active"


def test_an_inactive_host_is_never_onboarded() -> None:
    with control_plane("inactive") as fake, pytest.raises(LegError) as caught:
        _onboard(ControlPlane(fake.url, SecretStr(TOKEN)), timeout=0.3)
    assert caught.value.failure is LegFailure.ONBOARDING_TIMEOUT


def test_the_control_plane_is_not_asked_before_the_host_check_passes() -> None:
    with control_plane("active") as fake, pytest.raises(LegError) as caught:
        _onboard(ControlPlane(fake.url, SecretStr(TOKEN)), Provider(passes_from=10**6), 0.2)
    assert caught.value.failure is LegFailure.ONBOARDING_TIMEOUT and fake.asked == []


def result(exit_code: int | None, stdout: str = "", stderr: str = "", **fields) -> CommandResult:
    return CommandResult(
        exit_code=exit_code, stdout=stdout, stderr=stderr, duration_seconds=4.0, **fields
    )


@pytest.mark.parametrize(
    ("ran", "failure"),
    [
        pytest.param(result(0), None, id="exit-0"),
        pytest.param(result(1), LegFailure.INSTALLER_FAILED, id="exit-1"),
        pytest.param(result(-9), LegFailure.INSTALLER_FAILED, id="killed"),
        pytest.param(result(None, timed_out=True), LegFailure.INSTALLER_TIMEOUT, id="timeout"),
    ],
)
def test_judge_installer(ran: CommandResult, failure: LegFailure | None) -> None:
    assert judge_installer(ran) is failure


NVIDIA_SMI = "NVIDIA A10G, 535.104.05\n"


@pytest.mark.parametrize(
    ("gpu", "ran", "failure", "count"),
    [
        pytest.param("none", result(0, "ok"), None, 0, id="cpu-passes"),
        pytest.param("nvidia", result(0, NVIDIA_SMI), None, 1, id="gpu-shown"),
        pytest.param("nvidia", result(0, "ok"), LegFailure.NO_GPU_DETECTED, 0, id="gpu-not-shown"),
        pytest.param(
            "nvidia",
            result(9, "No devices were found"),
            LegFailure.NO_GPU_DETECTED,
            0,
            id="gpu-missing-sign",
        ),
        pytest.param(
            "none",
            result(1, stderr="could not select device driver"),
            LegFailure.RUNTIME_MISSING,
            0,
            id="runtime-missing",
        ),
        pytest.param("none", result(2), LegFailure.SMOKE_JOB_FAILED, 0, id="exit-2"),
        pytest.param(
            "nvidia",
            result(None, NVIDIA_SMI, timed_out=True),
            LegFailure.SMOKE_JOB_TIMEOUT,
            1,
            id="timeout-keeps-gpu-info",
        ),
    ],
)
def test_judge_smoke(gpu: str, ran: CommandResult, failure, count: int) -> None:
    judged, info = judge_smoke(gpu, ran)
    assert judged is failure and info.count == count


@pytest.mark.parametrize(
    ("ran", "starts"),
    [
        pytest.param(result(None, timed_out=True), "the job did not finish", id="timeout"),
        pytest.param(result(-15), "the job was killed by signal 15", id="signal"),
        pytest.param(result(3, "a\nlast line"), "the job exited 3: last line", id="exit"),
    ],
)
def test_describe_names_how_a_script_ended(ran: CommandResult, starts: str) -> None:
    assert describe(ran, "the job").startswith(starts)

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
from tasks.matrix.legs import host_script, onboard
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

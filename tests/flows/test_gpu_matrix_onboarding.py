"""Onboarding in the real flow: verified only by the control plane (a loopback one here)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from blocks.storage import warden_home
from flows.gpu_matrix import gpu_matrix_promotion
from tasks.matrix.errors import LegFailure
from tasks.matrix.evidence import OnboardingStatus, Verdict
from tests.control_plane import ACTIVATED_AT, TOKEN, control_plane
from tests.flows.matrix_files import hosts_left, leg, run, store, write_invariants

AUTH = {
    "user_pool_id": "us-west-2_abcdef123",
    "client_id": "1example23456789",
    "username_secret": "warden-test-unused-username",  # the token comes from RADIX_JWT_TOKEN
    "password_secret": "warden-test-unused-password",
}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADIX_JWT_TOKEN", TOKEN)


def verified_invariants(tmp_path: Path, url: str, **leg_fields) -> Path:
    quick = leg("cpu", **leg_fields)
    quick["timeouts"]["onboarding_seconds"] = 1
    return write_invariants(tmp_path, [quick], auth=AUTH, control_plane={"url": url})


def test_an_active_host_is_verified_and_time_to_active_comes_from_the_answer(
    tmp_path: Path,
) -> None:
    begun = time.time()
    with control_plane("pending-then-active", pending_answers=2) as fake:
        state, pack = run(verified_invariants(tmp_path, fake.url), out=str(tmp_path / "ev"))

    assert state.is_completed(), pack.reasons
    assert (pack.verdict, pack.promoted, pack.onboarding_verified) == (Verdict.PROMOTED, True, True)
    (cpu,) = pack.legs
    assert cpu.onboarding is OnboardingStatus.VERIFIED and cpu.control_plane_status == "active"
    assert cpu.activated_at.isoformat().replace("+00:00", "Z") == ACTIVATED_AT
    assert cpu.time_to_active_seconds is not None and cpu.time_to_active_seconds > 0
    assert fake.hosts_asked() == [cpu.host.id] * 3  # asked about this leg's host, with the token
    assert {authorization for _, authorization in fake.asked} == {f"Bearer {TOKEN}"}
    assert pack.auth_method == "env:RADIX_JWT_TOKEN"
    # Nothing the run wrote holds the token: evidence, state, task and flow results.
    roots = (tmp_path / "ev", warden_home(), Path(str(gpu_matrix_promotion.result_storage)))
    written = [
        path
        for root in roots
        for path in root.rglob("*")
        if path.is_file() and path.stat().st_mtime >= begun - 1
    ]
    assert any(path.is_relative_to(roots[2]) for path in written)  # results were persisted
    assert not [path for path in written if TOKEN.encode() in path.read_bytes()]


@pytest.mark.parametrize(
    ("mode", "failure"),
    [
        ("inactive", LegFailure.ONBOARDING_TIMEOUT),
        ("401", LegFailure.AUTH_FAILED),
        ("garbage", LegFailure.CONTROL_PLANE_INVALID),
    ],
)
def test_a_host_the_control_plane_does_not_call_active_blocks_promotion(
    tmp_path: Path, mode: str, failure: LegFailure
) -> None:
    with control_plane(mode) as fake:
        state, pack = run(verified_invariants(tmp_path, fake.url))

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code, pack.promoted) == (Verdict.NOT_PROMOTED, 1, False)
    (cpu,) = pack.legs
    assert cpu.failure_code is failure and cpu.onboarding is OnboardingStatus.FAILED
    assert cpu.time_to_active_seconds is None and not pack.onboarding_verified
    assert cpu.smoke_status == "not_run" and cpu.terminated
    assert store().read() is None and hosts_left() == []


def test_an_onboarding_check_whose_first_line_fails_does_not_pass(tmp_path: Path) -> None:
    with control_plane("active") as fake:
        _, pack = run(verified_invariants(tmp_path, fake.url, onboarding_check="false\ntrue"))

    assert pack.legs[0].failure_code is LegFailure.ONBOARDING_TIMEOUT
    assert fake.asked == []  # the host check never passed, so the control plane was not asked
    assert pack.verdict is Verdict.NOT_PROMOTED

"""The GPU matrix flow under the Prefect test harness, with the `local` provider's real scripts."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.variables import Variable

from blocks.storage import warden_home
from flows.gpu_matrix import gpu_matrix_janitor
from tasks.matrix.errors import LegFailure
from tasks.matrix.evidence import (
    EvidencePack,
    LegStatus,
    OnboardingStatus,
    Stage,
    StepStatus,
    Verdict,
)
from tasks.matrix.pipeline import LEG_STAGES
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.flows.matrix_files import (
    CANDIDATE,
    OTHER,
    PARAMETER,
    hosts_left,
    leg,
    run,
    store,
    write_invariants,
)
from tests.loopback import host_port, loopback_server


def test_shipped_local_environment_promotes_through_a_cpu_leg(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    state, pack = run(Path("deployments/invariants.yaml"), environment="local", out=str(out))

    assert state.is_completed(), pack.reasons
    assert (pack.verdict, pack.promoted, pack.exit_code) == (Verdict.PROMOTED, True, 0)
    assert pack.approved_digest_before.value is None
    assert pack.approved_digest_after.value == CANDIDATE
    assert pack.approved_digest_after.version == 1
    (cpu,) = pack.legs
    assert cpu.status is LegStatus.PASSED and cpu.terminated
    # `local` has no control plane: onboarding is not verified, and nothing claims it was
    # (time to active is only ever measured to the control plane's "active" answer).
    assert cpu.onboarding is OnboardingStatus.NOT_VERIFIED and not pack.onboarding_verified
    assert cpu.time_to_active_seconds is None and cpu.onboarding_seconds is not None
    assert cpu.host is not None and cpu.host.provider == "local"
    assert [o.stage for o in cpu.stages] == [*LEG_STAGES, Stage.TERMINATE]
    assert all(o.status is StepStatus.PASSED and o.seconds is not None for o in cpu.stages)
    assert hosts_left() == []  # the leg terminated its host
    document = json.loads((out / "evidence.json").read_text())
    assert document["approved_digest_after"]["value"] == CANDIDATE
    assert "Approved after" in (out / "evidence.md").read_text()
    with get_client(sync_client=True) as client:
        keys = ["gpu-matrix-evidence-local", "gpu-matrix-evidence-local-table"]
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
        this_run = FlowRunFilterId(any_=[state.state_details.flow_run_id])
        ran = client.read_task_runs(flow_run_filter=FlowRunFilter(id=this_run))
    assert {a.key for a in found} == set(keys)
    # what the UI shows is greppable: each task run is named after its function
    assert sorted(run.name.rsplit("-", 1)[0] for run in ran) == sorted(
        ["authenticate", "sweep_expired_hosts", "read_approved_digest", "promote_digest"]
        + ["run_leg", "provision_instance", "wait_for_host", "run_installer"]
        + ["await_onboarding", "run_smoke_job", "terminate_instance", "check_work_pools"]
    )


def test_one_failing_leg_blocks_promotion_and_says_why(tmp_path: Path) -> None:
    legs = [leg("cpu-a"), leg("cpu-b", smoke_job="echo 'boom: kernel failed' >&2; exit 3")]
    state, pack = run(write_invariants(tmp_path, legs), out=str(tmp_path / "ev"))

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code, pack.promoted) == (Verdict.NOT_PROMOTED, 1, False)
    by_name = {leg.name: leg for leg in pack.legs}
    assert by_name["cpu-a"].passed
    failed = by_name["cpu-b"]
    assert failed.failure_code is LegFailure.SMOKE_JOB_FAILED
    assert failed.remediation and "boom: kernel failed" in failed.message
    assert failed.terminated
    stages = {o.stage: o.status for o in failed.stages}
    assert (stages[Stage.SMOKE], stages[Stage.GPU_INFO]) == (StepStatus.FAILED, StepStatus.NOT_RUN)
    assert stages[Stage.TERMINATE] is StepStatus.PASSED
    assert store().read() is None  # nothing promoted
    assert pack.approved_digest_after == pack.approved_digest_before
    assert hosts_left() == []


def test_installer_killed_by_a_signal_fails_its_leg(tmp_path: Path) -> None:
    invariants = write_invariants(tmp_path, [leg("cpu")], installer="echo starting; kill -9 $$")
    _, pack = run(invariants)

    (cpu,) = pack.legs
    assert cpu.failure_code is LegFailure.INSTALLER_FAILED
    assert "signal 9" in cpu.message and cpu.installer_exit_code == -9
    assert pack.verdict is Verdict.NOT_PROMOTED


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has an NVIDIA GPU")
def test_a_gpu_leg_on_a_host_without_a_gpu_fails_no_gpu_detected(tmp_path: Path) -> None:
    smoke = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"
    invariants = write_invariants(
        tmp_path, [leg("nvidia", vendor="nvidia", gpu="nvidia", smoke_job=smoke)]
    )
    _, pack = run(invariants)

    (nvidia,) = pack.legs
    assert nvidia.failure_code is LegFailure.NO_GPU_DETECTED
    assert "nvidia-smi" in nvidia.remediation


def test_onboarding_that_never_completes_times_out(tmp_path: Path) -> None:
    slow = leg("cpu", onboarding_check="test -f {{scratch}}/never")
    slow["timeouts"]["onboarding_seconds"] = 1
    _, pack = run(write_invariants(tmp_path, [slow]))

    assert pack.legs[0].failure_code is LegFailure.ONBOARDING_TIMEOUT


def test_refuses_to_promote_when_another_writer_moved_the_approved_digest(tmp_path: Path) -> None:
    # The leg's installer plays the other writer: it promotes OTHER while this run is testing.
    racer = (
        "python3 - <<'EOF'\n"
        f"import sys; sys.path.insert(0, {str(Path.cwd())!r})\n"
        "from pathlib import Path\n"
        "from tasks.matrix.store import LocalDigestStore\n"
        f"store = LocalDigestStore({PARAMETER!r}, Path({str(store().path.parent)!r}))\n"
        f"store.write({OTHER!r}, expected_version=None, writer='racer')\n"
        "EOF\n"
    )
    invariants = write_invariants(tmp_path, [leg("cpu", smoke_job=racer + "echo ok")])
    state, pack = run(invariants)

    assert state.is_failed()
    assert pack.verdict is Verdict.NOT_PROMOTED and not pack.promoted
    assert any("racer" in r or "version" in r for r in pack.reasons), pack.reasons
    assert store().read().value == OTHER  # the other writer's value stands
    assert pack.approved_digest_after.value == OTHER


def test_an_invalid_candidate_changes_nothing(tmp_path: Path) -> None:
    state, pack = run(
        write_invariants(tmp_path, [leg("cpu")]), candidate="registry.local/agent:latest"
    )

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, 2)
    assert "sha256" in " ".join(pack.reasons)
    assert pack.legs == [] and store().read() is None


def test_kill_switch_refuses_before_any_side_effect(tmp_path: Path) -> None:
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        state, pack = run(write_invariants(tmp_path, [leg("cpu")]))
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)
    assert (pack.verdict, pack.exit_code) == (Verdict.REFUSED, 3)
    assert pack.legs == [] and hosts_left() == []


def test_two_runs_against_one_environment_promote_one_after_the_other(tmp_path: Path) -> None:
    slow = leg("cpu", smoke_job="sleep 1.5; echo done")
    invariants = write_invariants(tmp_path, [slow])
    packs: list[EvidencePack] = []

    def one(candidate: str) -> None:
        packs.append(run(invariants, candidate=candidate)[1])

    threads = [threading.Thread(target=one, args=(c,)) for c in (CANDIDATE, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(packs) == 2 and all(p.verdict is Verdict.PROMOTED for p in packs)
    first, second = sorted(packs, key=lambda p: p.legs[0].started_at)
    assert first.legs[0].finished_at <= second.legs[0].started_at  # never interleaved
    assert second.approved_digest_before == first.approved_digest_after
    assert [r.version for r in store().history()] == [2, 1]


def test_janitor_removes_expired_local_hosts_only(tmp_path: Path) -> None:
    from tasks.matrix.janitor import leg_tags
    from tasks.matrix.local_host import LocalHostProvider
    from tasks.platform.clock import utc_now

    invariants = write_invariants(tmp_path, [leg("cpu")])
    provider = LocalHostProvider(warden_home() / "matrix" / "hosts")
    spec = type("Leg", (), {"name": "cpu", "vendor": "cpu", "gpu": "none"})()
    ours = provider.provision(
        spec,
        run_id="dead-run",
        client_token="a" * 32,
        tags=leg_tags(("radix:purpose", "gpu-matrix-test"), "dead-run", "cpu", 4, utc_now()),
    )
    theirs = provider.provision(
        spec, run_id="other", client_token="b" * 32, tags={"radix:purpose": "something-else"}
    )

    assert gpu_matrix_janitor(environment="t", invariants=str(invariants), ttl_hours=4) == []
    terminated = gpu_matrix_janitor(environment="t", invariants=str(invariants), ttl_hours=0)
    assert terminated == [ours.id]
    assert [p.name for p in hosts_left()] == [theirs.id]


@pytest.fixture(scope="module")
def registry():
    from tests.unit.test_matrix_digest import Registry

    with loopback_server(Registry) as server:
        yield host_port(server)


def test_dry_run_checks_the_manifest_and_provisions_nothing(tmp_path: Path, registry: str) -> None:
    from tests.unit.test_matrix_digest import HEX

    invariants = write_invariants(tmp_path, [leg("cpu")], insecure_registries=[registry])
    present = f"{registry}/org/agent@sha256:{HEX}"
    state, pack = run(invariants, candidate=present, dry_run=True)

    assert state.is_completed(), pack.reasons
    assert (pack.verdict, pack.exit_code) == (Verdict.DRY_RUN_PASSED, 0)
    assert pack.manifest is not None and pack.manifest.exists
    assert pack.legs == [] and hosts_left() == [] and store().read() is None

    absent = f"{registry}/org/agent@sha256:{'0' * 64}"
    state, pack = run(invariants, candidate=absent, dry_run=True)
    assert state.is_failed()
    assert (pack.verdict, pack.exit_code) == (Verdict.DRY_RUN_FAILED, 1)
    assert "push" in " ".join(pack.reasons).lower()


AUTH = {
    "user_pool_id": "us-west-2_abcdef123",
    "client_id": "1example23456789",
    "username_secret": "warden-test-missing-username",
    "password_secret": "warden-test-missing-password",
}
CONTROL_PLANE = {"url": "http://127.0.0.1:9"}  # never reached: these runs stop at auth


def test_a_missing_secret_block_is_a_configuration_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RADIX_JWT_TOKEN", raising=False)
    state, pack = run(
        write_invariants(tmp_path, [leg("cpu")], auth=AUTH, control_plane=CONTROL_PLANE)
    )

    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, 2)
    assert "warden-test-missing-username" in " ".join(pack.reasons)
    assert pack.legs == [] and store().read() is None


def test_an_expired_jwt_override_is_refused(tmp_path: Path, monkeypatch) -> None:
    import base64

    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1000}).encode()).decode().rstrip("=")
    monkeypatch.setenv("RADIX_JWT_TOKEN", f"eyJhbGciOiJub25lIn0.{claims}.sig")
    state, pack = run(
        write_invariants(tmp_path, [leg("cpu")], auth=AUTH, control_plane=CONTROL_PLANE)
    )

    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, 2)
    assert "expired" in " ".join(pack.reasons) and claims not in pack.model_dump_json()
    assert pack.legs == []


def test_crash_hook_terminates_this_runs_hosts_and_leaves_evidence(tmp_path: Path) -> None:
    """on_crashed / on_cancellation: what a run killed by Prefect left is cleaned at once."""
    from types import SimpleNamespace

    from flows.gpu_matrix import _clean_up_after
    from tasks.matrix.janitor import leg_tags
    from tasks.matrix.local_host import LocalHostProvider
    from tasks.platform.clock import utc_now

    invariants = write_invariants(tmp_path, [leg("cpu")])
    provider = LocalHostProvider(warden_home() / "matrix" / "hosts")
    spec = SimpleNamespace(name="cpu", vendor="cpu", gpu="none")
    purpose = ("radix:purpose", "gpu-matrix-test")
    ours = provider.provision(
        spec,
        run_id="run-a",
        client_token="c" * 32,
        tags=leg_tags(purpose, "run-a", "cpu", 4, utc_now()),
    )
    other = provider.provision(
        spec,
        run_id="run-b",
        client_token="d" * 32,
        tags=leg_tags(purpose, "run-b", "cpu", 4, utc_now()),
    )
    flow_run = SimpleNamespace(
        id="run-a",
        start_time=utc_now(),
        parameters={
            "environment": "t",
            "invariants": str(invariants),
            "candidate_digest": CANDIDATE,
        },
    )
    _clean_up_after(None, flow_run, SimpleNamespace(name="Crashed", message="worker lost"))

    assert [p.name for p in hosts_left()] == [other.id]
    (evidence,) = (warden_home() / "out" / "matrix" / "t").glob("*/evidence.json")
    pack = EvidencePack.model_validate_json(evidence.read_text())
    assert pack.janitor_terminated == [ours.id] and pack.verdict is Verdict.ERROR
    assert "Crashed" in pack.reasons[0] and "worker lost" in pack.reasons[0]

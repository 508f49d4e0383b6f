"""The safety-plan flow under the Prefect test harness: real checks, strict failure, cache."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.flow_runs import resume_flow_run
from prefect.variables import Variable

from blocks.errors import KillSwitchOn
from blocks.plan_checks import CheckKind
from flows.plan_dispatch import RUNNERS
from flows.safety_plan import safety_plan
from tasks.checkpoints.verify import seal_checkpoint
from tasks.plans.models import PlanReport, TaskStatus, UnitStatus
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.checkpoint_files import write_checkpoint
from tests.conftest import ROOT, py
from tests.flows.pauses import wait_for_paused_run
from tests.flows.plan_files import command_task, failing, git_checkout, touch, write_plan
from tests.flows.results import typed_result


def run(plan: Path, base: Path, **params):
    state = safety_plan(plan=str(plan), base_dir=str(base), return_state=True, **params)
    report = typed_result(state, PlanReport)
    return state, report


def runs_of(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_every_declared_kind_has_a_runner() -> None:
    assert set(RUNNERS) == set(CheckKind)


def test_a_plan_that_passes_completes_with_outputs_artifacts_and_cache(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        [[[command_task("0.1.1", touch("a")), command_task("0.1.2", touch("b"))]]],
        title="Passing plan",
    )
    state, report = run(plan, tmp_path, out=str(tmp_path / "out"))
    assert state.is_completed()
    assert (report.all_verified, report.exit_code, report.stopped_at) == (True, 0, None)
    assert [p.status for p in report.phases] == [UnitStatus.COMPLETE]
    document = json.loads((tmp_path / "out" / "plan_report.json").read_text())
    assert document["all_verified"] is True
    exported = (tmp_path / "out" / "plan_evidence.md").read_text()
    assert "2/2 checks verified" in exported and "| Status |" in exported
    with get_client(sync_client=True) as client:
        keys = ["safety-plan-passing-plan", "safety-plan-passing-plan-table"]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    assert {artifact.key for artifact in artifacts} == set(keys)


def test_the_first_failing_task_stops_the_plan_and_later_tasks_never_run(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        [
            [[command_task("0.1.1", touch("a")), command_task("0.1.2", failing("b"))]],
            [[command_task("1.1.1", touch("c"))]],
        ],
    )
    state, report = run(plan, tmp_path)
    assert state.is_failed()
    assert [t.status for t in report.tasks] == [
        TaskStatus.VERIFIED,
        TaskStatus.FAILED,
        TaskStatus.NOT_RUN,
    ]
    assert (report.stopped_at, report.exit_code) == ("0.1.2", 1)
    assert runs_of(tmp_path / "b") == 1 and not (tmp_path / "c").exists()


def test_a_rerun_resumes_from_the_cache_and_a_changed_check_runs_again(tmp_path: Path) -> None:
    git_checkout(tmp_path)
    marker = tmp_path / "gate-open"
    plan = write_plan(
        tmp_path,
        [
            [[command_task("0.1.1", touch("a"))]],
            [[command_task("1.1.1", py(f"import os; assert os.path.exists({str(marker)!r})"))]],
        ],
    )
    _, first = run(plan, tmp_path)
    assert first.stopped_at == "1.1.1"
    marker.write_text("open")
    state, second = run(plan, tmp_path)
    assert state.is_completed()
    assert runs_of(tmp_path / "a") == 1  # task 0.1.1 verified before: not run again
    assert [t.cached for t in second.tasks] == [True, False]
    text = plan.read_text().replace("'ran", "'ran again")
    plan.write_text(text)  # 0.1.1's check changed: its cached proof no longer counts
    _, third = run(plan, tmp_path)
    assert runs_of(tmp_path / "a") == 2 and [t.cached for t in third.tasks] == [False, True]


def test_outside_a_git_checkout_nothing_cached_is_reused(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [[[command_task("0.1.1", touch("a"))]]])
    run(plan, tmp_path)
    run(plan, tmp_path)
    assert runs_of(tmp_path / "a") == 2


def test_only_rechecks_a_task_despite_its_cached_proof(tmp_path: Path) -> None:
    plan = write_plan(git_checkout(tmp_path), [[[command_task("0.1.1", touch("a"))]]])
    _, first = run(plan, tmp_path)
    assert first.all_verified
    state, report = run(plan, tmp_path, only=["0.1.1"])
    assert state.is_completed() and runs_of(tmp_path / "a") == 2
    assert report.tasks[0].cached is False


def rehearsal_task(rollback: str) -> dict:
    apply = (
        "import shutil; shutil.copy2('conf/app.json', 'conf/app.json.bak'); "
        "open('conf/app.json', 'w').write('{}')"
    )
    return {
        "id": "0.1.1",
        "text": "rehearse the fast rollback",
        "verify": {
            "kind": "rehearsal",
            "paths": ["conf"],
            "apply": py(apply),
            "rollback": py(rollback),
        },
    }


def test_a_rehearsal_proves_the_restore_and_catches_one_that_does_not(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.json").write_text('{"strict": true}')
    good = write_plan(
        tmp_path,
        [[[rehearsal_task("import os; os.replace('conf/app.json.bak', 'conf/app.json')")]]],
    )
    state, report = run(good, tmp_path)
    assert state.is_completed(), report.tasks[0]
    assert (tmp_path / "conf" / "app.json").read_text() == '{"strict": true}'  # scratch copy
    bad = write_plan(tmp_path, [[[rehearsal_task("import os; os.remove('conf/app.json.bak')")]]])
    state, report = run(bad, tmp_path)
    assert state.is_failed()
    assert (report.tasks[0].reason, report.tasks[0].evidence["not_restored"]) == (
        "not_restored",
        ["conf/app.json"],
    )


def test_a_failed_task_with_a_rollback_is_rolled_back_and_the_restore_proven(
    tmp_path: Path,
) -> None:
    rollback = {
        "argv": touch("rolled-back"),
        "check": py("import os; assert os.path.exists('rolled-back')"),
    }
    plan = write_plan(tmp_path, [[[command_task("0.1.1", failing("a"), rollback=rollback)]]])
    _, report = run(plan, tmp_path)
    assert report.tasks[0].status is TaskStatus.FAILED
    assert report.tasks[0].rollback.restored is True


def test_a_manual_task_is_refused_in_a_run_nobody_can_answer(tmp_path: Path) -> None:
    task = {
        "id": "0.1.1",
        "text": "sign",
        "verify": {"kind": "manual", "sign_off": "release manager"},
    }
    plan = write_plan(tmp_path, [[[task]]])
    state, report = run(plan, tmp_path)
    assert state.is_failed() and report.tasks[0].reason == "sign_off_refused"


def test_the_demo_plan_verifies_every_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    state, report = run(ROOT / "deployments" / "plans" / "demo.yaml", ROOT)
    assert state.is_completed(), [(t.task_id, t.reason, t.message) for t in report.tasks]
    kinds = {t.kind for t in report.tasks}
    assert kinds == {"pytest", "command", "rehearsal", "drill", "gate", "checkpoint"}
    assert report.overall_level == "P1"


def test_the_kill_switch_stops_the_plan_before_any_task_runs(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [[[command_task("0.1.1", touch("a"))]]])
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        state = safety_plan(plan=str(plan), base_dir=str(tmp_path), return_state=True)
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), KillSwitchOn)
    assert not (tmp_path / "a").exists()


def test_a_flow_run_check_of_a_deployment_that_never_ran_is_not_verified(tmp_path: Path) -> None:
    task = {
        "id": "0.1.1",
        "text": "the nightly run is green",
        "verify": {"kind": "flow-run", "deployment": "no-such-flow/nightly"},
    }
    state, report = run(write_plan(tmp_path, [[[task]]]), tmp_path)
    assert state.is_failed()
    assert (report.tasks[0].status, report.tasks[0].reason) == (TaskStatus.FAILED, "no_run")


def test_an_interactive_run_pauses_for_a_manual_task_sign_off(tmp_path: Path) -> None:
    task = {"id": "0.1.1", "text": "sign", "verify": {"kind": "manual", "sign_off": "release"}}
    plan = write_plan(tmp_path, [[[task]]])
    outcome: dict = {}

    def start() -> None:
        outcome["result"] = run(plan, tmp_path, interactive=True, sign_off_timeout_sec=60)

    thread = threading.Thread(target=start)
    thread.start()
    resume_flow_run(
        wait_for_paused_run("safety-plan"),
        run_input={"signer": "ops@example.com", "approved": True, "evidence_link": "PR-7"},
    )
    thread.join(timeout=60)
    state, report = outcome["result"]
    assert state.is_completed() and report.tasks[0].verified
    assert report.tasks[0].evidence == {"signer": "ops@example.com", "evidence_link": "PR-7"}


def test_a_checkpoint_task_verifies_a_sealed_checkpoint_and_stops_at_a_torn_one(
    tmp_path: Path,
) -> None:
    for name in ("good", "torn"):
        assert seal_checkpoint(write_checkpoint(tmp_path / name)).sealed
    weights = tmp_path / "torn" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # a torn write: shorter than sealed
    checkpoint = {"kind": "checkpoint"}
    plan = write_plan(
        tmp_path,
        [
            [[{"id": "0.1.1", "text": "good", "verify": {**checkpoint, "path": "good"}}]],
            [[{"id": "1.1.1", "text": "torn", "verify": {**checkpoint, "path": "torn"}}]],
            [[command_task("2.1.1", touch("after"))]],
        ],
    )
    state, report = run(plan, tmp_path)
    assert state.is_failed()
    assert [t.status for t in report.tasks] == [
        TaskStatus.VERIFIED,
        TaskStatus.FAILED,
        TaskStatus.NOT_RUN,
    ]
    assert report.tasks[1].reason == "size_mismatch"
    assert not (tmp_path / "after").exists()

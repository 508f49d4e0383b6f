"""The run record's pure parts: what a run is (RunStart), the leg rule (decide), what the report
reads from the pack, and task run names that are their functions' names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prefect import Task

from tasks.matrix import steps
from tasks.matrix.errors import LegFailure
from tasks.matrix.evidence import Stage, StageOutcome, StepStatus, decide
from tasks.matrix.record import CANDIDATE_ENV, RunStart
from tasks.matrix.report import event_payload, render_markdown, stage_lines
from tests.unit.test_matrix_evidence import CANDIDATE, leg, pack

T0 = datetime(2026, 1, 19, 2, 0, tzinfo=UTC)
FAILED = {
    "status": "failed",
    "failure_code": LegFailure.SMOKE_JOB_FAILED,
    "smoke_status": "failed",
    "time_to_active_seconds": None,
    "message": "the smoke job exited 1",
}


def test_a_run_start_reads_the_candidate_from_the_seeds_variable(monkeypatch) -> None:
    monkeypatch.setenv(CANDIDATE_ENV, CANDIDATE)
    start = RunStart.of(None, T0, "t", "", False)
    assert start.candidate_digest == CANDIDATE
    assert start.run_id.startswith("local-") and start.run_id != "local-"  # no Prefect run id
    assert RunStart.of("run-1", T0, candidate_digest="x@sha256:1").candidate_digest == "x@sha256:1"


def test_the_crash_hook_builds_the_same_start_from_the_runs_parameters(monkeypatch) -> None:
    monkeypatch.delenv(CANDIDATE_ENV, raising=False)
    params = {"environment": "t", "candidate_digest": CANDIDATE, "dry_run": True, "out": "x"}
    from_flow = RunStart.of("run-1", T0, "t", CANDIDATE, True)
    assert RunStart.of("run-1", T0, **params) == from_flow
    assert RunStart.of("run-1", T0).environment == "local"  # the flow's default


@pytest.mark.parametrize(
    ("legs", "passed", "reasons"),
    [
        pytest.param([], False, 1, id="no-leg"),
        pytest.param([leg()], True, 0, id="one-passed"),
        pytest.param([leg(), leg(name="amd", **FAILED)], False, 1, id="one-failed"),
        pytest.param([leg(**FAILED), leg(name="amd", **FAILED)], False, 2, id="both-failed"),
    ],
)
def test_decide_promotes_only_when_every_leg_of_at_least_one_passed(legs, passed, reasons) -> None:
    verdict, why = decide(legs)
    assert (verdict, len(why)) == (passed, reasons)


def test_decide_names_each_failed_legs_code() -> None:
    _, why = decide([leg(name="amd", **FAILED)])
    assert why == ["leg amd: SMOKE_JOB_FAILED — the smoke job exited 1"]


def test_the_verdict_event_says_what_the_pack_says() -> None:
    payload = event_payload(pack())
    assert payload == {
        "verdict": "promoted",
        "candidate": CANDIDATE,
        "promoted": True,
        "onboarding_verified": True,
        "failure_codes": [],
    }


def test_each_legs_stages_are_in_the_report() -> None:
    outcomes = [
        StageOutcome(stage=Stage.PROVISION, status=StepStatus.PASSED, seconds=2.0),
        StageOutcome(stage=Stage.READY, status=StepStatus.NOT_RUN),
    ]
    with_stages = pack(legs=[leg(stages=outcomes)])
    assert stage_lines(with_stages) == ["- **cpu**: provision ✓ 2.0 s · ready –"]
    assert "## Stages" in render_markdown(with_stages)
    assert stage_lines(pack()) == [] and "## Stages" not in render_markdown(pack())


def test_every_task_run_name_is_its_functions_name() -> None:
    tasks = [value for value in vars(steps).values() if isinstance(value, Task)]
    assert len(tasks) >= 11
    assert [t.name for t in tasks] == [t.fn.__name__ for t in tasks]

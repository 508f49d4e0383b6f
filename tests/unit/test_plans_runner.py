"""Strict failure order, the verified-task cache, claims vs evidence and residual risk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from blocks.plans import PlanFile, Severity
from tasks.plans.cache import VerifiedCache, cache_key, check_hash, plan_hash
from tasks.plans.models import TaskOutcome, TaskResult, TaskStatus, UnitStatus
from tasks.plans.report import assemble_report, task_result
from tasks.plans.risk import assess
from tasks.plans.runner import execute, selected_ids
from tasks.plans.verdicts import status_line, unit_verdict

WHEN = datetime(2026, 11, 29, 12, tzinfo=UTC)


def make_plan(claim: str | None = None, **risk) -> PlanFile:
    def t(task_id: str, **extra) -> dict:
        verify = {"kind": "command", "argv": ["echo", task_id]}
        return {"id": task_id, "text": task_id, "verify": verify, **extra}

    return PlanFile.model_validate(
        {
            "title": "P",
            "phases": [
                {
                    "id": "0",
                    "title": "zero",
                    "steps": [
                        {
                            "id": "0.1",
                            "title": "a",
                            "status": claim,
                            "tasks": [t("0.1.1"), t("0.1.2")],
                        }
                    ],
                },
                {
                    "id": "1",
                    "title": "one",
                    "steps": [
                        {"id": "1.1", "title": "b", "tasks": [t("1.1.1", subsystem="K")]},
                        {"id": "1.2", "title": "c", "status": "Complete (2024-02-01). yes"},
                    ],
                },
            ],
            "residual_risk": {"subsystems": [{"name": "K", "claimed": "P1"}], **risk},
        }
    )


class Runs:
    """A fake ``run``: the ids in ``failing`` fail; every call is recorded."""

    def __init__(self, plan: PlanFile, failing: set[str] = frozenset()) -> None:
        self.plan, self.failing, self.calls = plan, failing, []

    def __call__(self, phase, step, task) -> TaskResult:
        self.calls.append(task.id)
        ok = task.id not in self.failing
        outcome = TaskOutcome(ok=ok, reason="" if ok else "exit_code")
        return task_result(phase, step, task, outcome, duration_sec=0.1, finished=WHEN)


def statuses(results: list[TaskResult]) -> dict[str, TaskStatus]:
    return {r.task_id: r.status for r in results}


def test_the_first_failure_stops_the_plan_and_nothing_after_it_runs() -> None:
    plan = make_plan()
    runs = Runs(plan, failing={"0.1.2"})
    results = execute(plan, run=runs, cached=lambda task: None)
    assert runs.calls == ["0.1.1", "0.1.2"]
    assert statuses(results) == {
        "0.1.1": TaskStatus.VERIFIED,
        "0.1.2": TaskStatus.FAILED,
        "1.1.1": TaskStatus.NOT_RUN,
    }


def test_cached_proof_stands_in_and_the_run_starts_at_the_first_unverified_task() -> None:
    plan = make_plan()
    first = execute(plan, run=Runs(plan), cached=lambda task: None)
    proofs = {r.task_id: r for r in first[:2]}
    runs = Runs(plan)
    again = execute(plan, run=runs, cached=lambda task: proofs.get(task.id))
    assert runs.calls == ["1.1.1"]
    assert all(r.verified for r in again)


@pytest.mark.parametrize(
    ("from_id", "only", "expected"),
    [
        (None, None, None),
        ("0.1.2", None, {"0.1.2", "1.1.1"}),
        ("1", None, {"1.1.1"}),
        (None, ["0.1"], {"0.1.1", "0.1.2"}),
        (None, ["0.1.1", "1.1.1"], {"0.1.1", "1.1.1"}),
    ],
)
def test_selection(from_id, only, expected) -> None:
    assert selected_ids(make_plan(), from_id, only) == expected


def test_a_forced_task_after_an_unverified_phase_is_blocked() -> None:
    plan = make_plan()
    runs = Runs(plan)
    results = execute(plan, run=runs, cached=lambda task: None, selection={"1.1.1"})
    assert runs.calls == []
    assert statuses(results) == {
        "0.1.1": TaskStatus.NOT_RUN,
        "0.1.2": TaskStatus.NOT_RUN,
        "1.1.1": TaskStatus.BLOCKED,
    }


def test_a_forced_task_ignores_its_cached_proof() -> None:
    plan = make_plan()
    proofs = {r.task_id: r for r in execute(plan, run=Runs(plan), cached=lambda task: None)}
    runs = Runs(plan, failing={"0.1.1"})
    results = execute(plan, run=runs, cached=lambda t: proofs[t.id], selection={"0.1.1"})
    assert runs.calls == ["0.1.1"]
    assert statuses(results)["0.1.1"] is TaskStatus.FAILED


def test_cache_keys_change_with_the_check_and_the_inputs_only() -> None:
    plan = make_plan()
    task = plan.tasks()[0][2]
    changed = task.model_copy(update={"verify": task.verify.model_copy(update={"argv": ["x"]})})
    digest = plan_hash(plan)
    assert check_hash(task) != check_hash(changed)
    assert cache_key(digest, task, {"git": "a"}) != cache_key(digest, changed, {"git": "a"})
    assert cache_key(digest, task, {"git": "a"}) != cache_key(digest, task, {"git": "b"})
    assert cache_key(digest, task, {"git": "a"}) == cache_key(digest, task, {"git": "a"})
    renamed = plan.model_copy(update={"title": "Q"})
    assert plan_hash(renamed) != digest


def test_the_cache_stores_only_verified_results_and_survives_a_restart(tmp_path: Path) -> None:
    plan = make_plan()
    results = execute(plan, run=Runs(plan, failing={"0.1.2"}), cached=lambda task: None)
    path = tmp_path / "cache.json"
    cache = VerifiedCache(path, plan, {"git": "a"})
    tasks = {t.id: t for _, _, t in plan.tasks()}
    for result in results:
        cache.put(tasks[result.task_id], result)
    reopened = VerifiedCache(path, plan, {"git": "a"})
    assert reopened.get(tasks["0.1.1"]).cached is True
    assert reopened.get(tasks["0.1.2"]) is None
    assert VerifiedCache(path, plan, {"git": "b"}).get(tasks["0.1.1"]) is None


def test_a_changed_check_invalidates_its_own_cache_entry(tmp_path: Path) -> None:
    plan = make_plan()
    cache = VerifiedCache(tmp_path / "cache.json", plan, {})
    results = execute(plan, run=Runs(plan), cached=lambda task: None)
    tasks = {t.id: t for _, _, t in plan.tasks()}
    for result in results:
        cache.put(tasks[result.task_id], result)
    edited = tasks["0.1.1"].model_copy(
        update={"verify": tasks["0.1.1"].verify.model_copy(update={"argv": ["false"]})}
    )
    assert cache.get(edited) is None
    assert cache.get(tasks["0.1.2"]) is not None


def test_an_unreadable_cache_is_no_proof(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text("{not json")
    plan = make_plan()
    assert VerifiedCache(path, plan, {}).get(plan.tasks()[0][2]) is None


CLAIMS = [
    # claimed, task statuses, expected status
    ("Complete (2024-02-01).", [], UnitStatus.CLAIM_UNVERIFIED),
    ("Complete (2024-02-01).", [True, False], UnitStatus.CLAIM_UNVERIFIED),
    ("Complete (2024-02-01).", [True, None], UnitStatus.CLAIM_UNVERIFIED),
    ("Complete (2024-02-01).", [True, True], UnitStatus.COMPLETE),
    ("In progress.", [True, False], UnitStatus.FAILED),
    (None, [True, None], UnitStatus.INCOMPLETE),
    (None, [], UnitStatus.NO_CHECKS),
    (None, [True], UnitStatus.COMPLETE),
]


@pytest.mark.parametrize(("claimed", "oks", "expected"), CLAIMS)
def test_claims_against_evidence(claimed, oks, expected) -> None:
    results = [
        TaskResult(
            task_id=f"0.1.{i}",
            step_id="0.1",
            phase_id="0",
            kind="command",
            check="c",
            status={True: TaskStatus.VERIFIED, False: TaskStatus.FAILED, None: TaskStatus.NOT_RUN}[
                ok
            ],
            verified_at=WHEN if ok else None,
        )
        for i, ok in enumerate(oks, start=1)
    ]
    assert unit_verdict("0.1", "s", claimed, results).status is expected


def test_status_lines_say_what_was_proven_and_when() -> None:
    plan = make_plan(claim="Complete (2024-02-01). all done")
    results = execute(plan, run=Runs(plan, failing={"0.1.2"}), cached=lambda task: None)
    report = assemble_report(
        plan, results, plan_file="p.yaml", started=WHEN, finished=WHEN, inputs={}
    )
    steps = {s.id: s for s in report.steps}
    assert status_line(steps["0.1"], results).startswith("CLAIM_UNVERIFIED (claimed: Complete")
    assert report.claims_unverified == ["0.1", "1.2"]
    assert (report.all_verified, report.exit_code, report.stopped_at) == (False, 1, "0.1.2")
    ok = execute(plan, run=Runs(plan), cached=lambda task: None)
    verdict = unit_verdict("0.1", "a", None, [r for r in ok if r.step_id == "0.1"])
    assert status_line(verdict, ok) == "Complete (2026-11-29), 2/2 checks verified"


def test_a_plan_is_all_verified_only_without_empty_claimed_steps() -> None:
    plan = make_plan()
    results = execute(plan, run=Runs(plan), cached=lambda task: None)
    report = assemble_report(plan, results, plan_file="p", started=WHEN, finished=WHEN, inputs={})
    assert all(r.verified for r in results)
    assert report.claims_unverified == ["1.2"]  # step 1.2 claims Complete with no checks
    assert (report.all_verified, report.exit_code) == (False, 1)


RISK_CASES = [
    # failing tasks, severity of 1.1.1, expected level of K, expected overall
    (set(), "safety-critical", "P1", "P1"),
    ({"1.1.1"}, "safety-critical", "P0", "P0"),
    ({"1.1.1"}, "standard", "P2", "P1"),
]


@pytest.mark.parametrize(("failing", "severity", "level", "overall"), RISK_CASES)
def test_residual_risk_rules(failing, severity, level, overall) -> None:
    plan = make_plan(unverified="P2")
    task = plan.phases[1].steps[0].tasks[0].model_copy(update={"severity": Severity(severity)})
    step = plan.phases[1].steps[0].model_copy(update={"tasks": [task]})
    phase = plan.phases[1].model_copy(update={"steps": [step, plan.phases[1].steps[1]]})
    plan = plan.model_copy(update={"phases": [plan.phases[0], phase]})
    results = [
        TaskResult(
            task_id=t.id,
            step_id=s.id,
            phase_id=p.id,
            kind="command",
            check="c",
            status=TaskStatus.FAILED if t.id in failing else TaskStatus.VERIFIED,
        )
        for p, s, t in plan.tasks()
    ]
    risks, worst = assess(plan, results)
    by_name = {risk.name: risk for risk in risks}
    assert by_name["K"].level == level
    assert by_name["unassigned"].level == "P1"  # its tasks all verified: the target
    assert worst == overall


def test_a_subsystem_no_task_proves_stays_at_the_start_level() -> None:
    plan = make_plan().model_copy(deep=True)
    plan = PlanFile.model_validate(
        {
            **plan.model_dump(),
            "residual_risk": {"subsystems": [{"name": "K"}, {"name": "Idle"}]},
        }
    )
    results = execute(plan, run=Runs(plan), cached=lambda task: None)
    risks, overall = assess(plan, results)
    assert {r.name: r.level for r in risks}["Idle"] == "P0" and overall == "P0"


def test_a_phase_after_a_step_without_checks_never_starts() -> None:
    plan = make_plan()
    extra = plan.phases[1].model_copy(update={"id": "2", "title": "two", "steps": []})
    step = plan.phases[1].steps[0].model_copy(update={"id": "2.1"})
    task = step.tasks[0].model_copy(update={"id": "2.1.1"})
    extra = extra.model_copy(update={"steps": [step.model_copy(update={"tasks": [task]})]})
    plan = plan.model_copy(update={"phases": [*plan.phases, extra]})
    runs = Runs(plan)
    results = execute(plan, run=runs, cached=lambda task: None)
    assert runs.calls == ["0.1.1", "0.1.2", "1.1.1"]  # phase 1's step 1.2 has no checks
    assert statuses(results)["2.1.1"] is TaskStatus.BLOCKED

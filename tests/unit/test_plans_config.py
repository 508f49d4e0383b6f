"""A plan is validated whole before anything runs: each named invalid input gets its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from blocks.errors import ExitCode
from blocks.plans import PlanInvalid, PlanProblemCode, check_selection, load_plan
from tests.conftest import ROOT

OK_CHECK = {"kind": "command", "argv": ["true"]}


def task(task_id: str, **fields) -> dict:
    return {"id": task_id, "text": f"task {task_id}", "verify": OK_CHECK, **fields}


def plan_doc(*phases: dict, **top) -> dict:
    return {"version": 1, "title": "T", "phases": list(phases), **top}


def phase(phase_id: str, *steps: dict) -> dict:
    return {"id": phase_id, "title": f"phase {phase_id}", "steps": list(steps)}


def step(step_id: str, *tasks: dict) -> dict:
    return {"id": step_id, "title": f"step {step_id}", "tasks": list(tasks)}


GOOD = plan_doc(phase("0", step("0.1", task("0.1.1"))))
RISK = {"subsystems": [{"name": "Kasmina"}]}

INVALID = {
    "duplicate-task-id": (
        plan_doc(phase("0", step("0.1", task("0.1.1"), task("0.1.1")))),
        PlanProblemCode.DUPLICATE_ID,
    ),
    "task-under-the-wrong-step": (
        plan_doc(phase("0", step("0.1", task("0.2.1")))),
        PlanProblemCode.ID_OUTSIDE_PARENT,
    ),
    "step-under-the-wrong-phase": (
        plan_doc(phase("0", step("1.1", task("1.1.1")))),
        PlanProblemCode.ID_OUTSIDE_PARENT,
    ),
    "phase-without-steps": (
        plan_doc(phase("0", step("0.1", task("0.1.1"))), phase("1")),
        PlanProblemCode.PHASE_WITHOUT_STEPS,
    ),
    "no-phases": (plan_doc(), PlanProblemCode.NO_PHASES),
    "task-without-verify": (
        plan_doc(phase("0", step("0.1", {"id": "0.1.1", "text": "x"}))),
        PlanProblemCode.TASK_WITHOUT_CHECK,
    ),
    "manual-without-sign-off": (
        plan_doc(phase("0", step("0.1", task("0.1.1", verify={"kind": "manual"})))),
        PlanProblemCode.SCHEMA,
    ),
    "checkpoint-without-path": (
        plan_doc(phase("0", step("0.1", task("0.1.1", verify={"kind": "checkpoint"})))),
        PlanProblemCode.SCHEMA,
    ),
    "unknown-kind": (
        plan_doc(phase("0", step("0.1", task("0.1.1", verify={"kind": "vibes"})))),
        PlanProblemCode.SCHEMA,
    ),
    "argv-as-a-shell-string": (
        plan_doc(phase("0", step("0.1", task("0.1.1", verify={"kind": "command", "argv": "ls"})))),
        PlanProblemCode.SCHEMA,
    ),
    "unknown-subsystem": (
        plan_doc(phase("0", step("0.1", task("0.1.1", subsystem="Tamiyo"))), residual_risk=RISK),
        PlanProblemCode.UNKNOWN_SUBSYSTEM,
    ),
    "unknown-gate": (
        plan_doc(phase("0", step("0.1", task("0.1.1", verify={"kind": "gate", "gate": "nope"})))),
        PlanProblemCode.UNKNOWN_GATE,
    ),
    "rehearsal-path-outside-the-base": (
        plan_doc(
            phase(
                "0",
                step(
                    "0.1",
                    task(
                        "0.1.1",
                        verify={
                            "kind": "rehearsal",
                            "paths": ["../etc"],
                            "apply": ["true"],
                            "rollback": ["true"],
                        },
                    ),
                ),
            )
        ),
        PlanProblemCode.SCHEMA,
    ),
    "drill-kill-after-the-end": (
        plan_doc(
            phase(
                "0",
                step("0.1", task("0.1.1", verify={"kind": "drill", "events": 5, "kill_after": 5})),
            )
        ),
        PlanProblemCode.SCHEMA,
    ),
    "pytest-node-id-that-is-no-path": (
        plan_doc(
            phase("0", step("0.1", task("0.1.1", verify={"kind": "pytest", "node_ids": ["x"]})))
        ),
        PlanProblemCode.SCHEMA,
    ),
    "unknown-field": (
        plan_doc(phase("0", step("0.1", task("0.1.1", colour="red")))),
        PlanProblemCode.SCHEMA,
    ),
}


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_good_plan_and_the_demo_plan_load(tmp_path: Path) -> None:
    assert [t.id for _, _, t in load_plan(write(tmp_path, GOOD)).tasks()] == ["0.1.1"]
    demo = load_plan(ROOT / "deployments" / "plans" / "demo.yaml")
    kinds = {t.verify.kind for _, _, t in demo.tasks()}
    assert kinds == {"pytest", "command", "rehearsal", "drill", "gate", "checkpoint"}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_invalid_plan_is_refused_with_its_code_and_line(case: str, tmp_path: Path) -> None:
    document, code = INVALID[case]
    path = write(tmp_path, document)
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    assert code in caught.value.codes
    assert caught.value.code == ExitCode.USAGE_ERROR
    if code is not PlanProblemCode.NO_PHASES:
        assert all(re.match(rf"{re.escape(str(path))}:\d+: ", p) for p in caught.value.problems)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = plan_doc(
        phase("0", step("0.1", task("0.1.1"), {"id": "0.1.2", "text": "x"})), phase("1")
    )
    with pytest.raises(PlanInvalid) as caught:
        load_plan(write(tmp_path, document))
    assert set(caught.value.codes) == {
        PlanProblemCode.TASK_WITHOUT_CHECK,
        PlanProblemCode.PHASE_WITHOUT_STEPS,
    }


def test_a_plan_without_checks_loads_for_export_but_not_to_run(tmp_path: Path) -> None:
    path = write(tmp_path, plan_doc(phase("0", step("0.1", {"id": "0.1.1", "text": "x"}))))
    assert load_plan(path, runnable=False).tasks()[0][2].verify is None
    with pytest.raises(PlanInvalid):
        load_plan(path)


def test_selection_ids_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    plan = load_plan(path)
    check_selection(plan, path, ["0", "0.1", "0.1.1"])
    with pytest.raises(PlanInvalid) as caught:
        check_selection(plan, path, ["0.1", "9.9"])
    assert caught.value.codes == [PlanProblemCode.UNKNOWN_ID]


def test_the_invalid_message_names_the_fix(tmp_path: Path) -> None:
    document, _ = INVALID["task-without-verify"]
    with pytest.raises(PlanInvalid) as caught:
        load_plan(write(tmp_path, document))
    assert "verify: {kind: manual, sign_off: <who>}" in caught.value.problems[0]


def test_config_validate_checks_plans_too(tmp_path: Path) -> None:
    from tasks.platform.configs import validate_configs

    def no_prefect_yaml(path, data):
        return []

    files, problems = validate_configs(
        [ROOT / "deployments" / "plans"], prefect_yaml=no_prefect_yaml
    )
    assert ROOT / "deployments" / "plans" / "demo.yaml" in files and problems == []
    document, _ = INVALID["phase-without-steps"]
    _, problems = validate_configs([write(tmp_path, document)], prefect_yaml=no_prefect_yaml)
    assert len(problems) == 1 and "PHASE_WITHOUT_STEPS" in problems[0]


def test_the_readme_task_example_is_valid() -> None:
    from blocks.plans import PlanTask

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"\*\*A task\*\*.*?```yaml\n(.*?)```", readme, re.S)
    assert example, "README lost its plan task example"
    (task,) = yaml.safe_load(example.group(1))
    assert PlanTask.model_validate(task).verify.kind == "drill"

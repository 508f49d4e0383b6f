"""The seed's markdown plan (WP0) imports into a plan and exports back with its structure."""

from __future__ import annotations

import re

import pytest

from blocks.plans import PlanFile, Severity
from tasks.plans.markdown_export import Evidence, export_markdown
from tasks.plans.markdown_import import import_plan, parse_plan_markdown, plan_yaml
from tests.conftest import ROOT

SEED = (ROOT / "deployments" / "plans" / "wp0_safety.md").read_text(encoding="utf-8")
STRUCTURE = re.compile(r"^(#+ .*|\*\*Step .*\*\*|- Task .*|.*\*\*Status:\*\*.*)$", re.M)


@pytest.fixture(scope="module")
def plan() -> PlanFile:
    return import_plan(SEED)


def _structure(text: str) -> list[str]:
    return [line.removeprefix("- ") for line in STRUCTURE.findall(text)]


def test_the_seed_round_trips(plan: PlanFile) -> None:
    exported = export_markdown(plan)
    assert import_plan(exported) == plan
    assert _structure(exported) == _structure(SEED)


def test_every_id_title_and_claim_is_kept(plan: PlanFile) -> None:
    assert plan.title == "WP0 Execution Plan – Safety & Strict Failure Enforcement"
    assert len(plan.objectives) == 3
    assert [phase.id for phase in plan.phases] == ["0", "1", "2", "3", "4"]
    assert sum(len(phase.steps) for phase in plan.phases) == 19
    assert len(plan.tasks()) == 37
    phase0 = plan.phases[0]
    assert (phase0.title, phase0.label) == ("Risk Reduction & Safeguards", "P0 Risk Mitigation")
    assert phase0.goal == "Stabilise verification signals before code changes"
    assert phase0.status.startswith("Complete (2024-02-01).")
    steps = {step.id: step for phase in plan.phases for step in phase.steps}
    assert steps["1.2"].status.startswith("Complete (2024-02-01)") and not steps["1.2"].tasks
    assert len(steps["1.2"].notes) == 3  # the step's bullets are kept as notes
    assert steps["2.1"].status.startswith("Complete (2024-02-01)")  # written as a bullet
    assert steps["3.1"].status is None
    assert steps["2.3"].tasks[2].id == "2.3.3"


def test_residual_risk_section_and_subsystems(plan: PlanFile) -> None:
    risk = plan.residual_risk
    assert [s.name for s in risk.subsystems] == ["Kasmina", "Tamiyo", "Tolaria"]
    assert {s.claimed for s in risk.subsystems} == {"P1"}
    assert (risk.unverified_critical, risk.target, risk.claimed_overall) == ("P0", "P1", "P1")
    subsystems = {task.id: task.subsystem for _, _, task in plan.tasks()}
    assert (subsystems["1.1.1"], subsystems["2.2.1"], subsystems["3.2.1"]) == (
        "Kasmina",
        "Tamiyo",
        "Tolaria",
    )
    assert subsystems["0.1.1"] is None and subsystems["4.1.1"] is None  # cross-subsystem phases
    assert {task.severity for _, _, task in plan.tasks()} == {Severity.SAFETY_CRITICAL}


def test_the_yaml_plan_keeps_what_the_markdown_said(plan: PlanFile) -> None:
    import yaml

    assert PlanFile.model_validate(yaml.safe_load(plan_yaml(plan))) == plan


def test_evidence_replaces_status_lines_and_adds_the_status_column(plan: PlanFile) -> None:
    evidence = Evidence(
        status_lines={"0": "Complete (2026-11-29), 6/6 checks verified"},
        overview_status={"0": "Complete (2026-11-29), 6/6 checks verified"},
        risk_lines=["**Overall residual risk (evidence)**: P0 (Critical)"],
    )
    text = export_markdown(plan, evidence)
    assert "| Phase | Goal | Key Outcomes | Status |" in text
    assert "**Status:** Complete (2026-11-29), 6/6 checks verified" in text
    assert "Complete (2024-02-01)" not in text  # claims are not repeated as statuses
    assert text.rstrip().endswith("P0 (Critical)")


def test_text_that_is_no_plan_has_no_phases() -> None:
    assert parse_plan_markdown("# Notes\n\nnothing here\n")["phases"] == []

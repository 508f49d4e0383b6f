"""Write a plan back as the team's markdown; with evidence, its status lines become true.

Without evidence every ``**Status:**`` line is the claim as imported, so import then export
reproduces the document's structure. With an :class:`Evidence` (from a run's report), each
phase and step gets its regenerated status line ("Complete (2026-11-29), 6/6 checks
verified"), the overview table gains a Status column, and the residual-risk section ends with
the levels the evidence supports.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from blocks.plans import PlanFile, PlanPhase, PlanStep
from tasks.platform.markdown import md_cell


class Evidence(BaseModel):
    """What a run proved, keyed by phase/step id: status lines, overview cells, risk lines."""

    model_config = ConfigDict(frozen=True)

    status_lines: dict[str, str] = Field(default_factory=dict)
    overview_status: dict[str, str] = Field(default_factory=dict)
    risk_lines: list[str] = Field(default_factory=list)


def export_markdown(plan: PlanFile, evidence: Evidence | None = None) -> str:
    lines = [f"# {plan.title}", ""]
    if plan.objectives:
        lines += ["Objectives:", *(f"- {objective}" for objective in plan.objectives), ""]
    lines += _overview(plan, evidence)
    for phase in plan.phases:
        lines += _phase(phase, evidence)
    lines += _risk(plan, evidence)
    return "\n".join(lines).rstrip("\n") + "\n"


def _overview(plan: PlanFile, evidence: Evidence | None) -> list[str]:
    columns = ["Phase", "Goal", "Key Outcomes"] + (["Status"] if evidence else [])
    lines = ["## Phase Overview", "", _row(columns), _row(["-------"] * len(columns))]
    for phase in plan.phases:
        cells = [f"**Phase {phase.id} – {phase.title}**", phase.goal, phase.outcomes]
        if evidence:
            cells.append(evidence.overview_status.get(phase.id, "not run"))
        lines.append(_row([md_cell(cell) for cell in cells]))
    return [*lines, ""]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _status(item: PlanPhase | PlanStep, evidence: Evidence | None) -> list[str]:
    text = evidence.status_lines.get(item.id) if evidence else item.status
    return [f"**Status:** {text}"] if text else []


def _phase(phase: PlanPhase, evidence: Evidence | None) -> list[str]:
    label = f" ({phase.label})" if phase.label else ""
    lines = [f"## Phase {phase.id} – {phase.title}{label}", ""]
    head = _status(phase, evidence) + phase.notes
    lines += [*head, ""] if head else []
    for step in phase.steps:
        lines.append(f"**Step {step.id} – {step.title}**")
        lines += _status(step, evidence) + step.notes
        lines += [f"- Task {task.id}: {task.text}" for task in step.tasks]
        lines.append("")
    return lines


def _risk(plan: PlanFile, evidence: Evidence | None) -> list[str]:
    risk = plan.residual_risk
    if not (risk.intro or risk.subsystems or risk.overall or evidence):
        return []
    lines = ["## Residual Risk Assessment", ""]
    if risk.intro:
        lines += [risk.intro, ""]
    if risk.subsystems:
        lines += [f"- **{item.name}**: {item.text}" for item in risk.subsystems] + [""]
    if risk.overall:
        lines += [f"**Overall residual risk**: {risk.overall}", ""]
    if evidence and evidence.risk_lines:
        lines += evidence.risk_lines + [""]
    return lines

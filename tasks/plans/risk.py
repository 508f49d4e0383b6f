"""Residual risk per subsystem from evidence, by the plan's declared rules.

An unverified safety-critical task keeps its subsystem at ``unverified_critical`` (P0 in the
seed); any other unverified task at ``unverified``; a subsystem whose tasks all verified
drops to the plan's ``target``. A declared subsystem no task proves anything about stays at
``unverified_critical``: no evidence, no reduction. Tasks with no subsystem are assessed
together as ``unassigned``. The overall level is the worst subsystem's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from blocks.plans import PlanFile, Severity
from tasks.plans.models import SubsystemRisk, TaskResult

UNASSIGNED = "unassigned"
LEVEL_WORDS = {"P0": "Critical", "P1": "High", "P2": "Medium", "P3": "Low"}


def assess(plan: PlanFile, results: Sequence[TaskResult]) -> tuple[list[SubsystemRisk], str]:
    rules = plan.residual_risk
    by_id = {r.task_id: r for r in results}
    groups: dict[str, list[tuple[str, bool]]] = {s.name: [] for s in rules.subsystems}
    claims = {s.name: s.claimed for s in rules.subsystems}
    for _, _, task in plan.tasks():
        critical = task.severity == Severity.SAFETY_CRITICAL
        groups.setdefault(task.subsystem or UNASSIGNED, []).append((task.id, critical))
    risks = []
    for name, tasks in groups.items():
        unverified = [tid for tid, _ in tasks if not (tid in by_id and by_id[tid].verified)]
        critical = [tid for tid, crit in tasks if crit and tid in unverified]
        if not tasks or critical:
            level = rules.unverified_critical
        elif unverified:
            level = rules.unverified
        else:
            level = rules.target
        risks.append(
            SubsystemRisk(
                name=name,
                level=level,
                claimed=claims.get(name),
                tasks=len(tasks),
                unverified=unverified,
                unverified_critical=critical,
            )
        )
    overall = min((risk.level for risk in risks), default=rules.unverified_critical)
    return risks, overall


def level_text(level: str) -> str:
    return f"{level} ({LEVEL_WORDS.get(level, level)})"


def risk_lines(risks: Sequence[SubsystemRisk], overall: str, when: datetime) -> list[str]:
    """The seed's wording, from evidence: one bullet per subsystem, then the overall level."""
    day = when.date().isoformat()
    lines = [f"Residual risk from evidence ({day}):", ""]
    for risk in risks:
        claim = f" (claimed {risk.claimed})" if risk.claimed and risk.claimed != risk.level else ""
        lines.append(f"- **{risk.name}**: Risk level ≈ {risk.level}{claim}. {_why(risk)}")
    lines += ["", f"**Overall residual risk (evidence)**: {level_text(overall)}"]
    return lines


def _why(risk: SubsystemRisk) -> str:
    if risk.unverified_critical:
        return "Safety-critical tasks unverified: " + ", ".join(risk.unverified_critical) + "."
    if risk.unverified:
        return "Tasks unverified: " + ", ".join(risk.unverified) + "."
    return "Every task verified." if risk.tasks else "No task proves anything about it."

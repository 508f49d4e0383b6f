"""What a plan run shows: the seed's overview table with evidence, per-task rows, the files.

Every output reads the :class:`PlanReport`; nothing is recomputed a second way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blocks.plans import PlanFile
from tasks.plans.markdown_export import Evidence, export_markdown
from tasks.plans.models import PlanReport, TaskResult, TaskStatus, UnitStatus, UnitVerdict
from tasks.plans.risk import risk_lines
from tasks.plans.verdicts import status_line
from tasks.platform.clock import iso_utc
from tasks.platform.files import write_atomic
from tasks.platform.markdown import md_cell

SYMBOLS = {
    TaskStatus.VERIFIED: "✅",
    TaskStatus.FAILED: "❌",
    TaskStatus.BLOCKED: "⛔",
    TaskStatus.NOT_RUN: "⏸",
}
REPORT_FILE = "plan_report.json"
SUMMARY_FILE = "plan_status.md"
EXPORT_FILE = "plan_evidence.md"


def evidence_of(report: PlanReport) -> Evidence:
    """The status lines, overview cells and risk lines ``export_markdown`` writes back."""
    units = [*report.phases, *report.steps]
    lines = {unit.id: status_line(unit, report.tasks) for unit in units}
    return Evidence(
        status_lines=lines,
        overview_status={phase.id: lines[phase.id] for phase in report.phases},
        risk_lines=risk_lines(report.risks, report.overall_level, report.finished),
    )


def summary_markdown(plan: PlanFile, report: PlanReport) -> str:
    """The run's summary: verdict, the overview table with Status, tasks, residual risk."""
    verdict = "all verified" if report.all_verified else "NOT verified"
    head = [
        f"# {report.title}: {verdict}",
        "",
        f"Plan `{report.plan_file}`, inputs {_inputs(report)}; "
        f"overall residual risk {report.overall_text}.",
    ]
    if report.stopped_at:
        head.append(f"Stopped at task {report.stopped_at} (strict failure: later tasks not run).")
    if report.claims_unverified:
        head.append("CLAIM_UNVERIFIED: " + ", ".join(report.claims_unverified))
    overview = ["", "| Phase | Goal | Key Outcomes | Status |", "|---|---|---|---|"]
    goals = {phase.id: phase for phase in plan.phases}
    for verdict_row in report.phases:
        phase = goals[verdict_row.id]
        cells = [f"Phase {phase.id} – {phase.title}", phase.goal, phase.outcomes]
        cells.append(status_line(verdict_row, report.tasks))
        overview.append("| " + " | ".join(md_cell(cell) for cell in cells) + " |")
    tasks = ["", "| Task | Check | Result | Duration | Evidence |", "|---|---|---|---|---|"]
    for result in report.tasks:
        cells = [
            result.task_id,
            result.check,
            f"{SYMBOLS[result.status]} {result.status.value}" + _why(result),
            f"{result.duration_sec:.2f}s" + (" (cached)" if result.cached else ""),
            _evidence(result),
        ]
        tasks.append("| " + " | ".join(md_cell(cell, 200) for cell in cells) + " |")
    risk = ["", *risk_lines(report.risks, report.overall_level, report.finished)]
    return "\n".join([*head, *overview, *tasks, *risk]) + "\n"


def table_rows(report: PlanReport) -> list[dict[str, Any]]:
    return [
        {
            "task": r.task_id,
            "check": r.check,
            "result": r.status.value,
            "reason": r.reason,
            "duration_sec": r.duration_sec,
            "cached": r.cached,
            "evidence": _evidence(r),
        }
        for r in report.tasks
    ]


def write_outputs(plan: PlanFile, report: PlanReport, out_dir: Path) -> list[Path]:
    """plan_report.json (the report), plan_status.md (summary), plan_evidence.md (export)."""
    files = {
        REPORT_FILE: report.model_dump_json(indent=2),
        SUMMARY_FILE: summary_markdown(plan, report),
        EXPORT_FILE: export_markdown(plan, evidence_of(report)),
    }
    for name, text in files.items():
        write_atomic(out_dir / name, text)
    return [out_dir / name for name in files]


def read_report(path: Path) -> PlanReport:
    return PlanReport.model_validate(json.loads(path.read_text(encoding="utf-8")))


def unit_symbol(unit: UnitVerdict) -> str:
    return "✅" if unit.status is UnitStatus.COMPLETE else "❌"


def _why(result: TaskResult) -> str:
    return f" ({result.reason})" if result.reason and not result.verified else ""


def _evidence(result: TaskResult) -> str:
    if result.cached and result.verified_at:
        return f"cached proof of {iso_utc(result.verified_at, 'seconds')}: {result.message}"
    if result.rollback is not None:
        state = "restored" if result.rollback.restored else "NOT restored"
        return f"{result.message}; rollback: {state} ({result.rollback.message})"
    return result.message


def _inputs(report: PlanReport) -> str:
    return ", ".join(f"{key}={value[:12]}" for key, value in sorted(report.inputs.items()))

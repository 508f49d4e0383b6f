"""Rows and summaries the workflow-health flows publish as artifacts and return."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tasks.platform.clock import utc_now
from tasks.platform.files import write_atomic
from tasks.workflows.classify import summarize
from tasks.workflows.corpus import CorpusPlan
from tasks.workflows.migrate import REPORT_FILE, ApplyOutcome, MigrationPlan
from tasks.workflows.models import ClassificationReport, FileResult


def classification_report(
    plan: CorpusPlan, started: datetime, results: list[FileResult], warnings: list[str]
) -> ClassificationReport:
    """The run's report: the files' rows in order, and their summary."""
    return ClassificationReport(
        corpus=plan.name,
        started_at=started,
        finished_at=utc_now(),
        checker=plan.corpus.checker,
        mode=plan.phase,
        summary=summarize(results),
        files=results,
        suppression_warnings=warnings,
    )


def classification_rows(report: ClassificationReport, limit: int = 500) -> list[dict]:
    """The failing files first (a table artifact stays readable), then passing ones."""
    ordered = sorted(report.files, key=lambda f: (f.ok, f.path))[:limit]
    return [
        {
            "path": f.path,
            "category": f.category,
            "code_name": f.code_name,
            "line": f.line,
            "fingerprint": f.fingerprint or "",
            "message": f.message[:200],
        }
        for f in ordered
    ]


def migration_summary(
    plan: MigrationPlan, outcome: ApplyOutcome | None, markdown: str, out: Path | None
) -> dict:
    """What the migration flow returns; migration_report.md is written when several files change."""
    written = [str(p) for p in outcome.written] if outcome else []
    report_file = None
    if len(plan.changed) > 1:
        folder = out or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        report_file = folder / REPORT_FILE
        write_atomic(report_file, markdown)
    return {
        "applied": outcome is not None,
        "changed": [str(c.path) for c in plan.changed],
        "unchanged": [str(p) for p in plan.unchanged],
        "skipped": [s.model_dump(mode="json") for s in plan.skipped],
        "written": written,
        "diffs": {str(c.path): c.diff for c in plan.changed},
        "report_file": str(report_file) if report_file else None,
        "rows": [
            {"file": str(c.path), "rules": ", ".join(h.rule for h in c.hits)} for c in plan.changed
        ]
        or [{"file": "(no file changed)", "rules": ""}],
    }

"""The classification run's report: built from the files' rows, written as the seed's
workflow_failures.json and .md (atomically), and shown as a table artifact."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from blocks.storage import warden_home
from tasks.platform.clock import iso_utc, run_stamp
from tasks.platform.files import write_atomic
from tasks.platform.markdown import md_cell
from tasks.workflows.classify import summarize
from tasks.workflows.corpus import CorpusPlan
from tasks.workflows.models import ClassificationReport, FileResult, WorkflowCode

FAILURES_JSON = "workflow_failures.json"
FAILURES_MD = "workflow_failures.md"
TOP_FINGERPRINTS = 10
CELL_CHARS = 200


def classification_report(
    plan: CorpusPlan,
    started: datetime,
    results: list[FileResult],
    warnings: list[str],
    *,
    finished: datetime,
) -> ClassificationReport:
    """The run's report: the files' rows in order, and their summary."""
    return ClassificationReport(
        corpus=plan.name,
        started_at=started,
        finished_at=finished,
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


def failures_document(report: ClassificationReport) -> dict:
    """workflow_failures.json: the run, its summary and every file's row."""
    return {
        "corpus": report.corpus,
        "checker": report.checker,
        "mode": report.mode.value,
        "started_at": iso_utc(report.started_at),
        "finished_at": iso_utc(report.finished_at),
        "timestamp": iso_utc(report.finished_at),
        "duration_sec": round((report.finished_at - report.started_at).total_seconds(), 3),
        "summary": report.summary.model_dump(mode="json"),
        "suppression_warnings": list(report.suppression_warnings),
        "files": [row.model_dump(mode="json") for row in report.files],
    }


def failures_markdown(report: ClassificationReport) -> str:
    """workflow_failures.md: the seed's category table, then codes and top fingerprints."""
    summary = report.summary
    lines = [
        f"# Workflow failures: {md_cell(report.corpus, CELL_CHARS)}",
        "",
        f"Checker `{report.checker}`, {report.mode.value} mode, "
        f"{iso_utc(report.started_at, 'seconds')} to {iso_utc(report.finished_at, 'seconds')}.",
        f"**{summary.failed} failed** of {summary.total} files "
        f"({summary.suppressed_failures} suppressed failures).",
        "",
        "| Category | Count |",
        "|---|---|",
        *(
            f"| {md_cell(name, CELL_CHARS)} | {count} |"
            for name, count in _by_count(summary.by_category)
        ),
        "",
        "| Code | Name | Count |",
        "|---|---|---|",
        *(
            f"| {_code_number(name)} | {name} | {count} |"
            for name, count in _by_count(summary.by_code)
        ),
    ]
    lines += _fingerprint_table(report.files)
    if report.suppression_warnings:
        lines += ["", "## Suppression file warnings", ""]
        lines += [f"- {md_cell(warning, CELL_CHARS)}" for warning in report.suppression_warnings]
    return "\n".join(lines) + "\n"


def _fingerprint_table(files: list[FileResult]) -> list[str]:
    """The most frequent failure fingerprints, with one example message each."""
    failures = [row for row in files if row.fingerprint]
    if not failures:
        return []
    counts = Counter(row.fingerprint for row in failures)
    example = {}
    for row in failures:
        example.setdefault(row.fingerprint, row)
    lines = [
        "",
        "## Top fingerprints",
        "",
        "| Fingerprint | Code | Count | Example |",
        "|---|---|---|---|",
    ]
    for mark, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[
        :TOP_FINGERPRINTS
    ]:
        row = example[mark]
        where = f"{row.path}:{row.line}" if row.line is not None else row.path
        note = " (suppressed)" if row.suppressed else ""
        lines.append(
            f"| `{mark}`{note} | {row.code_name} | {count} | "
            f"{md_cell(where, CELL_CHARS)}: {md_cell(row.message, CELL_CHARS)} |"
        )
    return lines


def _by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _code_number(name: str) -> str:
    return str(int(WorkflowCode[name])) if name in WorkflowCode.__members__ else "?"


def run_output_dir(out: str | None, started: datetime) -> Path:
    """Where a run's workflow_failures.* go: ``out``, else WARDEN_HOME/out/workflows/<stamp>."""
    return Path(out) if out else warden_home() / "out" / "workflows" / run_stamp(started)


def write_run_outputs(
    report: ClassificationReport,
    out_dir: Path,
    *,
    json_path: Path | None = None,
    md_path: Path | None = None,
) -> list[Path]:
    """Write workflow_failures.json and .md into ``out_dir``, or where ``json_path`` and
    ``md_path`` (the seed's --output and --markdown) say; returns both paths."""
    json_path = json_path or out_dir / FAILURES_JSON
    md_path = md_path or out_dir / FAILURES_MD
    for path in (json_path, md_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json_path, json.dumps(failures_document(report), indent=2) + "\n")
    write_atomic(md_path, failures_markdown(report))
    return [json_path, md_path]

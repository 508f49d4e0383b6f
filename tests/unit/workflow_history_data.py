"""A deterministic generated history: daily classification runs over a fixed set of files.

Each file has a stable "health" so failures recur across days (the same fingerprints come back),
a slowly growing parse problem makes a visible trend, and a few fingerprints are suppressed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from tasks.workflows.fingerprint import fingerprint
from tasks.workflows.history import HistoryStore
from tasks.workflows.models import (
    Category,
    ClassificationReport,
    FileResult,
    Phase,
    RunSummary,
    WorkflowCode,
)

CATEGORY_OF = {
    WorkflowCode.SUCCESS: Category.OK,
    WorkflowCode.PARSE_ERROR: Category.PARSE_ERROR,
    WorkflowCode.RUNTIME_ERROR: Category.RUNTIME_ERROR,
    WorkflowCode.SIGNATURE_ERROR: Category.SIGNATURE_MISSING,
    WorkflowCode.TIMEOUT_ERROR: Category.TIMEOUT,
    WorkflowCode.UNSUPPORTED_FEATURE: Category.NOT_IMPLEMENTED,
}
FAILING_CODES = [
    WorkflowCode.PARSE_ERROR,
    WorkflowCode.PARSE_ERROR,
    WorkflowCode.RUNTIME_ERROR,
    WorkflowCode.VALIDATION_ERROR,
    WorkflowCode.TIMEOUT_ERROR,
    WorkflowCode.UNSUPPORTED_FEATURE,
    WorkflowCode.GENERIC_FAILURE,
    WorkflowCode.IO_ERROR,
]
START = datetime(2025, 1, 1, 6, 30, tzinfo=UTC)
ALWAYS_FAILING = 7  # wf_00007: IO_ERROR on line 5 every day, and suppressed
SUPPRESSED_MESSAGE = "io error at line 5: token 5"


def file_result(
    path: str, code: WorkflowCode, line: int | None, suppressed: set[str]
) -> FileResult:
    """One file's row, as classification would produce it."""
    if code == WorkflowCode.SUCCESS:
        return FileResult(
            path=path, ok=True, code=0, code_name="SUCCESS", category="OK", phase=Phase.PARSE
        )
    message = f"{code.name.lower().replace('_', ' ')} at line {line}: token {line % 7}"
    fp = fingerprint(code.name, line, message)
    category = str(CATEGORY_OF.get(code, Category.OTHER))
    is_suppressed = fp in suppressed
    return FileResult(
        path=path,
        ok=False,
        code=int(code),
        code_name=code.name,
        category=f"Suppressed-{category}" if is_suppressed else category,
        phase=Phase.EXECUTE if code == WorkflowCode.RUNTIME_ERROR else Phase.PARSE,
        line=line,
        message=message,
        fingerprint=fp,
        suppressed=is_suppressed,
        duration_sec=round(0.01 + (line or 0) / 1000, 3),
    )


def summarize(files: list[FileResult]) -> RunSummary:
    """The run summary consistent with its files."""
    failed = sum(1 for f in files if not f.ok and not f.suppressed)
    return RunSummary(
        total=len(files),
        failed=failed,
        suppressed_failures=sum(1 for f in files if f.suppressed),
        by_category=dict(Counter(f.category for f in files)),
        by_code=dict(Counter(f.code_name for f in files)),
    )


def daily_report(
    day: int, n_files: int = 50, corpus: str = "demo", seed: int = 7
) -> ClassificationReport:
    """Run number ``day`` (0-based) of the generated history."""
    rng = random.Random(f"{seed}-{corpus}-{day}")
    base = random.Random(f"{seed}-{corpus}")
    health = [base.random() for _ in range(n_files)]
    suppressed = {fingerprint("IO_ERROR", 5, SUPPRESSED_MESSAGE)}
    files = []
    for i, h in enumerate(health):
        failing = i == ALWAYS_FAILING or h < 0.25 + 0.01 * day * (i % 3 == 0)
        failing = failing or rng.random() < 0.03
        code = FAILING_CODES[i % len(FAILING_CODES)] if failing else WorkflowCode.SUCCESS
        line = None if code == WorkflowCode.SUCCESS else (i % 5) + 3
        files.append(file_result(f"workflows/wf_{i:05d}.aether", code, line, suppressed))
    started = START + timedelta(days=day, minutes=rng.randint(0, 60))
    return ClassificationReport(
        corpus=corpus,
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        checker="python",
        mode=Phase.PARSE,
        summary=summarize(files),
        files=files,
    )


def history_reports(
    days: int = 30, n_files: int = 50, corpus: str = "demo"
) -> Iterator[tuple[str, ClassificationReport]]:
    """``days`` daily runs with their run ids."""
    for day in range(days):
        yield f"run-{corpus}-{day:03d}", daily_report(day, n_files, corpus)


def build_history(
    store: HistoryStore, days: int = 30, n_files: int = 50, corpus: str = "demo"
) -> list[tuple[str, ClassificationReport]]:
    """Append a generated history to ``store``; returns what was appended."""
    runs = list(history_reports(days, n_files, corpus))
    for run_id, report in runs:
        store.append(report, run_id)
    return runs

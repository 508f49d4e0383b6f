"""Classification rows and reports for the workflow-health unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.workflows.classify import summarize
from tasks.workflows.models import ClassificationReport, FileResult, Phase, WorkflowCode

STARTED = datetime(2025, 9, 12, 10, 15, 0, tzinfo=UTC)


def row(path: str, code: WorkflowCode | str = WorkflowCode.SUCCESS, **fields) -> FileResult:
    """One file's row: ``code`` (a WorkflowCode or its name) in the parse phase; a failure gets
    a fixed fingerprint and its category; ``fields`` override any of it."""
    code = code if isinstance(code, WorkflowCode) else WorkflowCode[code]
    failed = code is not WorkflowCode.SUCCESS
    base = {
        "path": path,
        "ok": not failed,
        "code": int(code),
        "code_name": code.name,
        "category": {"SUCCESS": "OK", "PARSE_ERROR": "ParseError"}.get(code.name, "Other"),
        "phase": Phase.PARSE,
        "fingerprint": "a1b2c3d4e5f67890" if failed else None,
    }
    return FileResult(**{**base, **fields})


def report(files: list[FileResult], started: datetime = STARTED, **fields) -> ClassificationReport:
    return ClassificationReport(
        corpus="sample",
        started_at=started,
        finished_at=started + timedelta(seconds=10),
        checker="python",
        mode=Phase.PARSE,
        summary=summarize(files),
        files=files,
        **fields,
    )


FILES = [
    row("ok.py"),
    row("a.py", "PARSE_ERROR", line=3, message="bad | pipe\nsecond line"),
    row("b.py", "PARSE_ERROR", line=3, message="bad | pipe"),
    row("c.py", "IO_ERROR", message="file not found", fingerprint="0123456789abcdef"),
    row(
        "d.py",
        "PARSE_ERROR",
        category="Suppressed-ParseError",
        suppressed=True,
        fingerprint="deadbeefcafe1234",
    ),
]

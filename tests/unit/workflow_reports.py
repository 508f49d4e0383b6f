"""Classification rows and reports for the workflow-health unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.workflows.classify import summarize
from tasks.workflows.models import ClassificationReport, FileResult, Phase

STARTED = datetime(2025, 9, 12, 10, 15, 0, tzinfo=UTC)


def row(path: str, code_name: str = "SUCCESS", **fields) -> FileResult:
    codes = {"SUCCESS": 0, "PARSE_ERROR": 20, "RUNTIME_ERROR": 21, "IO_ERROR": 26}
    failed = code_name != "SUCCESS"
    base = {
        "path": path,
        "ok": not failed,
        "code": codes[code_name],
        "code_name": code_name,
        "category": {"SUCCESS": "OK", "PARSE_ERROR": "ParseError"}.get(code_name, "Other"),
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

"""The classification report: built from rows, workflow_failures.json/.md (the seed's shapes)
and the table artifact's rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from blocks.storage import warden_home
from blocks.workflows import adhoc_workflows_file
from tasks.platform.clock import run_stamp
from tasks.workflows.classify import summarize
from tasks.workflows.corpus import plan_corpus
from tasks.workflows.failure_report import (
    classification_report,
    classification_rows,
    failures_document,
    failures_markdown,
    run_output_dir,
    write_run_outputs,
)
from tests.unit.workflow_reports import FILES, STARTED, report, row


def test_failures_document_shape() -> None:
    document = failures_document(report(FILES, suppression_warnings=["s.txt:2: ignored 'x'"]))
    assert document["started_at"] == "2025-09-12T10:15:00Z"
    assert document["finished_at"] == document["timestamp"] == "2025-09-12T10:15:10Z"
    assert document["duration_sec"] == 10.0
    assert (document["corpus"], document["checker"], document["mode"]) == (
        "sample",
        "python",
        "parse",
    )
    assert document["summary"]["total"] == 5
    assert document["summary"]["failed"] == 3
    assert document["summary"]["suppressed_failures"] == 1
    assert document["summary"]["by_category"]["ParseError"] == 2
    assert document["suppression_warnings"] == ["s.txt:2: ignored 'x'"]
    first = document["files"][1]
    assert {"path", "category", "code", "code_name", "fingerprint", "line", "message"} <= set(first)
    assert "duration_sec" in first
    json.dumps(document)  # plain JSON all the way down


def test_non_utc_times_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    document = failures_document(report(FILES, started=datetime(2025, 9, 12, 12, 15, tzinfo=paris)))
    assert document["started_at"] == "2025-09-12T10:15:00Z"


def test_failures_markdown_tables() -> None:
    text = failures_markdown(report(FILES, suppression_warnings=["s.txt:2: ignored"]))
    assert "| Category | Count |\n|---|---|\n| ParseError | 2 |" in text
    assert "| Other | 1 |" in text
    assert "| Suppressed-ParseError | 1 |" in text
    assert "| 20 | PARSE_ERROR | 3 |" in text
    assert "| 0 | SUCCESS | 1 |" in text
    assert "## Top fingerprints" in text
    assert "| `a1b2c3d4e5f67890` | PARSE_ERROR | 2 | a.py:3: bad \\| pipe second line |" in text
    assert "`deadbeefcafe1234` (suppressed)" in text
    assert "- s.txt:2: ignored" in text
    assert "**3 failed** of 5 files (1 suppressed failures)" in text


def test_markdown_of_a_clean_run_has_no_fingerprint_table() -> None:
    assert "Top fingerprints" not in failures_markdown(report([row("ok.py")]))


def test_write_run_outputs(tmp_path: Path) -> None:
    run = report(FILES)
    written = write_run_outputs(run, tmp_path / "out")
    assert [p.name for p in written] == ["workflow_failures.json", "workflow_failures.md"]
    assert json.loads(written[0].read_text()) == failures_document(run)
    assert written[1].read_text() == failures_markdown(run)
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_the_report_keeps_the_rows_in_order_and_sums_them() -> None:
    plan = plan_corpus(adhoc_workflows_file("adhoc", ["flows"], "python"), "adhoc")
    rows = [row("b.py", "PARSE_ERROR"), row("a.py")]
    finished = STARTED + timedelta(seconds=3)
    made = classification_report(plan, STARTED, rows, ["s.txt:1: ignored"], finished=finished)
    assert (made.corpus, made.checker, made.mode) == ("adhoc", "python", plan.phase)
    assert (made.started_at, made.finished_at) == (STARTED, finished)
    assert made.files == rows and made.summary == summarize(rows)
    assert made.suppression_warnings == ["s.txt:1: ignored"]


def test_table_rows_put_failures_first_and_stay_short() -> None:
    long = "x" * 300
    rows = [row("a.py"), row("z.py", "PARSE_ERROR", message=long), row("b.py", "IO_ERROR")]
    table = classification_rows(report(rows), limit=2)
    assert [(r["path"], r["code_name"]) for r in table] == [
        ("b.py", "IO_ERROR"),
        ("z.py", "PARSE_ERROR"),
    ]
    assert len(table[1]["message"]) == 200
    assert classification_rows(report([row("a.py")]))[0]["fingerprint"] == ""


def test_a_runs_outputs_go_where_asked_else_under_warden_home_by_start_time() -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert run_output_dir("elsewhere", started) == Path("elsewhere")
    expected = warden_home() / "out" / "workflows" / run_stamp(started)
    assert run_output_dir(None, started) == expected

"""workflow_failures.json/.md, history snapshots and trends.json (the seed's shapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tasks.workflows.classify import summarize
from tasks.workflows.models import ClassificationReport, FileResult, Phase
from tasks.workflows.outputs import (
    failures_document,
    failures_markdown,
    read_trend_points,
    update_trends,
    write_run_outputs,
    write_snapshot,
)

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


def test_snapshot_names_and_collisions(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    started = datetime(2025, 9, 12, 12, 15, 0, 123456, tzinfo=paris)
    names = [write_snapshot(report(FILES, started=started), tmp_path).name for _ in range(3)]
    assert names == [
        "20250912T101500_classification.json",
        "20250912T101500123456_classification.json",
        "20250912T101500123456-1_classification.json",
    ]
    stored = json.loads((tmp_path / names[0]).read_text())
    assert stored["summary"]["total"] == 5


def test_trends_keep_the_last_20_and_skip_corrupt_snapshots(tmp_path: Path) -> None:
    for hour in range(25):
        started = STARTED + timedelta(hours=hour)
        files = [row("ok.py")] + [row(f"f{i}.py", "PARSE_ERROR") for i in range(hour % 4)]
        write_snapshot(report(files, started=started), tmp_path)
    (tmp_path / "20250913T000000_classification.json").write_text('{"summary": {"fail')
    (tmp_path / "20250913T010000_classification.json").write_text('{"timestamp": "x"}')
    (tmp_path / "notes.json").write_text("not a snapshot")

    points = update_trends(tmp_path)

    assert len(points) == 20
    assert all(set(p) == {"file", "timestamp", "failed", "total"} for p in points)
    assert points[0] == {
        "file": "20250912T151500_classification.json",
        "timestamp": "2025-09-12T15:15:10Z",
        "failed": 1,
        "total": 2,
    }
    assert points[-1]["file"] == "20250913T101500_classification.json"
    assert json.loads((tmp_path / "trends.json").read_text()) == points
    assert len(read_trend_points(tmp_path).skipped) == 2


@pytest.mark.parametrize(("keep", "expected"), [(1, 1), (0, 0), (50, 3)])
def test_trends_keep_parameter(tmp_path: Path, keep: int, expected: int) -> None:
    for hour in range(3):
        write_snapshot(report(FILES, started=STARTED + timedelta(hours=hour)), tmp_path)
    assert len(update_trends(tmp_path, keep=keep)) == expected


def test_trends_of_an_empty_history(tmp_path: Path) -> None:
    assert update_trends(tmp_path / "new") == []
    assert json.loads((tmp_path / "new" / "trends.json").read_text()) == []


def test_trends_read_only_the_newest_snapshots(tmp_path: Path) -> None:
    """A year of nightly snapshots is not re-read to keep 20 points: older files are never
    opened (here they are unreadable, and nothing is skipped)."""
    for day in range(30):
        write_snapshot(report(FILES, started=STARTED + timedelta(days=day)), tmp_path)
    for path in sorted(tmp_path.glob("*_classification.json"))[:10]:
        path.write_text("{corrupt")
    found = read_trend_points(tmp_path, newest=20)
    assert len(found.points) == 20 and found.skipped == []
    assert len(read_trend_points(tmp_path).skipped) == 10


def test_trends_follow_the_order_snapshots_were_written_within_a_second(tmp_path: Path) -> None:
    started = datetime(2025, 9, 12, 10, 15, 0, 123456, tzinfo=UTC)
    names = [write_snapshot(report(FILES, started=started), tmp_path).name for _ in range(3)]
    newest = read_trend_points(tmp_path, newest=1).points
    assert [p["file"] for p in newest] == [names[-1]]

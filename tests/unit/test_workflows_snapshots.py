"""History snapshots and trends.json (the seed's shape)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tasks.workflows.snapshots import read_trend_points, update_trends, write_snapshot
from tests.unit.workflow_reports import FILES, STARTED, report, row


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

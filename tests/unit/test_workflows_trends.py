"""Trend views over a generated 30-day history, checked against pandas over load_history."""

from __future__ import annotations

import json
import shutil
import struct
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from blocks.errors import UsageError
from tasks.workflows.history import HistoryStore, load_history
from tasks.workflows.models import ClassificationReport, Phase, WorkflowCode
from tasks.workflows.trends import (
    TrendQuery,
    failures_by_day,
    new_failures_since_previous_run,
    plot_trends,
    render,
    since_days,
    top_fingerprints,
)
from tests.unit.workflow_history_data import (
    START,
    build_history,
    daily_report,
    file_result,
    summarize,
)

NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)  # the day after the last generated run


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trend-history")
    store = HistoryStore(root)
    build_history(store, days=30, n_files=50, corpus="demo")
    build_history(store, days=3, n_files=20, corpus="nightly")
    return root


@pytest.fixture(scope="module")
def frame(history_dir: Path) -> pd.DataFrame:
    return load_history(history_dir)


def _expected(frame: pd.DataFrame, by: str, since: datetime, corpus: str | None) -> pd.Series:
    rows = frame[~frame["ok"] & ~frame["suppressed"] & (frame["run_ts"] >= since)]
    if corpus:
        rows = rows[rows["corpus"] == corpus]
    days = pd.to_datetime(rows["date"]).dt.date
    return rows.groupby([days.rename("day"), rows[by].rename("key")]).size().sort_index()


@pytest.mark.parametrize("by", ["code_name", "category", "fingerprint"])
@pytest.mark.parametrize("corpus", [None, "demo"])
def test_failures_by_day_matches_pandas(
    history_dir: Path, frame: pd.DataFrame, by: str, corpus: str | None
) -> None:
    query = TrendQuery(by=by, since_days=10, corpus=corpus)
    result = failures_by_day(history_dir, query, now=NOW)
    assert list(result.columns) == ["day", "key", "failures"]
    assert result.attrs["load_errors"] == 0 and result.attrs["by"] == by
    got = result.set_index(["day", "key"])["failures"].astype(int).sort_index()
    expected = _expected(frame, by, datetime(2025, 1, 21, 12, tzinfo=UTC), corpus)
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert result["day"].is_monotonic_increasing


def test_since_keeps_only_recent_days(history_dir: Path) -> None:
    result = failures_by_day(history_dir, TrendQuery(since_days=3), now=NOW)
    assert sorted(set(result["day"])) == [date(2025, 1, 29), date(2025, 1, 30)]
    assert failures_by_day(history_dir, TrendQuery(since_days=1), now=NOW).empty


def test_suppressed_failures_only_when_asked(history_dir: Path) -> None:
    query = TrendQuery(by="category", since_days=30)
    plain = failures_by_day(history_dir, query, now=NOW)
    assert not plain["key"].str.startswith("Suppressed-").any()
    included = failures_by_day(
        history_dir, query.model_copy(update={"include_suppressed": True}), now=NOW
    )
    assert set(included["key"]) - set(plain["key"]) == {"Suppressed-Other"}


def test_trend_query_rejects_unknown_keys_and_windows() -> None:
    with pytest.raises(ValueError):
        TrendQuery(by="path")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TrendQuery(since_days=0)


def _run(day: int, failures: list[tuple[str, WorkflowCode, int]]) -> ClassificationReport:
    files = [file_result(path, code, line, set()) for path, code, line in failures]
    files.append(file_result("ok.aether", WorkflowCode.SUCCESS, None, set()))
    moment = START.replace(day=1 + day)
    return ClassificationReport(
        corpus="small",
        started_at=moment,
        finished_at=moment,
        checker="python",
        mode=Phase.PARSE,
        summary=summarize(files),
        files=files,
    )


def test_new_failures_since_previous_run(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    store.append(_run(0, [("a", WorkflowCode.PARSE_ERROR, 3)]), "first")
    only = new_failures_since_previous_run(store, "small")
    assert only["files"].tolist() == [1] and only.attrs["previous_run_id"] is None
    store.append(
        _run(
            1,
            [
                ("a", WorkflowCode.PARSE_ERROR, 3),  # failed before: not new
                ("b", WorkflowCode.RUNTIME_ERROR, 9),
                ("c", WorkflowCode.RUNTIME_ERROR, 9),  # same fingerprint, second file
                ("d", WorkflowCode.TIMEOUT_ERROR, 1),
            ],
        ),
        "second",
    )
    new = new_failures_since_previous_run(store)
    assert new.attrs["run_id"] == "second" and new.attrs["previous_run_id"] == "first"
    assert new["code_name"].tolist() == ["RUNTIME_ERROR", "TIMEOUT_ERROR"]
    assert new["files"].tolist() == [2, 1]
    assert new["example_path"].tolist() == ["b", "d"]
    assert new_failures_since_previous_run(tmp_path / "empty").empty


def test_top_fingerprints(history_dir: Path, frame: pd.DataFrame) -> None:
    top = top_fingerprints(history_dir, since_days=31, limit=5, now=NOW)  # every run
    assert len(top) == 5
    assert top["failures"].is_monotonic_decreasing
    failing = frame[~frame["ok"] & ~frame["suppressed"]]
    counts = failing.groupby("fingerprint").size().sort_values(ascending=False)
    assert top["failures"].tolist() == counts.head(5).tolist()
    first = top.iloc[0]
    rows = failing[failing["fingerprint"] == first["fingerprint"]]
    assert first["files"] == rows["path"].nunique()
    assert first["last_seen"] == rows["run_ts"].max()
    assert first["example_path"] in set(rows["path"])
    assert top_fingerprints(history_dir, 30, limit=2, corpus="nightly", now=NOW).shape[0] == 2
    with pytest.raises(UsageError):
        top_fingerprints(history_dir, 30, limit=0)


def test_render_formats(history_dir: Path) -> None:
    result = failures_by_day(history_dir, TrendQuery(since_days=2), now=NOW)
    table = render(result, "table")
    assert table.splitlines()[0].split() == ["day", "key", "failures"]
    assert "2025-01-30" in table
    parsed_csv = pd.read_csv(StringIO(render(result, "csv")))
    assert parsed_csv["failures"].sum() == result["failures"].sum()
    records = json.loads(render(result, "json"))
    assert records[0].keys() == {"day", "key", "failures"}
    assert records[0]["day"] == "2025-01-30"
    top = json.loads(render(top_fingerprints(history_dir, 30, 1, now=NOW), "json"))
    assert top[0]["last_seen"].endswith("+00:00")
    assert render(result.iloc[0:0], "table") == "(no rows)\n"
    with pytest.raises(UsageError):
        render(result, "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("7", 7), ("2w", 14), (" 5d ", 5)])
def test_since_days_parses_durations(text: str, days: int) -> None:
    assert since_days(text) == days


@pytest.mark.parametrize("text", ["", "0d", "-3d", "30m", "thirty"])
def test_since_days_rejects_other_text(text: str) -> None:
    with pytest.raises(UsageError):
        since_days(text)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("by", ["category", "fingerprint"])
def test_plot_is_a_png_chart(history_dir: Path, tmp_path: Path, by: str) -> None:
    result = failures_by_day(history_dir, TrendQuery(by=by, since_days=30), now=NOW)
    path = plot_trends(result, tmp_path / "charts" / "trends.png", f"Failures by {by}")
    width, height = _png_size(path)
    assert (width, height) == (1500, 750)  # 10 × 5 inches at 150 dpi
    assert path.stat().st_size > 20_000


def test_plot_of_no_failures_still_writes_a_chart(history_dir: Path, tmp_path: Path) -> None:
    empty = failures_by_day(history_dir, TrendQuery(since_days=1), now=NOW)
    assert _png_size(plot_trends(empty, tmp_path / "empty.png", "Nothing")) == (1500, 750)


def test_corrupt_file_falls_back_to_the_skipping_loader(history_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(history_dir, tmp_path / "history"))
    victim = copy / "files" / "date=2025-01-30" / "run-demo-029-0.parquet"
    victim.write_bytes(b"PAR1 but not really")
    query = TrendQuery(by="code_name", since_days=5, corpus="demo")
    result = failures_by_day(copy, query, now=NOW)
    assert result.attrs["load_errors"] == 1
    assert result.attrs["error_files"][0].endswith("run-demo-029-0.parquet")
    assert date(2025, 1, 30) not in set(result["day"])
    assert date(2025, 1, 29) in set(result["day"])
    expected = failures_by_day(history_dir, query, now=NOW)
    expected = expected[expected["day"] != date(2025, 1, 30)].reset_index(drop=True)
    pd.testing.assert_frame_equal(result, expected, check_like=True)
    top = top_fingerprints(copy, 30, now=NOW)
    assert top.attrs["load_errors"] == 1 and len(top) == 10


def test_an_empty_history_has_no_trends(tmp_path: Path) -> None:
    assert failures_by_day(tmp_path / "none", TrendQuery(), now=NOW).empty
    assert top_fingerprints(tmp_path / "none", now=NOW).empty


def test_history_days_cover_the_generated_report_dates() -> None:
    assert daily_report(29).started_at.date() == date(2025, 1, 30)

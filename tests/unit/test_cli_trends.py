"""`warden trends` over a generated 30-day history (no Prefect: it only reads Parquet)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tasks.workflows.history import HistoryStore
from tests.unit.workflow_history_data import build_history

runner = CliRunner()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("history")
    build_history(HistoryStore(root), days=30, n_files=40)
    return str(root)


def trends(history: str, *args: str):
    return runner.invoke(app, ["trends", "--history", history, "--since", "3650d", *args])


@pytest.mark.parametrize("by", ["code_name", "category", "fingerprint"])
def test_daily_failures_as_csv(history: str, by: str) -> None:
    result = trends(history, "--by", by, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {row["day"][:10] for row in rows} and all(int(r["failures"]) > 0 for r in rows)
    assert len({row["day"][:10] for row in rows}) == 30


def test_top_fingerprints_as_json_and_a_chart(history: str, tmp_path: Path) -> None:
    top = trends(history, "--view", "top", "--format", "json")
    assert top.exit_code == 0, top.output
    assert all(len(row["fingerprint"]) == 16 for row in json.loads(top.output))
    chart = tmp_path / "trends.png"
    plotted = trends(history, "--plot", str(chart))
    assert plotted.exit_code == 0, plotted.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000


def test_a_bad_window_is_a_usage_error(history: str) -> None:
    result = runner.invoke(app, ["trends", "--history", history, "--since", "a while"])
    assert result.exit_code == 2

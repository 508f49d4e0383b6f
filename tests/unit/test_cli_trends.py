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


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--view", "new", "--since", "7d"], id="new-has-no-window"),
        pytest.param(["--view", "top", "--by", "category"], id="top-is-by-fingerprint"),
        pytest.param(["--view", "new", "--by", "category"], id="new-is-by-fingerprint"),
        pytest.param(["--view", "top", "--plot", "x.png"], id="plot-is-daily"),
    ],
)
def test_an_option_the_view_ignores_is_refused(history: str, args: list[str]) -> None:
    result = runner.invoke(app, ["trends", "--history", history, *args])
    assert result.exit_code == 2, result.output


def test_a_history_without_runs_is_no_answer(tmp_path: Path) -> None:
    result = runner.invoke(app, ["trends", "--history", str(tmp_path / "nothing-here")])
    assert result.exit_code == 2, result.output


def test_new_failures_name_the_runs_compared(history: str) -> None:
    result = runner.invoke(app, ["trends", "--history", history, "--view", "new"])
    assert result.exit_code == 0, result.output
    assert "against the previous run" in result.output
    unknown = runner.invoke(
        app, ["trends", "--history", history, "--view", "new", "--corpus", "nope"]
    )
    assert unknown.exit_code == 2, unknown.output


def test_an_incomplete_view_is_printed_but_not_claimed_whole(history: str, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "history"
    shutil.copytree(history, copy)
    next((copy / "files").rglob("*.parquet")).write_bytes(b"this is not parquet" * 50)
    result = trends(str(copy), "--format", "csv")
    assert result.exit_code == 1
    assert "day,key,failures" in result.output and "incomplete" in result.output


def test_trends_run_from_any_folder_with_a_history(
    history: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = trends(history, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)


def test_workflows_commands_load_the_workflows_file_one_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The given file, else the default where it exists, else none; one that does not load
    ends the command with exit 2 — trends and the workflows commands share this."""
    import typer

    from blocks.workflows import WorkflowsFile
    from cli.workflows import workflows_file

    monkeypatch.chdir(tmp_path)  # no deployments/workflows.yaml here
    assert workflows_file(None) is None
    broken = tmp_path / "workflows.yaml"
    broken.write_text("corpora: [\n")
    with pytest.raises(typer.Exit) as caught:
        workflows_file(broken)
    assert caught.value.exit_code == 2
    refused = runner.invoke(app, ["trends", "--config", str(broken)])
    assert refused.exit_code == 2, refused.output
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the checkout: its default file
    assert isinstance(workflows_file(None), WorkflowsFile)

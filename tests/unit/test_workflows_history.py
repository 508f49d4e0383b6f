"""The Parquet history: snapshot rows, append/load round trip, filters, corrupt files skipped."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tasks.workflows.history import (
    FILES_SCHEMA,
    RUNS_SCHEMA,
    HistoryConfigError,
    HistoryStore,
    load_history,
    rows_from_report,
)
from tests.unit.workflow_history_data import ALWAYS_FAILING, build_history, daily_report

DAYS, FILES = 30, 50


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-day history, built once; tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("history")
    build_history(HistoryStore(root), DAYS, FILES)
    return root


@pytest.fixture
def history_copy(history_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(history_dir, tmp_path / "history"))


def test_rows_from_report_has_the_stored_columns_and_types() -> None:
    report = daily_report(4)
    files, runs = rows_from_report(report, "run-4")
    assert list(files.columns) == FILES_SCHEMA.names
    assert list(runs.columns) == RUNS_SCHEMA.names
    assert len(files) == FILES and len(runs) == 1
    assert str(files["code"].dtype) == "Int16" and str(files["line"].dtype) == "Int32"
    assert str(files["run_ts"].dtype) == "datetime64[us, UTC]"
    assert set(files["date"]) == {"2025-01-05"}
    run = runs.iloc[0]
    assert (run["total"], run["failed"]) == (report.summary.total, report.summary.failed)
    suppressed = files[files["suppressed"]]
    assert run["suppressed_failures"] == report.summary.suppressed_failures == len(suppressed)
    assert f"workflows/wf_{ALWAYS_FAILING:05d}.aether" in set(suppressed["path"])
    assert set(suppressed["category"]) == {"Suppressed-Other"}
    assert suppressed["fingerprint"].nunique() == 1  # one fingerprint, several files
    assert files.loc[files["ok"], "fingerprint"].isna().all()
    assert files.loc[files["ok"], "line"].isna().all()


def test_naive_start_is_taken_as_utc() -> None:
    report = daily_report(0).model_copy(update={"started_at": datetime(2025, 3, 1, 23, 30)})
    files, _ = rows_from_report(report, "naive")
    assert files["run_ts"].iloc[0] == pd.Timestamp("2025-03-01T23:30", tz="UTC")
    assert files["date"].iloc[0] == "2025-03-01"


def test_append_then_load_round_trips(history_dir: Path) -> None:
    loaded = HistoryStore(history_dir).load_history()
    assert loaded.load_errors == 0 and loaded.error_files == []
    assert len(loaded.files) == DAYS * FILES and len(loaded.runs) == DAYS
    expected = pd.concat(
        [rows_from_report(daily_report(day), f"run-demo-{day:03d}")[0] for day in range(DAYS)],
        ignore_index=True,
    )
    keys = ["run_id", "path"]
    pd.testing.assert_frame_equal(
        loaded.files.sort_values(keys).reset_index(drop=True),
        expected.sort_values(keys).reset_index(drop=True),
    )


def test_each_append_writes_one_new_file_per_dataset_partitioned_by_date(
    history_copy: Path,
) -> None:
    before = {p: p.stat().st_mtime_ns for p in history_copy.rglob("*.parquet")}
    assert len(before) == 2 * DAYS
    written = HistoryStore(history_copy).append(daily_report(40), "late-run")
    assert sorted(Path(p).parent.name for p in written) == ["date=2025-02-10"] * 2
    after = {p: p.stat().st_mtime_ns for p in history_copy.rglob("*.parquet")}
    assert {p: after[p] for p in before} == before  # history is never rewritten
    assert len(after) == len(before) + 2


def test_appending_the_same_run_again_does_not_duplicate_rows(history_copy: Path) -> None:
    store = HistoryStore(history_copy)
    store.append(daily_report(3), "run-demo-003")
    loaded = store.load_history()
    assert len(loaded.files) == DAYS * FILES and len(loaded.runs) == DAYS


def test_since_and_corpus_filter_rows(history_dir: Path) -> None:
    store = HistoryStore(history_dir)
    since = datetime(2025, 1, 25, tzinfo=UTC)
    loaded = store.load_history(since=since)
    assert loaded.files["run_ts"].min() >= since
    assert loaded.runs["run_id"].tolist() == [f"run-demo-{d:03d}" for d in range(24, 30)]
    assert store.load_history(corpus="other").files.empty
    assert len(store.load_history(corpus="demo").files) == DAYS * FILES


def test_corrupt_and_truncated_files_are_skipped_and_counted(history_copy: Path) -> None:
    parts = sorted((history_copy / "files").rglob("*.parquet"))
    parts[3].write_bytes(b"this is not parquet" * 50)
    data = parts[7].read_bytes()
    parts[7].write_bytes(data[: len(data) // 2])
    loaded = HistoryStore(history_copy).load_history()
    assert loaded.load_errors == 2
    assert sorted(Path(p).name for p in loaded.error_files) == sorted(
        [parts[3].name, parts[7].name]
    )
    assert len(loaded.files) == (DAYS - 2) * FILES
    assert len(loaded.runs) == DAYS


def test_module_load_history_returns_a_dataframe_with_load_errors(history_copy: Path) -> None:
    next((history_copy / "runs").rglob("*.parquet")).write_bytes(b"")
    frame = load_history(history_copy, corpus="demo")
    assert isinstance(frame, pd.DataFrame) and len(frame) == DAYS * FILES
    assert frame.attrs["load_errors"] == 1


def test_default_uri_is_under_warden_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    assert load_history().empty
    HistoryStore(tmp_path / "history").append(daily_report(1), "r1")
    assert len(load_history()) == FILES


def test_an_empty_history_loads_empty_typed_frames(tmp_path: Path) -> None:
    loaded = HistoryStore(tmp_path / "nothing-yet").load_history()
    assert loaded.files.empty and loaded.runs.empty and loaded.load_errors == 0
    assert list(loaded.files.columns) == FILES_SCHEMA.names


@pytest.mark.parametrize(
    ("uri", "run_id"),
    [
        pytest.param("ftp://host/history", "ok", id="unknown-scheme"),
        pytest.param("s3://", "ok", id="s3-without-bucket"),
        pytest.param("{tmp}", "../escape", id="run-id-with-path"),
        pytest.param("{tmp}", "", id="empty-run-id"),
        pytest.param("{tmp}", "a b", id="run-id-with-space"),
    ],
)
def test_unusable_uri_or_run_id_is_a_config_error(uri: str, run_id: str, tmp_path: Path) -> None:
    with pytest.raises(HistoryConfigError):
        HistoryStore(uri.format(tmp=tmp_path)).append(daily_report(0), run_id)
    assert not any(tmp_path.rglob("*.parquet"))


def test_bad_endpoint_is_a_config_error() -> None:
    with pytest.raises(HistoryConfigError, match="endpoint_url"):
        HistoryStore("s3://bucket/prefix", endpoint_url="127.0.0.1:9000")


def test_repr_never_shows_credentials() -> None:
    store = HistoryStore(
        "s3://bucket/prefix",
        endpoint_url="http://127.0.0.1:9",
        storage_options={"access_key": "AKIDEXAMPLE", "secret_key": "s3cr3t-value"},
    )
    assert store.root == "bucket/prefix" and not store.is_local
    assert "s3cr3t" not in repr(store) and "AKID" not in repr(store)

"""The GX contract on a snapshot: a good one passes with Data Docs, each defect is named."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from blocks.errors import ExitCode
from tasks.workflows.contract import (
    KNOWN_CATEGORIES,
    ContractResult,
    ContractViolation,
    cross_table_failures,
    expected_code_name,
    validate_snapshot,
)
from tasks.workflows.history import rows_from_report
from tests.unit.workflow_history_data import daily_report


@pytest.fixture(scope="module")
def snapshot() -> tuple[pd.DataFrame, pd.DataFrame]:
    return rows_from_report(daily_report(5), "run-5")


@pytest.fixture(scope="module")
def good(
    snapshot: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> ContractResult:
    docs = tmp_path_factory.mktemp("data-docs")
    return validate_snapshot(*snapshot, docs_dir=docs)


def _bad_snapshot(snapshot: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, ...]:
    """Every defect the contract must catch, one row each (rows 0–5 are chosen to differ)."""
    files, runs = snapshot[0].copy(), snapshot[1].copy()
    failing = files.index[~files["ok"]]
    files.loc[failing[0], "fingerprint"] = "NOT-A-FINGERPRINT"
    files.loc[failing[1], "fingerprint"] = None
    passing = files.index[files["ok"]]
    files.loc[passing[0], "code_name"] = "PARSE_ERROR"
    files.loc[passing[1], "code"] = 99
    files.loc[passing[2], "category"] = "Mystery"
    files.loc[passing[4], "path"] = files.loc[passing[3], "path"]
    runs.loc[0, "failed"] = 999
    return files, runs


@pytest.fixture(scope="module")
def bad(snapshot: tuple[pd.DataFrame, pd.DataFrame]) -> ContractResult:
    return validate_snapshot(*_bad_snapshot(snapshot), docs_dir=None)


def test_a_good_snapshot_passes_and_writes_data_docs(good: ContractResult) -> None:
    assert good.success, good.failures
    assert good.failures == []
    assert good.docs_index is not None and good.docs_index.name == "index.html"
    assert good.docs_index.is_file()
    assert "history_files_contract" in good.docs_index.read_text(encoding="utf-8")
    assert list(good.docs_index.parent.glob("validations/**/*.html"))
    good.raise_if_failed()  # no error


@pytest.mark.parametrize(
    ("needle", "observed"),
    [
        pytest.param("expect_column_values_to_match_regex on fingerprint", "NOT-A-FINGERPRINT",
                     id="bad-fingerprint"),
        pytest.param("expect_column_values_to_not_be_null on fingerprint", "1 of", id="no-fp"),
        pytest.param("expect_column_pair_values_to_be_equal on code_name/expected_code_name",
                     "('PARSE_ERROR', 'SUCCESS')", id="code-name-mismatch"),
        pytest.param("expect_column_values_to_be_in_set on code", "[99]", id="unknown-code"),
        pytest.param("expect_column_values_to_be_in_set on category", "Mystery", id="category"),
        pytest.param("expect_compound_columns_to_be_unique on run_id/path", "2 of 50",
                     id="duplicate-path"),
        pytest.param("runs.failed", "observed 999 in the summary", id="count-mismatch"),
    ],
)  # fmt: skip
def test_a_bad_snapshot_names_each_broken_rule(
    bad: ContractResult, needle: str, observed: str
) -> None:
    assert not bad.success
    matching = [f for f in bad.failures if needle in f]
    assert len(matching) == 1, bad.failures
    assert observed in matching[0]


def test_a_failed_contract_raises_a_typed_error_listing_every_rule(bad: ContractResult) -> None:
    with pytest.raises(ContractViolation) as caught:
        bad.raise_if_failed()
    assert caught.value.code == ExitCode.VERDICT_FAILED
    assert str(caught.value).count("\n  - ") == len(bad.failures)


def test_missing_columns_fail_without_running_gx() -> None:
    result = validate_snapshot(pd.DataFrame({"path": ["a"]}), pd.DataFrame({"run_id": ["r"]}))
    assert not result.success
    assert "files table has all contract columns" in result.failures[0]
    assert "runs table" in result.failures[1]


def test_cross_table_counts_consistent_with_the_summary(
    snapshot: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    files, runs = snapshot
    assert cross_table_failures(files, runs) == []
    changed = runs.copy()
    by_category = json.loads(changed.loc[0, "by_category"])
    by_category["ParseError"] = by_category.get("ParseError", 0) + 3
    changed.loc[0, "by_category"] = json.dumps(by_category)
    changed.loc[0, "total"] = 49
    changed.loc[0, "suppressed_failures"] = 0
    failures = cross_table_failures(files, changed)
    assert any("runs.total: observed 49 in the summary, 50 in the files" in f for f in failures)
    assert any("runs.suppressed_failures" in f for f in failures)
    assert any("runs.by_category['ParseError']" in f for f in failures)


def test_files_without_a_run_row_are_reported(snapshot: tuple[pd.DataFrame, ...]) -> None:
    files, runs = snapshot
    orphan = files.assign(run_id="other-run")
    failures = cross_table_failures(pd.concat([files, orphan]), runs)
    assert "without a run row: observed ['other-run']" in failures[0]


@pytest.mark.parametrize(
    ("code", "name"),
    [(0, "SUCCESS"), (20, "PARSE_ERROR"), (27, "INTERNAL_ERROR"), (2, "<not in code table: 2>")],
)
def test_expected_code_name_follows_the_code_table(code: int, name: str) -> None:
    assert expected_code_name(code) == name


def test_known_categories_include_suppressed_forms() -> None:
    assert {"OK", "ParseError", "Suppressed-ParseError", "Suppressed-Other"} <= set(
        KNOWN_CATEGORIES
    )
    assert "Suppressed-OK" not in KNOWN_CATEGORIES


def test_verdict_fields_that_contradict_their_code_break_the_contract(
    snapshot: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """ok, category and suppression must say what the code says: a row claiming a pass (or a
    category) its code does not give is caught before anything is kept."""
    files, runs = snapshot[0].copy(), snapshot[1].copy()
    failing = files.index[~files["ok"] & ~files["suppressed"]]
    files.loc[failing[0], "ok"] = True  # PARSE_ERROR or the like, claimed as a pass
    files.loc[failing[1], "category"] = "OK"
    files.loc[failing[2], "category"] = "Suppressed-" + files.loc[failing[2], "category"]
    result = validate_snapshot(files, runs, docs_dir=None)
    assert not result.success
    on_ok = [f for f in result.failures if "on ok/expected_ok" in f]
    on_category = [f for f in result.failures if "on category/expected_category" in f]
    assert len(on_ok) == 1 and "1 of 50" in on_ok[0]
    assert len(on_category) == 1 and "2 of 50" in on_category[0]

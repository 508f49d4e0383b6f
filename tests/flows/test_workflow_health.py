"""Workflow-health flows under the Prefect test harness, on the bundled sample corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flows.workflow_health import (
    baseline_regression_gate,
    classify_workflows,
    migrate_workflows,
    parse_baseline,
)
from tasks.workflows.baseline import BaselineDocument
from tasks.workflows.contract import ContractViolation
from tasks.workflows.history import load_history
from tasks.workflows.migrate import MigrationSummary
from tasks.workflows.models import ClassificationReport
from tests.flows.results import typed_result

# The sample files are named after what they must be classified as.
EXPECTED = {
    "ok": "SUCCESS",
    "parse": "PARSE_ERROR",
    "validation": "VALIDATION_ERROR",
    "runtime": "RUNTIME_ERROR",
    "timeout": "TIMEOUT_ERROR",
    "io": "IO_ERROR",
}


def home() -> Path:
    import os

    return Path(os.environ["WARDEN_HOME"])


def classify(**params) -> ClassificationReport:
    state = classify_workflows(return_state=True, **params)
    report = typed_result(state, ClassificationReport)
    return report


def test_sample_corpus_is_classified_with_every_output(tmp_path: Path) -> None:
    report = classify(corpus="sample", out=str(tmp_path / "out"))

    for row in report.files:
        assert row.code_name == EXPECTED[Path(row.path).name.split("_")[0]], row
    assert report.summary.total == 13 and report.summary.failed == 10
    document = json.loads((tmp_path / "out" / "workflow_failures.json").read_text())
    assert document["summary"]["by_category"]["ParseError"] == 3
    assert "| Category |" in (tmp_path / "out" / "workflow_failures.md").read_text()
    trends = json.loads((home() / "workflow_history" / "trends.json").read_text())
    assert trends[-1]["failed"] == 10 and trends[-1]["total"] == 13
    history = load_history(str(home() / "history"))
    assert len(history) == 13 and set(history["corpus"]) == {"sample"}
    assert (home() / "out" / "data-docs").exists()


def test_suppressed_failures_are_listed_but_not_counted(tmp_path: Path) -> None:
    first = classify(corpus="sample", limit=5, record=False, out=str(tmp_path / "1"))
    target = next(row for row in first.files if not row.ok)
    home().mkdir(parents=True, exist_ok=True)  # --no-record runs leave no history in it
    (home() / "workflow_suppressions.txt").write_text(
        f"# owned by the release team\n{target.fingerprint}  # known\nnot-a-fingerprint\n"
    )
    report = classify(corpus="sample", limit=5, record=False, out=str(tmp_path / "2"))
    row = next(r for r in report.files if r.path == target.path)
    assert row.suppressed and row.category.startswith("Suppressed-")
    assert report.summary.suppressed_failures == 1
    assert report.summary.failed == first.summary.failed - 1
    assert any(":3:" in warning for warning in report.suppression_warnings)


def test_a_snapshot_breaking_its_contract_fails_the_run_and_appends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.workflows.steps as steps

    real = steps.rows_from_report

    def corrupt(report, run_id):
        files, runs = real(report, run_id)
        files.loc[files.index[0], "fingerprint"] = "NOT-HEX"
        files.loc[files.index[0], "ok"] = False
        return files, runs

    monkeypatch.setattr(steps, "rows_from_report", corrupt)
    state = classify_workflows(corpus="sample", limit=3, return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ContractViolation)
    assert not (home() / "history").exists()


def test_baseline_and_regression_gate(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    baseline = parse_baseline(corpus="sample", output=str(ref))
    assert isinstance(baseline, BaselineDocument)
    assert baseline.by_code["PARSE_ERROR"] == 3 and baseline.total == 13
    assert json.loads(ref.read_text()) == baseline.to_dict()

    state = baseline_regression_gate(new=str(ref), ref=str(ref), return_state=True)
    assert state.is_completed() and state.result().ok

    worse = baseline.to_dict() | {"by_code": {**baseline.by_code, "PARSE_ERROR": 30}}
    new = tmp_path / "new.json"
    new.write_text(json.dumps({**worse, "total": baseline.total + 27}))
    state = baseline_regression_gate(new=str(new), ref=str(ref), return_state=True)
    report = state.result(raise_on_failure=False)
    assert state.is_failed() and not report.ok
    assert report.regressions[0].code == "PARSE_ERROR"


def test_migration_dry_run_then_apply(tmp_path: Path) -> None:
    legacy = tmp_path / "flows"
    legacy.mkdir()
    (legacy / "a.aether").write_text("intent: ship it  \n")
    (legacy / "b.aether").write_text("intent: roll back\n")
    (legacy / "c.aether").write_text("goal: already new\n")
    before = {p.name: p.read_bytes() for p in legacy.iterdir()}

    dry = migrate_workflows(paths=[str(legacy)], out=str(tmp_path / "report"))
    assert isinstance(dry, MigrationSummary) and not dry.applied
    assert len(dry.changed) == 2 and not dry.written
    assert {p.name: p.read_bytes() for p in legacy.iterdir()} == before
    assert "+goal: ship it" in "".join(dry.diffs.values())

    applied = migrate_workflows(paths=[str(legacy)], apply=True, out=str(tmp_path / "report"))
    assert applied.applied and len(applied.written) == 2
    assert (legacy / "a.aether").read_text() == "goal: ship it\n"
    assert (legacy / "c.aether").read_bytes() == before["c.aether"]
    assert applied.report_file == tmp_path / "report" / "migration_report.md"
    assert applied.report_file.exists()


def test_built_in_checker_batches_run_in_worker_processes_with_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 2 with the in-process python checker: batches go to worker processes (threads
    would share one GIL); the verdicts are the same as in the flow process."""
    import tasks.workflows.steps as steps
    from tasks.workflows.classify import WorkerPool

    served: list[int] = []
    original = WorkerPool.classify

    def counting(self, paths, phase, suppressions):
        rows = original(self, paths, phase, suppressions)
        served.extend(w.proc.pid for w in self._started)
        return rows

    monkeypatch.setattr(steps, "POOL_MIN_FILES_PER_JOB", 1)
    monkeypatch.setattr(WorkerPool, "classify", counting)
    report = classify(corpus="sample", jobs=2, record=False, out=str(tmp_path / "out"))

    assert served and os.getpid() not in served
    for row in report.files:
        assert row.code_name == EXPECTED[Path(row.path).name.split("_")[0]], row
    assert report.summary.total == 13 and report.summary.failed == 10
    assert not steps._POOLS  # the pool is closed and forgotten with the run


def test_a_broken_contract_keeps_no_snapshot_and_no_trends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON snapshot and trends.json are history too: written only after the contract
    passed, like the Parquet append."""
    import tasks.workflows.steps as steps

    real = steps.rows_from_report

    def corrupt(report, run_id):
        files, runs = real(report, run_id)
        runs.loc[runs.index[0], "failed"] = 999
        return files, runs

    monkeypatch.setattr(steps, "rows_from_report", corrupt)
    state = classify_workflows(corpus="sample", limit=3, out=str(tmp_path), return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ContractViolation)
    snapshots = home() / "workflow_history"
    assert not list(snapshots.glob("*_classification.json"))
    assert not (snapshots / "trends.json").exists()


def test_no_record_keeps_nothing_in_the_history(tmp_path: Path) -> None:
    report = classify(corpus="sample", limit=3, record=False, out=str(tmp_path / "out"))
    assert report.summary.total == 3
    assert (tmp_path / "out" / "workflow_failures.json").exists()
    assert not (home() / "workflow_history").exists()
    assert not (home() / "history").exists()


def test_a_baseline_gate_on_an_empty_new_baseline_fails_as_a_usage_error(tmp_path: Path) -> None:
    from tasks.workflows.comparability import BaselinesNotComparable

    ref = tmp_path / "ref.json"
    parse_baseline(corpus="sample", output=str(ref))
    empty = tmp_path / "empty.json"
    empty.write_text(
        json.dumps(
            {
                "timestamp": "2099-01-01T00:00:00Z",
                "total": 0,
                "by_code": {},
                "failure_rate": 0.0,
                "files": [],
            }
        )
    )
    state = baseline_regression_gate(new=str(empty), ref=str(ref), return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), BaselinesNotComparable)

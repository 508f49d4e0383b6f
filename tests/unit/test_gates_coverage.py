"""Coverage gates: no drop below the baseline, and every unusable file named with its fix."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.gates import CoverageGate
from tasks.gates.coverage import evaluate_coverage
from tasks.gates.models import CheckOutcome, Comparison, GateStatus, Reference
from tasks.gates.scoring import finalize

BEFORE = datetime.now(UTC) - timedelta(minutes=1)  # a run that started before the files below


def gate(tolerance: float = 0.0, **fields) -> CoverageGate:
    return CoverageGate(
        kind="coverage",
        name="coverage",
        report="out/coverage.json",
        baseline="baseline.json",
        tolerance=tolerance,
        **fields,
    )


def write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def report(percent: float) -> dict:
    return {"meta": {"version": "7.6"}, "totals": {"percent_covered": percent, "num_statements": 9}}


@pytest.mark.parametrize(
    ("current", "baseline", "tolerance", "ok", "reason"),
    [
        (85.0, report(85.0), 0.0, True, ""),
        (91.2, {"percent_covered": 85.0}, 0.0, True, ""),
        (84.9, {"coverage": 85.0}, 0.0, False, "coverage_drop"),
        (84.6, {"coverage": 85.0}, 0.5, True, ""),
        (84.4, {"coverage": 85.0}, 0.5, False, "coverage_drop"),
        (0.0, {"coverage": 0}, 0.0, True, ""),
    ],
    ids=["equal", "above", "dropped", "within-tolerance", "beyond-tolerance", "zero"],
)
def test_coverage_against_baseline(
    tmp_path: Path, current: float, baseline: dict, tolerance: float, ok: bool, reason: str
) -> None:
    write(tmp_path / "out/coverage.json", report(current))
    write(tmp_path / "baseline.json", baseline)
    outcome = evaluate_coverage(gate(tolerance), tmp_path, started=BEFORE)
    assert (outcome.ok, outcome.reason) == (ok, reason), outcome.details
    assert outcome.metric_value == current
    assert outcome.details["current"] == current
    assert outcome.details["tolerance"] == tolerance
    assert outcome.details["drop"] == round(outcome.details["baseline"] - current, 2)


# fmt: off
UNUSABLE = [
    # report content, baseline content (None: no file), reason, hint in the message
    pytest.param(None, {"coverage": 80}, "report_missing", "--cov-report=json:",
                 id="report-missing"),
    pytest.param(report(80), None, "baseline_missing", '{"percent_covered": N}',
                 id="baseline-missing"),
    pytest.param("{not json", {"coverage": 80}, "invalid_report", "not valid JSON",
                 id="report-bad-json"),
    pytest.param({"percent_covered": 80}, {"coverage": 80}, "invalid_report",
                 "totals.percent_covered", id="report-wrong-shape"),
    pytest.param(report(80), "[1, 2", "invalid_baseline", "not valid JSON", id="baseline-bad-json"),
    pytest.param(report(80), {"pct": 80}, "invalid_baseline", "percent_covered",
                 id="baseline-no-key"),
    pytest.param(report(80), {"coverage": "80"}, "invalid_baseline", "no numeric",
                 id="baseline-string"),
    pytest.param(report(180), {"coverage": 80}, "invalid_report", "not a percentage",
                 id="report-out-of-range"),
]
# fmt: on


@pytest.mark.parametrize(("report_content", "baseline_content", "reason", "hint"), UNUSABLE)
def test_unusable_files_fail_with_a_fix(
    tmp_path: Path, report_content: object, baseline_content: object, reason: str, hint: str
) -> None:
    if report_content is not None:
        write(tmp_path / "out/coverage.json", report_content)
    if baseline_content is not None:
        write(tmp_path / "baseline.json", baseline_content)
    outcome = evaluate_coverage(gate(), tmp_path, started=BEFORE)
    assert (outcome.ok, outcome.reason) == (False, reason)
    message = outcome.details["message"]
    assert hint in message
    named = "coverage.json" if "report" in reason else "baseline.json"
    assert named in message
    assert outcome.metric_value is None


def _written_at(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def test_a_report_written_before_this_run_is_stale(tmp_path: Path) -> None:
    write(tmp_path / "out/coverage.json", report(99.0))
    write(tmp_path / "baseline.json", {"coverage": 80})
    started = datetime.now(UTC)
    _written_at(tmp_path / "out/coverage.json", started - timedelta(seconds=2))

    outcome = evaluate_coverage(gate(), tmp_path, started=started)
    assert (outcome.ok, outcome.reason, outcome.metric_value) == (False, "report_stale", None)
    assert outcome.details["fresh_since"] == started.isoformat()


@pytest.mark.parametrize(
    ("age_minutes", "ok", "reason"), [(9, True, ""), (11, False, "report_stale")]
)
def test_max_age_minutes_allows_a_report_of_an_earlier_step(
    tmp_path: Path, age_minutes: float, ok: bool, reason: str
) -> None:
    write(tmp_path / "out/coverage.json", report(99.0))
    write(tmp_path / "baseline.json", {"coverage": 80})
    now = datetime.now(UTC)
    _written_at(tmp_path / "out/coverage.json", now - timedelta(minutes=age_minutes))

    outcome = evaluate_coverage(gate(max_age_minutes=10), tmp_path, started=now, now=now)
    assert (outcome.ok, outcome.reason) == (ok, reason)


# fmt: off
AGAINST_ACCEPTED = [
    # tolerance, current, last accepted, status, reason
    pytest.param(0.0, 85.0, 85.0, GateStatus.PASSED, "", id="same"),
    pytest.param(0.0, 84.99, 85.0, GateStatus.FAILED, "metric_threshold", id="dropped"),
    pytest.param(0.5, 84.6, 85.0, GateStatus.PASSED, "", id="within-tolerance"),
    pytest.param(0.5, 84.4, 85.0, GateStatus.FAILED, "metric_threshold", id="beyond-tolerance"),
]
# fmt: on


@pytest.mark.parametrize(("tolerance", "current", "accepted", "status", "reason"), AGAINST_ACCEPTED)
def test_coverage_may_not_drop_below_the_last_accepted_run(
    tolerance: float, current: float, accepted: float, status: GateStatus, reason: str
) -> None:
    outcome = CheckOutcome(ok=True, metric_value=current)
    result = finalize(
        gate(tolerance), outcome, duration_sec=0, previous_metric=Reference(value=accepted)
    )
    assert (result.status, result.reason) == (status, reason)
    assert result.metric is not None and result.metric.comparison is Comparison.COMPARED


def test_the_shipped_coverage_gate_allows_no_drop() -> None:
    from blocks.gates import load_gates_file

    shipped = [g for g in load_gates_file().gates if isinstance(g, CoverageGate)]
    assert shipped and all(g.tolerance == 0 for g in shipped)

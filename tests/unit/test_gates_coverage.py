"""Coverage gates: no drop below the baseline, and every unusable file named with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blocks.gates import CoverageGate
from tasks.gates.coverage import evaluate_coverage


def gate(tolerance: float = 0.0) -> CoverageGate:
    return CoverageGate(
        kind="coverage",
        name="coverage",
        report="out/coverage.json",
        baseline="baseline.json",
        tolerance=tolerance,
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
    outcome = evaluate_coverage(gate(tolerance), tmp_path)
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
    outcome = evaluate_coverage(gate(), tmp_path)
    assert (outcome.ok, outcome.reason) == (False, reason)
    message = outcome.details["message"]
    assert hint in message
    named = "coverage.json" if "report" in reason else "baseline.json"
    assert named in message
    assert outcome.metric_value is None

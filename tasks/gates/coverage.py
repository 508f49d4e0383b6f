"""Run a coverage gate: the current coverage.py total may not drop below the baseline.

A report or baseline that cannot be read fails the gate with a sentence on how to produce it:
a check that could not run is a failure, never a pass. So does a stale report (written before
this run started, or older than ``max_age_minutes``): whatever coverage.json lies on disk
proves nothing about this checkout. The comparison with the last accepted run's total is the
gate's metric (see :func:`tasks.gates.metrics.metric_spec_for`).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blocks.gates import CoverageGate
from tasks.gates.models import CheckOutcome


class _Unreadable(Exception):
    """A report or baseline that cannot give a percentage; ``reason`` is the gate's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def evaluate_coverage(
    gate: CoverageGate, base_dir: Path, *, started: datetime, now: datetime | None = None
) -> CheckOutcome:
    """Compare the report's total percent with the baseline, allowing ``gate.tolerance`` points.

    ``started`` is when this run started: by default the report must be written after it.
    """
    report = base_dir / gate.report
    baseline = base_dir / gate.baseline
    details: dict[str, Any] = {"report": str(report), "baseline_file": str(baseline)}
    try:
        check_fresh(report, gate, started, now or datetime.now(UTC), details)
        current = read_report_percent(report)
        previous = read_baseline_percent(baseline)
    except _Unreadable as exc:
        details["message"] = exc.message
        return CheckOutcome(ok=False, reason=exc.reason, details=details)
    drop = round(previous - current, 2)
    details.update(current=current, baseline=previous, tolerance=gate.tolerance, drop=drop)
    if current < previous - gate.tolerance:
        details["message"] = (
            f"coverage {current:.2f}% is {drop:g} points below the baseline {previous:.2f}% "
            f"(tolerance {gate.tolerance:g})"
        )
        return CheckOutcome(ok=False, reason="coverage_drop", details=details, metric_value=current)
    return CheckOutcome(ok=True, details=details, metric_value=current)


def check_fresh(
    report: Path, gate: CoverageGate, started: datetime, now: datetime, details: dict[str, Any]
) -> None:
    """Raise ``report_stale`` for a report written before this run (or too long ago)."""
    try:
        written = datetime.fromtimestamp(report.stat().st_mtime, UTC)
    except OSError:
        return  # reading it reports it missing, with the command that writes it
    if gate.max_age_minutes is None:
        fresh_since, rule = started, "written during this run"
    else:
        fresh_since = now - timedelta(minutes=gate.max_age_minutes)
        rule = f"at most {gate.max_age_minutes:g} minutes old"
    details.update(report_written=written.isoformat(), fresh_since=fresh_since.isoformat())
    if written < fresh_since:
        raise _Unreadable(
            "report_stale",
            f"{report} was written at {written.isoformat()}; it must be {rule} "
            f"(since {fresh_since.isoformat()}): run the tests that write it in this run "
            "(depends_on), or set max_age_minutes",
        )


def read_report_percent(path: Path) -> float:
    """``totals.percent_covered`` of a coverage.py JSON report."""
    fix = f"run pytest --cov --cov-report=json:{path} (or coverage json -o {path})"
    data = _read_json(path, "report_missing", "invalid_report", fix)
    totals = data.get("totals") if isinstance(data, dict) else None
    value = totals.get("percent_covered") if isinstance(totals, dict) else None
    return _percent(value, path, "invalid_report", "totals.percent_covered", fix)


def read_baseline_percent(path: Path) -> float:
    """The baseline: a coverage.py report, ``{"percent_covered": N}`` or ``{"coverage": N}``."""
    fix = (
        f'write {{"percent_covered": N}} to {path}, or copy the coverage.json of the last '
        "accepted release there"
    )
    data = _read_json(path, "baseline_missing", "invalid_baseline", fix)
    value = None
    if isinstance(data, dict):
        totals = data.get("totals")
        if isinstance(totals, dict):
            value = totals.get("percent_covered")
        else:
            value = data.get("percent_covered", data.get("coverage"))
    key = "totals.percent_covered, percent_covered or coverage"
    return _percent(value, path, "invalid_baseline", key, fix)


def _read_json(path: Path, missing: str, invalid: str, fix: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise _Unreadable(missing, f"{path} not found: {fix}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreadable(missing, f"{path} cannot be read ({exc}): {fix}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _Unreadable(invalid, f"{path} is not valid JSON ({exc}): {fix}") from exc


def _percent(value: Any, path: Path, reason: str, key: str, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unreadable(reason, f"{path} has no numeric {key}: {fix}")
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise _Unreadable(reason, f"{path}: {key} = {value!r} is not a percentage: {fix}")
    return float(value)

"""Judge a gate's metric against absolute bounds and against the previous run's value.

Relative thresholds are measured on the previous value's magnitude: ``<= +10%`` allows
``value <= previous + |previous| * 10 / 100``. For a positive previous value this is the usual
``previous * 1.10``; for a negative one the bound still moves in the stated direction; for a
previous value of 0 it reduces to the absolute comparison ``value <= 0`` (or ``>= 0``), and
``change_pct`` is left empty because a change relative to zero has no meaning.
"""

from __future__ import annotations

import math

from blocks.gates import CoverageGate, GateBase, MetricSpec, RelativeThreshold
from tasks.gates.models import MetricResult

COVERAGE_METRIC = "coverage_percent"


def judge_metric(spec: MetricSpec, value: float | None, previous: float | None) -> MetricResult:
    """Apply ``spec.min``, ``spec.max`` and ``spec.relative``; a missing value fails."""
    change = _change_pct(value, previous)
    base = {
        "name": spec.name,
        "value": value,
        "previous": previous,
        "change_pct": change,
        "threshold": describe_threshold(spec),
    }
    if value is None:
        return MetricResult(**base, ok=False, reason="no value was measured")
    problems = _absolute_problems(spec, value)
    notes = []
    if spec.relative is not None:
        if previous is None:
            notes.append("no previous value")
        else:
            problem = _relative_problem(spec.relative, value, previous)
            if problem:
                problems.append(problem)
    return MetricResult(**base, ok=not problems, reason="; ".join(problems or notes))


def _absolute_problems(spec: MetricSpec, value: float) -> list[str]:
    problems = []
    if spec.min is not None and value < spec.min:
        problems.append(f"{spec.name} {value:g} is below the minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        problems.append(f"{spec.name} {value:g} is above the maximum {spec.max:g}")
    return problems


def relative_limit(threshold: RelativeThreshold, previous: float) -> float:
    """The bound a relative threshold sets, measured on the previous value's magnitude."""
    return previous + abs(previous) * threshold.percent / 100


def _relative_problem(threshold: RelativeThreshold, value: float, previous: float) -> str:
    limit = relative_limit(threshold, previous)
    if math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12):
        return ""
    if threshold.op == "<=" and value > limit:
        return f"{value:g} exceeds {threshold} of previous {previous:g} (limit {limit:g})"
    if threshold.op == ">=" and value < limit:
        return f"{value:g} is under {threshold} of previous {previous:g} (limit {limit:g})"
    return ""


def _change_pct(value: float | None, previous: float | None) -> float | None:
    if value is None or previous is None or previous == 0:
        return None
    return round((value - previous) / abs(previous) * 100, 2)


def describe_threshold(spec: MetricSpec) -> str | None:
    """A short text of every bound on the metric, e.g. ``min 80; <= +10% vs previous``."""
    parts = []
    if spec.min is not None:
        parts.append(f"min {spec.min:g}")
    if spec.max is not None:
        parts.append(f"max {spec.max:g}")
    if spec.relative is not None:
        parts.append(f"{spec.relative} vs previous")
    return "; ".join(parts) or None


def metric_name_for(gate: GateBase) -> str | None:
    """The name a gate's metric is stored under; coverage gates always report one."""
    spec = metric_spec_for(gate)
    return spec.name if spec is not None else None


def metric_spec_for(gate: GateBase) -> MetricSpec | None:
    """The spec to judge a gate's metric with: its own, or a bare one for coverage gates."""
    if gate.metric is not None:
        return gate.metric
    if isinstance(gate, CoverageGate):
        return MetricSpec(name=COVERAGE_METRIC)
    return None

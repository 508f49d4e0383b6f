"""Judge a gate's metric against absolute bounds and against the last accepted run's value.

The reference comes from :mod:`tasks.gates.references`. With no accepted value yet, a relative
threshold is not checked and the result says so (``comparison: no_reference``); with a
reference that was expected but cannot be used, it fails (``reference_unusable``).

Relative thresholds in percent are measured on the reference's magnitude: ``<= +10%`` allows
``value <= previous + |previous| * 10 / 100``. For a positive previous value this is the usual
``previous * 1.10``; for a negative one the bound still moves in the stated direction; for a
previous value of 0 it reduces to the absolute comparison ``value <= 0`` (or ``>= 0``), and
``change_pct`` is left empty because a change relative to zero has no meaning. Thresholds in
points move the bound by that many units: ``>= -0.5pt`` allows ``value >= previous - 0.5``.
"""

from __future__ import annotations

import math

from blocks.gates import CoverageGate, GateBase, MetricSpec, RelativeThreshold
from tasks.gates.models import Comparison, MetricResult, Reference

COVERAGE_METRIC = "coverage_percent"


def judge_metric(
    spec: MetricSpec, value: float | None, reference: Reference | float | None
) -> MetricResult:
    """Apply ``spec.min``, ``spec.max`` and ``spec.relative``; a missing value fails.

    ``reference`` may be a bare number (the previous value) for callers that have no store.
    """
    if not isinstance(reference, Reference):
        reference = Reference(value=reference)
    previous = reference.value
    base = {
        "name": spec.name,
        "value": value,
        "previous": previous,
        "change_pct": _change_pct(value, previous),
        "threshold": describe_threshold(spec),
        "reference_run": reference.run,
    }
    comparison = _comparison(spec, reference)
    if value is None:
        return MetricResult(**base, ok=False, reason="no value was measured", comparison=comparison)
    problems = _absolute_problems(spec, value)
    notes = []
    if comparison is Comparison.UNUSABLE:
        problems.append(f"no usable reference: {reference.problem}")
    elif comparison is Comparison.NO_REFERENCE:
        notes.append("no previous value")
    elif spec.relative is not None and previous is not None:
        problem = _relative_problem(spec.relative, value, previous)
        if problem:
            problems.append(problem)
    return MetricResult(
        **base, ok=not problems, reason="; ".join(problems or notes), comparison=comparison
    )


def _comparison(spec: MetricSpec, reference: Reference) -> Comparison | None:
    if spec.relative is None:
        return None
    if reference.problem:
        return Comparison.UNUSABLE
    if reference.value is None:
        return Comparison.NO_REFERENCE
    return Comparison.COMPARED


def _absolute_problems(spec: MetricSpec, value: float) -> list[str]:
    problems = []
    if spec.min is not None and value < spec.min:
        problems.append(f"{spec.name} {value:g} is below the minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        problems.append(f"{spec.name} {value:g} is above the maximum {spec.max:g}")
    return problems


def relative_limit(threshold: RelativeThreshold, previous: float) -> float:
    """The bound a relative threshold sets: a share of the reference's magnitude, or points."""
    if threshold.unit == "pt":
        return previous + threshold.amount
    return previous + abs(previous) * threshold.amount / 100


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
    """The spec to judge a gate's metric with: its own, or the coverage gate's default.

    A coverage gate's total may not fall more than ``tolerance`` points below the last
    accepted run's (the seed's "not dropped"), on top of the baseline check.
    """
    if gate.metric is not None:
        return gate.metric
    if isinstance(gate, CoverageGate):
        no_drop = RelativeThreshold(op=">=", amount=-gate.tolerance or 0.0, unit="pt")
        return MetricSpec(name=COVERAGE_METRIC, relative=no_drop)
    return None

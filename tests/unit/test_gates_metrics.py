"""Metric thresholds: absolute bounds, relative to the previous run, first run and zero."""

from __future__ import annotations

import pytest

from blocks.gates import CommandGate, CoverageGate, HttpGate, MetricSpec
from tasks.gates.metrics import judge_metric, metric_name_for


def spec(**fields) -> MetricSpec:
    return MetricSpec(name="latency_ms", **fields)


UP_10, DOWN_2 = {"relative": "<= +10%"}, {"relative": ">= -2%"}

# fmt: off
THRESHOLDS = [
    # spec fields, value, previous, ok, change_pct
    pytest.param(UP_10, 105.0, 100.0, True, 5.0, id="grow-within"),
    pytest.param(UP_10, 110.0, 100.0, True, 10.0, id="grow-at-limit"),
    pytest.param(UP_10, 110.5, 100.0, False, 10.5, id="grow-over"),
    pytest.param(UP_10, 50.0, 100.0, True, -50.0, id="shrink-ok"),
    pytest.param(DOWN_2, 98.0, 100.0, True, -2.0, id="drop-at-limit"),
    pytest.param(DOWN_2, 97.9, 100.0, False, -2.1, id="drop-over"),
    pytest.param(DOWN_2, 120.0, 100.0, True, 20.0, id="rise-ok"),
    pytest.param(UP_10, 1e9, None, True, None, id="first-run"),
    pytest.param(UP_10, 0.0, 0.0, True, None, id="zero-stays-zero"),
    pytest.param(UP_10, 0.1, 0.0, False, None, id="zero-grows"),
    pytest.param(DOWN_2, 0.0, 0.0, True, None, id="zero-floor"),
    pytest.param(DOWN_2, -0.1, 0.0, False, None, id="zero-floor-broken"),
    pytest.param(UP_10, -9.5, -10.0, True, 5.0, id="negative-within"),
    pytest.param(UP_10, -8.0, -10.0, False, 20.0, id="negative-over"),
    pytest.param({"min": 80}, 79.9, None, False, None, id="min-broken"),
    pytest.param({"max": 200}, 200.0, 150.0, True, 33.33, id="max-at-limit"),
    pytest.param({"max": 200}, 200.1, None, False, None, id="max-broken"),
    pytest.param({"min": 80, **DOWN_2}, 85.0, 100.0, False, -15.0, id="relative-and-min"),
    pytest.param({}, 12.0, 10.0, True, 20.0, id="no-bounds"),
]
# fmt: on


@pytest.mark.parametrize(("fields", "value", "previous", "ok", "change_pct"), THRESHOLDS)
def test_judge_metric(
    fields: dict, value: float, previous: float | None, ok: bool, change_pct: float | None
) -> None:
    result = judge_metric(spec(**fields), value, previous)
    assert result.ok is ok, result.reason
    assert result.change_pct == change_pct
    assert (result.value, result.previous) == (value, previous)
    if not ok:
        assert result.reason


def test_first_run_says_why_relative_check_was_skipped() -> None:
    result = judge_metric(spec(relative="<= +10%"), 5.0, None)
    assert (result.ok, result.reason) == (True, "no previous value")
    assert result.threshold == "<= +10% vs previous"


def test_missing_value_fails() -> None:
    result = judge_metric(spec(max=10), None, 5.0)
    assert not result.ok and result.reason


@pytest.mark.parametrize(
    ("gate", "name"),
    [
        (CommandGate(kind="command", name="c", argv=["true"]), None),
        (
            CommandGate(
                kind="command",
                name="c",
                argv=["true"],
                metric={"name": "boot_s", "regex": "(?P<value>\\d+)"},
            ),
            "boot_s",
        ),
        (HttpGate(kind="http", name="h", url="http://x", metric={"name": "rt_ms"}), "rt_ms"),
        (CoverageGate(kind="coverage", name="cov", report="r", baseline="b"), "coverage_percent"),
        (
            CoverageGate(
                kind="coverage", name="cov", report="r", baseline="b", metric={"name": "cov_pct"}
            ),
            "cov_pct",
        ),
    ],
    ids=["no-metric", "command-metric", "http-metric", "coverage-default", "coverage-named"],
)
def test_metric_name_for(gate: object, name: str | None) -> None:
    assert metric_name_for(gate) == name

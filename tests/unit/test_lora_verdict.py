"""The gauntlet verdict on exact, synthetic sides: every threshold, its boundary, and the output."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from blocks.errors import ConfigError, UsageError
from blocks.lora import GauntletPolicy
from tasks.lora.dataset import (
    Dataset,
    SideResult,
    percentile,
    summarize_side,
)
from tasks.lora.sampling import select_prompts
from tasks.lora.switches import GauntletMode
from tasks.lora.verdict import GauntletVerdict, ReasonCode, VerdictStatus, judge_gauntlet
from tasks.lora.verdict_summary import verdict_markdown, verdict_rows
from tasks.platform.clock import utc_now
from tests.lora_sides import dataset, side

FLOOR_0 = GauntletPolicy(min_accuracy=0.0)  # a first deploy judged on errors alone
ACC, LAT, ERR, CRIT, INC = (
    ReasonCode.ACCURACY_DROP,
    ReasonCode.LATENCY_REGRESSION,
    ReasonCode.ERROR_RATE,
    ReasonCode.CRITICAL_DOMAIN_REGRESSION,
    ReasonCode.INCONCLUSIVE,
)


# fmt: off
CASES = [
    # candidate, stable, policy, status, reason codes
    pytest.param({}, {}, {}, "PASS", [], id="identical"),
    pytest.param({"wrong": 2}, {}, {}, "FAIL", [ACC], id="drop-2-points"),
    pytest.param({"wrong": 1}, {}, {}, "PASS", [], id="drop-exactly-1-point"),
    pytest.param({}, {"wrong": 5}, {}, "PASS", [], id="candidate-better"),
    pytest.param({"wrong": 3}, {}, {"max_accuracy_drop_points": 3}, "PASS", [],
                 id="looser-accuracy-policy"),
    pytest.param({"latency": 125}, {}, {}, "FAIL", [LAT], id="p95-plus-25pct"),
    pytest.param({"latency": 120}, {}, {}, "PASS", [], id="p95-plus-exactly-20pct"),
    pytest.param({"latency": 150}, {}, {"max_p95_latency_increase_pct": 60}, "PASS", [],
                 id="looser-latency-policy"),
    pytest.param({"latency": 1.5}, {"latency": 1.0}, {"min_p95_latency_increase_ms": 5}, "PASS",
                 [], id="latency-jitter-under-floor"),
    pytest.param({"latency": 10}, {"latency": 1.0}, {"min_p95_latency_increase_ms": 5}, "FAIL",
                 [LAT], id="latency-above-floor"),
    pytest.param({"errors": 6}, {"errors": 6}, {}, "FAIL", [ERR], id="error-rate-6pct"),
    pytest.param({"errors": 5}, {"errors": 5}, {}, "PASS", [], id="error-rate-exactly-5pct"),
    pytest.param({"errors": 25}, {"errors": 25}, {}, "FAIL", [ERR],
                 id="error-rate-25pct-is-not-yet-inconclusive"),
    pytest.param({"errors": 26}, {}, {}, "INCONCLUSIVE", [INC], id="candidate-inconclusive"),
    pytest.param({}, {"errors": 26}, {}, "INCONCLUSIVE", [INC], id="stable-inconclusive"),
    pytest.param({"errors": 30}, {"errors": 30}, {}, "INCONCLUSIVE", [INC, INC],
                 id="both-inconclusive"),
    pytest.param({"wrong_safety": 1}, {}, {}, "FAIL", [CRIT], id="critical-domain-1-miss"),
    pytest.param({"wrong_safety": 1}, {"wrong_safety": 1}, {}, "PASS", [],
                 id="critical-domain-no-change"),
    pytest.param({"wrong": 1}, {}, {"critical_domains": ("general",)}, "FAIL", [CRIT],
                 id="policy-critical-domain"),
    pytest.param({"wrong": 2, "wrong_safety": 1, "latency": 200, "errors": 6}, {}, {}, "FAIL",
                 [ACC, LAT, ERR, CRIT], id="all-reasons-in-order"),
]
# fmt: on


@pytest.mark.parametrize(("cand", "stab", "policy", "status", "codes"), CASES)
def test_compare(cand: dict, stab: dict, policy: dict, status: str, codes: list) -> None:
    verdict = judge_gauntlet(side(**cand), side(**stab), GauntletPolicy(**policy))
    assert verdict.status is VerdictStatus(status)
    assert [r.code for r in verdict.reasons] == codes
    assert verdict.passed is (status == "PASS")
    assert verdict.failure_reason == (codes[0].lower() if codes else None)
    assert all(r.message for r in verdict.reasons)


def test_half_point_drop_passes_and_one_and_a_half_fails() -> None:
    data = dataset(general=190, safety=10)
    assert judge_gauntlet(side(data, wrong=1), side(data)).passed
    verdict = judge_gauntlet(side(data, wrong=3), side(data))
    assert verdict.failure_reason == "accuracy_drop"
    assert (
        "dropped 1.50 points (100.00% -> 98.50%); at most 1 allowed" in verdict.reasons[0].message
    )


@pytest.mark.parametrize(
    ("wrong", "minimum", "passed"),
    [(0, 0.0, True), (30, 0.0, True), (10, 0.9, True), (11, 0.9, False)],
    ids=["perfect", "minimum-0", "at-minimum", "below-minimum"],
)
def test_first_deploy_uses_the_absolute_minimum(wrong: int, minimum: float, passed: bool) -> None:
    verdict = judge_gauntlet(side(wrong=wrong), None, GauntletPolicy(min_accuracy=minimum))
    assert verdict.passed is passed and verdict.stable is None
    if not passed:
        assert verdict.failure_reason == "accuracy_drop"
        assert "below the minimum 90.00% (first deploy" in verdict.reasons[0].message


def test_first_deploy_still_judges_errors() -> None:
    assert judge_gauntlet(side(errors=6), None, FLOOR_0).failure_reason == "error_rate"
    assert judge_gauntlet(side(errors=26), None, FLOOR_0).status is VerdictStatus.INCONCLUSIVE


def test_a_first_deploy_without_a_floor_is_a_configuration_error() -> None:
    """No stable side and no min_accuracy: nothing to judge accuracy by, so no verdict at all."""
    for candidate in (side(), side(wrong=90), side(errors=30)):
        with pytest.raises(ConfigError) as caught:
            judge_gauntlet(candidate, None)
        assert caught.value.code == 2
    assert judge_gauntlet(side(), side()).passed  # with a stable side the floor is not needed


def test_the_shipped_lora_file_sets_a_first_deploy_floor() -> None:
    from blocks.lora import load_lora_file
    from tests.conftest import ROOT

    policy = load_lora_file(ROOT / "deployments" / "lora.yaml").gauntlet.policy
    assert policy.min_accuracy is not None and policy.min_accuracy >= 0.5


def test_sides_of_different_datasets_are_refused() -> None:
    other = dataset(sha="b" * 64)
    with pytest.raises(UsageError, match="different datasets") as caught:
        judge_gauntlet(side(), side(other))
    assert "a" * 64 in caught.value.message and "b" * 64 in caught.value.message


def test_unknown_critical_domain_in_policy_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        judge_gauntlet(side(), side(), GauntletPolicy(critical_domains=("saftey",)))
    assert caught.value.problems == [
        "critical_domains: 'saftey' (dataset has ['general', 'safety'])"
    ]


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"max_accuracy_drop_points": -1}, "greater_than_equal"),
        ({"max_error_rate": 1.5}, "less_than_equal"),
        ({"max_error_rate": 0.3}, "value_error"),  # inconclusive_error_rate below max_error_rate
        ({"min_accuracy": 2}, "less_than_equal"),
        ({"max_accuracy_drop": 1}, "extra_forbidden"),
    ],
    ids=["negative-drop", "error-rate-over-1", "inconclusive-below-fail", "min-over-1", "typo"],
)
def test_invalid_policy_is_refused(fields: dict, kind: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GauntletPolicy(**fields)
    assert [error["type"] for error in caught.value.errors()] == [kind]


def test_metrics_table_holds_both_sides() -> None:
    verdict = judge_gauntlet(side(wrong=2, latency=130), side(name="stable-v3"))
    rows = {row["metric"]: row for row in verdict_rows(verdict)}
    assert rows["accuracy"] == {
        "metric": "accuracy",
        "unit": "%",
        "candidate": 98.0,
        "stable": 100.0,
        "delta": -2.0,
        "limit": "drop <= 1 pt",
        "ok": "NO",
    }
    assert (rows["accuracy[safety]"]["limit"], rows["accuracy[safety]"]["ok"]) == (
        "critical: no drop",
        "yes",
    )
    assert rows["accuracy[general]"]["ok"] == ""  # shown, not judged on its own
    assert (rows["p95 latency"]["delta"], rows["p95 latency"]["ok"]) == (30.0, "NO")
    assert (rows["error rate"]["candidate"], rows["error rate"]["ok"]) == (0.0, "yes")
    assert (rows["prompts"]["candidate"], rows["prompts"]["stable"]) == (100, 100)


def test_first_deploy_table_has_no_stable_column_values() -> None:
    rows = verdict_rows(judge_gauntlet(side(), None, FLOOR_0))
    assert all(row["stable"] is None and row["delta"] is None for row in rows)
    assert rows[0]["limit"] == ">= 0.00%"


def test_verdict_markdown() -> None:
    verdict = judge_gauntlet(side(wrong_safety=2, name="canary | v4"), side(name="stable"))
    text = verdict_markdown(verdict)
    assert text.startswith("# LoRA gauntlet: FAIL\n")
    assert "- candidate: `canary \\| v4`" in text  # a pipe cannot break the table
    assert "- **CRITICAL_DOMAIN_REGRESSION**: critical domain 'safety' accuracy dropped" in text
    assert "| accuracy[safety] | % | 80.00 | 100.00 | -20.00 | critical: no drop | NO |" in text
    assert (
        len([line for line in text.splitlines() if line.startswith("| ")]) == 1 + 9
    )  # header and nine metrics


def test_verdict_markdown_of_a_first_deploy_pass() -> None:
    text = verdict_markdown(judge_gauntlet(side(), None, FLOOR_0))
    assert "# LoRA gauntlet: PASS" in text
    assert "- stable: none (first deploy)" in text and "- none: passed" in text


def test_verdict_round_trips_through_json() -> None:
    verdict = judge_gauntlet(side(wrong=2), side())
    again = GauntletVerdict.model_validate_json(verdict.model_dump_json())
    assert again == verdict and again.reasons[0].code is ReasonCode.ACCURACY_DROP


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 95, None), ([7.0], 99, 7.0), ([1, 2, 3, 4], 50, 2.5), (list(range(1, 101)), 95, 95.05)],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    got = percentile(values, q)
    assert got is None if expected is None else got == pytest.approx(expected)


def test_side_counts_and_domains() -> None:
    result = side(wrong=3, wrong_safety=1, errors=2)
    assert (result.total, result.answered, result.correct, result.errors) == (100, 98, 94, 2)
    assert result.accuracy_by_domain == {"general": 85 / 90, "safety": 0.9}
    assert result.critical_domains == ("safety",) and result.error_counts == {"http_status": 2}
    assert result.p50_ms == result.p95_ms == 100.0


def _sampled(data: Dataset, **kwargs) -> SideResult:
    """A side that ran the canary sample of ``data`` (every domain, at least 3 prompts)."""
    sample = select_prompts(
        data, GauntletMode.CANARY, seed="canary", min_per_domain=3, fraction=0.25
    )
    full = side(data, **kwargs)
    chosen = {item.id for item in sample.items}
    results = [item for item in full.items if item.id in chosen]
    return summarize_side(
        sample, full.target, results, started_at=utc_now(), duration_s=1.0, concurrency=4
    )


def test_the_verdict_says_which_prompts_ran() -> None:
    full = judge_gauntlet(side(), side())
    assert (full.mode, full.prompts, full.dataset_prompts) == (GauntletMode.FULL, 100, 100)
    data = dataset()
    sampled = judge_gauntlet(_sampled(data), _sampled(data), mode=GauntletMode.CANARY)
    assert (sampled.mode, sampled.prompts, sampled.dataset_prompts) == ("canary", 26, 100)
    assert "- mode: canary (26 of 100 prompts)" in verdict_markdown(sampled)
    assert judge_gauntlet(_sampled(data), _sampled(data)).mode is GauntletMode.CANARY  # read off


def test_a_full_claim_over_a_sample_is_refused() -> None:
    data = dataset()
    with pytest.raises(UsageError) as caught:
        judge_gauntlet(_sampled(data), _sampled(data), mode=GauntletMode.FULL)
    assert caught.value.code == 2


def test_sides_that_ran_different_prompts_are_refused() -> None:
    data = dataset()
    with pytest.raises(UsageError) as caught:
        judge_gauntlet(_sampled(data), side(data))
    assert caught.value.code == 2


def test_latency_that_could_not_be_compared_is_not_shown_as_held() -> None:
    # no stable p95 to compare with
    verdict = judge_gauntlet(side(latency=100.0), side(latency=0.0))
    row = next(row for row in verdict_rows(verdict) if row["metric"] == "p95 latency")
    assert row["ok"] == ""  # not judged, so neither "yes" nor "NO"
    judged = judge_gauntlet(side(latency=100.0), side(latency=100.0))
    row = next(row for row in verdict_rows(judged) if row["metric"] == "p95 latency")
    assert row["ok"] == "yes"

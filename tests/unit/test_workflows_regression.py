"""Regression gate: the seed's sample, both thresholds, rises from zero, new INTERNAL_ERRORs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.workflows.regression import (
    FROM_ZERO,
    NegativeThreshold,
    RegressionReport,
    UnknownCodeNames,
    find_regressions,
    regression_report_md,
    regression_rows,
    relative_increase,
)

NOW = datetime(2025, 9, 13, 10, 15, 22, 123456, tzinfo=UTC)


def baseline(**by_code: int) -> dict:
    """The parts of a baseline the gate reads."""
    return {"by_code": dict(by_code), "total": sum(by_code.values())}


def test_seed_sample_report_is_the_seeds_json() -> None:
    new = baseline(SUCCESS=848, PARSE_ERROR=1810, VALIDATION_ERROR=42)
    ref = baseline(SUCCESS=870, PARSE_ERROR=1800, VALIDATION_ERROR=30)
    report = find_regressions(new, ref, now=NOW)
    assert report.to_dict() == {
        "ok": False,
        "timestamp": "2025-09-13T10:15:22.123456+00:00",
        "new_counts": {"PARSE_ERROR": 1810, "VALIDATION_ERROR": 42},
        "ref_counts": {"PARSE_ERROR": 1800, "VALIDATION_ERROR": 30},
        "abs_threshold": 5,
        "rel_threshold": 0.1,
        "regressions": [
            {
                "code": "VALIDATION_ERROR",
                "old": 30,
                "new": 42,
                "delta": 12,
                "relative_increase": 0.4,
            }
        ],
    }
    assert report.exit_code == ExitCode.VERDICT_FAILED == 1
    json.dumps(report.to_dict(), allow_nan=False)  # plain JSON


# (ref, new, abs, rel) -> regressed?  Both thresholds must be exceeded, strictly.
THRESHOLD_CASES = {
    "seed-parse-error-small-relative-rise": (1800, 1810, 5, 0.10, False),
    "seed-validation-error-both-exceeded": (30, 42, 5, 0.10, True),
    "absolute-only": (1000, 1006, 5, 0.10, False),
    "relative-only": (10, 14, 5, 0.10, False),
    "delta-equal-to-abs-threshold": (10, 15, 5, 0.10, False),
    "relative-equal-to-threshold": (100, 110, 5, 0.10, False),
    "just-over-both": (100, 111, 5, 0.10, True),
    "decrease": (50, 10, 5, 0.10, False),
    "unchanged": (7, 7, 0, 0.0, False),
    "zero-thresholds-any-rise": (7, 8, 0, 0.0, True),
    "from-zero-over-abs": (0, 6, 5, 0.10, True),
    "from-zero-within-abs": (0, 5, 5, 0.10, False),
    "zero-to-zero": (0, 0, 0, 0.0, False),
}


@pytest.mark.parametrize("case", sorted(THRESHOLD_CASES))
def test_both_thresholds_must_be_exceeded(case: str) -> None:
    old, new, abs_threshold, rel_threshold, regressed = THRESHOLD_CASES[case]
    report = find_regressions(
        baseline(PARSE_ERROR=new),
        baseline(PARSE_ERROR=old),
        abs_threshold=abs_threshold,
        rel_threshold=rel_threshold,
        now=NOW,
    )
    assert report.ok is not regressed
    assert report.exit_code == (1 if regressed else 0)
    assert [r.code for r in report.regressions] == (["PARSE_ERROR"] if regressed else [])


def test_rise_from_zero_is_null_with_a_note() -> None:
    report = find_regressions(baseline(VALIDATION_ERROR=9), baseline(SUCCESS=3), now=NOW)
    assert report.ref_counts == {"PARSE_ERROR": 0, "VALIDATION_ERROR": 0}
    (entry,) = report.to_dict()["regressions"]
    assert entry == {
        "code": "VALIDATION_ERROR",
        "old": 0,
        "new": 9,
        "delta": 9,
        "relative_increase": None,
        "relative_increase_note": FROM_ZERO,
    }
    assert json.loads(json.dumps(entry))["relative_increase"] is None
    assert relative_increase(0, 9) is None
    assert relative_increase(0, 0) == 0.0


def test_report_round_trips_through_json() -> None:
    report = find_regressions(baseline(PARSE_ERROR=20), baseline(), now=NOW)
    again = RegressionReport.model_validate_json(report.model_dump_json())
    assert again == report


INTERNAL_CASES = {
    # (ref internal, new internal, fail_on_new_internal) -> regressed?
    "one-new-internal-fails": (0, 1, True, True),
    "rise-below-thresholds-fails": (10, 11, True, True),
    "unchanged-passes": (3, 3, True, False),
    "fewer-passes": (3, 1, True, False),
    "flag-off-ignores-internal": (0, 1, False, False),
}


@pytest.mark.parametrize("case", sorted(INTERNAL_CASES))
def test_fail_on_new_internal(case: str) -> None:
    old, new, flag, regressed = INTERNAL_CASES[case]
    report = find_regressions(
        baseline(PARSE_ERROR=5, INTERNAL_ERROR=new),
        baseline(PARSE_ERROR=5, INTERNAL_ERROR=old),
        fail_on_new_internal=flag,
        now=NOW,
    )
    assert ("INTERNAL_ERROR" in report.new_counts) is flag
    assert report.ok is not regressed
    assert report.exit_code == int(regressed)
    if regressed:
        (entry,) = report.regressions
        assert (entry.code, entry.old, entry.new) == ("INTERNAL_ERROR", old, new)


def test_internal_error_listed_once_when_also_targeted() -> None:
    report = find_regressions(
        baseline(INTERNAL_ERROR=1),
        baseline(),
        codes=("INTERNAL_ERROR", "PARSE_ERROR", "PARSE_ERROR"),
        fail_on_new_internal=True,
        now=NOW,
    )
    assert list(report.new_counts) == ["INTERNAL_ERROR", "PARSE_ERROR"]
    assert [r.code for r in report.regressions] == ["INTERNAL_ERROR"]


def test_custom_codes_choose_what_is_compared() -> None:
    report = find_regressions(
        baseline(RUNTIME_ERROR=50), baseline(RUNTIME_ERROR=10), codes=("RUNTIME_ERROR",), now=NOW
    )
    assert report.new_counts == {"RUNTIME_ERROR": 50}
    assert not report.ok


INVALID_USAGE = {
    "unknown-code": ({"codes": ("PARSE_ERROR", "PARSE_FAIL")}, UnknownCodeNames),
    "lowercase-code": ({"codes": ("parse_error",)}, UnknownCodeNames),
    "no-codes": ({"codes": ()}, UnknownCodeNames),
    "negative-abs": ({"abs_threshold": -1}, NegativeThreshold),
    "negative-rel": ({"rel_threshold": -0.1}, NegativeThreshold),
}


@pytest.mark.parametrize("case", sorted(INVALID_USAGE))
def test_invalid_usage_is_exit_code_2(case: str) -> None:
    kwargs, error = INVALID_USAGE[case]
    with pytest.raises(error) as caught:
        find_regressions(baseline(), baseline(), now=NOW, **kwargs)
    assert isinstance(caught.value, UsageError)
    assert caught.value.code == ExitCode.USAGE_ERROR == 2


def test_unknown_code_names_are_named_with_the_valid_ones() -> None:
    """The one message test of UnknownCodeNames."""
    with pytest.raises(UnknownCodeNames) as caught:
        find_regressions(baseline(), baseline(), now=NOW, codes=("PARSE_ERROR", "PARSE_FAIL"))
    assert "unknown code name(s) PARSE_FAIL" in caught.value.message
    assert "valid names: SUCCESS, GENERIC_FAILURE, PARSE_ERROR" in caught.value.message


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_regressions(baseline(), baseline(), now=datetime(2025, 1, 1))


def test_markdown_summary_marks_regressed_codes() -> None:
    report = find_regressions(
        baseline(PARSE_ERROR=1810, VALIDATION_ERROR=42),
        baseline(PARSE_ERROR=1800),
        now=NOW,
    )
    text = regression_report_md(report)
    assert "❌ regression" in text
    assert "| VALIDATION_ERROR | 0 | 42 | +42 | ∞ (from zero) | ❌ |" in text
    assert "| PARSE_ERROR | 1800 | 1810 | +10 | +0.56% | ✅ |" in text
    assert "more than 5 files AND more than 10% relative increase" in text


def test_the_artifact_rows_and_run_message_say_what_regressed_or_that_nothing_did() -> None:
    regressed = find_regressions(
        baseline(VALIDATION_ERROR=42), baseline(VALIDATION_ERROR=0), now=NOW
    )
    clean = find_regressions(baseline(PARSE_ERROR=1), baseline(PARSE_ERROR=1), now=NOW)
    assert [row["code"] for row in regression_rows(regressed)] == ["VALIDATION_ERROR"]
    assert regression_rows(clean) == [{"regressions": 0}]
    assert (regressed.summary, clean.summary) == ("regression in 1 code(s)", "no regression")

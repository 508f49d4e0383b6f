"""Gate status (outcome, metric, mode, sign-off) and the suite's score, band and verdict."""

from __future__ import annotations

import pytest

from blocks.errors import ExitCode
from blocks.gates import CommandGate, GateBase, GateMode, ManualGate, Scoring
from tasks.gates.models import (
    Band,
    CheckOutcome,
    Comparison,
    GateResult,
    GateStatus,
    GateVerdict,
    Reference,
)
from tasks.gates.scoring import (
    SignOff,
    apply_sign_off,
    finalize,
    score_suite,
    skipped_result,
)

OK = CheckOutcome(ok=True, details={"services": ["engine"]})
FAIL = CheckOutcome(ok=False, reason="exit_code", details={"message": "exit code 1, expected 0"})


def command(name: str = "smoke", **fields) -> CommandGate:
    return CommandGate(kind="command", name=name, argv=["true"], **fields)


# -- finalize -------------------------------------------------------------------------------


APPROVED = SignOff(who="ana", approved=True, evidence_link="https://ci/1")
REJECTED = SignOff(who="ana", approved=False, comment="audit shows rollback")
HMR = ManualGate(kind="manual", name="hmr", instructions="check hmr_audit.jsonl")
MANUAL_CMD = command(mode="manual")

# fmt: off
STATUSES = [
    # gate, outcome, sign-off, status, ok, reason
    pytest.param(command(), OK, None, GateStatus.PASSED, True, "", id="pass"),
    pytest.param(command(), FAIL, None, GateStatus.FAILED, False, "exit_code", id="fail"),
    pytest.param(MANUAL_CMD, OK, None, GateStatus.MANUAL_FOLLOWUP, True, "manual_followup",
                 id="manual-followup"),
    pytest.param(MANUAL_CMD, FAIL, None, GateStatus.FAILED, False, "exit_code",
                 id="manual-automated-fails"),
    pytest.param(MANUAL_CMD, OK, APPROVED, GateStatus.SIGNED_OFF, True, "", id="signed-off"),
    pytest.param(MANUAL_CMD, FAIL, APPROVED, GateStatus.FAILED, False, "exit_code",
                 id="sign-off-cannot-override-failure"),
    pytest.param(MANUAL_CMD, OK, REJECTED, GateStatus.FAILED, False, "rejected_by_operator",
                 id="rejected"),
    pytest.param(command(), OK, REJECTED, GateStatus.PASSED, True, "",
                 id="sign-off-ignored-on-mandatory"),
    pytest.param(HMR, OK, None, GateStatus.MANUAL_FOLLOWUP, True, "manual_followup",
                 id="manual-kind"),
]
# fmt: on


@pytest.mark.parametrize(("gate", "outcome", "signed_off", "status", "ok", "reason"), STATUSES)
def test_finalize_status(
    gate: GateBase,
    outcome: CheckOutcome,
    signed_off: SignOff | None,
    status: GateStatus,
    ok: bool,
    reason: str,
) -> None:
    result = finalize(gate, outcome, duration_sec=1.5, previous_metric=None, signed_off=signed_off)
    assert (result.status, result.ok, result.reason) == (status, ok, reason)
    assert result.manual is (gate.mode is GateMode.MANUAL)
    assert result.duration_sec == 1.5
    assert result.details["services" if outcome.ok else "message"]


def test_manual_followup_details_match_the_seed() -> None:
    gate = ManualGate(kind="manual", name="hmr", instructions="hmr_controller not registered")
    result = finalize(gate, OK, duration_sec=0.0, previous_metric=None)
    assert result.details["manual_followup"] is True
    assert result.details["reason"] == "hmr_controller not registered"
    assert (result.ok, result.manual, result.symbol) == (True, True, "🔧")


def test_sign_off_is_recorded() -> None:
    sign_off = SignOff(who="ana", approved=True, evidence_link="https://ci/1", comment="seen")
    result = finalize(
        command(mode="manual"), OK, duration_sec=0, previous_metric=None, signed_off=sign_off
    )
    assert result.details["signed_off_by"] == "ana"
    assert result.details["evidence_link"] == "https://ci/1"


@pytest.mark.parametrize(
    ("metric", "value", "previous", "status", "reason"),
    [
        ({"relative": "<= +10%"}, 105.0, 100.0, GateStatus.PASSED, ""),
        ({"relative": "<= +10%"}, 130.0, 100.0, GateStatus.FAILED, "metric_threshold"),
        ({"relative": "<= +10%"}, 130.0, None, GateStatus.PASSED, ""),
        ({"max": 10}, None, None, GateStatus.FAILED, "metric_missing"),
    ],
    ids=["within", "regressed", "first-run", "no-value"],
)
def test_metric_decides_after_the_outcome(
    metric: dict,
    value: float | None,
    previous: float | None,
    status: GateStatus,
    reason: str,
) -> None:
    gate = command(metric={"name": "boot_s", "regex": r"(?P<value>\d+)", **metric})
    outcome = CheckOutcome(ok=True, metric_value=value)
    result = finalize(gate, outcome, duration_sec=1, previous_metric=previous)
    assert (result.status, result.reason) == (status, reason)
    assert result.metric is not None and result.metric.name == "boot_s"
    assert result.ok is (status is GateStatus.PASSED)


def test_skipped_result() -> None:
    result = skipped_result(command("deploy"), ["build", "tests"])
    assert (result.status, result.ok, result.reason) == (
        GateStatus.FAILED,
        False,
        "dependency_failed",
    )
    assert result.details["failed_dependencies"] == ["build", "tests"]


# -- score_suite ----------------------------------------------------------------------------


def result(
    name: str,
    status: GateStatus,
    mode: GateMode = GateMode.MANDATORY,
    weight: float = 1.0,
    key: bool = False,
) -> GateResult:
    return GateResult(
        name=name,
        kind="command",
        mode=mode,
        status=status,
        ok=status is not GateStatus.FAILED,
        manual=mode is GateMode.MANUAL,
        duration_sec=0.1,
        weight=weight,
        key=key,
        reason="exit_code" if status is GateStatus.FAILED else "",
    )


P, F = GateStatus.PASSED, GateStatus.FAILED
M, S = GateStatus.MANUAL_FOLLOWUP, GateStatus.SIGNED_OFF
ADV, MAN = GateMode.ADVISORY, GateMode.MANUAL
SCORING = Scoring(pass_at=90, warn_at=75)


# fmt: off
SUITES = [
    # results, strict_manual, score, band, verdict, one expected reason (None: no reasons)
    pytest.param([result("a", P), result("b", P)], False,
                 100.0, Band.PASS, GateVerdict.GO, None, id="all-pass"),
    pytest.param([result("a", P), result("b", F)], False,
                 50.0, Band.FAIL, GateVerdict.NO_GO, "mandatory gate b failed (exit_code)",
                 id="mandatory-fails"),
    pytest.param([result("a", P, weight=19), result("b", F, ADV)], False,
                 95.0, Band.PASS, GateVerdict.WARN, "advisory gate b failed (exit_code)",
                 id="advisory-fails-pass-band"),
    pytest.param([result("a", P, weight=4), result("b", F, ADV)], False,
                 80.0, Band.WARNING, GateVerdict.WARN, "score 80 is below the pass threshold 90",
                 id="advisory-fails-warning-band"),
    pytest.param([result("a", P), result("b", F, ADV)], False,
                 50.0, Band.FAIL, GateVerdict.NO_GO, "score 50 is below the warning threshold 75",
                 id="advisory-fails-fail-band"),
    pytest.param([result("a", P, weight=19), result("b", F, ADV, key=True)], False,
                 95.0, Band.PASS, GateVerdict.NO_GO, "key gate b vetoed (exit_code)",
                 id="key-advisory-vetoes"),
    pytest.param([result("a", P), result("hmr", M, MAN)], False,
                 100.0, Band.PASS, GateVerdict.WARN, "manual gate hmr awaits operator sign-off",
                 id="manual-followup-warns"),
    pytest.param([result("a", P), result("hmr", M, MAN)], True,
                 50.0, Band.FAIL, GateVerdict.NO_GO,
                 "manual gate hmr not fully validated (--strict-manual)", id="strict-manual"),
    pytest.param([result("a", P, weight=9), result("hmr", M, MAN)], True,
                 90.0, Band.PASS, GateVerdict.NO_GO,
                 "manual gate hmr not fully validated (--strict-manual)",
                 id="strict-manual-no-go-even-in-pass-band"),
    pytest.param([result("a", P), result("hmr", S, MAN)], True,
                 100.0, Band.PASS, GateVerdict.GO, None, id="signed-off-counts"),
    pytest.param([result("a", P, weight=19), result("hmr", F, MAN)], False,
                 95.0, Band.PASS, GateVerdict.NO_GO, "manual gate hmr failed (exit_code)",
                 id="manual-fails"),
    pytest.param([result("a", P, weight=0), result("b", P, weight=0)], False,
                 100.0, Band.PASS, GateVerdict.GO, None, id="zero-weights-pass"),
    pytest.param([result("a", P, weight=0), result("b", F, ADV, weight=0)], False,
                 0.0, Band.FAIL, GateVerdict.NO_GO, "score 0 is below the warning threshold 75",
                 id="zero-weights-fail"),
    pytest.param([result("a", P, weight=3), result("b", P), result("c", F, ADV)], False,
                 80.0, Band.WARNING, GateVerdict.WARN, "advisory gate c failed (exit_code)",
                 id="weights"),
    pytest.param([], False,
                 0.0, Band.FAIL, GateVerdict.NO_GO, "no gate ran: nothing proves this release",
                 id="nothing-ran"),
    pytest.param([result("hmr", M, MAN), result("qa", M, MAN)], False,
                 0.0, Band.FAIL, GateVerdict.NO_GO, "no gate passed: nothing proves this release",
                 id="only-manual-followups-prove-nothing"),
]
# fmt: on


@pytest.mark.parametrize(("results", "strict", "score", "band", "verdict", "reason"), SUITES)
def test_score_suite(
    results: list[GateResult],
    strict: bool,
    score: float,
    band: Band,
    verdict: GateVerdict,
    reason: str | None,
) -> None:
    gates = {r.name: command(r.name) for r in results}
    suite = score_suite(results, gates, SCORING, strict_manual=strict)
    assert (suite.score, suite.band, suite.verdict) == (score, band, verdict), suite.reasons
    expected_exit = ExitCode.VERDICT_FAILED if verdict is GateVerdict.NO_GO else ExitCode.OK
    assert suite.exit_code == expected_exit
    if reason is None:
        assert suite.reasons == []
    else:
        assert reason in suite.reasons


def test_a_selected_gate_without_result_fails_the_suite() -> None:
    gates = {"a": command("a"), "lost": command("lost")}
    suite = score_suite([result("a", P)], gates, SCORING, strict_manual=False)
    assert suite.verdict is GateVerdict.NO_GO
    assert "mandatory gate lost failed (no_result)" in suite.reasons
    assert suite.score == 50.0


# -- sign-off after the run, and what ``ok`` may claim ---------------------------------------


def awaiting() -> GateResult:
    return finalize(HMR, OK, duration_sec=0, previous_metric=None)


# fmt: off
SIGN_OFFS = [
    # sign-off, reason given, status, ok, reason
    pytest.param(None, {}, GateStatus.FAILED, False, "sign_off_missing", id="timed-out"),
    pytest.param(None, {"reason": "sign_off_invalid"}, GateStatus.FAILED, False,
                 "sign_off_invalid", id="invalid-form"),
    pytest.param(REJECTED, {}, GateStatus.FAILED, False, "rejected_by_operator", id="rejected"),
    pytest.param(APPROVED, {}, GateStatus.SIGNED_OFF, True, "", id="approved"),
]
# fmt: on


@pytest.mark.parametrize(("signed_off", "extra", "status", "ok", "reason"), SIGN_OFFS)
def test_a_gate_that_did_not_pass_is_never_ok(
    signed_off: SignOff | None, extra: dict, status: GateStatus, ok: bool, reason: str
) -> None:
    signed = apply_sign_off(awaiting(), signed_off, failure="no answer", **extra)
    assert (signed.status, signed.ok, signed.reason) == (status, ok, reason)
    assert signed.details["manual_followup"] is False


def test_a_sign_off_cannot_turn_a_failed_gate_into_a_pass() -> None:
    failed = finalize(MANUAL_CMD, FAIL, duration_sec=0, previous_metric=None)
    signed = apply_sign_off(failed, APPROVED)
    assert (signed.status, signed.ok, signed.reason) == (GateStatus.FAILED, False, "exit_code")


@pytest.mark.parametrize("who", ["", "   "], ids=["empty", "blank"])
def test_a_sign_off_needs_a_signer(who: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        SignOff(who=who, approved=True)


# -- relative thresholds without a reference --------------------------------------------------

LATENCY = command(
    "latency", metric={"name": "p95_ms", "regex": r"(?P<value>\d+)", "relative": "<= +10%"}
)


def test_an_unchecked_relative_threshold_is_reported_and_warns() -> None:
    first = finalize(
        LATENCY,
        CheckOutcome(ok=True, metric_value=120.0),
        duration_sec=1,
        previous_metric=Reference(),
    )
    assert first.status is GateStatus.PASSED
    assert first.metric is not None and first.metric.comparison is Comparison.NO_REFERENCE
    suite = score_suite([first], {"latency": LATENCY}, SCORING, strict_manual=False)
    assert (suite.verdict, suite.exit_code) == (GateVerdict.WARN, ExitCode.OK)
    assert any("latency" in reason and "not checked" in reason for reason in suite.reasons)


def test_a_checked_relative_threshold_is_a_plain_go() -> None:
    checked = finalize(
        LATENCY,
        CheckOutcome(ok=True, metric_value=105.0),
        duration_sec=1,
        previous_metric=Reference(value=100.0, run="r1"),
    )
    assert checked.metric is not None and checked.metric.comparison is Comparison.COMPARED
    assert checked.metric.reference_run == "r1"
    suite = score_suite([checked], {"latency": LATENCY}, SCORING, strict_manual=False)
    assert (suite.verdict, suite.reasons) == (GateVerdict.GO, [])


def test_a_gate_without_result_is_listed_in_the_report() -> None:
    from datetime import UTC, datetime

    from blocks.gates import GatesFile
    from tasks.gates.report import assemble_report
    from tasks.gates.selection import plan_run

    config = GatesFile.model_validate(
        {"gates": [{"name": n, "kind": "command", "argv": ["true"]} for n in ("a", "lost")]}
    )
    plan = plan_run(config, environ={})
    report = assemble_report(plan, [result("a", P)], datetime.now(UTC), "gates.yaml", "out")
    assert [(g.name, g.status, g.ok, g.reason) for g in report.gates] == [
        ("a", P, True, ""),
        ("lost", F, False, "no_result"),
    ]
    assert report.all_passed is False and report.verdict is GateVerdict.NO_GO


def test_a_run_refused_by_the_kill_switch_reports_no_gate_and_exit_3() -> None:
    from datetime import UTC, datetime

    from blocks.errors import KillSwitchOn
    from blocks.gates import GatesFile
    from tasks.gates.report import refused_report
    from tasks.gates.selection import plan_run

    config = GatesFile.model_validate({"gates": [{"name": "a", "kind": "command", "argv": ["x"]}]})
    refusal = KillSwitchOn("go-no-go: the switch is on")
    report = refused_report(plan_run(config, environ={}), datetime.now(UTC), "g.yaml", refusal)
    assert (report.verdict, report.exit_code) == (GateVerdict.KILL_SWITCH_ON, 3)
    assert (report.gates, report.score, report.band) == ([], 0.0, Band.FAIL)
    assert report.all_passed is False
    assert report.reasons == [refusal.message, refusal.remediation]

"""The deploy's run record: each rule that decides an outcome, and the report it freezes into."""

from __future__ import annotations

import pytest

from blocks.errors import ConfigError, ExitCode, KillSwitchOn
from tasks.lora.adapter import AdapterProblem, AdapterReport, Problem
from tasks.lora.readiness import Readiness
from tasks.lora.registry import Pointers, RollbackResult, default_version
from tasks.lora.report import (
    EXIT_CODES,
    FAIL_REASON,
    FAILING,
    DeployOutcome,
    DeployRecord,
    GauntletStopped,
    deploy_markdown,
    deploy_row,
)
from tasks.lora.switches import Switches
from tasks.lora.verdict import GauntletVerdict, judge_gauntlet
from tasks.platform.clock import utc_now
from tests.lora_sides import side

SHA = "ab" * 32


def record(**fields) -> DeployRecord:
    return DeployRecord.start("demo", "adapters/a", fields.pop("version", None), Switches())


def verdict(**candidate) -> GauntletVerdict:
    """The real verdict on a synthetic candidate (e.g. ``wrong=2``) against a clean stable."""
    return judge_gauntlet(side(**candidate), side())


ROLLED_BACK = RollbackResult(target="local", rolled_back=True, canary="v2", stable="v1", message="")


@pytest.mark.parametrize(
    ("outcome", "code", "failing"),
    [
        (DeployOutcome.DEPLOYED, 0, False),
        (DeployOutcome.PROMOTED, 0, False),
        (DeployOutcome.PROMOTED_UNTESTED, 0, False),
        (DeployOutcome.ALREADY_STABLE, 0, False),
        (DeployOutcome.ROLLED_BACK, 1, True),
        (DeployOutcome.NOT_READY, 1, True),
        (DeployOutcome.REFUSED, 1, True),
        (DeployOutcome.KILL_SWITCH_ON, 3, True),
        (DeployOutcome.ERROR, 5, True),
    ],
)
def test_each_outcome_has_one_exit_code(outcome: DeployOutcome, code: int, failing: bool) -> None:
    assert EXIT_CODES[outcome] == code and (outcome in FAILING) is failing
    record = DeployRecord(target="t", adapter="a", started_at=utc_now())
    record.end(outcome)
    report = record.report(utc_now())
    assert (report.outcome, report.exit_code) == (outcome, code)


def test_an_error_keeps_its_own_code_and_a_run_without_outcome_is_an_error() -> None:
    record = DeployRecord(target="t", adapter="a", started_at=utc_now())
    record.end(DeployOutcome.ERROR, code=4, reasons=["backend down"])
    assert record.report(utc_now()).exit_code == 4
    unfinished = DeployRecord(target="t", adapter="a", started_at=utc_now())
    report = unfinished.report(utc_now())
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 5)


def test_start_records_the_switches_as_one_line() -> None:
    run = record()
    assert run.switches.startswith("GAUNTLET_ENABLED=false (default) ")
    assert (run.outcome, run.exit_code) == (None, None)


# fmt: off
PROMOTIONS = [
    # gauntlet enabled, mock -> what the promotion proves
    pytest.param(False, False, DeployOutcome.DEPLOYED, id="gauntlet-off"),
    pytest.param(False, True, DeployOutcome.DEPLOYED, id="gauntlet-off-mock-ignored"),
    pytest.param(True, False, DeployOutcome.PROMOTED, id="gauntlet-passed"),
    pytest.param(True, True, DeployOutcome.PROMOTED_UNTESTED, id="mock-gauntlet"),
]
# fmt: on


@pytest.mark.parametrize(("enabled", "mock", "outcome"), PROMOTIONS)
def test_what_a_promotion_proves(enabled: bool, mock: bool, outcome: DeployOutcome) -> None:
    assert DeployOutcome.of_promotion(enabled, mock=mock) is outcome
    run = record(version="v2")
    run.promoted(Pointers(stable="v2"), outcome)
    assert (run.outcome, run.exit_code, run.stable_after) == (outcome, 0, "v2")


def test_a_sound_adapter_gets_its_hash_as_default_version() -> None:
    run = record()
    assert run.inspected(AdapterReport(path="a", ok=True, sha256=SHA))
    assert run.version == default_version(SHA) == f"sha-{SHA[:12]}"
    assert run.adapter_sha256 == SHA and run.outcome is None
    named = record(version="v7")
    assert named.inspected(AdapterReport(path="a", ok=True, sha256=SHA)) and named.version == "v7"


def test_an_unsound_adapter_is_refused_with_each_problem() -> None:
    problems = [
        Problem(code=AdapterProblem.NON_FINITE, message="1 NaN"),
        Problem(code=AdapterProblem.PICKLE_FILE, message="a.bin"),
    ]
    run = record()
    assert not run.inspected(AdapterReport(path="a", ok=False, problems=problems))
    assert (run.outcome, run.exit_code, run.version) == (DeployOutcome.REFUSED, 1, None)
    assert [reason.split(":")[0] for reason in run.reasons] == ["NON_FINITE", "PICKLE_FILE"]


def test_readiness() -> None:
    ready = record()
    assert ready.ready(Readiness(ready=True)) and ready.outcome is None
    run = record()
    assert not run.ready(Readiness(ready=False, reasons=["3 targets up", "2 alerts"]))
    assert (run.outcome, run.exit_code) == (DeployOutcome.NOT_READY, 1)
    assert run.readiness == ["3 targets up", "2 alerts"]
    assert len(run.reasons) == 1 and all(r in run.reasons[0] for r in run.readiness)


def test_the_verdict_decides_promotion_and_the_fail_reason() -> None:
    mock = record()
    assert mock.judged(None) and mock.gauntlet is None  # the mock ran no gauntlet
    passed = record()
    assert passed.judged(verdict())
    failed = record()
    assert not failed.judged(verdict(latency=150))
    assert failed.fail_reason() == "latency_regression"  # the first reason's code
    assert record().fail_reason() == FAIL_REASON  # no verdict known: the seed's reason


def test_a_failed_gauntlet_ends_rolled_back_with_its_reasons() -> None:
    run = record(version="v2")
    run.saw_stable(Pointers(stable="v1"))
    run.judged(verdict(wrong=2))
    run.rolled_back_after_gauntlet(ROLLED_BACK)
    assert (run.outcome, run.exit_code) == (DeployOutcome.ROLLED_BACK, 1)
    assert (run.stable_before, run.stable_after, run.rollback) == ("v1", "v1", ROLLED_BACK)
    assert [reason.split(":")[0] for reason in run.reasons] == ["ACCURACY_DROP"]


def test_a_failed_rollback_is_recorded_beside_the_error_that_stopped_the_run() -> None:
    run = record()
    run.rollback_failed(TimeoutError("registry locked"))
    run.stopped_by(ConfigError("bad file"))
    assert (run.outcome, run.exit_code) == (DeployOutcome.ERROR, ExitCode.USAGE_ERROR)
    assert run.reasons[0].startswith("rollback failed too: TimeoutError")


def test_the_kill_switch_has_its_own_outcome() -> None:
    run = record()
    run.stopped_by(KillSwitchOn("gauntlet: switch on"))
    assert (run.outcome, run.exit_code) == (DeployOutcome.KILL_SWITCH_ON, ExitCode.KILL_SWITCH_ON)


@pytest.mark.parametrize(
    ("outcome", "gauntlet", "shown"),
    [
        (DeployOutcome.PROMOTED_UNTESTED, None, "mock"),
        (DeployOutcome.DEPLOYED, None, "not run"),
        (DeployOutcome.PROMOTED, verdict(), "PASS (full)"),
    ],
)
def test_the_artifacts_come_from_the_report(outcome, gauntlet, shown: str) -> None:
    run = record(version="v2")
    run.gauntlet = gauntlet
    run.end(outcome)
    report = run.report(utc_now())
    assert not report.failed and report.summary == f"{outcome}: version v2"
    assert deploy_row(report)["gauntlet"] == shown
    assert f"**{outcome}** ✅ (exit 0)" in deploy_markdown(report)


def test_a_gauntlet_that_did_not_finish_says_which_step_raised() -> None:
    # GAUNTLET_FAIL's failure_reason as the README documents it, distinct from a failed verdict
    assert [str(reason) for reason in GauntletStopped] == ["canary_deploy_failed", "gauntlet_error"]
    assert FAIL_REASON not in set(GauntletStopped)

"""The checks a plan runs itself: a command, pytest node ids, a task's rollback.

Every run goes through ``tasks.platform.processes.run_command`` (no shell, hard timeout that
kills the process group). A command that cannot start, times out or exits otherwise than
expected is not verified; pytest is verified only when it ran at least one test and all passed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from blocks.plan_checks import (
    Check,
    CommandCheck,
    DrillCheck,
    PytestCheck,
    RehearsalCheck,
    RollbackSpec,
)
from tasks.events.drill import run_drill
from tasks.plans.models import RollbackOutcome, TaskOutcome
from tasks.plans.rehearsal import rehearse
from tasks.platform.processes import CommandRun, run_command

OUTPUT_TAIL = 1_500
PASSED = re.compile(r"(?P<count>\d+) passed")
FAILED_OR_ERRORS = re.compile(r"\d+ (failed|error|errors)\b")
NO_TESTS_COLLECTED = 5  # pytest's exit code when nothing matched


def run_command_check(check: CommandCheck, base_dir: Path) -> TaskOutcome:
    cwd = base_dir / check.cwd if check.cwd else base_dir
    run = run_command(check.argv, timeout_sec=check.timeout_sec, cwd=cwd, env=check.env)
    return _judged(run, check.expect_exit, check.timeout_sec)


def run_pytest_check(check: PytestCheck, base_dir: Path) -> TaskOutcome:
    argv = [sys.executable, "-m", "pytest", *check.node_ids, "-q", "-p", "no:cacheprovider"]
    run = run_command([*argv, *check.args], timeout_sec=check.timeout_sec, cwd=base_dir, env={})
    outcome = _judged(run, [0], check.timeout_sec)
    summary = _summary(run.output)
    evidence = {**outcome.evidence, "summary": summary}
    if not outcome.ok:
        reason = "no_tests" if run.exit_code == NO_TESTS_COLLECTED else outcome.reason
        return outcome.model_copy(update={"reason": reason, "evidence": evidence})
    passed = PASSED.search(summary)
    if passed is None or int(passed["count"]) < 1 or FAILED_OR_ERRORS.search(summary):
        message = f"pytest exited 0 but its summary shows no clean pass: {summary!r}"
        return TaskOutcome(ok=False, reason="no_tests", message=message, evidence=evidence)
    return outcome.model_copy(update={"evidence": {**evidence, "passed": int(passed["count"])}})


def run_rollback(spec: RollbackSpec, base_dir: Path) -> RollbackOutcome:
    """Undo, then prove the state restored with the spec's check (exit 0)."""
    undo = run_command(spec.argv, timeout_sec=spec.timeout_sec, cwd=base_dir, env={})
    undone = _judged(undo, [0], spec.timeout_sec)
    if not undone.ok:
        return RollbackOutcome(ran=True, restored=False, message=f"rollback: {undone.message}")
    proof = run_command(spec.check, timeout_sec=spec.timeout_sec, cwd=base_dir, env={})
    proven = _judged(proof, [0], spec.timeout_sec)
    message = "state restored (rollback check passed)" if proven.ok else proven.message
    return RollbackOutcome(ran=True, restored=proven.ok, message=message)


def _judged(run: CommandRun, expect_exit: list[int], timeout_sec: float) -> TaskOutcome:
    evidence: dict[str, object] = {
        "argv": list(run.argv),
        "exit_code": run.exit_code,
        "timed_out": run.timed_out,
        "output_tail": run.output[-OUTPUT_TAIL:],
    }
    if run.error is not None:
        return TaskOutcome(
            ok=False, reason=run.error_kind or "exec_error", message=run.error, evidence=evidence
        )
    if run.timed_out:
        message = f"killed the process group after {timeout_sec:g}s"
        return TaskOutcome(ok=False, reason="timeout", message=message, evidence=evidence)
    if run.exit_code not in expect_exit:
        expected = ", ".join(str(code) for code in expect_exit)
        message = f"exit code {run.exit_code}, expected {expected}"
        return TaskOutcome(ok=False, reason="exit_code", message=message, evidence=evidence)
    return TaskOutcome(ok=True, message=f"exit code {run.exit_code}", evidence=evidence)


def _summary(output: str) -> str:
    lines = [line.strip("= ") for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_local_check(check: Check, base_dir: Path, scratch: Path) -> TaskOutcome:
    """The checks this concern runs itself, by kind; other kinds are the flow's to dispatch."""
    match check:
        case CommandCheck():
            return run_command_check(check, base_dir)
        case PytestCheck():
            return run_pytest_check(check, base_dir)
        case RehearsalCheck():
            return rehearse(check, base_dir, scratch)
        case DrillCheck():
            return run_drill_check(check, scratch)
    raise ValueError(f"check kind {check.kind!r} is not run by tasks.plans")


def run_drill_check(check: DrillCheck, scratch: Path) -> TaskOutcome:
    """The emergency-queue drill in a fresh spool; verified when 0 acknowledged events lost."""
    scratch.mkdir(parents=True, exist_ok=True)
    report = run_drill(
        scratch / "emergency-spool.sqlite",
        events=check.events,
        kill_after=check.kill_after,
        queue_size=check.queue_size,
        timeout_sec=check.timeout_sec,
    )
    evidence = report.model_dump(mode="json")
    summary = f"sent {report.sent}, found {report.found}, lost {len(report.lost)}"
    if report.ok:
        return TaskOutcome(ok=True, message=f"{summary} after SIGKILL", evidence=evidence)
    if report.timed_out:
        reason = "timeout"
    elif not report.killed_mid_way or report.sent == 0:
        reason = "kill_not_mid_way"
    else:
        reason = "events_lost"
    return TaskOutcome(ok=False, reason=reason, message=summary, evidence=evidence)

"""The checks tasks/plans runs itself: command, pytest, rollback, rehearsal, drill."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.plan_checks import (
    CommandCheck,
    DrillCheck,
    PytestCheck,
    RehearsalCheck,
    RollbackSpec,
)
from tasks.events.drill import run_drill
from tasks.plans.checks import (
    run_command_check,
    run_drill_check,
    run_pytest_check,
    run_rollback,
)
from tasks.plans.rehearsal import rehearse, snapshot
from tests.conftest import py


def command(argv: list[str], **fields) -> CommandCheck:
    return CommandCheck(kind="command", argv=argv, **fields)


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (command(py("raise SystemExit(0)")), ""),
        (command(py("raise SystemExit(3)")), "exit_code"),
        (command(py("raise SystemExit(3)"), expect_exit=[3]), ""),
        (command(py("import time; time.sleep(30)"), timeout_sec=0.5), "timeout"),
        (command(["no-such-program-here"]), "not_found"),
        (command(["true"], cwd="no/such/folder"), "exec_error"),
    ],
)
def test_command_checks(check: CommandCheck, reason: str, tmp_path: Path) -> None:
    outcome = run_command_check(check, tmp_path)
    assert (outcome.ok, outcome.reason) == (not reason, reason)


def test_pytest_by_node_id_passes_only_when_tests_ran(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text(
        "def test_ok():\n    pass\n\ndef test_bad():\n    assert 0\n"
    )
    ok = run_pytest_check(PytestCheck(kind="pytest", node_ids=["test_a.py::test_ok"]), tmp_path)
    assert ok.ok and ok.evidence["passed"] == 1
    none = run_pytest_check(
        PytestCheck(kind="pytest", node_ids=["test_a.py"], args=["-k", "nothing_matches"]),
        tmp_path,
    )
    assert (none.ok, none.reason) == (False, "no_tests")


def test_a_rollback_runs_and_its_check_proves_the_restore(tmp_path: Path) -> None:
    restored = RollbackSpec(
        argv=py("open('state', 'w').write('ok')"), check=py("assert open('state').read() == 'ok'")
    )
    assert run_rollback(restored, tmp_path).restored
    unproven = RollbackSpec(argv=py("pass"), check=py("raise SystemExit(1)"))
    assert not run_rollback(unproven, tmp_path).restored


def state(tmp_path: Path) -> Path:
    folder = tmp_path / "base" / "conf"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text('{"strict": true}')
    (folder / "sub" / "b.txt").write_bytes(b"\x00\x01bytes")
    return tmp_path / "base"


BACKUP = "import shutil; shutil.copytree('conf', 'conf.bak')"
CHANGE = "open('conf/a.json', 'w').write('{}'); open('conf/new', 'w').write('x')"
RESTORE = "import shutil; shutil.rmtree('conf'); shutil.move('conf.bak', 'conf')"


def rehearsal(apply: str, rollback: str, **fields) -> RehearsalCheck:
    return RehearsalCheck(
        kind="rehearsal", paths=["conf"], apply=py(apply), rollback=py(rollback), **fields
    )


def test_a_rehearsal_proves_the_restore_in_a_scratch_copy(tmp_path: Path) -> None:
    base = state(tmp_path)
    before = snapshot(base, ["conf"])
    outcome = rehearse(rehearsal(f"{BACKUP}; {CHANGE}", RESTORE), base, tmp_path / "scratch")
    assert outcome.ok, outcome
    assert set(outcome.evidence["changed"]) == {"conf/a.json", "conf/new"}
    assert snapshot(base, ["conf"]) == before  # the real state was never touched
    assert (tmp_path / "scratch" / "conf" / "a.json").exists()


def test_a_rollback_that_does_not_restore_is_detected(tmp_path: Path) -> None:
    base = state(tmp_path)
    outcome = rehearse(
        rehearsal(f"{BACKUP}; {CHANGE}", "import os; os.remove('conf/new')"),
        base,
        tmp_path / "scratch",
    )
    assert (outcome.ok, outcome.reason) == (False, "not_restored")
    assert outcome.evidence["not_restored"] == ["conf/a.json"]


@pytest.mark.parametrize(
    ("apply", "rollback", "reason"),
    [
        ("pass", "pass", "apply_changed_nothing"),
        ("raise SystemExit(2)", "pass", "apply_failed"),
        (CHANGE, "raise SystemExit(1)", "rollback_failed"),
    ],
)
def test_rehearsals_that_prove_nothing_fail(
    apply: str, rollback: str, reason: str, tmp_path: Path
) -> None:
    outcome = rehearse(rehearsal(apply, rollback), state(tmp_path), tmp_path / "scratch")
    assert (outcome.ok, outcome.reason) == (False, reason)


def test_an_in_place_rehearsal_works_on_the_real_state(tmp_path: Path) -> None:
    base = state(tmp_path)
    outcome = rehearse(
        rehearsal(f"{BACKUP}; {CHANGE}", RESTORE, in_place=True), base, tmp_path / "unused"
    )
    assert outcome.ok and outcome.evidence["where"] == str(base)
    assert not (tmp_path / "unused").exists()


def test_the_drill_loses_no_acknowledged_event_under_sigkill(tmp_path: Path) -> None:
    report = run_drill(
        tmp_path / "spool.sqlite", events=150, kill_after=40, queue_size=4, timeout_sec=60
    )
    assert report.ok, report
    assert report.killed_mid_way and report.child_exit == -9
    assert report.sent >= 40 and report.found == report.sent and report.lost == []
    assert {"published", "spooled", "overflowed", "queue_cap"} <= report.telemetry.keys()


def test_the_drill_check_reports_evidence(tmp_path: Path) -> None:
    outcome = run_drill_check(
        DrillCheck(kind="drill", events=100, kill_after=20, timeout_sec=60), tmp_path
    )
    assert outcome.ok and outcome.evidence["lost"] == []


def test_a_drill_that_cannot_finish_in_time_fails(tmp_path: Path) -> None:
    report = run_drill(
        tmp_path / "spool.sqlite", events=100_000, kill_after=99_999, queue_size=4, timeout_sec=0.5
    )
    assert not report.ok and report.timed_out

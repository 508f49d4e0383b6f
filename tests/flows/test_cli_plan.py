"""`warden plan import|export|run|status`: files written, exit codes 0, 1 and 2."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import ROOT
from tests.flows.plan_files import command_task, failing, git_checkout, touch, write_plan

runner = CliRunner()
SEED = ROOT / "deployments" / "plans" / "wp0_safety.md"


def warden(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_then_export_reproduces_the_seed(tmp_path: Path) -> None:
    plan = tmp_path / "wp0.yaml"
    result = warden("plan", "import", str(SEED), "-o", str(plan))
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(plan.read_text())
    assert [phase["id"] for phase in document["phases"]] == ["0", "1", "2", "3", "4"]
    out = tmp_path / "wp0.md"
    result = warden("plan", "export", str(plan), "-o", str(out))
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.yaml"
    assert warden("plan", "import", str(out), "-o", str(again)).exit_code == 0
    assert yaml.safe_load(again.read_text()) == document


def test_the_imported_seed_cannot_run_until_its_tasks_have_checks(tmp_path: Path) -> None:
    plan = tmp_path / "wp0.yaml"
    warden("plan", "import", str(SEED), "-o", str(plan))
    result = warden("plan", "run", str(plan))
    assert result.exit_code == 2
    assert "TASK_WITHOUT_CHECK" in result.output


def test_run_exits_0_when_verified_and_export_writes_the_evidence(tmp_path: Path) -> None:
    plan = write_plan(git_checkout(tmp_path), [[[command_task("0.1.1", touch("a"))]]])
    result = warden("plan", "run", str(plan), "--base-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert warden("plan", "status", str(plan)).exit_code == 0
    out = tmp_path / "plan.md"
    assert warden("plan", "export", str(plan), "-o", str(out)).exit_code == 0
    assert "**Status:** Complete (" in out.read_text() and "1/1 checks verified" in out.read_text()
    assert warden("plan", "export", str(plan), "-o", str(out), "--claims").exit_code == 0
    assert "checks verified" not in out.read_text()


def test_run_exits_1_on_a_failed_task_and_status_says_so(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [[[command_task("0.1.1", failing("a"))]]])
    result = warden("plan", "run", str(plan), "--base-dir", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert warden("plan", "status", str(plan)).exit_code == 1


def test_status_of_a_plan_never_run_is_not_verified(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [[[command_task("0.1.1", touch("a"))]]])
    assert warden("plan", "status", str(plan)).exit_code == 1


def test_bad_input_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [[[command_task("0.1.1", touch("a"))]]])
    assert warden("plan", "run", str(plan), "--only", "7.7.7").exit_code == 2
    assert warden("plan", "run", str(tmp_path / "missing.yaml")).exit_code == 2
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nno phases here\n")
    assert warden("plan", "import", str(notes), "-o", str(tmp_path / "x.yaml")).exit_code == 2
    other = tmp_path / "other" / "report.json"
    other.parent.mkdir()
    other.write_text("{}")
    result = warden(
        "plan", "export", str(plan), "-o", str(tmp_path / "x.md"), "--report", str(other)
    )
    assert result.exit_code == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "x.md").exists()

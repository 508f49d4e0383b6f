"""`warden matrix run|janitor|status` and `warden installer`: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from blocks.storage import warden_home
from cli.main import app
from tasks.matrix.store import LocalDigestStore
from tests.flows.matrix_files import CANDIDATE, leg, write_invariants

runner = CliRunner()
LOCAL_PARAMETER = "/radix/local/agent_digest_approved"


def warden(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def local_store() -> LocalDigestStore:
    return LocalDigestStore(LOCAL_PARAMETER, warden_home() / "matrix" / "digests")


def test_installer_exits_20_when_no_digest_was_ever_approved() -> None:
    result = warden("installer", "--env", "local")
    assert result.exit_code == 20
    assert "RADIX_INSTALLER_ERROR: APPROVED_DIGEST_MISSING" in result.output  # the seed's code


def test_installer_exits_21_on_an_invalid_stored_digest_and_never_falls_back(monkeypatch) -> None:
    monkeypatch.setenv("RADIX_CANDIDATE_DIGEST", CANDIDATE)  # must not be used as a fallback
    local_store().write("ghcr.io/org/agent:latest", expected_version=None, writer="test")
    result = warden("installer", "--env", "local")
    assert result.exit_code == 21
    assert "RADIX_INSTALLER_ERROR: APPROVED_DIGEST_INVALID" in result.output  # the seed's code
    assert CANDIDATE not in result.output


def test_installer_prints_the_script_for_the_approved_digest() -> None:
    local_store().write(CANDIDATE, expected_version=None, writer="test")
    result = warden("installer", "--env", "local")
    assert result.exit_code == 0, result.output
    assert CANDIDATE in result.output and "{{" not in result.output


def test_run_promotes_then_status_shows_version_history_and_verdict(tmp_path: Path) -> None:
    result = warden("matrix", "run", "--env", "local", "--digest", CANDIDATE)
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output

    status = warden("matrix", "status", "--env", "local")
    assert status.exit_code == 0, status.output
    assert CANDIDATE in status.output and "version 1" in status.output
    assert "promoted" in status.output


def test_run_with_a_failing_leg_exits_1(tmp_path: Path) -> None:
    invariants = write_invariants(tmp_path, [leg("cpu", smoke_job="exit 4")])
    result = warden(
        "matrix", "run", "--env", "t", "--digest", CANDIDATE, "--invariants", str(invariants)
    )
    assert result.exit_code == 1, result.output
    assert "SMOKE_JOB_FAILED" in result.output and "not_promoted" in result.output


def test_bad_input_exits_2_before_anything_runs(tmp_path: Path) -> None:
    """What each message says is tested once, where the error is raised (test_matrix_digest,
    test_invariants); here: the exit code, and that nothing ran."""
    tag = warden("matrix", "run", "--env", "local", "--digest", "ghcr.io/org/agent:latest")
    assert tag.exit_code == 2
    unknown = warden("matrix", "run", "--env", "nowhere", "--digest", CANDIDATE)
    assert unknown.exit_code == 2
    broken = tmp_path / "invariants.yaml"
    broken.write_text("environments:\n  dev:\n    region: [not, a, string]\n")
    bad = warden("matrix", "status", "--env", "dev", "--invariants", str(broken))
    assert bad.exit_code == 2
    assert not (warden_home() / "out" / "matrix").exists()
    assert local_store().read() is None


def test_status_lists_an_unreadable_evidence_file_instead_of_failing() -> None:
    corrupt = warden_home() / "out" / "matrix" / "local" / "20260101T000000Z"
    corrupt.mkdir(parents=True)
    (corrupt / "evidence.json").write_text(json.dumps({"truncated": True})[:9])
    result = warden("matrix", "status", "--env", "local")
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.output and "no approved digest" in result.output


def test_janitor_command_reports_what_it_terminated() -> None:
    result = warden("matrix", "janitor", "--env", "local")
    assert result.exit_code == 0, result.output
    assert "terminated 0 host(s)" in result.output

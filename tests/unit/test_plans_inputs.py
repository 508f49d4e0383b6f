"""What a cached proof depends on besides its check: the revision and every uncommitted edit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tasks.plans.steps import read_run_inputs


def inputs(folder: Path) -> dict[str, str]:
    return read_run_inputs.fn(str(folder))


def checkout(folder: Path) -> Path:
    (folder / "tracked.txt").write_text("v1")
    (folder / ".gitignore").write_text("ignored.log\n")
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "."],
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base"],
    ):
        subprocess.run(argv, cwd=folder, check=True, capture_output=True)
    return folder


def test_inputs_change_with_tracked_and_untracked_edits_but_not_ignored_files(
    tmp_path: Path,
) -> None:
    repo = checkout(tmp_path)
    clean = inputs(repo)
    assert clean == inputs(repo) and len(clean["git_revision"]) == 40
    (repo / "ignored.log").write_text("noise")
    assert inputs(repo) == clean
    (repo / "new_test.py").write_text("def test_x(): pass")
    untracked = inputs(repo)
    assert untracked != clean
    (repo / "new_test.py").write_text("def test_x(): assert 0")
    assert inputs(repo) != untracked
    (repo / "new_test.py").unlink()
    (repo / "tracked.txt").write_text("v2")
    assert inputs(repo) not in (clean, untracked)


def test_outside_a_checkout_every_run_is_new(tmp_path: Path) -> None:
    first, second = inputs(tmp_path), inputs(tmp_path)
    assert first["git_revision"] == "none" and first != second

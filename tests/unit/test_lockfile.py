"""The committed lock belongs to pyproject.toml; a stale or unstamped lock stops the install."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("lockfile", ROOT / "deployments/local/lockfile.py")
lockfile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lockfile)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    pyproject, lock = tmp_path / "pyproject.toml", tmp_path / "requirements.lock"
    shutil.copy(ROOT / "pyproject.toml", pyproject)
    shutil.copy(ROOT / "requirements.lock", lock)
    return pyproject, lock


def test_the_committed_lock_is_the_lock_of_pyproject() -> None:
    lockfile.check()  # raises when someone changed dependencies without `make lock`


def test_a_comment_or_reordering_keeps_the_lock(project: tuple[Path, Path]) -> None:
    pyproject, lock = project
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"rich>=13",', '"rich>=13",  # tables'), encoding="utf-8")
    lockfile.check(pyproject, lock)


def test_a_changed_dependency_makes_the_lock_stale(project: tuple[Path, Path]) -> None:
    pyproject, lock = project
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"rich>=13"', '"rich>=14"'), encoding="utf-8")
    with pytest.raises(lockfile.LockError, match="make lock"):
        lockfile.check(pyproject, lock)
    assert lockfile.main(["lockfile.py", "check"]) == 0  # the real files are untouched


def test_a_lock_without_its_stamp_is_refused(project: tuple[Path, Path]) -> None:
    pyproject, lock = project
    lock.write_text(lock.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    with pytest.raises(lockfile.LockError):
        lockfile.check(pyproject, lock)
    lockfile.stamp(pyproject, lock)
    lockfile.check(pyproject, lock)


def test_an_unreadable_lock_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(lockfile.LockError):
        lockfile.check(ROOT / "pyproject.toml", tmp_path / "missing.lock")

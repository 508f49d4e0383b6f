"""The guard file is validated whole: each bad input is refused with file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.guard import load_guard_file
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(text)
    return path


def test_the_shipped_guard_file_is_valid() -> None:
    guard = load_guard_file(ROOT / "deployments" / "guard.yaml")
    assert guard.pool_names() == ["warden-process"]
    assert guard.limits("warden-process").min_workers == 1
    assert guard.limits("warden-process").queue_critical == 5000  # the seed's default


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("pools: []\n", 1, "pools"),
        ("pools:\n  - name: a\n    min_workers: 0\n", 3, "pools.0.min_workers"),
        ("pools:\n  - name: a\n    queue_warn: 9\n    queue_critical: 5\n", 2, "pools.0"),
        ("pools:\n  - name: a\n  - name: a\n", 1, "(document)"),
        ("pools:\n  - name: a\n    workers: 3\n", 3, "pools.0.workers"),
        ("api_timeout_sec: 0\npools:\n  - name: a\n", 1, "api_timeout_sec"),
        ("scheduler:\n  late_warn: 9\n  late_critical: 1\npools:\n  - name: a\n", 1, "scheduler"),
    ],
    ids=[
        "no-pool",
        "zero-workers",
        "levels-reversed",
        "pool-twice",
        "unknown-field",
        "zero-timeout",
        "late-levels-reversed",
    ],
)
def test_each_bad_input_is_refused_with_its_place(tmp_path, text, line, field) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_guard_file(path)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert any(p.startswith(f"{path}:{line}: {field}:") for p in caught.value.problems), (
        caught.value.problems
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "window_sec: 1\npools:\n  - name: a\n    min_workers: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_guard_file(path)
    assert len(caught.value.problems) == 2


def test_a_pool_that_is_not_guarded_is_a_usage_error(tmp_path: Path) -> None:
    guard = load_guard_file(write(tmp_path, "pools:\n  - name: a\n"))
    with pytest.raises(UsageError):
        guard.pool_names("b")

"""One name per thing: a task run's UI name is its function's name, so a screenshot greps to
the code, and a type of the gates or workflow-health concern is defined nowhere else."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import defaultdict
from pathlib import Path

import pytest
from prefect import Task

from tests.conftest import ROOT

STEP_MODULES = ("tasks.gates.steps", "tasks.workflows.steps", "tasks.guard.steps")
OWN_CONCERNS = ("gates", "workflows", "guard")


def _steps(module_name: str) -> list[Task]:
    module = importlib.import_module(module_name)
    return [value for _, value in inspect.getmembers(module) if isinstance(value, Task)]


@pytest.mark.parametrize("module_name", STEP_MODULES)
def test_every_step_is_named_after_its_function(module_name: str) -> None:
    steps = _steps(module_name)
    assert steps, f"{module_name} declares no step"
    assert [s.name for s in steps] == [s.fn.__name__ for s in steps]


@pytest.mark.parametrize("module_name", STEP_MODULES)
def test_run_name_templates_start_with_the_function_name(module_name: str) -> None:
    templates = {s.fn.__name__: s.task_run_name for s in _steps(module_name) if s.task_run_name}
    assert all(
        isinstance(template, str) and template.startswith(f"{name}-")
        for name, template in templates.items()
    ), templates


def _classes_by_name() -> dict[str, set[Path]]:
    where: dict[str, set[Path]] = defaultdict(set)
    for path in (ROOT / "tasks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].add(path.relative_to(ROOT))
    return where


@pytest.mark.parametrize("concern", OWN_CONCERNS)
def test_a_concerns_types_are_defined_nowhere_else(concern: str) -> None:
    shared = {
        name: sorted(str(path) for path in paths)
        for name, paths in _classes_by_name().items()
        if len(paths) > 1 and any(path.parts[1] == concern for path in paths)
    }
    assert shared == {}


def _concerns() -> set[str]:
    return {path.name for path in (ROOT / "tasks").iterdir() if (path / "__init__.py").is_file()}


@pytest.mark.parametrize("concern", OWN_CONCERNS)
def test_no_module_is_named_after_a_concern_or_twice_in_one_word(concern: str) -> None:
    """tasks/workflows/gate.py read as tasks/gates/; check.py and checkers.py as one module."""
    stems = {path.stem for path in (ROOT / "tasks" / concern).glob("*.py")} - {"__init__"}
    concerns = _concerns()
    named_after_a_concern = sorted(s for s in stems if s in concerns or f"{s}s" in concerns)
    one_word_twice = sorted(
        (a, b) for a in stems for b in stems if b in {f"{a}s", f"{a}ers", f"{a}ing"}
    )
    assert (named_after_a_concern, one_word_twice) == ([], [])

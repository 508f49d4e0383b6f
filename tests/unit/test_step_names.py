"""A task run's name in the UI is its function's name, so a screenshot greps to the code."""

from __future__ import annotations

import importlib
import inspect

import pytest
from prefect import Task

STEP_MODULES = ("tasks.gates.steps", "tasks.workflows.steps")


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

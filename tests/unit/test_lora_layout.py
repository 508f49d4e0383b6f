"""How the LoRA concern is laid out, checked so it cannot drift back (issue 12, "the house")."""

from __future__ import annotations

from prefect import Task

from tasks.lora import steps


def test_every_lora_task_runs_under_its_function_name() -> None:
    tasks = [value for value in vars(steps).values() if isinstance(value, Task)]
    assert len(tasks) >= 10
    assert [(t.name, t.fn.__name__) for t in tasks if t.name != t.fn.__name__] == []

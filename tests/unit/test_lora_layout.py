"""How the LoRA concern is laid out, checked so it cannot drift back (issue 12, "the house")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from prefect import Task

from tasks.lora import steps
from tests.conftest import ROOT

LORA = sorted((ROOT / "tasks" / "lora").glob("*.py"))
EVENTS = sorted((ROOT / "tasks" / "events").glob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def attributes(path: Path) -> set[str]:
    """Every ``x.y`` attribute name and plain name ``path`` uses."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return used | {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def test_every_lora_task_runs_under_its_function_name() -> None:
    tasks = [value for value in vars(steps).values() if isinstance(value, Task)]
    assert len(tasks) >= 10
    assert [(t.name, t.fn.__name__) for t in tasks if t.name != t.fn.__name__] == []


@pytest.mark.parametrize("path", LORA + EVENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_configuration_is_read_only_in_blocks(path: Path) -> None:
    """No environment, .env file or settings block is read in tasks/lora or tasks/events."""
    assert not {"environ", "getenv", "read_dotenv", "GauntletSettings"} & attributes(path)


@pytest.mark.parametrize("path", LORA + EVENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_only_steps_import_prefect(path: Path) -> None:
    prefect = {name for name in imported(path) if name.split(".")[0] == "prefect"}
    assert not prefect or path.name == "steps.py"


def test_deciding_modules_do_not_render_or_fetch() -> None:
    """The readiness judge holds no HTTP (its backends do); the verdict no markdown."""
    assert "httpx" not in imported(ROOT / "tasks" / "lora" / "readiness.py")
    assert "md_cell" not in attributes(ROOT / "tasks" / "lora" / "verdict.py")


def test_the_adapter_writer_is_a_test_helper() -> None:
    defined = {
        node.name
        for path in LORA
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    assert not {"write_adapter", "write_safetensors"} & defined

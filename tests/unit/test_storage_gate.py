"""Every flow passes the result storage's preflight (tasks.platform.run_api.ensure_storage_ready):
through the kill switch gate, by calling it, or through a step of its own that calls it first.
A new flow that does none of these would persist its result to a bucket nobody checked."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATES = {"ensure_kill_switch_off", "ensure_storage_ready"}


def _is_flow(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "flow":
            return True
    return False


def _called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def _steps_calling_the_gate() -> set[str]:
    """Step functions (any concern's steps.py) whose body calls ensure_storage_ready."""
    found = set()
    for path in (ROOT / "tasks").rglob("steps.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and "ensure_storage_ready" in _called(node):
                found.add(node.name)
    return found


def test_every_flow_checks_its_result_storage_first() -> None:
    gated_steps = _steps_calling_the_gate()
    flows = [
        (path.name, node)
        for path in sorted((ROOT / "flows").glob("*.py"))
        for node in ast.parse(path.read_text()).body
        if _is_flow(node)
    ]
    assert len(flows) >= 15  # the walk found the flows
    ungated = [
        f"{name}: {node.name}"
        for name, node in flows
        if not (_called(node) & (GATES | gated_steps))
    ]
    assert not ungated, ungated

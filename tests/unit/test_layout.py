"""The layout DESIGN.md promises, read from the source: which package may import which.

A concern (tasks/<concern>/) uses shared machinery from tasks/platform/ and tasks/events/, never
another concern sideways; nothing in tasks/ imports flows/ or cli/, by name or through importlib.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

TASKS = ROOT / "tasks"
# checkpoints is shared: the go/no-go checkpoint gate (tasks/gates) and the safety plan's
# tasks (tasks/plans) both verify checkpoints with it, and it imports no concern itself.
SHARED = {"platform", "events", "checkpoints"}
PENDING: set[tuple[str, str]] = set()  # sideways imports still to remove: none


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports by absolute name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _concerns() -> list[Path]:
    return sorted(p for p in TASKS.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_no_concern_imports_another_sideways() -> None:
    sideways = {
        (concern.name, parts[1])
        for concern in _concerns()
        for path in concern.rglob("*.py")
        for parts in (name.split(".") for name in _imports(path))
        if parts[0] == "tasks" and len(parts) > 1 and parts[1] not in {concern.name, *SHARED}
    }
    assert sideways <= PENDING, sorted(sideways - PENDING)


def test_tasks_import_neither_flows_nor_cli_nor_load_modules_by_name() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in TASKS.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in {"flows", "cli"} or name == "importlib"  # import_module
    }
    assert not found, sorted(found)


# The orchestration guard's subject is the Prefect platform itself: its reads and writes of the
# Prefect API (runs, pools, workers, automations, the event stream) are adapters beside its
# steps, not deciding modules. Every decision on what they read stays Prefect-free.
PREFECT_ADAPTERS = {
    "tasks/guard/platform_reads.py",
    "tasks/guard/platform_writes.py",
    "tasks/guard/chain_reads.py",
    "tasks/guard/event_stream.py",
    "tasks/guard/automation_writes.py",
    "tasks/platform/run_api.py",  # the run's own client and context: its slot, its storage check
    "tasks/platform/engineless.py",  # the engine-less run: Prefect's task semantics, no API
    "tasks/platform/engine_fixes.py",  # one fix to Prefect's flow engine (a flow ended 1 s late)
}


def test_only_steps_modules_in_tasks_import_prefect() -> None:
    """Deciding modules stay Prefect-free: Prefect (and prefect_aws, which imports it) only in a
    concern's steps.py (and the guard's API adapters); a named AwsCredentials block is loaded in
    blocks/aws.py."""
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in TASKS.rglob("*.py")
        if path.name != "steps.py" and str(path.relative_to(ROOT)) not in PREFECT_ADAPTERS
        for name in _imports(path)
        if name.split(".")[0] in {"prefect", "prefect_aws"}
    }
    assert not found, sorted(found)

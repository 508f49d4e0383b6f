"""Plan files for the safety-plan flow tests: tasks whose commands leave traces."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import py


def touch(name: str) -> list[str]:
    """A command appending a line to ``name``: a test sees whether a task ran, and how often."""
    return py(f"open({name!r}, 'a').write('ran\\n')")


def failing(name: str) -> list[str]:
    return py(f"open({name!r}, 'a').write('ran\\n'); raise SystemExit(1)")


def command_task(task_id: str, argv: list[str], **fields) -> dict:
    return {
        "id": task_id,
        "text": f"task {task_id}",
        "verify": {"kind": "command", "argv": argv},
        **fields,
    }


def git_checkout(folder: Path) -> Path:
    """Make ``folder`` a git checkout with one commit: cached proofs need a revision. Every
    untracked file is ignored, so the traces the tests' tasks leave do not change the inputs."""
    (folder / ".gitignore").write_text("*\n")
    for argv in (
        ["git", "init", "-q"],
        [
            "git",
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        ],
    ):
        subprocess.run(argv, cwd=folder, check=True, capture_output=True)
    return folder


def write_plan(folder: Path, phases: list[list[list[dict]]], **top) -> Path:
    """phases -> steps -> tasks, numbered from 0 like the seed."""
    document = {
        "version": 1,
        "title": top.pop("title", "Flow test plan"),
        "phases": [
            {
                "id": str(p),
                "title": f"phase {p}",
                "steps": [
                    {"id": f"{p}.{s}", "title": f"step {p}.{s}", "tasks": tasks}
                    for s, tasks in enumerate(steps, start=1)
                ],
            }
            for p, steps in enumerate(phases)
        ],
        **top,
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path

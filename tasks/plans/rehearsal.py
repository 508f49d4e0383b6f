"""Rollback rehearsal: snapshot, apply the change, roll back, prove every byte is back.

The snapshot is a SHA-256 and the mode of every file under the named paths (a path absent
before must be absent after). It runs in a scratch copy of the paths unless ``in_place``. A
change that changes nothing proves no rollback, so it fails (``apply_changed_nothing``); a
rollback that leaves any difference fails with the differing paths (``not_restored``).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from blocks.plan_checks import RehearsalCheck
from tasks.plans.models import TaskOutcome
from tasks.platform.processes import run_command

ABSENT = "absent"
MAX_LISTED = 20

Snapshot = dict[str, str]


def snapshot(root: Path, paths: list[str]) -> Snapshot:
    """``relative path -> sha256:mode`` for every file under ``paths`` (dirs recursively)."""
    state: Snapshot = {}
    for name in paths:
        target = root / name
        if not target.exists() and not target.is_symlink():
            state[name] = ABSENT
            continue
        files = [target] if not target.is_dir() else sorted(target.rglob("*"))
        for path in files:
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = f"link:{path.readlink()}"
            elif path.is_dir():
                state[key] = f"dir:{oct(path.stat().st_mode)}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[key] = f"{digest}:{oct(path.stat().st_mode)}"
    return state


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def prepare_scratch(base_dir: Path, scratch: Path, paths: list[str]) -> None:
    """Copy the named paths (those that exist) into an empty scratch folder."""
    scratch.mkdir(parents=True, exist_ok=True)
    for name in paths:
        source, target = base_dir / name, scratch / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif source.exists() or source.is_symlink():
            shutil.copy2(source, target, follow_symlinks=False)


def rehearse(check: RehearsalCheck, base_dir: Path, scratch: Path) -> TaskOutcome:
    """Run the rehearsal in ``scratch`` (a fresh folder), or in ``base_dir`` when in place."""
    root = base_dir if check.in_place else scratch
    if not check.in_place:
        prepare_scratch(base_dir, scratch, check.paths)
    before = snapshot(root, check.paths)
    evidence: dict[str, object] = {"where": str(root), "files": len(before)}
    applied = run_command(check.apply, timeout_sec=check.timeout_sec, cwd=root, env={})
    if applied.error or applied.timed_out or applied.exit_code != 0:
        why = applied.error or ("timeout" if applied.timed_out else f"exit {applied.exit_code}")
        message = f"the change did not apply: {why}"
        return TaskOutcome(ok=False, reason="apply_failed", message=message, evidence=evidence)
    changed = differences(before, snapshot(root, check.paths))
    evidence["changed"] = changed[:MAX_LISTED]
    if not changed:
        message = "the change changed nothing under the named paths: nothing was rehearsed"
        return TaskOutcome(
            ok=False, reason="apply_changed_nothing", message=message, evidence=evidence
        )
    undone = run_command(check.rollback, timeout_sec=check.timeout_sec, cwd=root, env={})
    if undone.error or undone.timed_out or undone.exit_code != 0:
        why = undone.error or ("timeout" if undone.timed_out else f"exit {undone.exit_code}")
        message = f"the rollback did not run through: {why}"
        return TaskOutcome(ok=False, reason="rollback_failed", message=message, evidence=evidence)
    left = differences(before, snapshot(root, check.paths))
    evidence["not_restored"] = left[:MAX_LISTED]
    if left:
        message = f"{len(left)} path(s) differ from the snapshot after the rollback"
        return TaskOutcome(ok=False, reason="not_restored", message=message, evidence=evidence)
    message = f"{len(changed)} changed path(s) restored bit for bit ({len(before)} hashed)"
    return TaskOutcome(ok=True, message=message, evidence=evidence)

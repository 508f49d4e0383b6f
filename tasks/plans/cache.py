"""Verified tasks are remembered, so a re-run starts at the first unverified task.

An entry's key is the hash of (plan hash, task id, check-definition hash, inputs such as the
git revision): a changed check, a new commit or edited files give a new key, so the old proof
is not reused. Only verified results are stored. The file is JSON under
``$WARDEN_HOME/plans/<plan>-<hash>/cache.json``, written atomically; an unreadable file counts
as no cached proof (everything re-runs), never as a pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from blocks.plans import PlanFile, PlanTask
from tasks.plans.models import TaskResult, TaskStatus
from tasks.platform.files import write_atomic
from tasks.platform.keys import slug


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def plan_hash(plan: PlanFile) -> str:
    """The plan's identity: its title and its phases, steps and tasks (ids and texts), not
    its checks — so changing one check invalidates that task alone."""
    shape = [plan.title] + [
        [
            phase.id,
            phase.title,
            [[s.id, s.title, [[t.id, t.text] for t in s.tasks]] for s in phase.steps],
        ]
        for phase in plan.phases
    ]
    return _digest(shape)


def check_hash(task: PlanTask) -> str:
    """What the task's proof depends on in the plan: its check definition."""
    verify = task.verify.model_dump(mode="json") if task.verify is not None else None
    return _digest(verify)


def cache_key(plan_digest: str, task: PlanTask, inputs: dict[str, str]) -> str:
    return _digest([plan_digest, task.id, check_hash(task), inputs])


LATEST_REPORT = "latest_report.json"


def plan_folder(home: Path, plan: PlanFile) -> Path:
    return home / "plans" / f"{slug(plan.title)[:60]}-{plan_hash(plan)[:12]}"


class VerifiedCache:
    """The verified results of one plan, by cache key."""

    def __init__(self, path: Path, plan: PlanFile, inputs: dict[str, str]) -> None:
        self.path = path
        self.inputs = dict(inputs)
        self._plan_hash = plan_hash(plan)
        self._entries = _read(path)

    def get(self, task: PlanTask) -> TaskResult | None:
        entry = self._entries.get(cache_key(self._plan_hash, task, self.inputs))
        if entry is None:
            return None
        try:
            result = TaskResult.model_validate(entry)
        except ValueError:
            return None
        if result.task_id != task.id or result.status is not TaskStatus.VERIFIED:
            return None
        return result.model_copy(update={"cached": True})

    def put(self, task: PlanTask, result: TaskResult) -> None:
        """Remember a verified result (others are never stored); written at once."""
        if result.status is not TaskStatus.VERIFIED or result.task_id != task.id:
            return
        key = cache_key(self._plan_hash, task, self.inputs)
        self._entries[key] = result.model_copy(update={"cached": False}).model_dump(mode="json")
        write_atomic(self.path, json.dumps(self._entries, indent=1, sort_keys=True))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

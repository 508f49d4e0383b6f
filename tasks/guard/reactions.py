"""What applying the automations file changes on the API: per automation, create, update,
leave alone or delete. Pure (no Prefect import): it compares definitions as plain JSON.

Automations are matched by name. Of those named like one in the file, the one tagged as
applied from the file is kept (updated if its definition differs); any other is a duplicate
and deleted (e.g. the deployment trigger that used to declare the shedding reaction). A
tagged automation whose name left the file is deleted. ``enabled`` is not part of a
definition: an unchanged automation keeps the state an operator (or the storm breaker) gave
it; a created or updated one gets the file's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tasks.guard.models import Frozen

# Fields of an automation that are not its definition: ids, timestamps, and its on/off state.
_NOT_DEFINITION = {"id", "created", "updated", "enabled"}


class ChangeKind(StrEnum):
    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    DELETE = "deleted"


class Existing(Frozen):
    """An automation on the API, as JSON (``Automation.model_dump(mode="json")``)."""

    id: str
    name: str
    tags: list[str]
    definition: dict[str, Any]


class AutomationChange(Frozen):
    name: str
    kind: ChangeKind
    id: str | None = None  # the automation updated, left alone or deleted
    why: str = ""
    disabled_because: str = ""  # applied disabled: what it waits for


def definition(automation: dict[str, Any]) -> dict[str, Any]:
    """An automation's JSON without what is not its definition (the trigger's own id too)."""
    kept = {k: v for k, v in automation.items() if k not in _NOT_DEFINITION}
    trigger = kept.get("trigger")
    if isinstance(trigger, dict):
        kept["trigger"] = {k: v for k, v in trigger.items() if k != "id"}
    return kept


def plan_changes(
    desired: dict[str, dict[str, Any]], existing: list[Existing], tag: str
) -> list[AutomationChange]:
    """The changes that make the API hold exactly ``desired`` (name -> definition) among the
    automations tagged ``tag``, with no other automation of those names."""
    changes: list[AutomationChange] = []
    for name, wanted in desired.items():
        same = [e for e in existing if e.name == name]
        ours = next((e for e in same if tag in e.tags), None)
        changes += [
            AutomationChange(name=name, kind=ChangeKind.DELETE, id=e.id, why="duplicate name")
            for e in same
            if e is not ours
        ]
        if ours is None:
            changes.append(AutomationChange(name=name, kind=ChangeKind.CREATE))
        elif definition(ours.definition) == definition(wanted):
            changes.append(AutomationChange(name=name, kind=ChangeKind.UNCHANGED, id=ours.id))
        else:
            changes.append(
                AutomationChange(
                    name=name, kind=ChangeKind.UPDATE, id=ours.id, why="definition changed"
                )
            )
    changes += [
        AutomationChange(name=e.name, kind=ChangeKind.DELETE, id=e.id, why="no longer in the file")
        for e in existing
        if tag in e.tags and e.name not in desired
    ]
    return changes


def describe_changes(changes: list[AutomationChange]) -> str:
    """One line per kind of change (``automations: created a, b; unchanged c``), then one per
    automation applied disabled, saying what it waits for."""
    by_kind = {
        kind: [c.name for c in changes if c.kind is kind]
        for kind in ChangeKind
        if any(c.kind is kind for c in changes)
    }
    lines = ["automations: " + "; ".join(f"{k} {', '.join(n)}" for k, n in by_kind.items())]
    lines += [f"  {c.name}: disabled, {c.disabled_because}" for c in changes if c.disabled_because]
    return "\n".join(lines)

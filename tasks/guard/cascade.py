"""Cascades (seed 002 §2, the ``event_cascade_breaker``): chains of flow runs started by
their parents (subflows, ``run_deployment``) or by automations, deeper than the limit (10
levels), are stopped: every active run below the limit is cancelled, the automations that
started runs of the chain are paused, and the decision is recorded. Pure: no Prefect import.

A run an automation started has no parent run: its link is in the events. Prefect records
each action as ``prefect.automation.action.executed`` naming, as related resources, the run it
created (role ``flow-run``) and the event that triggered it (``triggering-event``); that
event is about (resource) or from within (related ``flow-run``) the run one level up.
"""

from __future__ import annotations

from datetime import datetime

from tasks.guard.models import Frozen
from tasks.platform.decisions import Decision, DecisionKind

CASCADE_BREAKER = "orchestration-cascade-breaker"
ACTIVE = {"SCHEDULED", "PENDING", "RUNNING", "PAUSED"}
ACTION_EXECUTED = "prefect.automation.action.executed"
FLOW_RUN, EVENT = "prefect.flow-run.", "prefect.event."
Related = list[tuple[str, str]]  # an event's related resources: (resource id, role)


class ActionLink(Frozen):
    """One executed automation action that created a run, and the event that triggered it."""

    created_run: str
    triggering_event: str


def action_link(related: Related) -> ActionLink | None:
    """The link an ``action.executed`` event records (None: the action created no run)."""
    runs = [rid.removeprefix(FLOW_RUN) for rid, role in related if role == "flow-run"]
    events = [rid.removeprefix(EVENT) for rid, role in related if role == "triggering-event"]
    if len(runs) != 1 or len(events) != 1 or not runs[0] or not events[0]:
        return None
    return ActionLink(created_run=runs[0], triggering_event=events[0])


def run_of_event(resource_id: str, related: Related) -> str | None:
    """The flow run an event is about (its resource) or was emitted from (related flow-run)."""
    if resource_id.startswith(FLOW_RUN):
        return resource_id.removeprefix(FLOW_RUN)
    runs = [rid.removeprefix(FLOW_RUN) for rid, role in related if role == "flow-run"]
    return runs[0] if len(runs) == 1 else None


def automation_parents(links: list[ActionLink], event_runs: dict[str, str]) -> dict[str, str]:
    """Each automation-created run's parent: the run its triggering event came from (a run
    whose triggering event names no run, or names itself, has none)."""
    parents = {}
    for link in links:
        parent = event_runs.get(link.triggering_event)
        if parent and parent != link.created_run:
            parents[link.created_run] = parent
    return parents


class ChainRun(Frozen):
    id: str
    name: str
    parent_id: str | None  # the run one level up: parent flow run, or the run whose event
    # triggered the automation that started this one
    state_type: str
    automation_id: str | None = None  # set when an automation created the run


class CascadeStop(Frozen):
    """Runs to stop (deepest first) and automations to pause, for one chain's root."""

    root: str
    depth: int
    cancel: list[ChainRun]
    automations: list[str]


def depths(runs: dict[str, ChainRun]) -> dict[str, int]:
    """Each run's level: 1 for a run without a (known) parent; a cycle counts as a root."""
    found: dict[str, int] = {}
    for run_id in runs:
        path, current = [], run_id
        while current in runs and current not in found and current not in path:
            path.append(current)
            current = runs[current].parent_id or ""
        base = found.get(current, 0)
        for offset, member in enumerate(reversed(path), start=1):
            found[member] = base + offset
    return found


def root_of(run_id: str, runs: dict[str, ChainRun]) -> str:
    seen = set()
    while (parent := runs[run_id].parent_id) in runs and run_id not in seen:
        seen.add(run_id)
        run_id = parent
    return run_id


def plan_cascade_stops(runs: dict[str, ChainRun], max_depth: int) -> list[CascadeStop]:
    """One stop per chain deeper than ``max_depth``: its active runs below the limit, deepest
    first, and every automation that created a run of the chain."""
    level = depths(runs)
    too_deep = [r for r in runs.values() if level[r.id] > max_depth]
    stops = []
    for root in sorted({root_of(r.id, runs) for r in too_deep}):
        chain = [r for r in runs.values() if root_of(r.id, runs) == root]
        cancel = sorted(
            (r for r in chain if level[r.id] > max_depth and r.state_type in ACTIVE),
            key=lambda r: (-level[r.id], r.id),
        )
        stops.append(
            CascadeStop(
                root=root,
                depth=max(level[r.id] for r in chain),
                cancel=cancel,
                automations=sorted({r.automation_id for r in chain if r.automation_id}),
            )
        )
    return stops


def cascade_decision(
    stop: CascadeStop, cancelled: list[str], paused: list[str], max_depth: int, when: datetime
) -> Decision:
    return Decision(
        who=CASCADE_BREAKER,
        what=DecisionKind.CASCADE_STOP,
        where=f"flow-run:{stop.root}",
        when=when,
        why=[
            f"Cascade depth: {stop.depth} levels (limit: {max_depth})",
            f"Cancelled {len(cancelled)} run(s) below level {max_depth}, deepest first",
            f"Paused automations: {', '.join(paused) or 'none started this chain'}",
            "Recursive triggers stopped to protect the orchestrator",
        ],
        how="cascade_breaker",
        context={"playbook": "event_cascade_breaker", "cancelled": cancelled, "paused": paused},
    )

"""Which queued runs to shed (seed 002's ``scheduler_load_shedding`` playbook). Pure: plain
runs in, a plan out; the flow's step cancels what the plan names. No Prefect import.

Two rules, each cancellation naming its rule in the run's state message:
- ``max_late_runs``: a deployment keeps only its newest N Late runs (Prefect #19313);
- ``queue_depth_critical``: while a pool's depth is at or above critical, eligible runs
  (priority below the playbook's, waiting past ``min_age_sec``, not protected) are shed, lowest
  priority then oldest first, only as many as needed to fall below critical.
A protected run (tag ``critical``, ``tier:0``, ``tier:4``) is never shed by either rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from blocks.guard import PRIORITY_TAG, ShedPlaybook
from tasks.guard.models import Frozen


class ShedRule(StrEnum):
    MAX_LATE_RUNS = "max_late_runs"
    QUEUE_DEPTH_CRITICAL = "queue_depth_critical"


class QueuedRun(Frozen):
    id: str
    name: str
    deployment: str | None  # '<flow>/<deployment>'
    tags: list[str] = Field(default_factory=list)
    state_name: str  # Scheduled, Late, AwaitingRetry...
    expected_start: datetime


class Backlog(Frozen):
    """A pool's queue depth (due scheduled + late + pending) and its waiting runs."""

    pool: str
    depth: int
    runs: list[QueuedRun]


class ShedItem(Frozen):
    run: QueuedRun
    priority: int
    rule: ShedRule
    message: str  # the cancelled state's message


class CancelOutcome(Frozen):
    id: str
    name: str
    cancelled: bool
    detail: str  # the orchestration's answer, or why the run was left alone


class ShedPlan(Frozen):
    pool: str
    depth: int
    critical: int
    cancel: list[ShedItem]
    protected: int  # waiting runs no rule may touch
    shortfall: int  # runs still to shed to fall below critical, none being eligible

    @property
    def depth_after(self) -> int:
        return self.depth - len(self.cancel)


def priority_of(run: QueuedRun, playbook: ShedPlaybook) -> int:
    """The highest ``priority:N`` tag, else the deployment's priority, else the default."""
    tagged = [int(t[len(PRIORITY_TAG) :]) for t in run.tags if _priority_tag(t)]
    if tagged:
        return max(tagged)
    entry = playbook.for_deployment(run.deployment)
    if entry is not None and entry.priority is not None:
        return entry.priority
    return playbook.default_priority


def _priority_tag(tag: str) -> bool:
    return tag.startswith(PRIORITY_TAG) and tag[len(PRIORITY_TAG) :].isdigit()


def is_protected(run: QueuedRun, playbook: ShedPlaybook) -> bool:
    return any(tag in playbook.protected_tags for tag in run.tags)


def plan_shedding(
    pool: str,
    depth: int,
    critical: int,
    runs: list[QueuedRun],
    playbook: ShedPlaybook,
    now: datetime,
) -> ShedPlan:
    """The runs of ``pool`` to cancel, each with its rule; ``runs`` are its waiting runs."""
    free = [r for r in runs if not is_protected(r, playbook)]
    cancel = _over_late_cap(free, playbook)
    chosen = {item.run.id for item in cancel}
    need = max(0, depth - len(cancel) - critical + 1) if depth >= critical else 0
    oldest = now - timedelta(seconds=playbook.min_age_sec)
    eligible = sorted(
        (
            (priority, r.expected_start, r.id, r)
            for r in free
            if r.id not in chosen
            and r.expected_start <= oldest
            and (priority := priority_of(r, playbook)) < playbook.below_priority
        ),
        key=lambda entry: entry[:3],
    )
    for priority, _, _, run in eligible[:need]:
        cancel.append(
            _item(run, priority, ShedRule.QUEUE_DEPTH_CRITICAL, playbook, depth, critical)
        )
    shed_for_depth = sum(item.rule is ShedRule.QUEUE_DEPTH_CRITICAL for item in cancel)
    return ShedPlan(
        pool=pool,
        depth=depth,
        critical=critical,
        cancel=cancel,
        protected=len(runs) - len(free),
        shortfall=max(0, need - shed_for_depth),
    )


def _over_late_cap(runs: list[QueuedRun], playbook: ShedPlaybook) -> list[ShedItem]:
    """Late runs of each capped deployment beyond its newest ``max_late_runs``."""
    items = []
    for entry in playbook.deployments:
        if entry.max_late_runs is None:
            continue
        late = sorted(
            (r for r in runs if r.deployment == entry.deployment and r.state_name == "Late"),
            key=lambda r: (r.expected_start, r.id),
        )
        over = late[: max(0, len(late) - entry.max_late_runs)]
        items += [
            ShedItem(
                run=r,
                priority=priority_of(r, playbook),
                rule=ShedRule.MAX_LATE_RUNS,
                message=(
                    f"shed by {playbook.playbook} (rule {ShedRule.MAX_LATE_RUNS}): "
                    f"{entry.deployment} keeps its newest {entry.max_late_runs} Late run(s); "
                    f"{len(late)} were Late"
                ),
            )
            for r in over
        ]
    return items


def _item(
    run: QueuedRun, priority: int, rule: ShedRule, playbook: ShedPlaybook, depth: int, crit: int
) -> ShedItem:
    message = (
        f"shed by {playbook.playbook} (rule {rule}): queue depth {depth} >= critical {crit}; "
        f"priority {priority} < {playbook.below_priority}, waiting over "
        f"{playbook.min_age_sec:g} s"
    )
    return ShedItem(run=run, priority=priority, rule=rule, message=message)

"""The load-shedding run's record and its 5W1H decisions: one decision per pool and rule that
cancelled runs, its reasoning chain in the seed's style. Pure: no Prefect import."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from blocks.guard import ShedPlaybook
from tasks.guard.shedding import CancelOutcome, ShedPlan, ShedRule
from tasks.platform.decisions import Decision, DecisionKind

SHEDDER = "orchestration-load-shedding"


class ShedReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool
    playbook: str
    plans: list[ShedPlan]
    outcomes: list[CancelOutcome] = Field(default_factory=list)  # empty in a dry run
    decisions: list[Decision] = Field(default_factory=list)

    @property
    def failed_cancellations(self) -> list[CancelOutcome]:
        return [o for o in self.outcomes if not o.cancelled]

    @property
    def ok(self) -> bool:
        """Every pool is (dry run: would be) below critical, and every cancellation held."""
        return all(p.shortfall == 0 for p in self.plans) and not self.failed_cancellations

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def shed_decisions(
    plan: ShedPlan, outcomes: list[CancelOutcome], playbook: ShedPlaybook, when: datetime
) -> list[Decision]:
    """One SHED decision per rule that cancelled runs of ``plan``'s pool."""
    done = {o.id for o in outcomes if o.cancelled}
    decisions = []
    for rule in ShedRule:
        items = [i for i in plan.cancel if i.rule is rule and i.run.id in done]
        if not items:
            continue
        why = [f"Queue depth: {plan.depth} (critical: {plan.critical})"]
        if rule is ShedRule.QUEUE_DEPTH_CRITICAL:
            why.append(
                f"Shed {len(items)} run(s) with priority < {playbook.below_priority} waiting "
                f"over {playbook.min_age_sec:g} s, lowest priority then oldest"
            )
        else:
            why.append(f"Shed {len(items)} Late run(s) over their deployment's max_late_runs")
        why += [
            f"Protected runs left alone: {plan.protected} "
            f"(tags {', '.join(playbook.protected_tags)})",
            f"Queue depth after: {plan.depth - len(done)}",
            "Mission context: protect critical operations",
        ]
        decisions.append(
            Decision(
                who=SHEDDER,
                what=DecisionKind.SHED,
                where=f"work-pool:{plan.pool}",
                when=when,
                why=why,
                how="cancel_flow_run",
                context={
                    "playbook": playbook.playbook,
                    "rule": rule.value,
                    "runs": [
                        {"id": i.run.id, "name": i.run.name, "priority": i.priority} for i in items
                    ],
                },
            )
        )
    return decisions

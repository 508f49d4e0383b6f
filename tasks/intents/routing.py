"""Routing an intent (seed 002, section 4): its tier, mission alignment, parameter check and the
answer in the seed's shape. Pure: plain data in, typed answers and errors out. No Prefect import.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import IntentCode, IntentInputError
from blocks.intents import TIER_NAMES, IntentsFile, IntentType

ROUTER = "intent-governance-router"
TIER_ROUTES = {  # the seed's routing column, what each tier does here
    0: "human approval (proven), then the deployment",
    1: "the deployment now, logged for review",
    2: "the deployment now",
    3: "unified-logic vote (quorum of proven approvers), then the deployment",
    4: "the deployment now on the emergency queue (never shed)",
}
TIER_REASONS = {
    0: "Tier 0: human approval required",
    1: "Tier 1: auto-execute, logged for review",
    2: "Tier 2: fully autonomous, low risk",
    3: "Tier 3: high impact, requires unified logic vote",
    4: "Tier 4: emergency override, heavy log",
}


class Intent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    intent_type: str
    actor: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    mission_context: dict[str, Any] = Field(default_factory=dict)


class FlowRunRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    link: str


class RoutingAnswer(BaseModel):
    """The router's answer: the seed's fields plus the run it started.

    ``approved`` is true only when the intent was approved AND its deployment's run was created
    (``flow_run`` set); ``code`` says why not otherwise."""

    model_config = ConfigDict(frozen=True)

    intent_type: str
    actor: str
    approved: bool
    autonomy_tier: int | None = None
    tier_name: str | None = None
    requires_vote: bool = False
    reasoning: list[str] = Field(default_factory=list)
    routed_to: str | None = None  # the deployment, 'flow/deployment'
    alignment: float | None = None  # mission alignment, 0..1
    priority: int | None = None  # the run's priority:N tag
    approvals: list[str] = Field(default_factory=list)  # approvers whose proofs counted
    code: IntentCode | None = None
    flow_run: FlowRunRef | None = None


def tier_of(intents: IntentsFile, intent: Intent) -> IntentType:
    """The intent's entry; an unknown type or a missing actor is bad input."""
    entry = intents.intent(intent.intent_type)
    if entry is None:
        known = ", ".join(i.name for i in intents.intents)
        raise IntentInputError(
            IntentCode.UNKNOWN_INTENT,
            f"intent type {intent.intent_type!r} is not governed (known: {known})",
        )
    if not intent.actor.strip():
        raise IntentInputError(IntentCode.MISSING_ACTOR, "an intent needs an actor (--actor)")
    return entry


def alignment(context: dict[str, Any], charter: dict[str, float], baseline: float) -> float:
    """The highest charter weight among the goals the mission context names (``resilience`` or
    ``resilience_impact``, truthy), else ``baseline``; a goal the charter lacks is bad input."""
    named: list[str] = []
    for key, value in context.items():
        goal = key.removesuffix("_impact")
        if goal not in charter:
            raise IntentInputError(
                IntentCode.BAD_CONTEXT,
                f"mission context {key!r} names no charter goal (goals: {', '.join(charter)})",
            )
        if value:
            named.append(goal)
    return max((charter[g] for g in named), default=baseline)


def priority_of(score: float) -> int:
    """The ``priority:N`` the guard's load shedding reads: N = round(10 x score), 0..10."""
    return max(0, min(10, round(score * 10)))


def aligned_goal(context: dict[str, Any], charter: dict[str, float]) -> str | None:
    named = [k.removesuffix("_impact") for k, v in context.items() if v]
    return max(named, key=lambda g: charter.get(g, 0.0), default=None)


def check_parameters(
    parameters: dict[str, Any], schema: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """The run's parameters (the deployment's defaults overridden by the intent's) must be valid
    against the deployment's ``parameter_openapi_schema``, and name no unknown parameter."""
    known = set((schema.get("properties") or {}).keys())
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise IntentInputError(
            IntentCode.BAD_PARAMETERS,
            f"unknown parameter(s) {', '.join(unknown)} (the deployment takes: "
            f"{', '.join(sorted(known)) or 'none'})",
        )
    try:
        jsonschema.validate({**defaults, **parameters}, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "parameters"
        raise IntentInputError(IntentCode.BAD_PARAMETERS, f"{where}: {exc.message}") from exc
    except jsonschema.SchemaError as exc:
        raise IntentInputError(
            IntentCode.BAD_PARAMETERS, f"the deployment's parameter schema is invalid: {exc}"
        ) from exc


def base_answer(intent: Intent, entry: IntentType, intents: IntentsFile) -> RoutingAnswer:
    """The answer before anything ran: tier, vote, alignment, priority and the reasoning."""
    score = alignment(intent.mission_context, intents.charter, intents.baseline)
    goal = aligned_goal(intent.mission_context, intents.charter)
    why = f"{goal} priority" if goal else "no charter goal named: baseline"
    return RoutingAnswer(
        intent_type=intent.intent_type,
        actor=intent.actor,
        approved=False,
        autonomy_tier=entry.tier,
        tier_name=TIER_NAMES[entry.tier],
        requires_vote=entry.tier == 3,
        reasoning=[
            TIER_REASONS[entry.tier],
            f"Mission alignment: {score:.0%} ({why}) -> priority:{priority_of(score)}",
            f"Routing: {TIER_ROUTES[entry.tier]}",
        ],
        routed_to=entry.deployment,
        alignment=score,
        priority=priority_of(score),
    )


def rejected(answer: RoutingAnswer, code: IntentCode, reason: str) -> RoutingAnswer:
    return answer.model_copy(
        update={"approved": False, "code": code, "reasoning": [*answer.reasoning, reason]}
    )


def run_tags(entry: IntentType, intent: Intent, score: float) -> list[str]:
    """Tags of the started run: its tier (the guard never sheds tier:0/tier:4), priority, actor."""
    return [
        f"tier:{entry.tier}",
        f"priority:{priority_of(score)}",
        f"intent:{entry.name}",
        f"actor:{intent.actor}",
    ]

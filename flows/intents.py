"""Intent governance router (seed 002, section 4): who may start what, and how.

load the intents file -> the intent's tier (unknown type, missing actor: refused) -> the target
deployment's parameter schema (bad parameters: refused) -> kill switch (tiers 0-3) -> tier 0: a
proven human approval; tier 3: a quorum of distinct proven approvers -> start the deployment's
run (tier 4 on the emergency queue) tagged tier:N and priority:N -> 5W1H records (every
decision) -> tier 1: the review artifact -> the answer in the seed's shape.

Nothing runs before the intent is validated whole; a refusal says why (``code``).
``warden intent submit`` runs this flow; ``warden intent approve|reject`` answers its pauses.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.defaults import DEFAULT_INTENTS_FILE
from blocks.errors import IntentCode, IntentInputError, KillSwitchOn
from blocks.intents import IntentsFile, load_intents_file
from blocks.storage import persisted_results
from tasks.intents.proofs import Judged, Tally
from tasks.intents.records import (
    approval_decision,
    quorum_decision,
    review_markdown,
    routing_decision,
)
from tasks.intents.routing import (
    Intent,
    RoutingAnswer,
    base_answer,
    check_parameters,
    rejected,
    run_tags,
    tier_of,
)
from tasks.intents.steps import (
    PROCESS,
    collect_approvals,
    current_run_id,
    ensure_emergency_queue,
    read_target,
    record_decisions,
    start_deployment,
)
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="route-intent",
    description="Route an intent by its autonomy tier: approve (proven), vote, or run now.",
    **persisted_results(),
)
def route_intent(
    intent_type: str,
    actor: str = "",
    parameters: dict[str, Any] | None = None,
    mission_context: dict[str, Any] | None = None,
    config: str = str(DEFAULT_INTENTS_FILE),
) -> State:
    """Route one intent; Completed with the answer when its run started, else Failed with it."""
    intents = load_intents_file(config)
    intent = Intent(
        intent_type=intent_type,
        actor=actor,
        parameters=parameters or {},
        mission_context=mission_context or {},
    )
    answer = RoutingAnswer(intent_type=intent_type, actor=actor, approved=False)
    try:
        entry = tier_of(intents, intent)
        answer = base_answer(intent, entry, intents)
        schema, defaults, pool = read_target(entry.deployment)
        check_parameters(intent.parameters, schema, defaults)
        if entry.tier == 4 and pool is None:
            raise IntentInputError(
                IntentCode.NO_WORK_POOL, f"{entry.deployment} has no work pool to reserve"
            )
        if entry.tier != 4:  # emergency recovery works under the kill switch, like rollback
            ensure_kill_switch_off(PROCESS)
    except IntentInputError as exc:
        return _finish(intent, rejected(answer, exc.reason, f"Refused: {exc.message}"))
    except KillSwitchOn as exc:
        return _finish(intent, rejected(answer, IntentCode.KILL_SWITCH, f"Refused: {exc}"))

    approvals: list[str] = []
    if entry.tier in (0, 3):
        tally = _approvals(intents, intent, answer, 1 if entry.tier == 0 else intents.quorum)
        if not tally.reached:
            return _finish(intent, _not_approved(answer, tally))
        approvals = tally.approvers
    queue = ensure_emergency_queue(intents.emergency, pool) if entry.tier == 4 else None
    run = start_deployment(
        entry.deployment, intent.parameters, run_tags(entry, intent, answer.alignment), queue
    )
    answer = answer.model_copy(
        update={
            "approved": True,
            "approvals": approvals,
            "flow_run": run,
            "reasoning": [*answer.reasoning, f"Started {run.name} ({run.link})"],
        }
    )
    if entry.tier == 1:
        row = {"intent": intent.intent_type, "actor": actor, "flow_run": run.id}
        key = artifact_key(PROCESS, "review")
        publish_summary(key, review_markdown(intent, answer), [row], "tier 1: review")
    return _finish(intent, answer)


def _approvals(intents: IntentsFile, intent: Intent, answer: RoutingAnswer, quorum: int) -> Tally:
    run_id = current_run_id()
    description = (
        f"**{intent.intent_type}** by {intent.actor} -> {answer.routed_to}: needs {quorum} "
        f"distinct proven approval(s). Answer with `warden intent approve|reject {run_id} "
        f"--by NAME`, or paste the proof HMAC-SHA256(secret, '{run_id}:approve|reject')."
    )

    def record(judged: Judged) -> None:
        record_decisions([approval_decision(judged, intent, run_id, utc_now())])

    tally = collect_approvals(intents, quorum, description, record)
    if tally.reached:
        record_decisions([quorum_decision(tally.approvers, quorum, intent, run_id, utc_now())])
    return tally


def _not_approved(answer: RoutingAnswer, tally: Tally) -> RoutingAnswer:
    vetoed = tally.rejected_by
    if vetoed is not None:
        return rejected(answer, IntentCode.APPROVAL_REJECTED, f"Rejected: {vetoed.why}")
    got = f"{len(tally.approvers)} of {tally.quorum} proven approval(s)"
    return rejected(answer, IntentCode.APPROVAL_TIMEOUT, f"Not approved in time: {got}")


def _finish(intent: Intent, answer: RoutingAnswer) -> State:
    """Record the routing decision (tier 4: heavily) and end the run with the answer."""
    decision = routing_decision(intent, answer, current_run_id(), utc_now())
    record_decisions([decision], heavy=answer.autonomy_tier == 4)
    run_logger().info("intent %s: %s", intent.intent_type, "; ".join(answer.reasoning))
    if answer.approved:
        return Completed(message=decision.summary(), data=answer)
    return Failed(message=decision.summary(), data=answer)

"""What the router records: one 5W1H decision per routing decision and per judged approval, and
the tier-1 review artifact. Pure: no Prefect import."""

from __future__ import annotations

from datetime import datetime

from tasks.intents.proofs import Judged
from tasks.intents.routing import ROUTER, Intent, RoutingAnswer
from tasks.platform.decisions import Decision, DecisionKind
from tasks.platform.markdown import md_cell


def routing_decision(intent: Intent, answer: RoutingAnswer, run_id: str, now: datetime) -> Decision:
    """The router's decision on ``intent``: routed (a run started) or rejected, with why."""
    started = answer.flow_run
    return Decision(
        who=ROUTER,
        what=DecisionKind.INTENT_ROUTED if answer.approved else DecisionKind.INTENT_REJECTED,
        where=f"deployment:{answer.routed_to or intent.intent_type}",
        when=now,
        why=answer.reasoning or [f"intent {intent.intent_type}"],
        how="run_deployment" if started else (answer.code.value if answer.code else "refused"),
        context={
            "router_run": run_id,
            "intent_type": intent.intent_type,
            "actor": intent.actor,
            "tier": answer.autonomy_tier,
            "priority": answer.priority,
            "approvals": answer.approvals,
            "code": answer.code.value if answer.code else None,
            "flow_run": started.id if started else None,
            "review_required": answer.autonomy_tier == 1 and answer.approved,
        },
    )


def approval_decision(judged: Judged, intent: Intent, run_id: str, now: datetime) -> Decision:
    """One approver's answer, counted or rejected (never the proof itself)."""
    ballot = judged.ballot
    return Decision(
        who=ballot.approver or "(no name)",
        what=DecisionKind.APPROVAL_ACCEPTED if judged.counted else DecisionKind.APPROVAL_REJECTED,
        where=f"flow-run:{run_id}",
        when=now,
        why=[judged.why, *([ballot.reason] if ballot.reason else [])],
        how="hmac_proof",
        context={"intent_type": intent.intent_type, "decision": ballot.decision.value},
    )


def quorum_decision(approvers: list[str], quorum: int, intent: Intent, run_id: str, now: datetime):
    return Decision(
        who=ROUTER,
        what=DecisionKind.QUORUM_REACHED,
        where=f"flow-run:{run_id}",
        when=now,
        why=[f"{len(approvers)} of {quorum} distinct proven approvals: {', '.join(approvers)}"],
        how="unified_logic_vote",
        context={"intent_type": intent.intent_type, "approvers": approvers},
    )


def review_markdown(intent: Intent, answer: RoutingAnswer) -> str:
    """Tier 1's review artifact: what ran, for a human to review later."""
    run = answer.flow_run
    rows = [
        ("intent", intent.intent_type),
        ("actor", intent.actor),
        ("deployment", answer.routed_to or ""),
        ("flow run", f"[{run.name}]({run.link})" if run else "none"),
        ("parameters", ", ".join(f"{k}={v}" for k, v in intent.parameters.items()) or "defaults"),
        ("priority", str(answer.priority)),
    ]
    lines = ["# Tier 1 intent: ran, review required", "", "| what | value |", "|---|---|"]
    lines += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in rows]
    lines += ["", *[f"- {md_cell(r)}" for r in answer.reasoning]]
    return "\n".join(lines)

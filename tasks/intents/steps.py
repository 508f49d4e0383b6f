"""The intent router's Prefect side: the target deployment, approvers' secrets, the approval
form, starting the run, the emergency queue, and the 5W1H record. Nothing here decides."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any

from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.input import RunInput
from prefect.states import Running

from blocks.errors import IntentCode, IntentInputError
from blocks.intents import EmergencyQueue, IntentsFile
from tasks.intents.proofs import Ballot, Choice, Tally, proof
from tasks.intents.routing import FlowRunRef
from tasks.platform.decisions import Decision, DecisionLog
from tasks.platform.steps import SignOffNotReceived, ask_input, emit, run_logger, step
from tasks.platform.ui_links import flow_run_link

PROCESS = "intent"  # events are warden.intent.<verb>


class ApprovalForm(RunInput):
    """What the UI asks an approver: the decision and the proof computed with their secret
    (``warden intent approve`` computes and sends it)."""

    approver: str
    decision: Choice
    proof: str
    reason: str = ""


def current_run_id() -> str:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("the intent router runs inside a Prefect flow run")
    return str(context.flow_run.id)


@step(cache_policy=NO_CACHE)
def read_target(deployment: str) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The deployment's parameter schema, default parameters and work pool; missing is bad
    input."""
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound as exc:
            raise IntentInputError(
                IntentCode.NO_DEPLOYMENT,
                f"deployment {deployment!r} is not on the Prefect API (deploy it first)",
            ) from exc
    schema, defaults = dict(found.parameter_openapi_schema or {}), dict(found.parameters or {})
    return schema, defaults, found.work_pool_name


def approver_secrets(intents: IntentsFile) -> dict[str, str]:
    """Each approver's proof key from their Secret block; never a step (nothing persisted), never
    logged. An approver whose block is missing has no key: none of their proofs verifies."""
    secrets: dict[str, str] = {}
    for approver in intents.approvers:
        with contextlib.suppress(ValueError, ObjectNotFound):
            secrets[approver.name] = str(Secret.load(approver.secret_block).get())
    return secrets


# The pause's own timeout is set this much past the approval deadline, and the router wakes
# the run itself at the deadline: a pause that expires on the server leaves the run only a bare
# Failed state (Prefect refuses any later transition), so the answer would be lost.
PAUSE_GRACE_SEC = 30


def ask_approval(description: str, key: str, timeout_sec: int) -> Ballot | None:
    """Pause for one approver's answer; None when none came within ``timeout_sec``."""
    form = ApprovalForm.with_initial_data(description=description, approver="", proof="")
    run_id = current_run_id()
    waker = threading.Timer(timeout_sec, _wake, args=(run_id,))
    waker.daemon = True
    waker.start()
    try:
        answer = ask_input(form, key, timeout_sec + PAUSE_GRACE_SEC)
    except SignOffNotReceived as exc:  # woken with no answer: the form's fields are missing
        run_logger().info("no approval answer within %d s (%s)", timeout_sec, type(exc).__name__)
        return None
    finally:
        waker.cancel()
    return Ballot(
        approver=answer.approver,
        decision=answer.decision,
        proof=answer.proof,
        reason=answer.reason,
    )


def _wake(run_id: str) -> None:
    """At the approval deadline, end a pause nobody answered (the run reads no input)."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(uuid.UUID(run_id))
        if run.state is not None and run.state.is_paused():
            client.set_flow_run_state(uuid.UUID(run_id), Running(), force=True)


@step(cache_policy=NO_CACHE)
def ensure_emergency_queue(queue: EmergencyQueue, pool: str) -> str:
    """The reserved high-priority work queue on ``pool`` (created once, idempotently)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_queue_by_name(queue.queue, work_pool_name=pool)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_work_queue(
                    name=queue.queue, work_pool_name=pool, priority=queue.priority
                )
    return queue.queue


@step(cache_policy=NO_CACHE)
def start_deployment(
    deployment: str, parameters: dict[str, Any], tags: list[str], work_queue: str | None
) -> FlowRunRef:
    """Create the deployment's run now (``timeout=0``: do not wait for it)."""
    run = run_deployment(
        deployment,
        parameters=parameters,
        timeout=0,
        tags=tags,
        work_queue_name=work_queue,
    )
    return FlowRunRef(id=str(run.id), name=run.name, link=flow_run_link(run.id))


@step(cache_policy=NO_CACHE)
def record_decisions(decisions: list[Decision], heavy: bool = False) -> int:
    """Each decision into the durable log, as an event, and into the run's log (tier 4: all of
    its context too)."""
    logger = run_logger()
    for decision in decisions:
        emit(
            PROCESS,
            decision.what.value,
            "intent",
            decision.where,
            decision.model_dump(mode="json"),
        )
        logger.info("%s", decision.summary())
        if heavy:
            logger.warning("EMERGENCY %s", decision.model_dump_json())
    return DecisionLog().append(decisions)


def collect_approvals(intents: IntentsFile, quorum: int, description: str, record: Any) -> Tally:
    """Pause for answers, one round each, until ``quorum`` distinct proven approvals, a proven
    rejection, or the approval timeout; each judged answer goes to ``record``."""
    run_id = current_run_id()
    secrets = approver_secrets(intents)
    tally = Tally(flow_run_id=run_id, quorum=quorum)
    deadline = time.monotonic() + intents.approval_timeout_sec
    rounds = 0
    while not tally.reached and tally.rejected_by is None:
        left = int(deadline - time.monotonic())
        if left < 1:
            break
        rounds += 1
        ballot = ask_approval(description, f"approval-{rounds}", left)
        if ballot is None:
            break
        record(tally.judge(ballot, secrets))
    return tally


def send_approval(intents: IntentsFile, run_id: str, approver: str, decision: Choice, reason: str):
    """``warden intent approve|reject``: the proof from the approver's Secret block, sent to the
    paused run as its approval form's answer. The secret never leaves this function."""
    from prefect.exceptions import NotPausedError
    from prefect.flow_runs import resume_flow_run

    from blocks.errors import UsageError

    entry = intents.approver(approver)
    try:
        secret = str(Secret.load(entry.secret_block).get())
    except (ValueError, ObjectNotFound) as exc:
        raise UsageError(
            f"approver {approver}'s Secret block {entry.secret_block!r} is missing",
            remediation=f"Create it: Secret(value=...).save({entry.secret_block!r}).",
        ) from exc
    answer = {
        "approver": approver,
        "decision": decision.value,
        "proof": proof(secret, run_id, decision),
        "reason": reason,
    }
    try:
        resume_flow_run(uuid.UUID(run_id), run_input=answer)
    except (NotPausedError, ObjectNotFound, ValueError) as exc:
        raise UsageError(
            f"flow run {run_id} is not waiting for an approval ({type(exc).__name__})",
            remediation="Pass the id of a route-intent run that is Paused.",
        ) from exc

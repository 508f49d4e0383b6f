"""The route-intent flow on the session harness: runs start (tier 2, tier 1, tier 4), proven
approvals (tier 0), a quorum of distinct approvers (tier 3), timeouts, and refusals before
anything runs — each decision in the 5W1H log."""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
)
from prefect.exceptions import ObjectAlreadyExists
from prefect.flow_runs import resume_flow_run
from prefect.utilities.callables import parameter_schema

from blocks.errors import IntentCode
from flows.intents import route_intent
from tasks.intents.proofs import proof
from tasks.intents.routing import RoutingAnswer
from tasks.platform.decisions import DecisionKind, DecisionLog
from tests.flows.cli_runner import warden
from tests.flows.pauses import wait_for_paused_run

POOL = "intent-test-pool"
SECRETS = {"alice": "s-alice", "bob": "s-bob"}


def echo(target: str, retries: int = 0) -> None:
    """The demo deployment's signature: the schema the router validates against."""


@pytest.fixture(scope="module")
def deployment() -> str:
    """``intent-echo/test`` on the harness, with approvers' Secret blocks and a work pool."""
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        flow_id = client.create_flow_from_name("intent-echo")
        client.create_deployment(
            flow_id=flow_id,
            name="test",
            parameter_openapi_schema=parameter_schema(echo).model_dump_for_openapi(),
            parameters={"target": "demo"},
            work_pool_name=POOL,
        )
    for name, secret in SECRETS.items():
        Secret(value=secret).save(f"intent-approver-{name}", overwrite=True)
    return "intent-echo/test"


def config(tmp_path: Path, deployment: str, timeout: int = 60, quorum: int = 2) -> str:
    data = {
        "approval_timeout_sec": timeout,
        "quorum": quorum,
        "emergency": {"queue": "emergency", "priority": 1},
        "approvers": [
            {"name": n, "secret_block": f"intent-approver-{n}"} for n in ("alice", "bob", "carol")
        ],
        "intents": [
            {"name": name, "tier": tier, "deployment": deployment}
            for name, tier in (("gov", 0), ("sandbox", 1), ("query", 2), ("vote", 3), ("sos", 4))
        ],
    }
    path = tmp_path / "intents.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def route(path: str, intent_type: str, **kwargs: Any) -> tuple[Any, RoutingAnswer]:
    state = route_intent(intent_type=intent_type, config=path, return_state=True, **kwargs)
    return state, state.result(raise_on_failure=False)


def started(answer: RoutingAnswer):
    assert answer.flow_run is not None
    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(answer.flow_run.id))


def kinds() -> list[DecisionKind]:
    return [d.what for d in DecisionLog().read(timedelta(hours=1))]


def test_tier_2_starts_the_deployment_tagged_with_tier_and_priority(
    tmp_path: Path, deployment: str
) -> None:
    path = config(tmp_path, deployment)
    state, answer = route(
        path, "query", actor="ops", parameters={"retries": 2}, mission_context={"revenue": True}
    )
    assert state.is_completed() and answer.approved
    assert (answer.autonomy_tier, answer.requires_vote, answer.routed_to) == (2, False, deployment)
    run = started(answer)
    assert {"tier:2", "priority:8", "actor:ops"} <= set(run.tags)
    assert run.parameters == {"target": "demo", "retries": 2}
    assert answer.flow_run.link.endswith(f"/runs/flow-run/{run.id}")
    assert kinds() == [DecisionKind.INTENT_ROUTED]


def test_tier_1_runs_and_leaves_a_review_record(tmp_path: Path, deployment: str) -> None:
    state, answer = route(config(tmp_path, deployment), "sandbox", actor="ops")
    assert state.is_completed() and answer.approved
    (record,) = DecisionLog().read(timedelta(hours=1))
    assert record.context["review_required"] is True
    assert record.context["flow_run"] == answer.flow_run.id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["intent-review"]))
        )
    assert any(answer.flow_run.id in str(a.data) for a in artifacts)


def test_tier_4_runs_on_the_emergency_queue(tmp_path: Path, deployment: str) -> None:
    state, answer = route(config(tmp_path, deployment), "sos", actor="ops")
    assert state.is_completed() and answer.approved
    run = started(answer)
    assert run.work_queue_name == "emergency" and "tier:4" in run.tags
    with get_client(sync_client=True) as client:
        queue = client.read_work_queue_by_name("emergency", work_pool_name=POOL)
    assert queue.priority == 1


@pytest.mark.parametrize(
    ("intent_type", "kwargs", "code"),
    [
        ("nope", {"actor": "ops"}, IntentCode.UNKNOWN_INTENT),
        ("query", {"actor": ""}, IntentCode.MISSING_ACTOR),
        ("query", {"actor": "ops", "parameters": {"retries": "two"}}, IntentCode.BAD_PARAMETERS),
        ("query", {"actor": "ops", "parameters": {"other": 1}}, IntentCode.BAD_PARAMETERS),
        ("query", {"actor": "ops", "mission_context": {"glory": 1}}, IntentCode.BAD_CONTEXT),
    ],
)
def test_bad_intents_are_refused_before_anything_runs(
    tmp_path: Path, deployment: str, intent_type: str, kwargs: dict, code: IntentCode
) -> None:
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        before = len(client.read_flow_runs(deployment_filter=_only(dep.id)))
        state, answer = route(config(tmp_path, deployment), intent_type, **kwargs)
        after = len(client.read_flow_runs(deployment_filter=_only(dep.id)))
    assert state.is_failed() and not answer.approved and answer.code is code
    assert answer.flow_run is None and after == before
    assert kinds() == [DecisionKind.INTENT_REJECTED]


def _only(deployment_id) -> DeploymentFilter:
    return DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))


def in_thread(path: str, intent_type: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def go() -> None:
        outcome["result"] = route(path, intent_type, actor="ops")

    thread = threading.Thread(target=go)
    thread.start()
    return thread, outcome


def answer_as(run_id, who: str, decision: str = "approve", secret: str | None = None) -> None:
    key = secret if secret is not None else SECRETS[who]
    resume_flow_run(
        run_id,
        run_input={
            "approver": who,
            "decision": decision,
            "proof": proof(key, str(run_id), decision),
        },
    )


def test_tier_0_needs_a_proven_approval(tmp_path: Path, deployment: str) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment), "gov")
    run_id = wait_for_paused_run("route-intent")
    answer_as(run_id, "alice", secret="a guess")  # wrong proof: recorded, does not count
    answer_as(wait_for_paused_run("route-intent"), "alice")
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_completed() and answer.approved and answer.approvals == ["alice"]
    assert kinds() == [
        DecisionKind.APPROVAL_REJECTED,
        DecisionKind.APPROVAL_ACCEPTED,
        DecisionKind.QUORUM_REACHED,
        DecisionKind.INTENT_ROUTED,
    ]


def test_tier_0_rejected_with_a_proof_runs_nothing(tmp_path: Path, deployment: str) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment), "gov")
    answer_as(wait_for_paused_run("route-intent"), "bob", "reject")
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_failed() and answer.code is IntentCode.APPROVAL_REJECTED
    assert answer.flow_run is None


def test_tier_3_reaches_quorum_with_two_distinct_approvers_not_one_twice(
    tmp_path: Path, deployment: str
) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment), "vote")
    answer_as(wait_for_paused_run("route-intent"), "alice")
    answer_as(wait_for_paused_run("route-intent"), "alice")  # reused: rejected, recorded
    answer_as(wait_for_paused_run("route-intent"), "bob")
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_completed() and answer.approved and answer.requires_vote
    assert answer.approvals == ["alice", "bob"]
    assert kinds().count(DecisionKind.APPROVAL_REJECTED) == 1


def test_tier_3_times_out_without_quorum(tmp_path: Path, deployment: str) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment, timeout=6), "vote")
    answer_as(wait_for_paused_run("route-intent"), "alice")
    answer_as(wait_for_paused_run("route-intent"), "alice")  # one approver twice is no quorum
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_failed() and answer.code is IntentCode.APPROVAL_TIMEOUT
    assert answer.approvals == [] and answer.flow_run is None
    assert kinds()[-1] is DecisionKind.INTENT_REJECTED


def test_cli_submit_exit_codes(tmp_path: Path, deployment: str) -> None:
    path = config(tmp_path, deployment)
    ok = warden(
        "intent",
        "submit",
        "query",
        "--actor",
        "ops",
        "--param",
        "retries=3",
        "--context",
        "resilience=true",
        "--config",
        path,
    )
    assert ok.exit_code == 0, ok.output
    assert '"priority": 10' in ok.output
    assert warden("intent", "submit", "nope", "--actor", "a", "--config", path).exit_code == 2
    bad = warden(
        "intent", "submit", "query", "--actor", "a", "--param", "retries=x", "--config", path
    )
    assert bad.exit_code == 2
    assert (
        warden("intent", "submit", "query", "--param", "noequals", "--config", path).exit_code == 2
    )


def test_cli_approve_refuses_an_unknown_approver_and_a_run_not_paused(
    tmp_path: Path, deployment: str
) -> None:
    path = config(tmp_path, deployment)
    run = str(uuid.uuid4())
    assert warden("intent", "approve", run, "--by", "mallory", "--config", path).exit_code == 2
    assert warden("intent", "approve", run, "--by", "alice", "--config", path).exit_code == 2
    assert warden("intent", "reject", run, "--by", "carol", "--config", path).exit_code == 2


def test_cli_approve_sends_a_proof_that_counts(tmp_path: Path, deployment: str) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment), "gov")
    run_id = str(wait_for_paused_run("route-intent"))
    result = warden(
        "intent",
        "approve",
        run_id,
        "--by",
        "bob",
        "--reason",
        "ok",
        "--config",
        config(tmp_path, deployment),
    )
    assert result.exit_code == 0, result.output
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_completed() and answer.approvals == ["bob"]


def test_tier_0_with_only_a_wrong_proof_is_rejected_at_the_timeout(
    tmp_path: Path, deployment: str
) -> None:
    thread, outcome = in_thread(config(tmp_path, deployment, timeout=6), "gov")
    answer_as(wait_for_paused_run("route-intent"), "alice", secret="not alice's key")
    thread.join(timeout=60)
    state, answer = outcome["result"]
    assert state.is_failed() and answer.code is IntentCode.APPROVAL_TIMEOUT
    assert answer.flow_run is None and answer.approvals == []
    assert kinds() == [DecisionKind.APPROVAL_REJECTED, DecisionKind.INTENT_REJECTED]

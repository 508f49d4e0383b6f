"""The cascade breaker against a real Prefect server: a 12-level chain of parent runs
(as run_deployment builds: each child's parent task run lives in its parent flow run) is
stopped at 10 — the waiting deepest run Cancelled, the running one Cancelling, the 10 levels
above untouched, a 3-level chain left alone — and the decision recorded. A chain whose lower
levels a real automation started (each run's Running event starts the next: no parent run,
only events link them) is stopped the same way, and the automation paused."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.events.actions import RunDeployment
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectAlreadyExists
from prefect.states import Running, Scheduled

from tasks.platform.clock import utc_now
from tasks.platform.decisions import DecisionKind, DecisionLog
from tests.integration.conftest import LocalPrefect, using_api, wait_for

pytestmark = pytest.mark.integration


def child(client, deployment, parent: str | None, name: str, running: bool) -> str:
    """A run of ``deployment`` called from ``parent`` (its parent task run lives there)."""
    parent_task = None
    if parent:
        reply = client.request(  # Prefect's client: retries the SQLite API's 503s
            "POST",
            "/task_runs/",
            json={
                "name": f"{name}-call",
                "flow_run_id": parent,
                "task_key": "run_deployment",
                "dynamic_key": name,
            },
        )
        reply.raise_for_status()
        parent_task = reply.json()["id"]
    run = client.create_flow_run_from_deployment(
        deployment,
        name=name,
        parent_task_run_id=parent_task,
        state=Scheduled(scheduled_time=utc_now() + timedelta(days=1)),
    )
    if running:
        client.set_flow_run_state(run.id, Running(), force=True)
    return str(run.id)


def build_chain(client, deployment, prefix: str, levels: int) -> list[str]:
    """Runs level 1..levels, each a child of the one before; all Running but the deepest,
    which waits (Scheduled tomorrow)."""
    ids: list[str] = []
    for level in range(1, levels + 1):
        ids.append(
            child(client, deployment, ids[-1] if ids else None, f"{prefix}{level}", level < levels)
        )
    return ids


def setup(client) -> object:
    """The pool and the deployment whose runs call each other (both tests may make them)."""
    with contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name="chain-pool", type="process"))
    return client.create_deployment(
        flow_id=client.create_flow_from_name("guard-chain"),
        name="recursive",
        work_pool_name="chain-pool",
        entrypoint="flows/none.py:none",
    )


def test_a_12_level_chain_is_stopped_at_10(local_prefect: LocalPrefect, tmp_path: Path) -> None:
    from flows.cascade_breaker import orchestration_cascade_breaker

    url = local_prefect.url
    config = tmp_path / "guard.yaml"
    config.write_text(yaml.safe_dump({"pools": [{"name": "chain-pool"}]}))
    with (
        using_api(url),
        get_client(sync_client=True) as client,
    ):
        deployment = setup(client)
        deep = build_chain(client, deployment, "deep", 12)
        short = build_chain(client, deployment, "short", 3)
        state = orchestration_cascade_breaker(str(config), return_state=True)
        kinds = {run_id: client.read_flow_run(run_id).state.type.value for run_id in deep + short}
    assert state.is_completed(), state.message
    assert [kinds[r] for r in deep] == ["RUNNING"] * 10 + ["CANCELLING", "CANCELLED"]
    assert [kinds[r] for r in short] == ["RUNNING", "RUNNING", "SCHEDULED"]
    (decision,) = DecisionLog().read(timedelta(hours=1), DecisionKind.CASCADE_STOP)
    assert decision.where == f"flow-run:{deep[0]}"
    assert decision.context["cancelled"] == [deep[11], deep[10]]
    assert decision.why[0] == "Cascade depth: 12 levels (limit: 10)"


def relay(client, deployment) -> str:
    """A real automation: a run of ``deployment`` turning Running starts another run of it."""
    return str(
        client.create_automation(
            AutomationCore(
                name="guard-relay",
                trigger=EventTrigger(
                    expect={"prefect.flow-run.Running"},
                    match_related=ResourceSpecification(
                        {
                            "prefect.resource.id": f"prefect.deployment.{deployment}",
                            "prefect.resource.role": "deployment",
                        }
                    ),
                    posture=Posture.Reactive,
                    threshold=1,
                    within=timedelta(0),
                ),
                actions=[RunDeployment(source="selected", deployment_id=deployment)],
            )
        )
    )


def linked(client, run_id: str) -> bool:
    """The ``prefect.automation.action.executed`` event naming ``run_id`` is stored."""
    executed = EventFilter(
        event=EventNameFilter(name=["prefect.automation.action.executed"]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"], role=["flow-run"]),
    )
    return bool(client.read_events(filter=executed, limit=1).events)


def test_a_chain_continued_by_an_automation_is_stopped_at_10(
    local_prefect: LocalPrefect, tmp_path: Path
) -> None:
    """Levels 1-7 call each other (parent runs); from level 7 on, each Running run of the
    relay deployment makes the automation start the next level (linked only by events)."""
    from flows.cascade_breaker import orchestration_cascade_breaker

    config = tmp_path / "guard.yaml"
    config.write_text(yaml.safe_dump({"pools": [{"name": "chain-pool"}]}))
    with using_api(local_prefect.url), get_client(sync_client=True) as client:
        relayed = client.create_deployment(
            flow_id=client.create_flow_from_name("guard-relay"),
            name="relay",
            work_pool_name="chain-pool",
            entrypoint="flows/none.py:none",
        )
        automation = relay(client, relayed)
        ids = build_chain(client, setup(client), "mixed", 7)[:6]
        ids.append(child(client, relayed, ids[-1], "mixed7", running=True))

        def started_next() -> list:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[relayed])
                )
            )
            return [str(r.id) for r in runs if str(r.id) not in ids]

        for level in range(8, 13):
            (run_id,) = wait_for(started_next, 60, f"the automation to start level {level}")
            ids.append(run_id)
            if level < 12:
                client.set_flow_run_state(run_id, Running(), force=True)
        wait_for(  # each link reaches the API's event store shortly after its run
            lambda: all(linked(client, run_id) for run_id in ids[7:]),
            60,
            "Prefect's records that the automation started levels 8-12",
        )
        state = orchestration_cascade_breaker(str(config), return_state=True)
        kinds = [client.read_flow_run(run_id).state.type.value for run_id in ids]
        enabled = client.read_automation(automation).enabled
        created_by = client.read_flow_run(ids[-1]).created_by
    assert created_by.type == "AUTOMATION" and str(created_by.id) == automation
    assert state.is_completed(), state.message
    assert kinds == ["RUNNING"] * 10 + ["CANCELLING", "CANCELLED"]
    assert not enabled
    (decision,) = DecisionLog().read(timedelta(hours=1), DecisionKind.CASCADE_STOP)
    assert decision.where == f"flow-run:{ids[0]}"
    assert decision.why[0] == "Cascade depth: 12 levels (limit: 10)"
    assert decision.context["paused"] == [f"automation:{automation}"]

"""The cascade breaker against a real Prefect server: a 12-level chain of parent runs
(as run_deployment builds: each child's parent task run lives in its parent flow run) is
stopped at 10 — the waiting deepest run Cancelled, the running one Cancelling, the 10 levels
above untouched, a 3-level chain left alone — and the decision recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.states import Running, Scheduled

from tasks.platform.clock import utc_now
from tasks.platform.decisions import DecisionKind, DecisionLog
from tests.integration.conftest import LocalPrefect, using_api

pytestmark = pytest.mark.integration


def build_chain(client, deployment, prefix: str, levels: int) -> list[str]:
    """Runs level 1..levels, each a child of the one before; all Running but the deepest,
    which waits (Scheduled tomorrow)."""
    ids: list[str] = []
    for level in range(1, levels + 1):
        parent_task = None
        if ids:
            reply = client.request(  # Prefect's client: retries the SQLite API's 503s
                "POST",
                "/task_runs/",
                json={
                    "name": f"{prefix}-call-{level}",
                    "flow_run_id": ids[-1],
                    "task_key": "run_deployment",
                    "dynamic_key": str(level),
                },
            )
            reply.raise_for_status()
            parent_task = reply.json()["id"]
        run = client.create_flow_run_from_deployment(
            deployment,
            name=f"{prefix}{level}",
            parent_task_run_id=parent_task,
            state=Scheduled(scheduled_time=utc_now() + timedelta(days=1)),
        )
        if level < levels:
            client.set_flow_run_state(run.id, Running(), force=True)
        ids.append(str(run.id))
    return ids


def test_a_12_level_chain_is_stopped_at_10(local_prefect: LocalPrefect, tmp_path: Path) -> None:
    from flows.cascade_breaker import orchestration_cascade_breaker

    url = local_prefect.url
    config = tmp_path / "guard.yaml"
    config.write_text(yaml.safe_dump({"pools": [{"name": "chain-pool"}]}))
    with (
        using_api(url),
        get_client(sync_client=True) as client,
    ):
        client.create_work_pool(WorkPoolCreate(name="chain-pool", type="process"))
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("guard-chain"),
            name="recursive",
            work_pool_name="chain-pool",
            entrypoint="flows/none.py:none",
        )
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

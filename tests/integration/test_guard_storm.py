"""The storm breaker against a real Prefect server: a storm of events naming an automation and
a scheduled deployment opens the breaker, which pauses exactly those (an automation that was
already off stays off and is not "restored"), and after the cooldown restores them."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.events.actions import DoNothing
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.decisions import DecisionKind, DecisionLog
from tests.integration.conftest import LocalPrefect, using_api, wait_for

pytestmark = pytest.mark.integration


def automation(client, name: str, enabled: bool) -> str:
    return str(
        client.create_automation(
            AutomationCore(
                name=name,
                enabled=enabled,
                trigger=EventTrigger(expect={"guard.never"}, posture=Posture.Reactive, threshold=1),
                actions=[DoNothing()],
            )
        )
    )


@pytest.fixture(scope="module")
def sources(local_prefect: LocalPrefect) -> dict[str, str]:
    with (
        using_api(local_prefect.url),
        get_client(sync_client=True) as client,
    ):
        client.create_work_pool(WorkPoolCreate(name="storm-pool", type="process"))
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("guard-storm"),
            name="scheduled",
            work_pool_name="storm-pool",
            entrypoint="flows/none.py:none",
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(hours=1)), active=True
                )
            ],
        )
        return {
            "automation": automation(client, "storm-source", enabled=True),
            "already-off": automation(client, "storm-source-off", enabled=False),
            "deployment": str(deployment),
        }


def burst(url: str, sources: dict[str, str], count: int = 150) -> None:
    """``count`` events of one type in one request, naming the storm's sources."""
    related = [
        {
            "prefect.resource.id": f"prefect.automation.{sources['automation']}",
            "prefect.resource.role": "automation",
        },
        {
            "prefect.resource.id": f"prefect.automation.{sources['already-off']}",
            "prefect.resource.role": "automation",
        },
        {
            "prefect.resource.id": f"prefect.deployment.{sources['deployment']}",
            "prefect.resource.role": "deployment",
        },
    ]
    events = [
        {
            "id": str(uuid.uuid4()),
            "occurred": iso_utc(utc_now()),
            "event": "guard.storm.tick",
            "resource": {"prefect.resource.id": "guard.test.storm"},
            "related": related,
        }
        for _ in range(count)
    ]
    httpx.post(f"{url}/events", json=events, timeout=30).raise_for_status()


def state(url: str, sources: dict[str, str]) -> tuple[bool, bool, bool]:
    """(automation enabled, already-off automation enabled, deployment schedule active)."""
    with (
        using_api(url),
        get_client(sync_client=True) as client,
    ):
        on = client.read_automation(sources["automation"]).enabled
        off = client.read_automation(sources["already-off"]).enabled
        (schedule,) = client.read_deployment_schedules(uuid.UUID(sources["deployment"]))
    return on, off, schedule.active


def test_a_storm_pauses_its_sources_and_the_cooldown_restores_them(
    local_prefect: LocalPrefect, sources: dict[str, str], tmp_path: Path
) -> None:
    from flows.storm_breaker import orchestration_storm_breaker

    config = tmp_path / "guard.yaml"
    config.write_text(yaml.safe_dump({"storm": {"cooldown_sec": 3}, "pools": [{"name": "p"}]}))
    url = local_prefect.url
    result: dict = {}

    def run() -> None:
        with using_api(url):
            result["report"] = orchestration_storm_breaker(str(config), max_runtime_sec=45)

    watcher = threading.Thread(target=run)
    watcher.start()
    try:
        assert state(url, sources) == (True, False, True)

        def paused() -> bool:  # the watch may not be subscribed yet: storm until it reacts
            burst(url, sources)
            return state(url, sources) == (False, False, False)

        wait_for(paused, 40, "the breaker to pause the storm's sources", every=0.5)
        wait_for(
            lambda: state(url, sources) == (True, False, True),
            30,
            "the cooldown to restore exactly what was paused",
        )
    finally:
        watcher.join(timeout=120)
    report = result["report"]
    assert report.opened >= 1 and report.closed >= 1 and report.paused_now == []
    opened = next(d for d in report.decisions if d.what is DecisionKind.CIRCUIT_OPEN)
    assert sorted(p.split(":")[0] for p in opened.context["paused"]) == ["automation", "schedule"]
    assert opened.context["playbook"] == "trigger_storm_mitigation"
    assert any(w.startswith("Threshold exceeded") for w in opened.why)
    kinds = [d.what for d in DecisionLog().read(timedelta(hours=1))]
    assert DecisionKind.CIRCUIT_OPEN in kinds and DecisionKind.CIRCUIT_CLOSE in kinds
    events = wait_for(  # events reach the server asynchronously: wait for it to hold one
        lambda: httpx.post(
            f"{url}/events/filter",
            json={"filter": {"event": {"name": ["warden.orchestrator.circuit-open"]}}},
            timeout=10,
        ).json()["events"],
        30,
        "the circuit-open event",
    )
    assert events and events[0]["payload"]["context"]["playbook"] == "trigger_storm_mitigation"

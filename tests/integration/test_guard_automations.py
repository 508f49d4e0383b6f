"""The shipped automations file applied to a real Prefect server: applying twice makes no
duplicates, the notifying automations wait (disabled) for their block and are enabled once it
exists, a changed definition updates; then the flows' events make each automation act — a
no-go suite, a failed GPU promotion and a rolled-back canary reach the operator's webhook
(a loopback server behind a custom-webhook notification block), a critical queue starts the
shedding deployment with that pool."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

from blocks.automations import VERDICT_LABEL, load_automations_file
from tasks.guard.automation_writes import apply_automations
from tasks.guard.reactions import ChangeKind
from tasks.platform.steps import emit
from tests.conftest import ROOT
from tests.integration.conftest import LocalPrefect, using_api, wait_for
from tests.loopback import QuietHandler, host_port, loopback_server

pytestmark = pytest.mark.integration

SHIPPED = ROOT / "deployments" / "automations.yaml"
RECEIVED: list[dict] = []


class Operator(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        RECEIVED.append(json.loads(body))
        self.send_json(200, {})


def kinds(changes) -> dict[str, ChangeKind]:
    return {c.name: c.kind for c in changes}


def test_automations_apply_idempotently_and_act(
    local_prefect: LocalPrefect, tmp_path: Path
) -> None:
    spec = load_automations_file(SHIPPED)
    names = [a.name for a in spec.automations]
    shed, *notifying = names
    with (
        loopback_server(Operator) as operator,
        using_api(local_prefect.url),
        get_client(sync_client=True) as client,
    ):
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("orchestration-load-shedding"),
            name="on-demand",
            entrypoint="flows/load_shedding.py:orchestration_load_shedding",
        )
        first = apply_automations(client, spec)
        assert set(kinds(first).values()) == {ChangeKind.CREATE}
        assert [c.name for c in first if c.disabled_because] == notifying
        enabled = {a.name: a.enabled for a in client.read_automations()}
        assert enabled == {shed: True} | dict.fromkeys(notifying, False)

        CustomWebhookNotificationBlock(
            name="warden-operator",
            url=f"http://{host_port(operator)}/notify",
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        ).save("warden-operator")
        second = apply_automations(client, spec)
        assert kinds(second) == {shed: ChangeKind.UNCHANGED} | dict.fromkeys(
            notifying, ChangeKind.UPDATE
        )
        assert set(kinds(apply_automations(client, spec)).values()) == {ChangeKind.UNCHANGED}

        document = yaml.safe_load(SHIPPED.read_text())
        document["automations"][0]["description"] = "Shed, described anew."
        changed = tmp_path / "automations.yaml"
        changed.write_text(yaml.safe_dump(document, sort_keys=False))
        assert kinds(apply_automations(client, load_automations_file(changed)))[shed] == (
            ChangeKind.UPDATE
        )
        on_api = client.read_automations()
        assert sorted(a.name for a in on_api) == sorted(names)  # no duplicates
        assert all(a.enabled for a in on_api)
        (shedding,) = client.read_automations_by_name(shed)
        assert shedding.description == "Shed, described anew."

        emit("go-no-go", "verdict", "gates", "release", {"score": 97.0}, {VERDICT_LABEL: "go"})
        emit("go-no-go", "verdict", "gates", "release", {"score": 40.0}, {VERDICT_LABEL: "no-go"})
        failed = {"candidate": "sha256:ab", "failure_codes": [20]}
        emit("gpu-matrix", "verdict", "environment", "prod", failed, {VERDICT_LABEL: "error"})
        emit("gauntlet", "rollback", "lora-target", "demo", {"canary": "v2", "stable": "v1"})
        emit("orchestrator", "queue-critical", "work-pool", "busy-pool", {"pool": "busy-pool"})

        def subjects() -> list[str]:
            return sorted(message["subject"] for message in RECEIVED)

        wait_for(lambda: len(RECEIVED) >= 3, 60, "three notifications")
        started = wait_for(
            lambda: client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment])
                )
            ),
            60,
            "the shedding run the automation starts",
        )
    assert subjects() == [
        "GPU promotion failed: prod",
        "LoRA canary rolled back: demo",
        "Release blocked: go/no-go release is no-go",
    ]
    no_go = next(m for m in RECEIVED if m["subject"].startswith("Release blocked"))
    assert "ended no-go (score 40.0)" in no_go["body"]
    (run,) = started
    assert run.parameters == {"pool": "busy-pool"}
    assert run.created_by.type == "AUTOMATION" and run.created_by.id == shedding.id
    assert isinstance(run.created_by.id, UUID)

"""Apply the automations file to a Prefect API (Prefect's own automations API): build each
reaction as an ``AutomationCore``, then create, update or delete as
:func:`tasks.guard.reactions.plan_changes` says.

Everything the file names on the API (deployments) is resolved before the first write: a
deployment that is not there is a ConfigError naming file:line, and nothing changes. A missing
notification block is not an error (the platform runs without one): the automations that
would notify are applied disabled, their description saying why.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.events.actions import DoNothing, RunDeployment, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound

from blocks.automations import (
    TAG,
    AutomationsFile,
    Reaction,
    RunDeploymentAction,
    SendNotificationAction,
)
from blocks.errors import ConfigError
from tasks.guard.reactions import AutomationChange, ChangeKind, Existing, plan_changes

PAGE = 200  # automations read per request (the API's default limit)
NO_BLOCK = "DISABLED: no notification block {block} on this API; create it, then make run. "


def apply_automations(client: SyncPrefectClient, spec: AutomationsFile) -> list[AutomationChange]:
    """Make the API hold exactly the file's automations; returns what changed (and what not)."""
    block = _notification_block(client, spec.notification_block)
    desired = {
        r.name: _automation(client, spec, i, r, block) for i, r in enumerate(spec.automations)
    }
    existing = [
        Existing(id=str(a.id), name=a.name, tags=list(a.tags), definition=a.model_dump(mode="json"))
        for a in _all_automations(client)
    ]
    wanted = {name: core.model_dump(mode="json") for name, core in desired.items()}
    waiting = f"waiting for notification block {spec.notification_block}"
    changes = [
        c.model_copy(update={"disabled_because": waiting})
        if c.kind is not ChangeKind.DELETE and _waits_for_block(spec, c.name, block)
        else c
        for c in plan_changes(wanted, existing, TAG)
    ]
    for change in changes:
        if change.kind is ChangeKind.DELETE:
            client.delete_automation(UUID(change.id))
        elif change.kind is ChangeKind.CREATE:
            client.create_automation(desired[change.name])
        elif change.kind is ChangeKind.UPDATE:
            client.update_automation(UUID(change.id), desired[change.name])
    return changes


def _all_automations(client: SyncPrefectClient) -> list:
    found: list = []
    while page := client.read_automations(limit=PAGE, offset=len(found)):
        found += page
        if len(page) < PAGE:
            break
    return found


def _waits_for_block(spec: AutomationsFile, name: str, block: UUID | None) -> bool:
    return block is None and any(r.notifies for r in spec.automations if r.name == name)


def _notification_block(client: SyncPrefectClient, slug_name: str | None) -> UUID | None:
    if slug_name is None:
        return None
    slug, name = slug_name.split("/", 1)
    try:
        return client.read_block_document_by_name(name=name, block_type_slug=slug).id
    except ObjectNotFound:
        return None


def _automation(
    client: SyncPrefectClient,
    spec: AutomationsFile,
    index: int,
    reaction: Reaction,
    block: UUID | None,
) -> AutomationCore:
    missing_block = reaction.notifies and block is None
    actions = [
        _action(client, spec, index, number, action, block)
        for number, action in enumerate(reaction.actions)
    ]
    description = reaction.description
    if missing_block:
        description = NO_BLOCK.format(block=spec.notification_block) + description
    return AutomationCore(
        name=reaction.name,
        description=description,
        enabled=reaction.enabled and not missing_block,
        tags=[TAG],
        trigger=EventTrigger(
            expect={reaction.event},
            match=ResourceSpecification(reaction.match),
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=actions,
    )


def _action(client, spec: AutomationsFile, index: int, number: int, action, block: UUID | None):
    if isinstance(action, RunDeploymentAction):
        try:
            deployment = client.read_deployment_by_name(action.deployment)
        except ObjectNotFound as exc:
            where = spec.where("automations", index, "actions", number, "deployment")
            raise ConfigError(
                f"{where}: deployment {action.deployment!r} is not on this Prefect API",
                remediation="Deploy it first (make run deploys deployments/prefect.yaml), "
                "or name a deployment that exists.",
            ) from exc
        return RunDeployment(
            source="selected", deployment_id=deployment.id, parameters=action.parameters or None
        )
    if isinstance(action, SendNotificationAction) and block is not None:
        return SendNotification(block_document_id=block, subject=action.subject, body=action.body)
    return DoNothing()  # a notification without its block: the automation is disabled

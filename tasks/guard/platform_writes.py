"""The guard's acting adapter: the waiting runs of a pool as plain data, and cancelling one.

Reads go through the same timeout-bound client as :mod:`tasks.guard.platform_reads`. A run is
cancelled only if it is still waiting (Scheduled type) when read right before: one that a
worker picked up meanwhile is left alone and reported as not cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Cancelled

from tasks.guard.platform_reads import PAGE, flows_filter
from tasks.guard.shedding import CancelOutcome, QueuedRun
from tasks.guard.storm import Source, SourceKind

T = TypeVar("T")
# The embedded SQLite API answers 503 (to reads too) while it writes a flood of events;
# Prefect's client first retries after 2 s (2**1). A breaker pausing that flood's sources
# retries sooner, then falls back to Prefect's own retries (bench/RESULTS.md, storm latency).
SOON_SEC = (0.1, 0.2, 0.4, 0.8)


def read_waiting_runs(client: SyncPrefectClient, pool: str, now: datetime) -> list[QueuedRun]:
    """Every Scheduled-type run of ``pool`` due by ``now`` (Scheduled, Late, AwaitingRetry...),
    oldest first, with its deployment as '<flow>/<deployment>'."""
    waiting = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
    )
    in_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    runs, offset = [], 0
    while True:
        page = client.read_flow_runs(
            flow_run_filter=waiting,
            work_pool_filter=in_pool,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE,
            offset=offset,
        )
        runs += page
        if len(page) < PAGE:
            break
        offset += PAGE
    names = _deployment_names(client, list({r.deployment_id for r in runs if r.deployment_id}))
    return [
        QueuedRun(
            id=str(r.id),
            name=r.name,
            deployment=names.get(r.deployment_id) if r.deployment_id else None,
            tags=list(r.tags),
            state_name=r.state.name if r.state else "Scheduled",
            expected_start=r.expected_start_time or now,
        )
        for r in runs
    ]


def _deployment_names(client: SyncPrefectClient, ids: list[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    deployments = client.read_deployments(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)), limit=len(ids)
    )
    flow_ids = list({d.flow_id for d in deployments})
    flows = {f.id: f.name for f in client.read_flows(flow_filter=flows_filter(flow_ids))}
    return {d.id: f"{flows.get(d.flow_id, d.flow_id)}/{d.name}" for d in deployments}


def cancel_waiting_run(client: SyncPrefectClient, run: QueuedRun, message: str) -> CancelOutcome:
    """Cancel ``run`` with ``message`` if it is still waiting; the server's answer either way."""
    current = client.read_flow_run(UUID(run.id))
    if current.state is None or current.state.type is not StateType.SCHEDULED:
        state = current.state.name if current.state else "no state"
        return CancelOutcome(
            id=run.id, name=run.name, cancelled=False, detail=f"left alone: now {state}"
        )
    result = client.set_flow_run_state(UUID(run.id), Cancelled(message=message))
    accepted = result.status.value == "ACCEPT"
    detail = "cancelled" if accepted else f"{result.status.value}: {result.details}"
    return CancelOutcome(id=run.id, name=run.name, cancelled=accepted, detail=detail)


def pause_source(client: SyncPrefectClient, source: Source) -> list[str]:
    """Pause an enabled automation, or a deployment's active schedules; returns what it paused
    as ``automation:<id>`` / ``schedule:<deployment id>:<schedule id>`` (nothing already off)."""
    if source.kind is SourceKind.AUTOMATION:
        automation = _soon(lambda: client.read_automation(source.id))
        if automation is None or not automation.enabled:
            return []
        _soon(lambda: client.pause_automation(UUID(source.id)))
        return [f"automation:{source.id}"]
    paused = []
    for schedule in _soon(lambda: client.read_deployment_schedules(UUID(source.id))):
        if schedule.active:
            _soon(
                lambda s=schedule: client.update_deployment_schedule(
                    UUID(source.id), s.id, active=False
                )
            )
            paused.append(f"schedule:{source.id}:{schedule.id}")
    return paused


def restore_paused(client: SyncPrefectClient, paused: list[str]) -> list[str]:
    """Turn back on exactly what :func:`pause_source` paused; returns what it restored."""
    restored = []
    for item in paused:
        kind, _, ids = item.partition(":")
        if kind == "automation":
            _soon(lambda i=ids: client.resume_automation(UUID(i)))
        else:
            deployment, _, schedule = ids.partition(":")
            _soon(
                lambda d=deployment, s=schedule: client.update_deployment_schedule(
                    UUID(d), UUID(s), active=True
                )
            )
        restored.append(item)
    return restored


def _soon(call: Callable[[], T]) -> T:
    """``call()`` (one API request), retried after :data:`SOON_SEC` on a 503 with Prefect's
    retries off; then once more with them on."""
    for delay in SOON_SEC:
        try:
            with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
                return call()
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 503:
                raise
        time.sleep(delay)  # a short back-off between attempts, bounded by SOON_SEC
    return call()

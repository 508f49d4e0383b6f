"""The cascade breaker's adapter: active flow runs that have a parent, and their ancestors, as
plain :class:`tasks.guard.cascade.ChainRun`; and stopping one run of a chain."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Cancelled, Cancelling

from tasks.guard.cascade import ACTIVE, ChainRun
from tasks.guard.platform_reads import PAGE

MAX_ROUNDS = 100  # ancestor look-ups: a chain deeper than this is cut (and still too deep)


def read_chains(client: SyncPrefectClient) -> dict[str, ChainRun]:
    """Every active run with a parent, and each of its ancestors (whatever their state)."""
    children = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in ACTIVE])),
        parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=False),
    )
    found: dict[str, FlowRun] = {}
    offset = 0
    while True:
        page = client.read_flow_runs(flow_run_filter=children, limit=PAGE, offset=offset)
        found |= {str(r.id): r for r in page}
        if len(page) < PAGE:
            break
        offset += PAGE
    parents: dict[str, str] = {}
    pending = [r for r in found.values() if r.parent_task_run_id]
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                id=TaskRunFilterId(any_=[r.parent_task_run_id for r in pending])
            )
        )
        owner = {t.id: str(t.flow_run_id) for t in tasks if t.flow_run_id}
        for run in pending:
            if run.parent_task_run_id in owner:
                parents[str(run.id)] = owner[run.parent_task_run_id]
        missing = sorted({p for p in parents.values() if p not in found})
        fetched = (
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(m) for m in missing]))
            )
            if missing
            else []
        )
        found |= {str(r.id): r for r in fetched}
        pending = [r for r in fetched if r.parent_task_run_id]
    return {run_id: _chain_run(run, parents.get(run_id)) for run_id, run in found.items()}


def _chain_run(run: FlowRun, parent: str | None) -> ChainRun:
    creator = run.created_by
    automation = creator.id if creator and creator.type == "AUTOMATION" and creator.id else None
    return ChainRun(
        id=str(run.id),
        name=run.name,
        parent_id=parent,
        state_type=run.state.type.value if run.state else "SCHEDULED",
        automation_id=str(automation) if automation else None,
    )


def stop_run(client: SyncPrefectClient, run: ChainRun, message: str) -> bool:
    """A waiting run is Cancelled; a pending or running one Cancelling (its worker stops it)."""
    current = client.read_flow_run(UUID(run.id))
    kind = current.state.type if current.state else None
    if kind is StateType.SCHEDULED:
        state = Cancelled(message=message)
    elif kind in (StateType.PENDING, StateType.RUNNING, StateType.PAUSED):
        state = Cancelling(message=message)
    else:
        return False
    return client.set_flow_run_state(UUID(run.id), state).status.value == "ACCEPT"

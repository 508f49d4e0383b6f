"""The cascade breaker's adapter: active flow runs that have a parent run or were started by
an automation, and their ancestors, as plain :class:`tasks.guard.cascade.ChainRun` (an
automation's link read from its ``action.executed`` event, see tasks/guard/cascade.py); and
stopping one run of a chain."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterCreatedBy,
    FlowRunFilterId,
    FlowRunFilterParentTaskRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.filters import EventFilter, EventIDFilter, EventNameFilter, EventRelatedFilter
from prefect.states import Cancelled, Cancelling

from tasks.guard.cascade import (
    ACTION_EXECUTED,
    ACTIVE,
    FLOW_RUN,
    ChainRun,
    action_link,
    automation_parents,
    run_of_event,
)
from tasks.guard.platform_reads import PAGE

MAX_ROUNDS = 100  # ancestor look-ups: a chain deeper than this is cut (and still too deep)
EVENTS_PAGE = 50  # the events API's largest page


def read_chains(client: SyncPrefectClient) -> dict[str, ChainRun]:
    """Every active run with a parent run or an automation as creator, and each of its
    ancestors (whatever their state)."""
    active = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in ACTIVE]))
    found: dict[str, FlowRun] = {}
    for linked in (
        FlowRunFilter(
            state=active, parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=False)
        ),
        FlowRunFilter(state=active, created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"])),
    ):
        found |= _all_runs(client, linked)
    parents: dict[str, str] = {}
    pending = list(found.values())
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        parents |= _task_parents(client, [r for r in pending if r.parent_task_run_id])
        parents |= _event_parents(client, [r for r in pending if _by_automation(r)])
        missing = sorted({parents[str(r.id)] for r in pending if str(r.id) in parents} - set(found))
        fetched = (
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(m) for m in missing]))
            )
            if missing
            else []
        )
        found |= {str(r.id): r for r in fetched}
        pending = [r for r in fetched if r.parent_task_run_id or _by_automation(r)]
    return {run_id: _chain_run(run, parents.get(run_id)) for run_id, run in found.items()}


def _all_runs(client: SyncPrefectClient, runs: FlowRunFilter) -> dict[str, FlowRun]:
    found: dict[str, FlowRun] = {}
    offset = 0
    while True:
        page = client.read_flow_runs(flow_run_filter=runs, limit=PAGE, offset=offset)
        found |= {str(r.id): r for r in page}
        if len(page) < PAGE:
            return found
        offset += PAGE


def _by_automation(run: FlowRun) -> bool:
    return bool(run.created_by and run.created_by.type == "AUTOMATION" and run.created_by.id)


def _task_parents(client: SyncPrefectClient, runs: list[FlowRun]) -> dict[str, str]:
    """run -> the flow run its parent task run lives in."""
    if not runs:
        return {}
    tasks = client.read_task_runs(
        task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=[r.parent_task_run_id for r in runs]))
    )
    owner = {t.id: str(t.flow_run_id) for t in tasks if t.flow_run_id}
    return {str(r.id): owner[r.parent_task_run_id] for r in runs if r.parent_task_run_id in owner}


def _event_parents(client: SyncPrefectClient, runs: list[FlowRun]) -> dict[str, str]:
    """run -> the run whose event triggered the automation that created it."""
    if not runs:
        return {}
    executed = _events(
        client,
        EventFilter(
            event=EventNameFilter(name=[ACTION_EXECUTED]),
            related=EventRelatedFilter(id=[f"{FLOW_RUN}{r.id}" for r in runs], role=["flow-run"]),
        ),
    )
    wanted = {str(r.id) for r in runs}
    links = [
        link
        for event in executed
        if (link := action_link(_related(event))) and link.created_run in wanted
    ]
    if not links:
        return {}
    ids = [UUID(link.triggering_event) for link in links]
    triggering = _events(client, EventFilter(id=EventIDFilter(id=ids)))
    event_runs = {
        str(event.id): run
        for event in triggering
        if (run := run_of_event(event.resource.id, _related(event)))
    }
    return automation_parents(links, event_runs)


def _events(client: SyncPrefectClient, events: EventFilter) -> list:
    page = client.read_events(filter=events, limit=EVENTS_PAGE)
    found = list(page.events)
    while page.next_page and len(found) < page.total:
        page = client.read_events_page(str(page.next_page))
        found += page.events
    return found


def _related(event) -> list[tuple[str, str]]:
    return [(resource.id, resource.role) for resource in event.related]


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

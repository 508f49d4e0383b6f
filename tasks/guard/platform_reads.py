"""The guard's reading adapter: one snapshot of the Prefect platform as plain data.

The only module of the guard (with :mod:`tasks.guard.platform_writes`) that talks to Prefect's
API; :mod:`tasks.guard.readiness` decides on what it returns. Every call has a client-side
timeout (the config's ``api_timeout_sec``); a failure to read becomes ``read_error`` in the
snapshot (a critical check), never an empty-but-healthy snapshot.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType, WorkerStatus
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from blocks.guard import GuardFile
from tasks.guard.models import (
    PlatformSnapshot,
    PoolSnapshot,
    Probe,
    ScheduleSeen,
    StartedRun,
)
from tasks.platform.clock import utc_now
from tasks.platform.workers import WorkerSeen

RECENT_STARTS = 200  # the latest starts whose lateness is measured
PAGE = 200


def guard_client(config: GuardFile) -> SyncPrefectClient:
    """A sync client whose every request times out after the config's API timeout."""
    return get_client(sync_client=True, httpx_settings={"timeout": config.api_timeout_sec})


def probe(path: str, timeout_sec: float) -> Probe:
    """GET ``<api>/<path>`` once (no retries): answered 200 within the timeout?"""
    url = f"{(PREFECT_API_URL.value() or '').rstrip('/')}/{path}"
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=timeout_sec)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000.0
        return Probe(ok=False, elapsed_ms=elapsed, error=f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000.0
    if response.status_code != 200:
        return Probe(ok=False, elapsed_ms=elapsed, error=f"HTTP {response.status_code}")
    return Probe(ok=True, elapsed_ms=elapsed)


def read_snapshot(config: GuardFile, pools: list[str]) -> PlatformSnapshot:
    """Probe the API, then read schedules, Late runs and each pool in ``pools``."""
    started = time.perf_counter()
    health = probe("health", config.api_timeout_sec)
    ready = probe("ready", config.api_timeout_sec) if health.ok else health
    now = utc_now()
    base: dict[str, Any] = {
        "taken_at": now,
        "window_sec": config.window_sec,
        "health": health,
        "ready": ready,
    }
    if not health.ok:
        return PlatformSnapshot(**base, read_ms=_ms(started))
    try:
        with guard_client(config) as client:
            schedules = read_schedules(client, now)
            late = client.count_flow_runs(flow_run_filter=_late())
            seen = [read_pool(client, name, now, config.window_sec) for name in pools]
    except Exception as exc:  # any failure to read is a critical check, with its cause
        error = f"{type(exc).__name__}: {exc}"
        return PlatformSnapshot(**base, read_error=error, read_ms=_ms(started))
    return PlatformSnapshot(
        **base, schedules=schedules, late_total=late, pools=seen, read_ms=_ms(started)
    )


def read_schedules(client: SyncPrefectClient, now: datetime) -> list[ScheduleSeen]:
    """Deployments that are not paused and have an active schedule, with their future runs."""
    deployments, offset = [], 0
    while True:
        page = client.read_deployments(limit=PAGE, offset=offset)
        deployments += [d for d in page if not d.paused and any(s.active for s in d.schedules)]
        if len(page) < PAGE:
            break
        offset += PAGE
    flows = {}
    if deployments:
        ids = list({d.flow_id for d in deployments})
        flows = {
            f.id: f.name for f in client.read_flows(flow_filter=flows_filter(ids), limit=len(ids))
        }
    future = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(after_=now),
    )
    return [
        ScheduleSeen(
            deployment=f"{flows.get(d.flow_id, d.flow_id)}/{d.name}",
            changed=d.updated or d.created or now,
            future_runs=client.count_flow_runs(
                flow_run_filter=future,
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
            ),
        )
        for d in deployments
    ]


def read_pool(client: SyncPrefectClient, name: str, now: datetime, window: float) -> PoolSnapshot:
    """The pool, its workers and its run counts; the independent reads go out at once (the
    cycle's wall time is their latency, not their sum)."""
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        return PoolSnapshot(name=name, found=False)
    in_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[name]))
    since = now - timedelta(seconds=window)
    started = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
    crashed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])),
        end_time=FlowRunFilterEndTime(after_=since),
    )
    counted = {
        "scheduled": _due_not_late(now),
        "late": _late(),
        "pending": _of_type(StateType.PENDING),
        "started_in_window": started,
        "crashed_in_window": crashed,
    }
    with ThreadPoolExecutor(len(counted) + 2, thread_name_prefix="guard-read") as pool_reads:
        counts = {
            key: pool_reads.submit(
                client.count_flow_runs, flow_run_filter=flt, work_pool_filter=in_pool
            )
            for key, flt in counted.items()
        }
        recent = pool_reads.submit(
            client.read_flow_runs,
            flow_run_filter=started,
            work_pool_filter=in_pool,
            sort=FlowRunSort.START_TIME_DESC,
            limit=RECENT_STARTS,
        )
        workers = pool_reads.submit(client.read_workers_for_work_pool, name, limit=PAGE)
        return PoolSnapshot(
            name=name,
            paused=pool.is_paused,
            workers=[
                WorkerSeen(
                    name=w.name,
                    online=w.status == WorkerStatus.ONLINE,
                    last_heartbeat=w.last_heartbeat_time,
                )
                for w in workers.result()
            ],
            recent_starts=[
                StartedRun(name=r.name, expected_start=r.expected_start_time, started=r.start_time)
                for r in recent.result()
                if r.start_time is not None and r.expected_start_time is not None
            ],
            **{key: future.result() for key, future in counts.items()},
        )


def _late() -> FlowRunFilter:
    return FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"])))


def _due_not_late(now: datetime) -> FlowRunFilter:
    return FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]),
            name=FlowRunFilterStateName(not_any_=["Late"]),
        ),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
    )


def _of_type(state_type: StateType) -> FlowRunFilter:
    return FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state_type])))


def flows_filter(ids: list) -> FlowFilter:
    return FlowFilter(id=FlowFilterId(any_=ids))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

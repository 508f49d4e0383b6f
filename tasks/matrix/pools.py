"""Legs on Prefect work pools: is a pool served, how a dispatched leg is watched, and the leg
result its flow run gives.

A leg with ``work_pool: X`` runs as a flow run of the deployment ``gpu-matrix-leg/X`` on pool X.
Pure: ``steps.py`` reads the Prefect API and hands the facts here. A worker counts as live by
the Prefect server's own rule (online, and a heartbeat within 3 of its intervals); a leg nobody
starts within ``pickup_seconds`` fails ``NO_WORKER``, one that runs past its stages' timeouts
fails ``LEG_TIMEOUT`` — the parent never waits forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from blocks.invariants import EnvironmentSpec, LegSpec, Timeouts
from tasks.matrix.errors import REMEDIATION, LegFailure
from tasks.matrix.evidence import LegResult, LegStatus
from tasks.platform.clock import utc_now
from tasks.platform.workers import WorkerSeen

LEG_FLOW = "gpu-matrix-leg"
HEARTBEAT_MULTIPLE = 3  # the server's foreman marks a worker offline after 3 missed heartbeats
FALLBACK_HEARTBEAT_SECONDS = 30  # the server's default when a worker reports no interval
FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
WORKER_LABEL = "prefect.worker.name"  # the label a worker gives each flow run it starts


def leg_deployment(pool: str) -> str:
    """The deployment a leg on ``pool`` runs as: ``gpu-matrix-leg/<pool>``."""
    return f"{LEG_FLOW}/{pool}"


def pools_of(env: EnvironmentSpec) -> list[str]:
    """The work pools the environment's legs name, each once, sorted."""
    return sorted({leg.work_pool for leg in env.agent_promotion.legs if leg.work_pool})


def pool_problem(pool: str, pool_exists: bool, deployment_pool: str | None) -> str | None:
    """What keeps legs from being dispatched to ``pool``; None when nothing does.

    ``deployment_pool`` is the pool of the deployment ``gpu-matrix-leg/<pool>`` (None: absent).
    """
    if not pool_exists:
        return f"work pool {pool!r} does not exist on the Prefect API"
    name = leg_deployment(pool)
    if deployment_pool is None:
        return f"work pool {pool!r} has no leg deployment {name!r}"
    if deployment_pool != pool:
        return f"the leg deployment {name!r} runs on pool {deployment_pool!r}, not {pool!r}"
    return None


def live_workers(workers: Iterable[WorkerSeen], now: datetime) -> list[str]:
    """Names of the workers that are online with a recent heartbeat, sorted."""
    live = []
    for worker in workers:
        if not worker.online or worker.last_heartbeat is None:
            continue
        allowed = (worker.heartbeat_seconds or FALLBACK_HEARTBEAT_SECONDS) * HEARTBEAT_MULTIPLE
        if (now - worker.last_heartbeat).total_seconds() <= allowed:
            live.append(worker.name)
    return sorted(live)


def no_worker_reason(pool: str, paused: bool, live: list[str]) -> str | None:
    """Why no worker would start a leg on ``pool`` now; None when one would."""
    if paused:
        return f"work pool {pool!r} is paused: its workers start no flow run"
    if not live:
        window = FALLBACK_HEARTBEAT_SECONDS * HEARTBEAT_MULTIPLE
        return (
            f"work pool {pool!r} has no live worker (none online with a heartbeat in its last "
            f"{HEARTBEAT_MULTIPLE} intervals, {window:.0f} s by default)"
        )
    return None


class Watch(StrEnum):
    """What to do about a dispatched leg's flow run after one look at it."""

    WAIT = "wait"
    DONE = "done"  # the run ended: read its result
    NO_WORKER = "no_worker"  # nobody started it within pickup_seconds: cancel it
    TIMEOUT = "timeout"  # it ran past its stages' timeouts: cancel it


def watch(state_type: str | None, waited_seconds: float, timeouts: Timeouts) -> Watch:
    """The decision after ``waited_seconds`` since dispatch, the run being in ``state_type``."""
    state = (state_type or "SCHEDULED").upper()
    if state in FINAL:
        return Watch.DONE
    if state == "SCHEDULED" and waited_seconds >= timeouts.pickup_seconds:
        return Watch.NO_WORKER
    if waited_seconds >= timeouts.pickup_seconds + timeouts.leg_seconds:
        return Watch.TIMEOUT
    return Watch.WAIT


def leg_parameters(env: EnvironmentSpec, leg: LegSpec, run_id: str, candidate: str) -> dict:
    """The leg flow run's parameters: the validated environment itself (no file path that
    another host may not have) and no credential (the leg authenticates on its own worker)."""
    return {
        "env": env.model_dump(mode="json"),
        "leg": leg.name,
        "run_id": run_id,
        "candidate": candidate,
    }


@dataclass(frozen=True)
class RunSeen:
    """A leg's flow run as last read: where it ran and what it returned."""

    id: str
    state_type: str | None
    state_message: str | None
    work_pool: str | None
    labels: dict[str, Any] = field(default_factory=dict)
    result: Any = None  # the leg flow's return value (JSON of a LegResult) when completed
    result_problem: str | None = None  # why the result could not be read

    @classmethod
    def of(cls, run: Any, result: Any = None, problem: str | None = None) -> RunSeen:
        """From a Prefect ``FlowRun`` as the API returns it (read by attribute)."""
        return cls(
            id=str(run.id),
            state_type=run.state_type.value if run.state_type else None,
            state_message=run.state.message if run.state else None,
            work_pool=run.work_pool_name,
            labels=dict(run.labels or {}),
            result=result,
            result_problem=problem,
        )

    @property
    def placement(self) -> dict[str, str | None]:
        worker = self.labels.get(WORKER_LABEL)
        return {
            "work_pool": self.work_pool,
            "worker": str(worker) if worker else None,
            "leg_flow_run_id": self.id,
        }


def failed_leg(
    leg: LegSpec,
    failure: LegFailure,
    message: str,
    started: datetime,
    finished: datetime,
    **placement: str | None,
) -> LegResult:
    """A leg that failed before (or outside) its stages: no stage ran here."""
    placement.setdefault("work_pool", leg.work_pool)
    return LegResult(
        name=leg.name,
        vendor=leg.vendor,
        provider=leg.provider,
        status=LegStatus.FAILED,
        started_at=started,
        finished_at=finished,
        failure_code=failure,
        remediation=REMEDIATION[failure],
        message=message,
        **placement,
    )


def leg_of_run(leg: LegSpec, run: RunSeen, started: datetime, finished: datetime) -> LegResult:
    """The leg result a finished flow run gives, stamped with its pool, worker and run id.

    A run that did not complete, or whose result is not this leg's, fails ``LEG_RUN_FAILED``.
    """
    placement = run.placement
    state = (run.state_type or "?").upper()
    if state != "COMPLETED":
        why = f"the leg's flow run {run.id} ended {state}: {run.state_message or 'no message'}"
        return failed_leg(leg, LegFailure.LEG_RUN_FAILED, why, started, finished, **placement)
    if run.result_problem is not None:
        why = f"the result of the leg's flow run {run.id} could not be read: {run.result_problem}"
        return failed_leg(leg, LegFailure.LEG_RUN_FAILED, why, started, finished, **placement)
    try:
        if not isinstance(run.result, dict):
            raise ValueError(f"a {type(run.result).__name__}, not a leg result")
        result = LegResult.model_validate({**run.result, **placement})
        if result.name != leg.name:
            raise ValueError(f"the result is leg {result.name!r}'s")
    except (ValidationError, ValueError) as exc:
        why = f"the leg's flow run {run.id} returned no valid result for this leg: {exc}"
        return failed_leg(leg, LegFailure.LEG_RUN_FAILED, why, started, finished, **placement)
    return result


def await_leg(
    leg: LegSpec,
    look: Callable[[bool], RunSeen],
    stop: Callable[[RunSeen, Watch], None],
    started: datetime,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> LegResult:
    """Watch a dispatched leg's flow run until :func:`watch` decides; its leg result.

    ``look(read_result)`` reads the run (its result too when asked); ``stop`` cancels a run
    that nobody started in time or that ran past its timeouts, which then fails the leg.
    """
    begun = clock()
    while True:
        seen = look(False)
        decision = watch(seen.state_type, clock() - begun, leg.timeouts)
        if decision is Watch.WAIT:
            sleep(leg.timeouts.poll_seconds)
            continue
        if decision is Watch.DONE:
            return leg_of_run(leg, look(True), started, now())
        stop(seen, decision)
        timeouts = leg.timeouts
        if decision is Watch.NO_WORKER:
            failure = LegFailure.NO_WORKER
            why = (
                f"no worker of pool {leg.work_pool!r} started the leg's flow run {seen.id} "
                f"within {timeouts.pickup_seconds:.0f} s"
            )
        else:
            failure = LegFailure.LEG_TIMEOUT
            why = (
                f"the leg's flow run {seen.id} did not finish within its timeouts "
                f"({timeouts.pickup_seconds + timeouts.leg_seconds:.0f} s)"
            )
        return failed_leg(leg, failure, why, started, now(), **seen.placement)

"""Which flow runs died with a local worker (seed 002 §5, worker-dropout): the worker
supervisor's rule (deployments/local/supervisor.py), pure and Prefect-free. The runs are the
Prefect REST API's flow-run records (dicts) of the local ``warden-process`` pool.

A *sweep* is one reason to look: a worker found gone (``dead_worker``, last seen alive at
``last_seen``, found gone at ``since``), or the supervisor's own start (``dead_worker`` None:
the workers it found may have been restarted by ``make run``, or the whole machine restarted).
A run is dead when:

- it is RUNNING and its process on this machine is gone (``infrastructure_pid`` ``host:pid``
  with this host, or a bare ``pid`` of a run one of our local workers took), or that pid is
  now another process, started after the run (the machine restarted and reused it): dead
  whoever ran it;
- it is PENDING on a local worker (its ``prefect.worker.name`` label) since before that
  worker's current process started (the incarnation that took it is gone), or PENDING with no
  worker label since before the sweep and for at least ``PENDING_GRACE_SEC`` (a worker that
  died between taking the run and labelling it; a live worker labels it within a second);
- it is CRASHED, taken by the worker found gone, crashed since that worker was last seen
  alive. A start-up sweep leaves Crashed runs alone: one that crashed before the supervisor
  started crashed for its own reasons, maybe long ago; rerunning it is the operator's call.

Once per death: a run is judged on its current state, and a state acted on (its id in
``handled``) is never acted on again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WORKER_LABEL = "prefect.worker.name"  # the label Prefect 3 workers give each run they take
JUDGED_STATES = ("RUNNING", "PENDING", "CRASHED")  # never Completed, Failed, Cancelled, ...
PENDING_GRACE_SEC = 10.0
PID_REUSE_SLACK_SEC = 1.0  # a run's process starts before the run is RUNNING; clocks: /proc


@dataclass(frozen=True)
class Sweep:
    since: datetime  # the worker was found gone / the supervisor started
    dead_worker: str | None = None  # the Prefect worker name found gone; None: start-up sweep
    old_pid: int | None = None
    last_seen: datetime | None = None  # the dead worker was last seen alive


@dataclass(frozen=True)
class DeadRun:
    run: dict[str, Any]
    sweep: Sweep
    reason: str  # why it is dead, one line

    @property
    def state_id(self) -> str:
        return state_id(self.run)

    @property
    def worker(self) -> str | None:
        return worker_of(self.run) or self.sweep.dead_worker


def worker_of(run: dict[str, Any]) -> str | None:
    return (run.get("labels") or {}).get(WORKER_LABEL)


def state_id(run: dict[str, Any]) -> str:
    return str(run.get("state_id") or (run.get("state") or {}).get("id") or "")


def state_since(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["state"]["timestamp"].replace("Z", "+00:00"))


def local_pid(run: dict[str, Any], host: str, local_workers: Iterable[str]) -> int | None:
    """The pid of the run's process when it runs on this machine; None otherwise."""
    where, _, pid = str(run.get("infrastructure_pid") or "").rpartition(":")
    if not pid.isdigit():
        return None
    if where:
        return int(pid) if where == host else None
    return int(pid) if worker_of(run) in set(local_workers) else None  # a bare pid: Prefect 3.8


def dead_runs(
    runs: Iterable[dict[str, Any]],
    sweeps: list[Sweep],
    *,
    workers: dict[str, datetime | None],
    process_started: Callable[[int], datetime | None],
    host: str,
    now: datetime,
    handled: set[str] | frozenset[str] = frozenset(),
) -> list[DeadRun]:
    """The runs that died, each with the sweep that found it and why. ``workers``: our local
    workers by Prefect name, with when their current process started (None: not running);
    ``process_started(pid)``: when that live process started, None when there is none."""
    if not sweeps:
        return []
    dead = []
    for run in runs:
        if run.get("state_type") not in JUDGED_STATES or state_id(run) in handled:
            continue
        found = _judge(run, sweeps, workers, process_started, host, now)
        if found is not None:
            dead.append(DeadRun(run, *found))
    return dead


def _judge(run, sweeps, workers, process_started, host, now) -> tuple[Sweep, str] | None:
    kind, since, worker = run["state_type"], state_since(run), worker_of(run)
    by_worker = next((s for s in sweeps if worker and s.dead_worker == worker), None)
    first = by_worker or sweeps[-1]  # else the latest reason to look
    if kind == "RUNNING":
        pid = local_pid(run, host, workers)
        if pid is None:
            return None
        started = process_started(pid)
        if started is None:
            return first, f"its process (pid {pid}) is gone"
        if started > since + timedelta(seconds=PID_REUSE_SLACK_SEC):
            return first, f"pid {pid} is now another process, started after the run"
        return None
    if kind == "CRASHED":
        if by_worker is None or by_worker.last_seen is None or since < by_worker.last_seen:
            return None
        return by_worker, f"it crashed with worker {worker}"
    if worker is not None:  # PENDING on a worker
        if worker not in workers:
            return None  # not one of ours
        current = workers[worker]
        if current is None or since < current:
            return first, f"pending on worker {worker} since before its current process started"
        return None
    grace = timedelta(seconds=PENDING_GRACE_SEC)
    sweep = next((s for s in sweeps if since < s.since), None)
    if sweep is not None and now - since >= grace:
        return sweep, "pending with no worker since before the sweep, past the grace"
    return None

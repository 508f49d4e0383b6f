"""worker-dropout (seed 002 §5 L2_worker_dropout_chaos): with runs in progress, SIGKILL a
fraction of the workers (their whole process group: the runs they were running die with them).
The platform's worker supervisor must restart them and reschedule the runs that died (the drill
does not: it reads the supervisor's 5W1H decisions in the platform's log); every run completes.
Time to recovery is measured: workers back online, and every run completed, from the kill."""

from __future__ import annotations

import math
import os
import signal
import time
from datetime import datetime
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.activities import all_completed, run_states, wait_completed
from tasks.drills.local_platform import worker_pids
from tasks.drills.world import Drill, current, wait_until
from tasks.platform.clock import utc_now
from tasks.platform.decisions import LOG_FILE, Decision, DecisionKind, DecisionLog

SUPERVISOR = "make-run-supervisor"  # who the platform's worker supervisor is in its log


def wait_running(timeout_sec: float) -> dict[str, Any]:
    """Until as many runs run as there are workers (each worker has work when it dies)."""
    drill = current()
    want = min(len(drill.notes["runs"]), len(_workers(drill)))

    def busy() -> int:
        with api.api(drill.api_url) as client:
            states = run_states(drill, client).values()
        return sum(s == "RUNNING" for s in states) >= want

    if not wait_until(busy, timeout_sec, every=0.5):
        raise TimeoutError(f"fewer than {want} runs running within {timeout_sec:g} s")
    return {"running_at_least": want}


def _workers(drill: Drill) -> dict[str, int]:
    if drill.home is None:
        raise RuntimeError("worker-dropout needs the platform's home (its workers' pid files)")
    return worker_pids(drill.home)


def victims(workers: dict[str, int], fraction: float, busy: set[int]) -> dict[str, int]:
    """``ceil(fraction x workers)`` workers (at least one), those running runs (``busy``
    process groups) first, then by name."""
    count = min(len(workers), max(1, math.ceil(len(workers) * fraction)))
    ranked = sorted(workers.items(), key=lambda item: (item[1] not in busy, item[0]))
    return dict(ranked[:count])


def _busy_groups(drill: Drill) -> set[int]:
    """The process groups (a worker's pid) of the runs running now."""
    with api.api(drill.api_url) as client:
        runs = api.runs_tagged(client, drill.tag)
    groups = set()
    for run in runs:
        pid = str(run.get("infrastructure_pid") or "").rpartition(":")[2]
        if run["state_type"] == "RUNNING" and pid.isdigit():
            try:
                groups.add(os.getpgid(int(pid)))
            except OSError:
                continue
    return groups


def kill_workers(fraction: float) -> dict[str, Any]:
    drill = current()
    workers = _workers(drill)
    chosen = victims(workers, fraction, _busy_groups(drill))
    for pid in chosen.values():
        os.killpg(pid, signal.SIGKILL)  # the worker and every run process it started
    drill.notes.update(killed=chosen, killed_at=time.monotonic(), killed_at_utc=utc_now())
    return {"killed": sorted(chosen), "of": len(workers)}


def wait_all_complete(timeout_sec: float) -> dict[str, Any]:
    """Until every run completed; the platform (make run's worker supervisor) reschedules the
    runs that died, the drill does not. Notes when every run was first seen completed."""
    drill = current()
    ids = set(drill.notes["runs"])

    def settled() -> bool:
        with api.api(drill.api_url) as client:
            _workers_back(drill, client)
            return all_completed(drill, client, ids)

    done = wait_until(settled, timeout_sec, every=1.0)
    if done:
        drill.notes["runs_recovered_at"] = time.monotonic()
    return {"all_completed": bool(done)}


def _note_restart(drill: Drill) -> bool:
    """Whether every killed worker runs again (a new pid); notes when that was first seen."""
    now = _workers(drill)
    killed: dict[str, int] = drill.notes["killed"]
    restarted = all(name in now and now[name] != pid for name, pid in killed.items())
    if restarted and "restarted_at" not in drill.notes:
        drill.notes["restarted_at"] = time.monotonic()
    return restarted


def _workers_back(drill: Drill, client) -> tuple[bool, int]:
    """Every killed worker restarted and every worker heartbeating since the kill (noted the
    first time it is seen, while the runs recover); and how many heartbeat."""
    restarted = _note_restart(drill)
    online = len(api.online_workers(client, drill.pool, since=drill.notes["killed_at_utc"]))
    if restarted and online >= len(_workers(drill)):
        drill.notes.setdefault("workers_back_at", time.monotonic())
        return True, online
    return False, online


def verify_workers_restarted(timeout_sec: float) -> dict[str, Any]:
    """Every killed worker restarted (new pid) and every worker heartbeating since the kill;
    ``workers_recovered_sec``: from the kill to that (first seen, polled every 0.5-1 s)."""
    drill = current()
    killed: dict[str, int] = drill.notes["killed"]
    killed_at = drill.notes["killed_at_utc"]
    seen = {"online": 0}

    def back() -> bool:
        with api.api(drill.api_url) as client:
            back, seen["online"] = _workers_back(drill, client)
        return back

    recovered = wait_until(back, timeout_sec, every=0.5)
    recorded = _restart_records(drill, killed_at)
    recovered = recovered and recorded >= len(killed)
    start = drill.notes["killed_at"]
    restarted, back_at = drill.notes.get("restarted_at"), drill.notes.get("workers_back_at")
    return drill.verification(
        "workers-restarted",
        bool(recovered),
        f"{len(killed)} killed worker(s) {'restarted' if restarted else 'NOT restarted'} by the "
        f"supervisor ({recorded} worker-restart decision(s) in its 5W1H log); "
        f"{seen['online']} worker(s) heartbeating since the kill",
        killed=len(killed),
        restart_decisions=recorded,
        restarted_sec=None if restarted is None else round(restarted - start, 2),
        workers_recovered_sec=None if back_at is None else round(back_at - start, 2),
    )


def _restart_records(drill: Drill, since: datetime) -> int:
    """The supervisor's worker-restart decisions since the kill, in the platform's own log."""
    return len(_records(drill, since, DecisionKind.WORKER_RESTART))


def _records(drill: Drill, since: datetime, kind: DecisionKind) -> list[Decision]:
    """The supervisor's decisions of ``kind`` since ``since``, in the platform's own log."""
    if drill.home is None:
        raise RuntimeError("worker-dropout needs the platform's home (its decision log)")
    log = DecisionLog(drill.home / "guard" / LOG_FILE)
    return [d for d in log.read(utc_now() - since, kind) if d.who == SUPERVISOR]


def verify_all_complete() -> dict[str, Any]:
    """Every run completed, and the platform proved it rescheduled the dead ones: the
    supervisor's ``dead-run-rescheduled`` decisions since the kill about the drill's runs (at
    least one: the drill killed workers that were running runs), each of those runs completed.
    ``recovery_sec``: from the kill to every run first seen completed (None: never)."""
    drill = current()
    ids = drill.notes["runs"]
    states = wait_completed(drill, ids, 0)
    done = sum(s == "COMPLETED" for s in states.values())
    decisions = _records(drill, drill.notes["killed_at_utc"], DecisionKind.DEAD_RUN_RESCHEDULED)
    rescheduled = sorted({str(d.context.get("flow_run_id")) for d in decisions} & set(ids))
    rerun = sum(states.get(run_id) == "COMPLETED" for run_id in rescheduled)
    recovered = drill.notes.get("runs_recovered_at")
    recovery = None if recovered is None else round(recovered - drill.notes["killed_at"], 2)
    passed = done == len(ids) and bool(rescheduled) and rerun == len(rescheduled)
    return drill.verification(
        "dead-runs-rerun-all-complete",
        passed,
        f"{len(rescheduled)} run(s) that died with their worker rescheduled by the supervisor "
        f"({len(decisions)} dead-run-rescheduled decision(s) in its 5W1H log since the kill), "
        f"{rerun} of them completed; {done} of {len(ids)} runs completed; "
        + ("never all" if recovery is None else f"all {recovery:.1f} s after the kill"),
        rescheduled=len(rescheduled),
        rescheduled_completed=rerun,
        reschedule_decisions=len(decisions),
        completed=done,
        recovery_sec=recovery,
    )

"""Activities every drill shares (Chaos Toolkit Python provider, ``tasks.drills.activities``):
the steady-state probe, queueing workload runs, waiting for them, and the clean-up rollback.
Each returns plain JSON (it goes into the journal)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.world import Drill, current, wait_until

WORKLOAD = "work"
ACTIVE = {"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"}


def readiness_status() -> str:
    """The guard's readiness verdict, waiting up to the recovery time for ``healthy``; every
    reading is kept in the notes (the journal shows the status, the result the reasons)."""
    drill = current()
    started = time.monotonic()
    seen: dict[str, Any] = {}

    def healthy() -> bool:
        seen.update(drill.guard.readiness())
        return seen["status"] == "healthy"

    wait_until(healthy, drill.recovery_sec, every=1.0)
    reading = {**seen, "waited_sec": round(time.monotonic() - started, 2)}
    drill.notes.setdefault("readiness", []).append(reading)
    return str(seen.get("status", "unknown"))


def workload(drill: Drill, client) -> str:
    """The workload deployment's id, created on first use."""
    if "deployment_id" not in drill.notes:
        drill.notes["deployment_id"] = api.ensure_workload(client, drill.pool, WORKLOAD)
    return drill.notes["deployment_id"]


def marker_file(drill: Drill) -> str:
    return str(drill.folder / "markers.txt")


def queue_runs(runs: int, seconds: float = 0.0) -> dict[str, Any]:
    """Create ``runs`` workload runs (each appends its id to the marker file when it ends)."""
    drill = current()
    with api.api(drill.api_url) as client:
        deployment = workload(drill, client)
        params = {"mode": "work", "seconds": seconds, "marker": marker_file(drill)}
        ids = [api.create_run(client, deployment, params, [drill.tag]) for _ in range(runs)]
    drill.notes.setdefault("runs", []).extend(ids)
    drill.notes["queued_at"] = time.monotonic()
    return {"queued": len(ids)}


def markers(drill: Drill) -> Counter:
    """How many times each run id was processed (its line in the marker file)."""
    path = drill.folder / "markers.txt"
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line.strip())


def run_states(drill: Drill, client) -> dict[str, str]:
    return {run["id"]: run["state_type"] for run in api.runs_tagged(client, drill.tag)}


def wait_completed(drill: Drill, ids: list[str], timeout_sec: float) -> dict[str, str]:
    """Wait until every run in ``ids`` is Completed (or the timeout); their last states, read
    run by run once at the end (while waiting, only the drill's Completed runs are counted:
    reading thousands of runs every 2 s would load the very server the drill measures)."""
    wanted = set(ids)

    def done() -> bool:
        with api.api(drill.api_url) as client:
            return all_completed(drill, client, wanted)

    wait_until(done, timeout_sec, every=2.0)
    with api.api(drill.api_url) as client:
        states = run_states(drill, client)
    return {i: states.get(i, "MISSING") for i in ids}


def all_completed(drill: Drill, client, wanted: set[str]) -> bool:
    """Whether every run in ``wanted`` is Completed: counted first (one request), and read run
    by run only once the count says it may be."""
    if api.count_tagged(client, drill.tag, "COMPLETED") < len(wanted):
        return False
    states = run_states(drill, client)
    return all(states.get(i) == "COMPLETED" for i in wanted)


def cancel_drill_runs() -> dict[str, Any]:
    """Rollback: cancel every run of this drill that has not ended (nothing is left queued)."""
    drill = current()
    with api.api(drill.api_url) as client:
        cancelled = api.cancel_tagged(client, drill.tag, ACTIVE, f"drill {drill.name} clean-up")
    return {"cancelled": cancelled}

"""The drills' workload: what a process worker runs for each drill run, as its job's command
(``python -m tasks.drills.workload``). It reports Running and Completed to the API itself with
plain HTTP instead of importing Prefect's engine (~4 s of CPU per run on the CI machine: a
drill of hundreds of runs would measure the import, not the platform). Dispatch, the worker,
its process and every state transition are the platform's own.

Parameters of the run: ``mode`` ``work`` (sleep ``seconds``, then append the run's id to
``marker``: a run processed twice shows twice) or ``chain`` (start the same deployment one
``level`` deeper as a child run, until ``levels``, and wait for it: a run_deployment chain).
A run asked to cancel (Cancelling) while it waits ends itself Cancelled, as the engine would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx

from tasks.drills.platform_api import RetryBusy

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
POLL_SEC = 0.5


def set_state(client: httpx.Client, run_id: str, kind: str, message: str = "") -> bool:
    reply = client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": kind, "message": message}}
    )
    reply.raise_for_status()
    return reply.json()["status"] == "ACCEPT"


def start_child(client: httpx.Client, run: dict, level: int) -> str:
    """A task run in this run (the parent link run_deployment makes) and the child run."""
    task = client.post(
        "/task_runs/",
        json={
            "flow_run_id": run["id"],
            "task_key": "run_deployment",
            "dynamic_key": str(level),
            "name": f"run_deployment-level-{level + 1}",
        },
    )
    task.raise_for_status()
    parameters = {**run["parameters"], "level": level + 1}
    child = client.post(
        f"/deployments/{run['deployment_id']}/create_flow_run",
        json={
            "parameters": parameters,
            "parent_task_run_id": task.json()["id"],
            "tags": run["tags"],
        },
    )
    child.raise_for_status()
    return child.json()["id"]


def state_of(client: httpx.Client, run_id: str) -> str:
    reply = client.get(f"/flow_runs/{run_id}")
    reply.raise_for_status()
    return reply.json()["state"]["type"]


def wait(client: httpx.Client, run_id: str, child: str | None, seconds: float) -> bool:
    """Until the child run is final (or ``seconds`` passed); False when this run was asked to
    cancel meanwhile (Cancelling): it then ends Cancelled itself."""
    deadline = time.monotonic() + seconds
    while True:
        if state_of(client, run_id) == "CANCELLING":
            set_state(client, run_id, "CANCELLED", "drill workload: cancel request honoured")
            return False
        if child is not None and state_of(client, child) in FINAL:
            return True
        if child is None and time.monotonic() >= deadline:
            return True
        time.sleep(POLL_SEC if child is not None else min(POLL_SEC, seconds))


def main() -> int:
    run_id = os.environ["PREFECT__FLOW_RUN_ID"]
    api_url = os.environ["PREFECT_API_URL"]
    with httpx.Client(base_url=api_url, timeout=30, transport=RetryBusy()) as client:
        if not set_state(client, run_id, "RUNNING"):  # cancelled before it started
            if state_of(client, run_id) == "CANCELLING":
                set_state(client, run_id, "CANCELLED", "drill workload: cancelled before start")
            return 0
        run = client.get(f"/flow_runs/{run_id}").json()
        params = run["parameters"]
        level = int(params.get("level", 1))
        chain = params.get("mode") == "chain" and level < int(params.get("levels", 1))
        child = start_child(client, run, level) if chain else None
        if not wait(client, run_id, child, float(params.get("seconds", 0))):
            return 0
        marker = params.get("marker")
        if marker:
            with Path(marker).open("a", encoding="utf-8") as handle:
                handle.write(f"{run_id} {level}\n")
        set_state(client, run_id, "COMPLETED", f"drill workload done (level {level})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A disposable local platform for the chaos drills: make run's own processes (the Prefect
server, the ``warden-process`` pool, its worker supervisor and workers) under another home and
port, so a drill never touches the operator's platform.

Run with ``WARDEN_HOME`` and ``WARDEN_PORT`` set (``tasks/drills/local_platform.py`` does):
``up WORKERS TIMEOUT`` starts the server, creates the pool, starts the supervisor (which starts
and keeps the workers) and returns once every worker heartbeats; ``down`` stops what ``up``
started, supervisor first (it would restart the workers being stopped).
"""

from __future__ import annotations

import sys
import time

import httpx
import processes as proc

POOL = "warden-process"


def up(workers: int, timeout_sec: float) -> int:
    deadline = time.monotonic() + timeout_sec
    proc.start(proc.SERVER)
    proc.wait_healthy(timeout_sec)
    reply = httpx.post(
        f"{proc.API_URL}/work_pools/", json={"name": POOL, "type": "process"}, timeout=30
    )
    if reply.status_code not in (201, 409):  # 409: already there
        raise SystemExit(f"creating work pool {POOL}: HTTP {reply.status_code} {reply.text}")
    proc.start(proc.supervisor(workers))
    names = {f"warden-local-worker{'' if n == 1 else f'-{n}'}" for n in range(1, workers + 1)}
    while time.monotonic() < deadline:
        seen = httpx.post(f"{proc.API_URL}/work_pools/{POOL}/workers/filter", json={}, timeout=30)
        online = {w["name"] for w in seen.json() if w.get("status") == "ONLINE"}
        if names <= online:
            print(proc.API_URL, flush=True)
            return 0
        time.sleep(0.5)
    raise SystemExit(f"workers {sorted(names)} not online within {timeout_sec:.0f}s")


def down() -> int:
    for service in (proc.ANY_SUPERVISOR, *proc.recorded_workers(), proc.SERVER):
        print(proc.stop(service, grace_sec=5.0), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["up"]:
        sys.exit(up(int(sys.argv[2]), float(sys.argv[3])))
    sys.exit(down())

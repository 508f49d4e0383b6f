"""Bench: the orchestration watchdog's own cost per check cycle with 5,000 runs waiting in the
queue (goal: < 1 s per cycle and < 5 % of one core at the 10 s cadence).

Starts a real local Prefect server (own home and SQLite database), a pool with no worker, and
measures one watchdog check cycle (read the platform + assess + telemetry, exactly what
``orchestration-watchdog`` does per check) side by side: with an empty queue, then with N due
Late runs in the pool. Wall time and CPU time of this process (the watchdog's side) and
of the API server's process (the reads it causes) are reported per cycle, median and max over
the rounds. Also times the load-shedding read of every waiting run (``read_waiting_runs``).
Usage: python bench/guard.py [RUNS ROUNDS]
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402

from blocks.guard import GuardFile, PoolLimits  # noqa: E402
from tasks.guard.platform_reads import guard_client, read_snapshot  # noqa: E402
from tasks.guard.platform_writes import read_waiting_runs  # noqa: E402
from tasks.guard.readiness import assess, telemetry  # noqa: E402
from tasks.platform.clock import iso_utc, utc_now  # noqa: E402
from tests.integration.conftest import start_prefect  # noqa: E402

POOL = "bench-pool"
CADENCE_S = 10.0
GUARD = GuardFile(pools=[PoolLimits(name=POOL, min_workers=1)])


def tree_cpu(server: psutil.Process) -> float:
    """CPU seconds of the server and every process it started (API, services)."""
    total = 0.0
    for process in [server, *server.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def cycle(server: psutil.Process) -> tuple[float, float, float]:
    """One watchdog check: (wall s, this process's CPU s, the server's CPU s)."""
    wall, cpu = time.perf_counter(), time.process_time()
    before = tree_cpu(server)
    snapshot = read_snapshot(GUARD, [POOL])
    telemetry(snapshot, assess(snapshot, GUARD), GUARD)
    server_cpu = tree_cpu(server) - before
    assert snapshot.read_error is None, snapshot.read_error
    return time.perf_counter() - wall, time.process_time() - cpu, server_cpu


def measure(label: str, rounds: int, server: psutil.Process) -> dict[str, object]:
    cycle(server)  # warm the client and the server's caches
    runs = [cycle(server) for _ in range(rounds)]
    walls, cpus, servers = zip(*runs, strict=True)
    return {
        "queue": label,
        "wall_median_s": statistics.median(walls),
        "wall_max_s": max(walls),
        "cpu_median_s": statistics.median(cpus),
        "core_pct": 100 * statistics.median(cpus) / CADENCE_S,
        "server_cpu_median_s": statistics.median(servers),
    }


def fill(url: str, database: Path, deployment: str, count: int) -> float:
    """``count`` Late runs of the pool, due an hour ago.

    One run is made through the API (then forced to Late, as the late-runs service would); the
    rest are copies of its row written straight into the server's SQLite file in one
    transaction (through the API, 5,000 runs take ~20 minutes on this loaded 2-core machine).
    They are already Late, so no server service rewrites them while the cycles are timed.
    """
    due = iso_utc(utc_now() - timedelta(hours=1))
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        run = client.post(f"/deployments/{deployment}/create_flow_run", json={})
        run.raise_for_status()
        template = run.json()["id"]
        late = {"type": "SCHEDULED", "name": "Late", "state_details": {"scheduled_time": due}}
        client.post(
            f"/flow_runs/{template}/set_state", json={"state": late, "force": True}
        ).raise_for_status()
    with sqlite3.connect(database, timeout=60) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(flow_run)")]
        (stored_id,) = db.execute(
            "SELECT id FROM flow_run WHERE replace(id, '-', '') = ?", (template.replace("-", ""),)
        ).fetchone()
        row = db.execute("SELECT * FROM flow_run WHERE id = ?", (stored_id,)).fetchone()
        hyphens = "-" in stored_id
        copies = []
        for index in range(count - 1):
            copy = dict(zip(columns, row, strict=True))
            new = uuid.uuid4()
            copy["id"] = str(new) if hyphens else new.hex
            copy["name"] = f"bench-{index}"
            copies.append(tuple(copy[c] for c in columns))
        marks = ", ".join("?" for _ in columns)
        db.executemany(f"INSERT INTO flow_run ({', '.join(columns)}) VALUES ({marks})", copies)
    return time.perf_counter() - started


def main(count: int = 5000, rounds: int = 10) -> None:
    with tempfile.TemporaryDirectory() as folder:
        platform = start_prefect(Path(folder) / "prefect")
        try:
            server = psutil.Process(platform.server.pid)
            with temporary_settings(updates={PREFECT_API_URL: platform.url}):
                deployment = setup(platform.url)
                rows = [measure("empty", rounds, server)]
                filled = fill(platform.url, platform.home / "prefect.db", deployment, count)
                print(f"created {count} due runs in {filled:.0f} s", file=sys.stderr)
                rows.append(measure(f"{count} due runs", rounds, server))
                with guard_client(GUARD) as client:
                    started = time.perf_counter()
                    waiting = read_waiting_runs(client, POOL, utc_now())
                    shed_read = time.perf_counter() - started
                assert len(waiting) == count, len(waiting)
        finally:
            platform.stop()
    print(
        "| queue | cycle wall median s | max s | watchdog CPU s | % of one core at 10 s "
        "| API server CPU s |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['queue']} | {r['wall_median_s']:.3f} | {r['wall_max_s']:.3f} "
            f"| {r['cpu_median_s']:.3f} | {r['core_pct']:.2f} | {r['server_cpu_median_s']:.3f} |"
        )
    print(f"\nload-shedding read of all {count} waiting runs: {shed_read:.2f} s")


def setup(url: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/work_pools/", json={"name": POOL, "type": "process"}).raise_for_status()
        flow = client.post("/flows/", json={"name": "guard-bench"}).json()["id"]
        reply = client.post(
            "/deployments/",
            json={
                "name": "queue",
                "flow_id": flow,
                "work_pool_name": POOL,
                "entrypoint": "flows/none.py:none",
            },
        )
        reply.raise_for_status()
        return reply.json()["id"]


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))

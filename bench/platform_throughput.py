"""SQLite vs PostgreSQL under the same platform, side by side in one run.

For each database the bench brings the platform up with ``bootstrap.py up --no-demo``
(``WARDEN_DB=sqlite`` / ``postgres``, a fresh WARDEN_HOME and free ports each), deploys one
trivial flow to its own process pool ``warden-bench`` served by 2 workers (``--limit 2`` each),
creates N flow runs at once and waits for all of them. The trivial flow takes one slot of the
global concurrency limit ``bench-slot`` (4 slots: never more runs than slots, so any wait is
the API's, not contention) through the project's own ``slot()`` and records how long the
acquisition took. Reported per database: runs per minute (N / first creation to last end),
p95 scheduled->running (queueing behind the backlog included), p95 pending->running (the
worker's submission to the flow's start) and the slot-wait p50/p95/max.

    python bench/platform_throughput.py [--runs 200] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefect import flow

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = ROOT / "deployments" / "local" / "bootstrap.py"
POOL, SLOT, SLOTS, WORKERS, PER_WORKER = "warden-bench", "bench-slot", 4, 2, 2


@flow(name="bench-trivial", persist_result=False, log_prints=False)
def bench_trivial(out_dir: str) -> None:
    from prefect.runtime import flow_run

    from tasks.platform.steps import slot

    started = time.monotonic()
    with slot(SLOT):
        waited = time.monotonic() - started
    record = {"flow_run_id": str(flow_run.id), "slot_wait_sec": waited}
    (Path(out_dir) / f"{flow_run.id}.json").write_text(json.dumps(record))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def measure(runs: int, home: Path) -> dict:
    """Runs inside the platform's environment (a child of ``main``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from tasks.platform.processes import start_group, stop_group

    out = home / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=SLOT, limit=SLOTS))
        deployment_id = bench_trivial.from_source(
            source=str(ROOT), entrypoint="bench/platform_throughput.py:bench_trivial"
        ).deploy(name="throughput", work_pool_name=POOL, print_next_steps=False)
        workers = []
        for number in range(WORKERS):
            log = (home / "logs" / f"bench-worker-{number}.log").open("ab")
            argv = ["prefect", "worker", "start", "--pool", POOL, "--limit", str(PER_WORKER)]
            workers.append(
                start_group([*argv, "--name", f"bench-{number}"], stdout=log, stderr=log)
            )
        try:
            deadline = time.monotonic() + 120
            while len(client.read_workers_for_work_pool(POOL)) < WORKERS:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bench workers did not come online within 120 s")
                time.sleep(0.5)
            started = time.time()
            for _ in range(runs):
                client.create_flow_run_from_deployment(
                    deployment_id, parameters={"out_dir": str(out)}
                )
            only_ours = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                flow_runs = client.read_flow_runs(deployment_filter=only_ours, limit=runs)
                if len(flow_runs) == runs and all(r.state.is_final() for r in flow_runs):
                    break
                time.sleep(3)
            scheduled_to_running, pending_to_running = [], []
            for run in flow_runs:
                if run.start_time is not None:
                    scheduled_to_running.append(
                        (run.start_time - run.expected_start_time).total_seconds()
                    )
                states = {s.type.value: s.timestamp for s in client.read_flow_run_states(run.id)}
                if "PENDING" in states and "RUNNING" in states:
                    pending_to_running.append(
                        (states["RUNNING"] - states["PENDING"]).total_seconds()
                    )
        finally:
            for worker in workers:
                stop_group(worker.pid, 15)
    ends = [r.end_time.timestamp() for r in flow_runs if r.end_time is not None]
    elapsed = (max(ends) if ends else time.time()) - started
    waits = [json.loads(f.read_text())["slot_wait_sec"] for f in out.glob("*.json")]
    return {
        "runs": runs,
        "completed": sum(1 for r in flow_runs if r.state.is_completed()),
        "elapsed_sec": round(elapsed, 1),
        "runs_per_min": round(runs / elapsed * 60, 1),
        "p95_scheduled_to_running_sec": round(_percentile(scheduled_to_running, 0.95), 2),
        "p95_pending_to_running_sec": round(_percentile(pending_to_running, 0.95), 2),
        "slot_wait_p50_sec": round(_percentile(waits, 0.5), 3),
        "slot_wait_p95_sec": round(_percentile(waits, 0.95), 3),
        "slot_wait_max_sec": round(max(waits, default=0.0), 3),
        "slot_waits_over_0_2_sec": sum(1 for w in waits if w > 0.2),
        "slot_waits_recorded": len(waits),
    }


def run_one(db: str, runs: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"warden-bench-{db}-"))
    folder.chmod(0o755)  # the postgres user must reach its cluster under it
    home = folder / ".warden"
    env = {
        **os.environ,
        "WARDEN_HOME": str(home),
        "WARDEN_DB": db,
        "WARDEN_PORT": str(_free_port()),
        "WARDEN_DEMO_LLM_PORT": str(_free_port()),
        "WARDEN_WORKERS": "1",
    }
    if db == "postgres":
        env["WARDEN_PG_PORT"] = str(_free_port())
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "WARDEN_AUTH_FILE"):
        env.pop(name, None)
    python = [sys.executable]
    try:
        up = subprocess.run(
            [*python, str(BOOTSTRAP), "up", "--no-demo"], env=env, capture_output=True, text=True
        )
        if up.returncode:
            raise SystemExit(f"{db}: bootstrap up failed:\n{up.stdout}\n{up.stderr}")
        # The platform's client environment (API URL, credential) as bootstrap sets it.
        client_env = {**env, **_platform_env(env)}
        child = subprocess.run(
            [*python, __file__, "--measure", str(runs), "--home", str(home)],
            env=client_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if child.returncode:
            raise SystemExit(f"{db}: measuring failed:\n{child.stdout}\n{child.stderr}")
        return json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run([*python, str(BOOTSTRAP), "down"], env=env, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _platform_env(env: dict[str, str]) -> dict[str, str]:
    home = Path(env["WARDEN_HOME"])
    client = {
        "PREFECT_API_URL": f"http://127.0.0.1:{env['WARDEN_PORT']}/api",
        "PREFECT_HOME": str(home / "prefect"),
        "WARDEN_ROOT": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    }
    if (home / "auth").exists():
        client["PREFECT_API_AUTH_STRING"] = (home / "auth").read_text().strip()
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.home)))
        return
    results = {}
    for db in args.db.split(","):
        load = os.getloadavg()[0]
        results[db] = {**run_one(db, args.runs), "load_before": round(load, 1)}
        print(db, json.dumps(results[db]), flush=True)  # usable even if a later one fails
    print(f"{args.runs} trivial flow runs, {WORKERS} workers (--limit {PER_WORKER}), {SLOTS} slots")
    names = list(next(iter(results.values())))
    print(f"{'':32}" + "".join(f"{db:>12}" for db in results))
    for name in names:
        print(f"{name:32}" + "".join(f"{results[db][name]:>12}" for db in results))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""SQLite vs PostgreSQL under the same platform, side by side in one run.

For each database the bench brings the platform up with ``bootstrap.py up --no-demo``
(``WARDEN_DB=sqlite`` / ``postgres``, a fresh WARDEN_HOME and free ports each), deploys one
trivial flow to its own process pool ``warden-bench`` served by 2 workers (``--limit 2`` each),
creates N flow runs at once and waits for all of them. The trivial flow takes one slot of the
global concurrency limit ``bench-slot`` (4 slots: never more runs than slots, so no run ever
waits for another; the 423 Locked answers are counted to prove it) and records how long the
acquisition took, its requests and their round trips. Runs alternate between two ways of taking
the slot, at the same moments under the same load: ``prefect`` (Prefect's ``concurrency()``, what
``slot()`` used before) and ``warden`` (the project's ``slot()``: one request on the run's own
client). Reported per database: runs per minute (N / first creation to last end), p95
scheduled->running (queueing behind the backlog included), p95 pending->running (the worker's
submission to the flow's start) and per way the slot-wait p50/p95/max, the 423 count, the
increment round trip p95 and the wait besides the requests (client-side set-up) p95.

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


WAYS = ("prefect", "warden")  # Prefect's concurrency() (what slot() used before) / slot() now


@flow(name="bench-trivial", persist_result=False, log_prints=False)
def bench_trivial(out_dir: str, way: str = "warden") -> None:
    from prefect.concurrency.sync import concurrency
    from prefect.runtime import flow_run

    from tasks.platform.steps import slot

    requests = _count_increments()
    started = time.monotonic()
    with slot(SLOT) if way == "warden" else concurrency(SLOT, occupy=1, strict=True):
        waited = time.monotonic() - started
    record = {"flow_run_id": str(flow_run.id), "way": way, "slot_wait_sec": waited, **requests}
    (Path(out_dir) / f"{flow_run.id}.json").write_text(json.dumps(record))


def _count_increments() -> dict:
    """Count this process's slot requests, their 423 Locked answers and their round trips (both
    Prefect clients: the async one Prefect's concurrency() uses, the sync one slot() uses)."""
    import functools

    import httpx
    from prefect.client.orchestration import PrefectClient, SyncPrefectClient

    seen = {"increments": 0, "locked_423": 0, "increment_sec": 0.0}

    def timed(call, is_async):
        def account(began, exc):
            seen["increments"] += 1
            seen["increment_sec"] += time.monotonic() - began
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 423:
                seen["locked_423"] += 1

        async def async_call(*args, **kwargs):
            began, failed = time.monotonic(), None
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                failed = exc
                raise
            finally:
                account(began, failed)

        def sync_call(*args, **kwargs):
            began, failed = time.monotonic(), None
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                failed = exc
                raise
            finally:
                account(began, failed)

        return functools.wraps(call)(async_call if is_async else sync_call)

    name = "increment_concurrency_slots_with_lease"
    for cls, is_async in ((PrefectClient, True), (SyncPrefectClient, False)):
        setattr(cls, name, timed(getattr(cls, name), is_async))
    return seen


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
            for number in range(runs):  # the two ways alternate: same moments, same load
                way = WAYS[number % len(WAYS)]
                client.create_flow_run_from_deployment(
                    deployment_id, parameters={"out_dir": str(out), "way": way}
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
    records = [json.loads(f.read_text()) for f in out.glob("*.json")]
    return {
        "runs": runs,
        "completed": sum(1 for r in flow_runs if r.state.is_completed()),
        "elapsed_sec": round(elapsed, 1),
        "runs_per_min": round(runs / elapsed * 60, 1),
        "p95_scheduled_to_running_sec": round(_percentile(scheduled_to_running, 0.95), 2),
        "p95_pending_to_running_sec": round(_percentile(pending_to_running, 0.95), 2),
        **{k: v for way in WAYS for k, v in _slot_figures(way, records).items()},
    }


def _slot_figures(way: str, records: list[dict]) -> dict:
    mine = [r for r in records if r["way"] == way]
    waits = [r["slot_wait_sec"] for r in mine]
    trips = [r["increment_sec"] for r in mine]
    setup = [r["slot_wait_sec"] - r["increment_sec"] for r in mine]
    return {
        f"{way}_slot_waits_recorded": len(mine),
        f"{way}_slot_wait_p50_sec": round(_percentile(waits, 0.5), 3),
        f"{way}_slot_wait_p95_sec": round(_percentile(waits, 0.95), 3),
        f"{way}_slot_wait_max_sec": round(max(waits, default=0.0), 3),
        f"{way}_slot_waits_over_0_2_sec": sum(1 for w in waits if w > 0.2),
        f"{way}_increment_requests": sum(r["increments"] for r in mine),
        f"{way}_locked_423_answers": sum(r["locked_423"] for r in mine),
        f"{way}_increment_round_trip_p95_sec": round(_percentile(trips, 0.95), 3),
        f"{way}_wait_besides_requests_p95_sec": round(_percentile(setup, 0.95), 3),
    }


def run_one(db: str, runs: int) -> dict:
    from tasks.platform.processes import free_port

    folder = Path(tempfile.mkdtemp(prefix=f"warden-bench-{db}-"))
    folder.chmod(0o755)  # the postgres user must reach its cluster under it
    home = folder / ".warden"
    env = {
        **os.environ,
        "WARDEN_HOME": str(home),
        "WARDEN_DB": db,
        "WARDEN_PORT": str(free_port()),
        "WARDEN_DEMO_LLM_PORT": str(free_port()),
        "WARDEN_WORKERS": "1",
    }
    if db == "postgres":
        env["WARDEN_PG_PORT"] = str(free_port())
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
    print(f"{'':40}" + "".join(f"{db:>12}" for db in results))
    for name in names:
        print(f"{name:40}" + "".join(f"{results[db][name]:>12}" for db in results))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

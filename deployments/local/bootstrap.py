"""``make run``: bring the local platform up, deploy everything, run each flow's demo once.

Idempotent: a server or worker already running is reused, existing pools, limits, blocks and
variables are kept, deployments are updated in place. ``make stop`` runs ``down``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import processes as proc
from rich.console import Console
from rich.table import Table

# 80 columns whatever the terminal (or none: make run under CI or a pipe).
console = Console(highlight=False, width=80)
POOL = "warden-process"
DEMO_TAG = "demo"
SECOND_WAVE_TAG = "demo-after"  # triggered once the first wave has finished
EXPECT_FAILED_TAG = "demo-expect-failed"  # a demo of a refusal: Failed is its success
# Demo runs to leave out, "flow/deployment" comma-separated (the platform test leaves out the
# gates demo, which runs this project's whole unit suite again under coverage).
SKIP_DEMOS_ENV = "WARDEN_DEMO_SKIP"


def up(demo: bool = True) -> int:
    os.environ.update(proc.platform_env())  # the Prefect client below talks to our server
    _start_server()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        _ensure_pool(client)
        _ensure_objects()
        _deploy()
        pid, started = proc.start(proc.WORKER)
        console.print(f"worker: {'started' if started else 'already running'} (pid {pid})")
        pid, started = proc.start(proc.DEMO_LLM)
        waited = proc.wait_http(f"http://{proc.HOST}:{proc.DEMO_LLM_PORT}/health", proc.DEMO_LLM)
        what = "started" if started else "already running"
        console.print(f"demo LLM (fixture): {what} (pid {pid}), ready after {waited:.1f}s")
        results = []
        for wave in _demo_waves(client) if demo else []:
            results += _wait(client, [_trigger(client, deployment) for deployment in wave])
    if demo:
        _print_table(results)
    console.print(f"UI: {proc.API_URL.removesuffix('/api')}  (make stop stops it)")
    return 0 if all(row.state == row.expected for row in results) else 1


def down() -> int:
    for service in (proc.DEMO_LLM, proc.WORKER, proc.SERVER):
        console.print(proc.stop(service))
    return 0


def _start_server() -> None:
    if proc.running_pid(proc.SERVER) is None and _port_open():
        raise SystemExit(
            f"port {proc.PORT} on {proc.HOST} is used by a program make run did not start; "
            "stop it or set WARDEN_PORT to a free port"
        )
    pid, started = proc.start(proc.SERVER)
    waited = proc.wait_healthy()
    what = "started" if started else "already running"
    console.print(f"server: {what} (pid {pid}), healthy after {waited:.1f}s at {proc.API_URL}")


def _port_open() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((proc.HOST, proc.PORT)) == 0


def _ensure_pool(client) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_pool(POOL)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        console.print(f"work pool {POOL}: created")


def _ensure_objects() -> None:
    """Concurrency limits, block types and documents, the kill-switch Variable."""
    from prefect.filesystems import LocalFileSystem
    from prefect.variables import Variable

    from blocks.storage import LOCAL_RESULTS_BLOCK
    from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
    from tasks.platform.steps import ensure_concurrency_limits

    created = ensure_concurrency_limits()
    console.print(f"concurrency limits: {', '.join(created) or 'already there'}")
    _prefect("block", "register", "-m", "prefect_aws")
    _prefect("block", "register", "-m", "blocks.lora_settings")  # Warden Gauntlet Settings
    LocalFileSystem(basepath=str(proc.HOME / "results")).save(LOCAL_RESULTS_BLOCK, overwrite=True)
    if Variable.get(KILL_SWITCH_VARIABLE) is None:
        Variable.set(KILL_SWITCH_VARIABLE, False)
    console.print(
        f"blocks: local-file-system/{LOCAL_RESULTS_BLOCK}; variable: {KILL_SWITCH_VARIABLE}"
    )


def _deploy() -> None:
    _prefect("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    console.print("deployments: deployed from deployments/prefect.yaml")


def _prefect(*args: str) -> None:
    done = subprocess.run(
        ["prefect", *args], cwd=proc.ROOT, env=os.environ, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _demo_waves(client) -> list[list]:
    """Deployments tagged ``demo``: those also tagged ``demo-after`` run in a second wave."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    demos = client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[DEMO_TAG]))
    )
    skipped = {name.strip() for name in os.environ.get(SKIP_DEMOS_ENV, "").split(",") if name}
    flows = {d.flow_id: client.read_flow(d.flow_id).name for d in demos}
    demos = [d for d in demos if f"{flows[d.flow_id]}/{d.name}" not in skipped]
    first = [d for d in demos if SECOND_WAVE_TAG not in d.tags]
    second = [d for d in demos if SECOND_WAVE_TAG in d.tags]
    return [wave for wave in (first, second) if wave]


def _trigger(client, deployment):
    from prefect.deployments import run_deployment

    flow = client.read_flow(deployment.flow_id)
    run = run_deployment(f"{flow.name}/{deployment.name}", timeout=0)
    expected = "Failed" if EXPECT_FAILED_TAG in deployment.tags else "Completed"
    return run, f"{flow.name}/{deployment.name}", expected


@dataclass(frozen=True)
class DemoResult:
    name: str
    state: str
    expected: str
    duration: str
    link: str


def _wait(client, runs: list, timeout_sec: float = 900.0) -> list[DemoResult]:
    deadline = time.monotonic() + timeout_sec
    pending = {run.id for run, _, _ in runs}
    while pending and time.monotonic() < deadline:
        time.sleep(2)
        pending = {rid for rid in pending if not client.read_flow_run(rid).state.is_final()}
    rows = []
    for run, name, expected in runs:
        run = client.read_flow_run(run.id)
        duration = f"{run.total_run_time.total_seconds():.1f}s"
        link = f"{proc.API_URL.removesuffix('/api')}/runs/flow-run/{run.id}"
        rows.append(DemoResult(name, run.state.name, expected, duration, link))
        if run.state.name != expected:
            console.print(
                f"[red]{name}: {run.state.name}[/] (expected {expected}): {run.state.message}"
            )
    return rows


def _print_table(rows: list[DemoResult]) -> None:
    """The demo runs in 80 columns: one row each, the UI links below by number (a link alone
    is ~75 characters: inside the table it would wrap every row)."""
    table = Table("#", "demo run", "final state", "expected", "time", title="demo runs")
    for number, row in enumerate(rows, start=1):
        colour = "green" if row.state == row.expected else "red"
        table.add_row(
            str(number), row.name, f"[{colour}]{row.state}[/]", row.expected, row.duration
        )
    console.print(table)
    for number, row in enumerate(rows, start=1):
        console.print(f"#{number} {row.link}", soft_wrap=True)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    if command == "up":
        sys.exit(up(demo="--no-demo" not in sys.argv[2:]))
    sys.exit({"down": down}[command]())

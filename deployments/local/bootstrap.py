"""``make run``: bring the local platform up, deploy everything, run each flow's demo once.

Idempotent: a server or worker already running is reused, existing pools, limits, blocks and
variables are kept, deployments are updated in place. ``make stop`` runs ``down``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import fleet
import processes as proc
from postgres import Cluster
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
    from blocks.errors import WardenError

    try:
        settings = fleet.read_settings(os.environ, proc.HOME)
        auth = fleet.ensure_auth_string(settings.auth_file, proc.ROOT) if settings.auth else None
        _check_server_mode(settings)
        _check_server_port()
        server_env = _start_database(settings)
    except WardenError as exc:  # nothing has started: say what is wrong and how to fix it
        console.print(f"[red]make run: {exc}[/]", soft_wrap=True)
        return int(exc.code)
    if auth:
        server_env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    # The Prefect client below talks to our server (with the credential when auth is on).
    os.environ.update(proc.platform_env(auth))
    _start_server(server_env, _mode(settings))
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        _ensure_pool(client)
        _ensure_objects()
        _deploy()
        _apply_automations(client)  # after the deployments they run
        _stop_other_supervisor(settings.workers)  # before the count changes under it
        _keep_workers(settings.workers)
        pid, started = proc.start(proc.supervisor(settings.workers))
        what = "started" if started else "already running"
        console.print(f"worker supervisor: {what} (pid {pid})")
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
    # The supervisor first: it would restart the workers being stopped.
    for service in (proc.ANY_SUPERVISOR, proc.DEMO_LLM, *proc.recorded_workers(), proc.SERVER):
        console.print(proc.stop(service))
    MODE_FILE.unlink(missing_ok=True)
    cluster = Cluster(proc.HOME, fleet.DEFAULT_PG_PORT)
    if (cluster.data / "PG_VERSION").exists():
        console.print(cluster.down())
    return 0


MODE_FILE = proc.RUN_DIR / "server.mode"  # what the running server was started with


def _mode(settings: fleet.FleetSettings) -> str:
    return f"db={settings.db} auth={'on' if settings.auth else 'off'}"


def _check_server_mode(settings: fleet.FleetSettings) -> None:
    """A server already running keeps its database and auth: refuse to pretend otherwise."""
    from blocks.errors import ConfigError

    if proc.running_pid(proc.SERVER) is None or not MODE_FILE.exists():
        return
    running = MODE_FILE.read_text().strip()
    if running != _mode(settings):
        raise ConfigError(
            f"the server already runs with {running}, not {_mode(settings)}",
            remediation="make stop first, then make run with the settings you want",
        )


def _start_database(settings: fleet.FleetSettings) -> dict[str, str]:
    """Start PostgreSQL when asked; return the server's own environment (its database URL)."""
    if settings.db != "postgres":
        return {}
    cluster = Cluster(proc.HOME, settings.pg_port)
    console.print(cluster.up())
    return {"PREFECT_API_DATABASE_CONNECTION_URL": cluster.url()}


def _stop_other_supervisor(count: int) -> None:
    """A supervisor kept for another worker count would fight the new count: stop it."""
    if proc.running_pid(proc.supervisor(count)) is None and proc.running_pid(proc.ANY_SUPERVISOR):
        console.print(proc.stop(proc.ANY_SUPERVISOR))


def _keep_workers(count: int) -> None:
    """Start workers 1..count that are not running; stop any beyond count."""
    for service in proc.recorded_workers():
        if int(service.name.removeprefix("worker").removeprefix("-") or 1) > count:
            console.print(proc.stop(service))
    for number in range(1, count + 1):
        service = proc.worker(number)
        pid, started = proc.start(service)
        what = "started" if started else "already running"
        console.print(f"{service.name}: {what} (pid {pid})")


def _check_server_port() -> None:
    from blocks.errors import ConfigError

    if proc.running_pid(proc.SERVER) is None and fleet.port_in_use(proc.HOST, proc.PORT):
        raise ConfigError(
            f"port {proc.PORT} on {proc.HOST} is used by a program make run did not start",
            remediation="stop it or set WARDEN_PORT to a free port",
        )


def _start_server(server_env: dict[str, str], mode: str) -> None:
    pid, started = proc.start(proc.SERVER, server_env)
    if started:
        MODE_FILE.write_text(mode)
    waited = proc.wait_healthy()
    what = "started" if started else "already running"
    console.print(f"server: {what} (pid {pid}), healthy after {waited:.1f}s at {proc.API_URL}")


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


def _apply_automations(client) -> None:
    """The platform's reactions (deployments/automations.yaml) as Prefect automations, applied
    idempotently; the logic is tasks/guard/automation_writes.py."""
    from blocks.automations import load_automations_file
    from blocks.defaults import DEFAULT_AUTOMATIONS_FILE
    from blocks.errors import WardenError
    from tasks.guard.automation_writes import apply_automations
    from tasks.guard.reactions import describe_changes

    try:
        spec = load_automations_file(proc.ROOT / DEFAULT_AUTOMATIONS_FILE)
        console.print(describe_changes(apply_automations(client, spec)), soft_wrap=True)
    except WardenError as exc:
        raise SystemExit(f"make run: {exc}") from exc


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

"""GPU matrix legs on their own work pools, against a real Prefect server and real workers.

A Prefect server on a free loopback port (its own home and SQLite database), three process work
pools — ``pool-a`` and ``pool-b`` with one worker each, ``pool-c`` with none — and the leg flow
deployed to each as ``gpu-matrix-leg/<pool>``. ``warden matrix run`` against that server
dispatches each ``work_pool`` leg as a flow run on its pool; the evidence pack names the pool,
the worker and the host each leg ran on; the digest is promoted only when every leg passed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tasks.platform.processes import kill_process_group
from tests.conftest import ROOT
from tests.flows.matrix_files import CANDIDATE, leg, write_invariants
from tests.loopback import free_port

BIN = Path(sys.executable).parent
# pool-c never has a worker; pool-d's worker is started, then killed, by its own test
POOLS = {"pool-a": "worker-a", "pool-b": "worker-b", "pool-c": None, "pool-d": None}
PICKUP_SECONDS = 120
pytestmark = pytest.mark.integration

SETUP = textwrap.dedent(
    """
    import sys
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker
    from flows.gpu_matrix_leg import gpu_matrix_leg

    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        for pool in sys.argv[2:]:
            client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", base_job_template=template)
            )
    for pool in sys.argv[2:]:
        gpu_matrix_leg.from_source(
            source=sys.argv[1], entrypoint="flows/gpu_matrix_leg.py:gpu_matrix_leg"
        ).deploy(name=pool, work_pool_name=pool, build=False, push=False, print_next_steps=False)
    """
)


@dataclass(frozen=True)
class Platform:
    api: str
    env: dict[str, str]  # a client's environment: this server, the shared WARDEN_HOME
    home: Path


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition, what: str, seconds: float, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert process is None or process.poll() is None, f"{what}: the process exited"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # polling a condition, bounded by the deadline above
    return value


def _online(api: str, pool: str) -> list[str]:
    workers = httpx.post(f"{api}/work_pools/{pool}/workers/filter", json={}, timeout=5).json()
    return [w["name"] for w in workers if w.get("status") == "ONLINE"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("pools")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARDEN_"))}
    base |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    client = base | {
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(root / "client-home"),
        "WARDEN_HOME": str(root / "warden"),
    }
    processes: list[tuple[subprocess.Popen, object]] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        processes.append((process, log))
        return process

    try:
        server_env = base | {"PREFECT_HOME": str(root / "server-home")}
        server = start(
            "server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            server_env,
        )
        _wait_for(lambda: _healthy(api), "the Prefect server", 120, server)
        subprocess.run(
            [sys.executable, "-c", SETUP, str(ROOT), *POOLS],
            env=client,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=240,
        )
        platform = Platform(api, client, root)
        for pool, worker in POOLS.items():
            if worker is not None:
                processes.append((start_worker(platform, pool, worker), None))
        yield platform
    finally:
        for process, log in reversed(processes):
            kill_process_group(process)
            if log is not None:
                log.close()  # type: ignore[attr-defined]


def start_worker(platform: Platform, pool: str, name: str, **env: str) -> subprocess.Popen:
    """A process worker on ``pool`` (its log next to the platform's), online before returning."""
    worker_env = (
        platform.env
        | env
        | {
            "PREFECT_HOME": str(platform.home / f"{name}-home"),
            "PREFECT_WORKER_QUERY_SECONDS": "1",  # picks up a leg within a second
        }
    )
    argv = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "process"]
    log = (platform.home / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [*argv, "--name", name],
        env=worker_env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()  # the child holds its own descriptor
    _wait_for(lambda: name in _online(platform.api, pool), name, 120, process)
    return process


def matrix(platform: Platform, tmp_path: Path, legs: list[dict], *, api: bool = True):
    """``warden matrix run`` on ``legs``: (exit code, evidence pack or None, stderr)."""
    invariants = write_invariants(tmp_path, legs)
    out = tmp_path / "out"
    env = dict(platform.env) | {"COLUMNS": "120"}
    if not api:  # no API configured, and no local platform server at its port
        env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        env |= {"PREFECT_HOME": str(tmp_path / "no-api"), "WARDEN_PORT": str(free_port())}
    argv = [str(BIN / "warden"), "matrix", "run", "--env", "t", "--digest", CANDIDATE]
    argv += ["--invariants", str(invariants), "--out", str(out)]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    path = out / "evidence.json"
    pack = json.loads(path.read_text()) if path.exists() else None
    return done.returncode, pack, done.stdout + done.stderr


def on(pool: str, name: str) -> dict:
    spec = leg(name, work_pool=pool)
    spec["timeouts"] = spec["timeouts"] | {"pickup_seconds": PICKUP_SECONDS}
    return spec


def leg_runs(platform: Platform) -> int:
    body = {"flows": {"name": {"any_": ["gpu-matrix-leg"]}}}
    return httpx.post(f"{platform.api}/flow_runs/count", json=body, timeout=5).json()


def test_each_leg_runs_on_its_own_pool_and_both_passing_promote(platform, tmp_path) -> None:
    code, pack, output = matrix(platform, tmp_path, [on("pool-a", "cpu-a"), on("pool-b", "cpu-b")])
    assert code == 0, output
    assert pack["verdict"] == "promoted" and pack["promoted"] is True
    legs = {item["name"]: item for item in pack["legs"]}
    for name, pool in (("cpu-a", "pool-a"), ("cpu-b", "pool-b")):
        assert legs[name]["status"] == "passed"
        assert legs[name]["work_pool"] == pool
        assert legs[name]["worker"] == POOLS[pool]
        assert legs[name]["ran_on"] == socket.gethostname()
        run = httpx.get(f"{platform.api}/flow_runs/{legs[name]['leg_flow_run_id']}").json()
        assert (run["work_pool_name"], run["state_type"]) == (pool, "COMPLETED")
    assert pack["approved_digest_after"]["value"] == CANDIDATE
    report = (tmp_path / "out" / "evidence.md").read_text()
    assert "pool pool-a · worker worker-a" in report and "pool pool-b · worker worker-b" in report


def test_a_pool_with_no_live_worker_fails_its_leg_no_worker(platform, tmp_path) -> None:
    begun = time.monotonic()
    code, pack, output = matrix(platform, tmp_path, [on("pool-a", "cpu-a"), on("pool-c", "cpu-c")])
    assert time.monotonic() - begun < PICKUP_SECONDS + 60  # never waits past its timeouts
    assert code == 1, output
    assert pack["verdict"] == "not_promoted" and pack["promoted"] is False
    legs = {item["name"]: item for item in pack["legs"]}
    assert legs["cpu-a"]["status"] == "passed" and legs["cpu-a"]["worker"] == "worker-a"
    assert legs["cpu-c"]["failure_code"] == "NO_WORKER"
    assert legs["cpu-c"]["work_pool"] == "pool-c" and legs["cpu-c"]["worker"] is None
    assert pack["approved_digest_after"] == pack["approved_digest_before"]


def test_a_pool_that_does_not_exist_refuses_the_run_before_any_leg(platform, tmp_path) -> None:
    before = leg_runs(platform)
    code, pack, output = matrix(platform, tmp_path, [on("pool-a", "cpu-a"), on("nope", "cpu-x")])
    assert code == 2, output
    assert pack["verdict"] == "error" and pack["legs"] == []
    assert leg_runs(platform) == before  # no leg's flow run was created


def test_work_pool_legs_without_an_api_fail_closed(platform, tmp_path) -> None:
    code, pack, output = matrix(platform, tmp_path, [on("pool-a", "cpu-a")], api=False)
    assert code == 2, output
    assert pack is None  # refused before the flow: nothing ran, nothing written


def test_a_leg_no_worker_starts_fails_no_worker_and_is_cancelled(platform, tmp_path) -> None:
    """The pool's only worker dies after its last heartbeat: the server still lists it online
    (for 3 heartbeat intervals), so the leg is dispatched; nobody starts it in pickup_seconds."""
    worker = start_worker(platform, "pool-d", "worker-d", PREFECT_WORKER_HEARTBEAT_SECONDS="120")
    os.killpg(worker.pid, signal.SIGKILL)  # the host dies: no goodbye to the server
    worker.wait()
    assert "worker-d" in _online(platform.api, "pool-d")  # still counted live by its heartbeat
    spec = on("pool-d", "cpu-d")
    spec["timeouts"]["pickup_seconds"] = 15
    begun = time.monotonic()
    code, pack, output = matrix(platform, tmp_path, [spec])
    assert time.monotonic() - begun < 15 + 90  # the pickup timeout, plus the CLI's own start
    assert code == 1, output
    (cpu,) = pack["legs"]
    assert (cpu["failure_code"], cpu["work_pool"], cpu["worker"]) == ("NO_WORKER", "pool-d", None)
    run = httpx.get(f"{platform.api}/flow_runs/{cpu['leg_flow_run_id']}", timeout=5).json()
    assert run["state_type"] == "CANCELLED"  # never started later, with nobody awaiting it
    assert pack["promoted"] is False

"""``WARDEN_DB=postgres make run``: the same platform on a real PostgreSQL 15 cluster.

The bootstrap makes the cluster under WARDEN_HOME (run as the ``postgres`` user), points the
Prefect server at it, turns basic auth on, starts two workers, deploys everything and runs each
flow's demo deployment to its expected end (the go/no-go demo is left out as in
test_local_platform.py: it reruns the unit suite under coverage). Bad input (a taken port, a
folder the postgres user cannot reach) stops it before anything starts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.loopback import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),  # bringing the platform up is the module fixture's setup
    # make test sets WARDEN_REQUIRE_POSTGRES (and installs it): there, a missing PostgreSQL
    # fails this proof instead of skipping it.
    pytest.mark.skipif(
        not Path("/usr/lib/postgresql/15/bin/pg_ctl").exists()
        and not os.environ.get("WARDEN_REQUIRE_POSTGRES"),
        reason="needs PostgreSQL 15",
    ),
]
BOOTSTRAP = ROOT / "deployments" / "local" / "bootstrap.py"


def _bootstrap(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "WARDEN_HOME": str(home),
        "WARDEN_PORT": str(free_port()),
        "WARDEN_DEMO_LLM_PORT": str(free_port()),
        "WARDEN_DB": "postgres",
        "WARDEN_PG_PORT": str(free_port()),
        "COLUMNS": "250",
        "WARDEN_DEMO_SKIP": "go-no-go-gates/ci",
        **extra,
    }
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "WARDEN_AUTH_FILE"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def reachable_dir():
    """A folder the postgres user can reach (pytest's tmp_path sits under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="warden-pg-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(reachable_dir: Path):
    home = reachable_dir / ".warden"
    env = _env(home, WARDEN_WORKERS="2")
    first = _bootstrap(env, "up")
    try:
        yield {
            "home": home,
            "env": env,
            "up": first,
            "api": f"http://127.0.0.1:{env['WARDEN_PORT']}/api",
        }
    finally:
        _bootstrap(env, "down")


def _pids(home: Path) -> dict[str, int]:
    return {f.stem: int(f.read_text()) for f in (home / "run").glob("*.pid")}


def test_every_demo_completes_on_postgres(platform) -> None:
    up = platform["up"]
    assert up.returncode == 0, up.stdout + up.stderr
    assert "postgres: created and started" in up.stdout
    for demo in (
        "classify-workflows/nightly",
        "gpu-matrix-promotion/local-demo",
        "gpu-matrix-janitor/hourly",
        "lora-deploy/demo",
        "lora-deploy/demo-bad-adapter",
    ):
        assert demo in up.stdout, up.stdout
    assert (platform["home"] / "postgres" / "data" / "PG_VERSION").exists()
    assert not (platform["home"] / "prefect.db").exists()  # the server never touched SQLite
    assert set(_pids(platform["home"])) == {
        "server",
        "worker",
        "worker-2",
        "demo-llm",
        "supervisor",
    }


def test_the_api_refuses_a_request_without_the_credential(platform) -> None:
    url = f"{platform['api']}/deployments/filter"
    assert httpx.post(url, json={}, timeout=10).status_code == 401
    assert httpx.post(url, json={}, auth=("warden", "wrong"), timeout=10).status_code == 401
    user, _, password = (platform["home"] / "auth").read_text().strip().partition(":")
    answer = httpx.post(url, json={}, auth=(user, password), timeout=10)
    assert answer.status_code == 200 and answer.json()
    assert password not in platform["up"].stdout + platform["up"].stderr
    for log in (platform["home"] / "logs").glob("*.log"):
        assert password not in log.read_text(errors="replace"), log


def test_running_it_again_keeps_the_cluster_and_the_asked_worker_count(platform) -> None:
    before = _pids(platform["home"])
    again = _bootstrap({**platform["env"], "WARDEN_WORKERS": "1"}, "up", "--no-demo")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "postgres: already running" in again.stdout
    after = _pids(platform["home"])
    kept = {k: v for k, v in before.items() if k not in {"worker-2", "supervisor"}}
    assert {k: v for k, v in after.items() if k != "supervisor"} == kept
    assert after["supervisor"] != before["supervisor"]  # now the supervisor of one worker
    for gone in (before["worker-2"], before["supervisor"]):
        with pytest.raises(ProcessLookupError):
            os.killpg(gone, 0)


def test_the_server_keeps_its_database_until_stopped(platform) -> None:
    sqlite = _bootstrap({**platform["env"], "WARDEN_DB": "sqlite", "WARDEN_PG_PORT": ""}, "up")
    assert sqlite.returncode == 2, sqlite.stdout + sqlite.stderr
    assert "make stop" in sqlite.stdout


def test_down_stops_every_process_and_the_cluster(platform) -> None:
    pids = _pids(platform["home"])
    down = _bootstrap(platform["env"], "down")
    assert down.returncode == 0
    assert "postgres: stopped" in down.stdout
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not (platform["home"] / "postgres" / "data" / "postmaster.pid").exists()


def test_a_taken_postgres_port_stops_make_run_before_anything_starts(reachable_dir: Path) -> None:
    home = reachable_dir / "taken" / ".warden"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = _env(home, WARDEN_PG_PORT=str(taken.getsockname()[1]))
        refused = _bootstrap(env, "up")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "WARDEN_PG_PORT" in refused.stdout
    assert not (home / "run").exists() and not (home / "postgres").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="root can write anywhere; postgres cannot")
def test_a_home_the_postgres_user_cannot_write_stops_make_run(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    refused = _bootstrap(_env(closed / ".warden"), "up")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "WARDEN_HOME" in refused.stdout
    assert not (closed / ".warden" / "run").exists()

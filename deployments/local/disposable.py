"""A disposable local platform for the chaos drills: make run's own processes (the Prefect
server, the ``warden-process`` pool, its worker supervisor and workers) under another home and
port, so a drill never touches the operator's platform.

Run with ``WARDEN_HOME`` and ``WARDEN_PORT`` set (``tasks/drills/local_platform.py`` does):
``up WORKERS TIMEOUT [DATABASE]`` starts the server, creates the pool, starts the supervisor
(which starts and keeps the workers) and returns once every worker heartbeats; ``down`` stops
what ``up`` started, supervisor first (it would restart the workers being stopped).

``DATABASE`` is ``postgres`` (the default of deployments/drills.yaml) or ``sqlite``. On
PostgreSQL the server's database is a throwaway cluster made by ``WARDEN_DB=postgres make
run``'s own code (postgres.py) on a free loopback port, in a temporary folder the ``postgres``
user can reach (a drill's home may sit under folders closed to it); ``down`` stops the cluster
and deletes the folder. Exit 2: a setting refused before anything started (PostgreSQL missing).
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import processes as proc
from postgres import Cluster

from blocks.errors import WardenError

POOL = "warden-process"
DATABASES = ("postgres", "sqlite")
PG_FOLDER_FILE = proc.RUN_DIR / "postgres.folder"  # where ``up`` made the cluster


def up(workers: int, timeout_sec: float, database: str) -> int:
    deadline = time.monotonic() + timeout_sec
    server_env = _start_database(database)
    proc.start(proc.SERVER, server_env)
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


def _start_database(database: str) -> dict[str, str]:
    """The server's own environment: on PostgreSQL, a fresh cluster's connection URL."""
    if database == "sqlite":
        return {}
    folder = Path(tempfile.mkdtemp(prefix="warden-drill-pg-"))
    folder.chmod(0o755)  # the postgres user must reach its data folder
    proc.RUN_DIR.mkdir(parents=True, exist_ok=True)
    PG_FOLDER_FILE.write_text(str(folder))  # before the cluster: down() finds it whatever happens
    cluster = Cluster(folder, _free_port())
    print(cluster.up(), flush=True)
    return {"PREFECT_API_DATABASE_CONNECTION_URL": cluster.url()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def down() -> int:
    for service in (proc.ANY_SUPERVISOR, *proc.recorded_workers(), proc.SERVER):
        print(proc.stop(service, grace_sec=5.0), flush=True)
    if PG_FOLDER_FILE.exists():
        folder = Path(PG_FOLDER_FILE.read_text().strip())
        try:
            if (folder / "postgres" / "data" / "PG_VERSION").exists():
                print(Cluster(folder, 0).down(), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            PG_FOLDER_FILE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["up"]:
        database = sys.argv[4] if len(sys.argv) > 4 else "postgres"
        if database not in DATABASES:
            print(f"unknown database {database!r}: use one of {', '.join(DATABASES)}")
            sys.exit(2)
        try:
            sys.exit(up(int(sys.argv[2]), float(sys.argv[3]), database))
        except WardenError as exc:  # refused before the server started: say what and the fix
            print(f"{type(exc).__name__}: {exc} ({exc.remediation})", flush=True)
            sys.exit(int(exc.code))
    sys.exit(down())

"""A disposable local platform for the chaos drills: make run's own processes (the Prefect
server, the ``warden-process`` pool, its worker supervisor and workers) under another home and
port, so a drill never touches the operator's platform.

Run with ``WARDEN_HOME`` and ``WARDEN_PORT`` set (``tasks/drills/local_platform.py`` does):
``up WORKERS TIMEOUT DATABASE MESSAGING WORKER_LIMIT`` starts the server, creates the pool,
starts the supervisor (which starts and keeps the workers, each running at most WORKER_LIMIT
flow runs at once) and returns once every worker heartbeats;
``down`` stops what ``up`` started, supervisor first (it would restart the workers being
stopped).

``DATABASE`` is ``postgres`` (the default of deployments/drills.yaml) or ``sqlite``. On
PostgreSQL the server's database is a throwaway cluster made by ``WARDEN_DB=postgres make
run``'s own code (postgres.py) on a free loopback port, in a temporary folder the ``postgres``
user can reach (a drill's home may sit under folders closed to it); ``down`` stops the cluster
and deletes the folder.

``MESSAGING`` is ``redis`` (the default of deployments/drills.yaml) or ``memory``. With
``redis`` the server's event bus is Prefect's Redis messaging (prefect-redis: a Redis stream
per topic, read by consumer groups) on a ``redis-server`` of its own, loopback only, nothing
saved to disk; ``memory`` is Prefect's in-process bus, whose queues hold 10,000 messages and
drop what a slow consumer has not taken.

On PostgreSQL with Redis the server runs in Prefect's scaled self-hosted layout: the API
(``--no-services``) and its background services (``prefect server services start``) as two
processes, Redis also holding causal ordering, concurrency leases and the services' Docket
queue. Under a flood the services mark thousands of runs Late and persist their events; in one
process that work took the core the API serves the workers from.

Exit 2: a setting refused before anything started (PostgreSQL or redis-server missing, or a
bad argument).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import processes as proc
from postgres import Cluster

from blocks.errors import ConfigError, WardenError
from tasks.platform.processes import free_port

POOL = "warden-process"
DATABASES = ("postgres", "sqlite")
MESSAGING = ("redis", "memory")
PG_FOLDER_FILE = proc.RUN_DIR / "postgres.folder"  # where ``up`` made the cluster
REDIS_SERVER = Path(os.environ.get("WARDEN_REDIS_SERVER", "/usr/bin/redis-server"))
REDIS_START_SEC = 30.0


def up(workers: int, timeout_sec: float, database: str, messaging: str, limit: int) -> int:
    os.environ[proc.WORKER_LIMIT_ENV] = str(limit)  # the supervisor starts the workers with it
    deadline = time.monotonic() + timeout_sec
    if messaging == "redis" and not REDIS_SERVER.exists():  # before anything starts
        raise ConfigError(
            f"redis-server is not at {REDIS_SERVER}",
            remediation="apt-get install redis-server (or set WARDEN_REDIS_SERVER to it), or "
            "set platform.messaging: memory in deployments/drills.yaml",
        )
    server_env = _start_database(database) | _start_messaging(messaging)
    split = database == "postgres" and messaging == "redis"  # what Prefect's layout needs
    proc.start(API_ONLY if split else proc.SERVER, server_env)
    proc.wait_healthy(timeout_sec)  # the API has migrated the database: the services may start
    if split:
        proc.start(SERVICES, server_env)
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
    cluster = Cluster(folder, free_port())
    print(cluster.up(), flush=True)
    return {"PREFECT_API_DATABASE_CONNECTION_URL": cluster.url()}


def redis_service(port: int) -> proc.Service:
    argv = [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(proc.RUN_DIR)]  # fmt: skip
    return proc.Service("redis", argv, marker=b"redis-server")


ANY_REDIS = proc.Service("redis", [], marker=b"redis-server")
API_ONLY = proc.Service(proc.SERVER.name, [*proc.SERVER.argv, "--no-services"])
SERVICES = proc.Service("services", ["prefect", "server", "services", "start"])


def _start_messaging(messaging: str) -> dict[str, str]:
    """The server's event bus settings: on Redis, a fresh ``redis-server`` of its own."""
    if messaging == "memory":
        return {}
    port = free_port()
    redis = redis_service(port)
    proc.start(redis)
    deadline = time.monotonic() + REDIS_START_SEC
    while not _answers(port):  # (its pid file may name the process before its exec)
        if time.monotonic() > deadline:
            tail = redis.log_file.read_text(errors="replace")[-2000:]
            raise SystemExit(f"redis-server did not start on 127.0.0.1:{port}:\n{tail}")
        time.sleep(0.1)
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_REDIS_MESSAGING_URL": f"redis://127.0.0.1:{port}/0",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_SERVER_DOCKET_URL": f"redis://127.0.0.1:{port}/1",
    }


def _answers(port: int) -> bool:
    """Whether a Redis server answers PING on ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def down() -> int:
    for service in (
        proc.ANY_SUPERVISOR,
        *proc.recorded_workers(),
        SERVICES,
        proc.SERVER,
        ANY_REDIS,
    ):
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
        try:
            workers, timeout, database, messaging, limit = sys.argv[2:]
            if database not in DATABASES or messaging not in MESSAGING or int(limit) < 1:
                raise ValueError(database, messaging, limit)
        except ValueError:
            print(f"usage: up WORKERS TIMEOUT_SEC DATABASE MESSAGING WORKER_LIMIT, with DATABASE "
                  f"one of {', '.join(DATABASES)}, MESSAGING one of {', '.join(MESSAGING)} and "
                  f"WORKER_LIMIT at least 1; got {sys.argv[2:]}")  # fmt: skip
            sys.exit(2)
        try:
            sys.exit(up(int(workers), float(timeout), database, messaging, int(limit)))
        except WardenError as exc:  # refused before the server started: say what and the fix
            print(f"{type(exc).__name__}: {exc} ({exc.remediation})", flush=True)
            sys.exit(int(exc.code))
    sys.exit(down())

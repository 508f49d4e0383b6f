"""The session's Prefect test harness: Prefect's own ``prefect_test_harness`` (a temporary API
server in a subprocess) on a throwaway PostgreSQL cluster instead of SQLite.

Why not SQLite: under the harness's SQLite the server stalled 60 s at a time, 0 to 3 times a
run (measured: a flow test's state write, artifact or final state waited out SQLite's 60 s
busy timeout behind another writer of the same server), which made a quarter of the suite's
wall time unpredictable. PostgreSQL has no database-wide write lock. The cluster is Debian's
PostgreSQL 15 (``make test`` installs it), made by the same code as ``WARDEN_DB=postgres make
run`` (deployments/local/postgres.py), one per pytest worker, on a free loopback port, deleted
at the end. Without PostgreSQL (a bare checkout running a single test file) it falls back to
Prefect's SQLite harness.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "deployments" / "local"
STARTUP_TIMEOUT_SEC = 120
DRAIN_TIMEOUT_SEC = 30.0


def _load(name: str) -> ModuleType:
    """deployments/local's modules import each other by bare name, as the bootstrap runs them."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, LOCAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _postgres() -> ModuleType:
    _load("fleet")  # postgres.py imports it by bare name
    return _load("postgres")


def postgres_available() -> bool:
    return (_postgres().PG_BIN / "pg_ctl").exists()


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a folder the ``postgres`` user can reach; yields its URL."""
    from tests.loopback import free_port

    postgres = _postgres()
    folder = Path(tempfile.mkdtemp(prefix="warden-harness-pg-"))
    folder.chmod(0o755)  # pytest's tmp folders are closed to the postgres user
    cluster = postgres.Cluster(folder, free_port())
    try:
        cluster.up()
        yield cluster.url()
    finally:
        try:
            cluster.down()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def drain_prefect_workers() -> None:
    """Deliver, then stop, Prefect's process-wide log and event workers (before the server they
    send to goes away, or before this process points at another one)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with suppress(RuntimeError):  # never started in this process
        APILogWorker.drain_all(timeout=DRAIN_TIMEOUT_SEC)
    EventsWorker.drain_all(timeout=DRAIN_TIMEOUT_SEC)


@contextmanager
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness, its database on PostgreSQL when it is installed."""
    if not postgres_available():
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT_SEC):
            yield
        return
    with throwaway_postgres() as url, _harness_on(url):
        yield


@contextmanager
def _harness_on(database_url: str) -> Iterator[None]:
    """``prefect.testing.utilities.prefect_test_harness`` with ``database_url`` for its
    hard-wired SQLite file: a subprocess API server on a free port, this process pointed at it,
    Prefect's log and event workers drained before it stops."""
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )

    from tests.loopback import free_port

    with ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(
            temporary_settings(updates={PREFECT_SERVER_DATABASE_CONNECTION_URL: database_url})
        )
        server = SubprocessASGIServer(port=free_port())
        prior = SubprocessASGIServer._instances.get(None)
        SubprocessASGIServer._instances[None] = server  # what flow code asks for finds this one
        server.start(timeout=STARTUP_TIMEOUT_SEC)
        try:
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: server.api_url}))
            stack.enter_context(_temporary_global_settings_context(get_settings_context()))
            yield
            drain_prefect_workers()
        finally:
            server.stop()
            if prior is not None:
                SubprocessASGIServer._instances[None] = prior
            else:
                SubprocessASGIServer._instances.pop(None, None)

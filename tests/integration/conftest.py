"""A real local Prefect platform for integration tests: ``prefect server start`` on a free
loopback port with its own PREFECT_HOME and SQLite database, and real process workers that a
test starts and stops. Everything it starts is killed by process group at teardown."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.platform.processes import kill_process_group
from tests.harness import drain_prefect_workers
from tests.loopback import free_port

BIN = Path(sys.executable).parent
T = TypeVar("T")


@contextmanager
def using_api(url: str) -> Iterator[None]:
    """Point this process's Prefect client at ``url``, events and logs included.

    Prefect's log and event workers are process-wide, and the event worker for a running server
    is one instance whatever the API URL: made under the flow harness (another test in this
    pytest worker), it would send this test's events to the harness's server. So they are
    drained (delivered, then stopped) on the way in, and again on the way out while ``url``'s
    server still runs: one left holding messages for a stopped server made the harness's own
    drain at session end wait forever."""
    drain_prefect_workers()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        try:
            yield
        finally:
            drain_prefect_workers()


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)  # polling a condition, bounded by the deadline above


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra


@dataclass
class LocalPrefect:
    """A running server; ``start_worker`` adds real process workers to it."""

    url: str
    home: Path
    server: subprocess.Popen
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(PREFECT_API_URL=self.url, PREFECT_HOME=str(self.home / "client"), **extra)

    def start_worker(self, pool: str, name: str, heartbeat_sec: float = 2.0) -> None:
        """``prefect worker start --pool POOL --type process``; returns once it heartbeats."""
        self.start_workers((pool, name), heartbeat_sec=heartbeat_sec)

    def start_workers(self, *workers: tuple[str, str], heartbeat_sec: float = 2.0) -> None:
        """Start each (pool, name) worker at once; return when every one heartbeats."""
        for pool, name in workers:
            log = (self.home / f"worker-{name}.log").open("wb")
            self.logs.append(log)
            self.workers[name] = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "process"]
                + ["--name", name],
                env=self.env(
                    PREFECT_WORKER_HEARTBEAT_SECONDS=str(heartbeat_sec),
                    PREFECT_WORKER_QUERY_SECONDS="2",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for pool, name in workers:
            seen = functools.partial(self._worker_seen, pool, name)
            wait_for(seen, 90, f"worker {name} in pool {pool}")

    def kill_worker(self, name: str) -> None:
        """SIGKILL: the worker stops without a goodbye, as a crashed host's would."""
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def _worker_seen(self, pool: str, name: str) -> bool:
        process = self.workers[name]
        assert process.poll() is None, (self.home / f"worker-{name}.log").read_text()
        try:
            reply = httpx.post(f"{self.url}/work_pools/{pool}/workers/filter", json={}, timeout=10)
        except httpx.TimeoutException:  # a loaded server (SQLite locked): not seen yet, ask again
            return False
        return reply.status_code == 200 and any(w["name"] == name for w in reply.json())

    def worker_log(self, name: str) -> str:
        """A worker's state and the tail of its log, for an assertion's message."""
        process = self.workers.get(name)
        alive = process is not None and process.poll() is None
        log = (self.home / f"worker-{name}.log").read_text(errors="replace")
        return f"worker {name} alive={alive}; log tail:\n{log[-3000:]}"

    def stop(self) -> None:
        for process in self.workers.values():
            kill_process_group(process)
        kill_process_group(self.server)
        for log in self.logs:
            log.close()


def start_prefect(home: Path) -> LocalPrefect:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
    )
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    platform = LocalPrefect(
        url=f"http://127.0.0.1:{port}/api", home=home, server=server, logs=[log]
    )
    try:
        wait_for(lambda: _up(platform), 120, "the Prefect server to become healthy")
    except BaseException:
        platform.stop()
        raise
    return platform


def _up(platform: LocalPrefect) -> bool:
    assert platform.server.poll() is None, (platform.home / "server.log").read_text()
    return healthy(platform.url)


@pytest.fixture(scope="module")
def local_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefect]:
    """One server per test module (its own database: modules do not see each other's runs)."""
    platform = start_prefect(tmp_path_factory.mktemp("prefect-server"))
    try:
        yield platform
    finally:
        platform.stop()

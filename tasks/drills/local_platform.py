"""The disposable platform a drill starts for itself: ``deployments/local/disposable.py`` (make
run's server, pool, supervisor and workers) on a free loopback port, with its own home under
``$WARDEN_HOME/drills/platforms/``, its server on a throwaway PostgreSQL cluster (or SQLite) and
Prefect's Redis messaging (or the in-memory bus), as deployments/drills.yaml's ``platform:``
says; stopped afterwards, whatever happened."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from blocks.drills import PlatformSettings
from blocks.errors import BackendUnavailable, ConfigError
from tasks.platform.processes import free_port, process_started, run_command

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deployments" / "local" / "disposable.py"
# Drill workers look for runs every 2 s and heartbeat every 5 s (make run's: 10 s, 30 s): a
# drill measures the platform's recovery, not the polling interval. Faster than this, the
# embedded SQLite server spends a loaded 2-core machine on its workers' writes.
WORKER_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5"}


@dataclass(frozen=True)
class LocalPlatform:
    api_url: str
    home: Path
    port: int

    def env(self) -> dict[str, str]:
        """Environment of the platform's processes (and of ``down``)."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return (
            keep
            | WORKER_ENV
            | {
                "WARDEN_HOME": str(self.home),
                "WARDEN_PORT": str(self.port),
                "PYTHONPATH": str(ROOT),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
        )


def start_platform(home: Path, workers: int, settings: PlatformSettings) -> LocalPlatform:
    """Server (on ``settings.database``, its event bus ``settings.messaging``) + pool +
    supervisor with ``workers`` workers (each running at most ``settings.worker_limit`` runs at
    once), all heartbeating within ``settings.start_timeout_sec``.

    Raises :class:`ConfigError` when the database or the bus cannot be had (PostgreSQL or
    redis-server not installed) and :class:`BackendUnavailable` when the platform does not
    come up; either way it is stopped again and nothing of it is left running."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    platform = LocalPlatform(api_url=f"http://127.0.0.1:{port}/api", home=home, port=port)
    timeout_sec = settings.start_timeout_sec
    args = ["up", str(workers), str(timeout_sec), settings.database.value,
            settings.messaging.value, str(settings.worker_limit)]  # fmt: skip
    done = _script(platform, args, timeout_sec + 90)  # + the cluster's own start limit
    if done.exit_code == 2:
        stop_platform(platform)
        raise ConfigError(
            f"the drill's disposable platform was refused: {done.output.strip()[-1000:]}",
            remediation="Install what it names (apt-get install postgresql-15 redis-server), "
            "or set platform.database: sqlite / platform.messaging: memory in "
            "deployments/drills.yaml.",
        )
    if done.exit_code != 0:
        stop_platform(platform)
        raise BackendUnavailable(
            f"the drill's disposable platform did not start: {done.output[-2000:]}",
            remediation=f"Read the logs under {home / 'logs'}; is the machine short of memory?",
        )
    return platform


def stop_platform(platform: LocalPlatform) -> str:
    """Stop the supervisor, the workers and the server (by their pid files)."""
    return _script(platform, ["down"], 120).output


def _script(platform: LocalPlatform, args: list[str], timeout_sec: float):
    return run_command(
        [sys.executable, str(SCRIPT), *args],
        timeout_sec=timeout_sec,
        cwd=ROOT,
        env=platform.env(),
    )


def worker_pids(home: Path) -> dict[str, int]:
    """The platform's live workers by service name, from its pid files (make run's layout)."""
    found = {}
    for pid_file in sorted((home / "run").glob("worker*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if process_started(pid) is not None:  # alive, not a zombie
            found[pid_file.stem] = pid
    return found

"""Start and stop the local platform's processes (Prefect server, worker) by pid file.

Each process is started in its own session, so stopping it stops its whole process group —
exactly what we started, nothing else. A pid file whose process is gone, or is no longer a
Prefect process, is removed without killing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tasks.platform.processes import start_group, stop_group

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("WARDEN_HOME") or ROOT / ".warden").resolve()
RUN_DIR = HOME / "run"
LOG_DIR = HOME / "logs"
HOST, PORT = "127.0.0.1", int(os.environ.get("WARDEN_PORT", "4200"))
DEMO_LLM_PORT = int(os.environ.get("WARDEN_DEMO_LLM_PORT", "8766"))
API_URL = f"http://{HOST}:{PORT}/api"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    marker: bytes = b"prefect"  # in the command line of a live process that is ours

    @property
    def pid_file(self) -> Path:
        return RUN_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


def platform_env(auth_string: str | None = None) -> dict[str, str]:
    """The environment of the server, the worker and every command bootstrap runs.

    With ``auth_string`` (``user:password``) every client authenticates with basic auth. The
    server's own database URL and auth string are added to its environment only (``start``).
    """
    venv_bin = str(Path(sys.executable).parent)
    auth = {"PREFECT_API_AUTH_STRING": auth_string} if auth_string else {}
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(HOME / "prefect"),
        "PREFECT_API_URL": API_URL,
        "PREFECT_SERVER_API_HOST": HOST,
        "PREFECT_SERVER_API_PORT": str(PORT),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{HOME / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "WARDEN_HOME": str(HOME),
        "WARDEN_ROOT": str(ROOT),
        "WARDEN_RESULT_STORAGE": "local-file-system/warden-results",
        "WARDEN_DEMO_LLM_PORT": str(DEMO_LLM_PORT),
        **auth,
    }


SERVER = Service("server", ["prefect", "server", "start", "--host", HOST, "--port", str(PORT)])


# At most this many runs in flight per worker (fleet.py checks it): a process worker with no
# limit claims every due run a poll returns (up to 200) and submits them all at once.
WORKER_LIMIT_ENV = "WARDEN_WORKER_LIMIT"


def worker(number: int) -> Service:
    """The ``number``-th local worker (1-based) of the process pool; the first is ``worker``.
    With ``WARDEN_WORKER_LIMIT`` set, it runs at most that many flow runs at once."""
    suffix = "" if number == 1 else f"-{number}"
    limit = os.environ.get(WORKER_LIMIT_ENV, "").strip()
    return Service(
        f"worker{suffix}",
        [
            "prefect", "worker", "start", "--pool", "warden-process",
            "--name", f"warden-local-worker{suffix}", *(["--limit", limit] if limit else []),
        ],
    )  # fmt: skip


WORKER = worker(1)


def recorded_workers() -> list[Service]:
    """Every worker with a pid file, whatever WARDEN_WORKERS was when it started."""
    numbers = []
    for pid_file in RUN_DIR.glob("worker*.pid"):
        tail = pid_file.stem.removeprefix("worker").removeprefix("-")
        if tail == "" or tail.isdigit():
            numbers.append(int(tail or 1))
    return [worker(number) for number in sorted(numbers)]


def supervisor(workers: int) -> Service:
    """make run's worker supervisor for ``workers`` workers (its marker names the count, so a
    supervisor of another count is not taken for this one)."""
    script = ROOT / "deployments" / "local" / "supervisor.py"
    return Service(
        "supervisor",
        [sys.executable, str(script), "--workers", str(workers)],
        marker=f"supervisor.py --workers {workers} ".encode(),
    )


ANY_SUPERVISOR = Service("supervisor", [], marker=b"supervisor.py")


# DEMO FIXTURE: the OpenAI-compatible server the LoRA gauntlet demo deploys to and asks.
DEMO_LLM = Service(
    "demo-llm",
    [
        sys.executable,
        str(ROOT / "deployments" / "local" / "demo_llm.py"),
        "--port",
        str(DEMO_LLM_PORT),
        "--registry",
        str(HOME / "lora" / "demo"),
        "--dataset",
        str(ROOT / "deployments" / "lora" / "gauntlet.jsonl"),
    ],
    marker=b"demo_llm",
)


def running_pid(service: Service) -> int | None:
    """The pid recorded for ``service`` if that process is alive and still ours."""
    try:
        pid = int(service.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return None
    return pid if service.marker in cmdline else None


def start(service: Service, extra_env: dict[str, str] | None = None) -> tuple[int, bool]:
    """Start ``service`` unless it already runs; return (pid, started_now).

    ``extra_env`` goes to this service alone (the server's database URL and auth string).
    """
    pid = running_pid(service)
    if pid:
        return pid, False
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with service.log_file.open("ab") as log:
        process = start_group(
            service.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**platform_env(), **(extra_env or {})},
        )
    service.pid_file.write_text(str(process.pid))
    return process.pid, True


def stop(service: Service, grace_sec: float = 15.0) -> str:
    """Stop the process group recorded in the pid file; say what happened."""
    pid = running_pid(service)
    service.pid_file.unlink(missing_ok=True)
    if pid is None:
        return f"{service.name}: not running"
    if stop_group(pid, grace_sec):
        return f"{service.name}: killed (pid {pid}) after {grace_sec:.0f}s"
    return f"{service.name}: stopped (pid {pid})"


def wait_healthy(timeout_sec: float = 90.0) -> float:
    """Wait for the API's health endpoint; return seconds waited or raise with the log's tail."""
    return wait_http(f"{API_URL}/health", SERVER, timeout_sec)


def wait_http(url: str, service: Service, timeout_sec: float = 90.0) -> float:
    """Wait until ``url`` answers 200 while ``service`` runs; raise with its log's tail."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_sec:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if running_pid(service) is None:
            break
        time.sleep(0.5)
    log = service.log_file
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(
        f"{service.name} did not answer at {url} within {timeout_sec:.0f}s. "
        f"Is its port used by another program? Log {log}:\n{tail}"
    )

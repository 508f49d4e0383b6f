"""``make run``'s process manager: a service is started once, found by pid file, stopped whole.

``make stop`` runs in a later process than ``make run``, so it holds no child handle: the tests
reap the service in a thread, as init does for ``make stop``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

MARKER = b"warden-test-service"
SERVE = f"import time  # {MARKER.decode()}\nprint('ready', flush=True)\ntime.sleep(30)\n"
IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SERVE


@pytest.fixture
def processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """deployments/local/processes.py with its home (pid files, logs) under ``tmp_path``."""
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    spec = importlib.util.spec_from_file_location(
        "local_processes", ROOT / "deployments/local/processes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def _started(processes: ModuleType, code: str) -> tuple[object, int, list[int]]:
    """Start a service running ``code``; wait until it says ready; reap it when it exits."""
    service = processes.Service("svc", [sys.executable, "-c", code], marker=MARKER)
    pid, started_now = processes.start(service)
    deadline = time.monotonic() + 20
    while b"ready" not in service.log_file.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    # Only now: /proc/<pid>/cmdline can read empty for a moment right after the exec.
    assert started_now and processes.running_pid(service) == pid
    statuses: list[int] = []
    threading.Thread(target=lambda: statuses.append(os.waitpid(pid, 0)[1]), daemon=True).start()
    return service, pid, statuses


def _signal_that_ended(statuses: list[int]) -> int:
    deadline = time.monotonic() + 10
    while not statuses and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses and os.WIFSIGNALED(statuses[0])
    return os.WTERMSIG(statuses[0])


def test_a_service_starts_once_and_stops_on_sigterm(processes: ModuleType) -> None:
    service, pid, statuses = _started(processes, SERVE)
    assert processes.start(service) == (pid, False)  # a running service is reused
    assert processes.stop(service) == f"svc: stopped (pid {pid})"
    assert _signal_that_ended(statuses) == signal.SIGTERM
    assert not service.pid_file.exists()
    assert processes.stop(service) == "svc: not running"


def test_a_service_that_ignores_sigterm_is_killed_after_the_grace(processes: ModuleType) -> None:
    service, pid, statuses = _started(processes, IGNORE_TERM)
    assert processes.stop(service, grace_sec=1) == f"svc: killed (pid {pid}) after 1s"
    assert _signal_that_ended(statuses) == signal.SIGKILL


def test_a_pid_file_of_a_process_that_is_not_ours_kills_nothing(processes: ModuleType) -> None:
    service = processes.Service("svc", ["unused"], marker=MARKER)
    service.pid_file.parent.mkdir(parents=True)
    service.pid_file.write_text(str(os.getpid()))  # this test's own process: no marker
    assert processes.stop(service) == "svc: not running"
    assert not service.pid_file.exists()

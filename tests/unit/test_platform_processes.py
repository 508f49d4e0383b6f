"""The one process-group runner: start a group, run to a hard timeout, stop or kill the group."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks.platform import processes
from tasks.platform.processes import (
    group_alive,
    run_command,
    start_group,
    stop_group,
    why_not_started,
)

PY = sys.executable
IGNORE_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)
EXIT_ON_TERM = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n"


def test_missing_program_is_a_clear_error_not_an_exception(tmp_path: Path) -> None:
    run = run_command(["no-such-program-abc"], timeout_sec=5, cwd=tmp_path, env={})
    assert run.error == "command not found: no-such-program-abc"
    assert run.exit_code is None and not run.timed_out


def test_non_executable_file_is_a_permission_error(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    run = run_command([str(script)], timeout_sec=5, cwd=tmp_path, env={})
    assert run.error_kind == "exec_error"
    assert "permission denied" in (run.error or "")


def test_output_keeps_the_last_characters(tmp_path: Path) -> None:
    code = "print('a' * 5000 + 'THE-END')"
    run = run_command([PY, "-c", code], timeout_sec=10, cwd=tmp_path, env={}, output_limit=100)
    assert len(run.output) == 100
    assert run.output.rstrip().endswith("THE-END")


def test_child_holding_the_pipe_after_parent_exits_does_not_hang(tmp_path: Path) -> None:
    code = "import subprocess; subprocess.Popen(['sleep', '30']); print('parent done')"
    started = time.monotonic()
    run = run_command([PY, "-c", code], timeout_sec=1, cwd=tmp_path, env={})
    assert time.monotonic() - started < 10
    assert run.timed_out and run.exit_code == 0
    assert "parent done" in run.output


def test_term_ignoring_process_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring', flush=True)\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    run = run_command([PY, "-c", code], timeout_sec=1, cwd=tmp_path, env={})
    assert time.monotonic() - started < 10
    assert run.timed_out
    assert run.exit_code == -signal.SIGKILL
    assert "ignoring" in run.output


# fmt: off
START_FAILURES = [
    pytest.param(FileNotFoundError(errno.ENOENT, "No such file or directory"), "not_found",
                 id="not-found"),
    pytest.param(PermissionError(errno.EACCES, "Permission denied"), "exec_error",
                 id="permission"),
    pytest.param(OSError(errno.ENOEXEC, "Exec format error"), "exec_error", id="other-os-error"),
]
# fmt: on


@pytest.mark.parametrize(("exc", "kind"), START_FAILURES)
def test_why_not_started_names_the_kind_and_the_program(exc: OSError, kind: str) -> None:
    got_kind, message = why_not_started("the-tool", exc)
    assert got_kind == kind
    assert "the-tool" in message


def test_start_group_makes_the_program_lead_its_own_group_with_stdin_closed() -> None:
    code = "import os, sys; print(os.getpgid(0), repr(sys.stdin.read()), flush=True)"
    proc = start_group([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=20)
    assert out.decode().split() == [str(proc.pid), "''"]
    assert os.getpgid(0) != proc.pid


def _start_unowned(code: str) -> subprocess.Popen[bytes]:
    """A group as ``make stop`` meets it: started earlier, reaped by someone else once it exits."""
    proc = start_group([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    threading.Thread(target=proc.wait, daemon=True).start()  # the reaper stop_group cannot be
    return proc


def _wait_gone(pgid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not group_alive(pgid)


def test_stop_group_stops_a_group_that_exits_on_sigterm_without_killing() -> None:
    proc = _start_unowned(EXIT_ON_TERM)
    assert stop_group(proc.pid, grace_sec=20) is False
    assert not group_alive(proc.pid)
    assert proc.wait(timeout=10) == -signal.SIGTERM


def test_stop_group_kills_a_group_that_ignores_sigterm_after_the_grace() -> None:
    proc = _start_unowned(IGNORE_TERM)
    started = time.monotonic()
    assert stop_group(proc.pid, grace_sec=0.5) is True
    assert time.monotonic() - started >= 0.5
    assert _wait_gone(proc.pid)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_stop_group_of_a_group_that_is_gone_is_not_an_error() -> None:
    proc = start_group([PY, "-c", "pass"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.wait(timeout=20)
    assert not group_alive(proc.pid)
    assert stop_group(proc.pid, grace_sec=5) is False


def test_a_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    # Outgoing connections get their local ports from the ephemeral range: a port handed out
    # there could be taken by a client before the server binds it.
    below = processes.ephemeral_start()
    ports = {processes.free_port() for _ in range(20)}
    assert all(processes.PORTS_FROM <= port < below for port in ports)
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports.pop()))

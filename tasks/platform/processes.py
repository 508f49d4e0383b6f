"""Start a program as the leader of its own process group, run it to a hard timeout, kill the group.

A program may start children that outlive it and keep its output pipe open; it runs in its own
session, so killing its process group kills every process it started, and we never hang on a
pipe that someone else holds. Gates, workflow checkers, the LoRA gauntlet's command targets and
``make run``'s process manager all start and stop processes through this module.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict

from tasks.platform.clock import utc_now

TERM_GRACE_SEC = 1.0  # between SIGTERM and SIGKILL of the process group
DRAIN_SEC = 2.0  # how long to read what is left in the pipe after the kill
STOP_POLL_SEC = 0.2  # how often stop_group looks whether the group is gone

ErrorKind = Literal["not_found", "exec_error"]


class CommandRun(BaseModel):
    """What one command run produced; ``error`` is set when it could not be started at all."""

    model_config = ConfigDict(frozen=True)

    argv: list[str]
    exit_code: int | None
    output: str
    timed_out: bool
    duration_sec: float
    error: str | None = None
    error_kind: ErrorKind | None = None


def run_command(
    argv: list[str],
    *,
    timeout_sec: float,
    cwd: Path | None,
    env: dict[str, str],
    output_limit: int = 64_000,
) -> CommandRun:
    """Run ``argv`` with stdout and stderr merged; never raises for a command that cannot run.

    ``env`` is layered over ``os.environ``; at ``timeout_sec`` the whole process group is killed.
    """
    started = time.monotonic()
    proc = _start(argv, cwd, {**os.environ, **env} if env else None)
    if isinstance(proc, tuple):
        kind, message = proc
        return CommandRun(
            argv=argv,
            exit_code=None,
            output="",
            timed_out=False,
            duration_sec=time.monotonic() - started,
            error=message,
            error_kind=kind,
        )
    raw, timed_out = _collect(proc, timeout_sec)
    text = raw.decode("utf-8", errors="replace")
    return CommandRun(
        argv=argv,
        exit_code=proc.returncode,
        output=text[-output_limit:] if output_limit > 0 else "",
        timed_out=timed_out,
        duration_sec=time.monotonic() - started,
    )


def start_group(
    argv: list[str],
    *,
    stdout: int | IO[Any],
    stderr: int | IO[Any],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (no shell, stdin closed) as the leader of a new process group.

    Its pid is its process group id, which is what ``kill_process_group`` and ``stop_group``
    signal; raises ``OSError`` when it cannot start (``why_not_started`` says why in words).
    """
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=env,
        start_new_session=True,  # children inherit the group, so one kill reaches them all
    )


def why_not_started(program: str, exc: OSError) -> tuple[ErrorKind, str]:
    """The kind and sentence for a program the OS refused to start."""
    if isinstance(exc, FileNotFoundError):
        return "not_found", f"command not found: {program}"
    if isinstance(exc, PermissionError):
        return "exec_error", f"permission denied running {program} (is it executable?)"
    return "exec_error", f"cannot run {program}: {exc.strerror or exc}"


def _start(
    argv: list[str], cwd: Path | None, env: dict[str, str] | None
) -> subprocess.Popen[bytes] | tuple[ErrorKind, str]:
    """Start the command in its own session, or say why it cannot start."""
    if not argv or not argv[0]:
        return ("exec_error", "empty command: argv needs at least the program to run")
    if cwd is not None and not cwd.is_dir():  # Popen would blame the program instead
        return ("exec_error", f"working directory not found: {cwd}")
    try:
        return start_group(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    except OSError as exc:
        return why_not_started(argv[0], exc)


def _collect(proc: subprocess.Popen[bytes], timeout_sec: float) -> tuple[bytes, bool]:
    """Read all output until exit or timeout; on timeout kill the group and read what is left."""
    try:
        out, _ = proc.communicate(timeout=timeout_sec)
        return out or b"", False
    except subprocess.TimeoutExpired as exc:
        partial = exc.output or b""
    kill_process_group(proc)
    try:
        out, _ = proc.communicate(timeout=DRAIN_SEC)
        return out or partial, True
    except subprocess.TimeoutExpired as exc:
        # A process outside the group still holds the pipe: stop reading, keep what we have.
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()
        return exc.output or partial, True


def kill_process_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the group our child leads, give it a grace period, SIGKILL what is left, reap it.

    ``proc`` must have been started in its own session (``start_group``): its pid is the group's.
    """
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_SEC)
    # Children may ignore SIGTERM or outlive their leader: always finish with SIGKILL.
    signal_group(pgid, signal.SIGKILL)
    proc.wait()


KILLED_GONE_SEC = 10.0  # a SIGKILLed member is gone once its parent (init) reaps it


def stop_group(pgid: int, grace_sec: float) -> bool:
    """Stop a group we hold no child handle for (started by an earlier process); True if killed.

    SIGTERM, then wait up to ``grace_sec`` for every member to exit; SIGKILL what is left and
    wait (up to ``KILLED_GONE_SEC``) until the kernel has removed it, so a caller that returns
    leaves no member behind. A group we may not signal (another user's) raises
    ``PermissionError``: it is not ours to stop.
    """
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_sec
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(STOP_POLL_SEC)
    if not group_alive(pgid):
        return False
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILLED_GONE_SEC
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(STOP_POLL_SEC)
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the group (a zombie not yet reaped counts).

    ``PermissionError`` (the group is another user's) propagates: we cannot tell, so we do not.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group; a group that is gone already is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def process_started(pid: int) -> datetime | None:
    """When the live process ``pid`` started (from /proc, any user's); None when it is gone or
    a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    if stat[0] == "Z":
        return None
    ago = uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in ticks
    return utc_now() - timedelta(seconds=ago)


# Ports handed out below the kernel's ephemeral range: a port the kernel picks for ``bind(0)``
# comes from the same range it gives every outgoing connection its local port from, so under
# load (a flood's thousands of connections) a client could take it before the server binds it:
# CI saw "Port … is already in use" from a test's Prefect server.
PORTS_FROM = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (outgoing connections' local ports)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default range starts here


def free_port() -> int:
    """A loopback port nothing listens on right now (bound, then released): a closed port for
    connection-refused tests, or a port for a server started later. Picked at random below the
    ephemeral range, where no outgoing connection is given a port."""
    below = ephemeral_start()
    for _ in range(200):
        port = random.randrange(PORTS_FROM, below)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # taken: try another
                continue
            return port
    with socket.socket() as probe:  # the low range is full: let the kernel pick
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

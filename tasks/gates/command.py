"""Run a command gate: one argv, no shell, a hard timeout that kills the whole process group.

A gate command may start children that outlive it and keep its output pipe open; the command
runs in its own session so a timeout can kill every process it started, and we never hang on
a pipe that someone else holds.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from blocks.gates import CommandGate
from tasks.gates.models import Outcome

TERM_GRACE_SEC = 1.0  # between SIGTERM and SIGKILL of the process group
DRAIN_SEC = 2.0  # how long to read what is left in the pipe after the kill
OUTPUT_TAIL_CHARS = 2_000  # output kept in a gate's details

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
    """Run ``argv`` with stdout and stderr merged; never raises for a command that cannot run."""
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


def _start(
    argv: list[str], cwd: Path | None, env: dict[str, str] | None
) -> subprocess.Popen[bytes] | tuple[ErrorKind, str]:
    """Start the command in its own session, or say why it cannot start."""
    if not argv or not argv[0]:
        return ("exec_error", "empty command: argv needs at least the program to run")
    if cwd is not None and not cwd.is_dir():  # Popen would blame the program instead
        return ("exec_error", f"working directory not found: {cwd}")
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        return ("not_found", f"command not found: {argv[0]}")
    except PermissionError:
        return ("exec_error", f"permission denied running {argv[0]} (is it executable?)")
    except OSError as exc:
        return ("exec_error", f"cannot run {argv[0]}: {exc.strerror or exc}")


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


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, give it a grace period, then SIGKILL what is left."""
    pgid = proc.pid  # start_new_session=True: the command leads its own group
    _signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_SEC)
    # Children may ignore SIGTERM or outlive their leader: always finish with SIGKILL.
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)


def evaluate_command(gate: CommandGate, base_dir: Path, env: dict[str, str]) -> Outcome:
    """Run a command gate and judge exit code, expected output and metric; never raises.

    ``env`` (the profile's) is layered under the gate's own ``env``; both over ``os.environ``.
    """
    cwd = (base_dir / gate.cwd) if gate.cwd else base_dir
    run = run_command(gate.argv, timeout_sec=gate.timeout_sec, cwd=cwd, env={**env, **gate.env})
    details: dict[str, object] = {
        "argv": list(gate.argv),
        "cwd": str(cwd),
        "exit_code": run.exit_code,
        "timed_out": run.timed_out,
        "output_tail": run.output[-OUTPUT_TAIL_CHARS:],
    }
    reason, message = _judge_run(gate, run)
    metric_value = None
    if run.error is None and not run.timed_out and gate.metric and gate.metric.regex:
        metric_value = _metric_from_output(gate.metric.regex, run.output)
        if metric_value is None and not reason:
            reason = "metric_missing"
            message = (
                f"metric {gate.metric.name!r}: regex {gate.metric.regex!r} found no numeric "
                "'value' group in the output"
            )
    if reason:
        details["message"] = message
    return Outcome(ok=not reason, reason=reason, details=details, metric_value=metric_value)


def _judge_run(gate: CommandGate, run: CommandRun) -> tuple[str, str]:
    """The failure reason and sentence for a finished run, or ("", "") when it passed."""
    if run.error is not None:
        return run.error_kind or "exec_error", run.error
    if run.timed_out:
        return "timeout", f"killed process group after {gate.timeout_sec:g}s (timeout)"
    if run.exit_code not in gate.expect_exit:
        expected = ", ".join(str(code) for code in gate.expect_exit)
        return "exit_code", f"exit code {run.exit_code}, expected {expected}"
    if gate.expect_output is not None and not re.search(gate.expect_output, run.output):
        return "output_mismatch", f"output does not match {gate.expect_output!r}"
    return "", ""


def _metric_from_output(pattern: str, output: str) -> float | None:
    match = re.search(pattern, output)
    if match is None or match.group("value") is None:
        return None
    try:
        return float(match.group("value"))
    except ValueError:
        return None

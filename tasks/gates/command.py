"""Judge a command gate: exit code, expected output and metric of one run.

The run itself (one argv, no shell, a hard timeout that kills the whole process group) is
``tasks.platform.processes.run_command``.
"""

from __future__ import annotations

import re
from pathlib import Path

from blocks.gates import CommandGate
from tasks.gates.models import CheckOutcome
from tasks.platform.processes import CommandRun, run_command

OUTPUT_TAIL_CHARS = 2_000  # output kept in a gate's details


def evaluate_command(gate: CommandGate, base_dir: Path, env: dict[str, str]) -> CheckOutcome:
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
    return CheckOutcome(ok=not reason, reason=reason, details=details, metric_value=metric_value)


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

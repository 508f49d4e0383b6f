"""Command gates: exit codes, expected output, metrics, missing programs and hard timeouts.

The runner underneath (start, output, group kill) is tested in test_platform_processes.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from blocks.gates import CommandGate
from tasks.gates.command import evaluate_command

PY = sys.executable


def gate(**fields) -> CommandGate:
    return CommandGate(kind="command", name="cmd", **fields)


def py(code: str) -> list[str]:
    return [PY, "-c", code]


LATENCY = {"name": "latency", "regex": r"latency_ms=(?P<value>[\d.]+)"}

# fmt: off
COMMANDS = [
    # gate fields, ok, reason
    pytest.param({"argv": py("print('hello')")}, True, "", id="passes"),
    pytest.param({"argv": py("raise SystemExit(3)")}, False, "exit_code", id="exit-code"),
    pytest.param({"argv": py("raise SystemExit(2)"), "expect_exit": [0, 2]}, True, "",
                 id="other-expected-exit"),
    pytest.param({"argv": py("print('all good')"), "expect_output": r"all\s+good"}, True, "",
                 id="regex-matches"),
    pytest.param({"argv": py("print('nope')"), "expect_output": "all good"},
                 False, "output_mismatch", id="regex-mismatch"),
    pytest.param({"argv": py("import sys; sys.stderr.write('warned')"),
                  "expect_output": "warned"}, True, "", id="stderr-merged"),
    pytest.param({"argv": py("import os; print(os.environ['GATE_VAR'])"),
                  "env": {"GATE_VAR": "from-gate"}, "expect_output": "from-gate"}, True, "",
                 id="gate-env"),
    pytest.param({"argv": py("print('latency_ms=12.5')"), "metric": LATENCY}, True, "",
                 id="metric"),
    pytest.param({"argv": py("print('no number')"), "metric": LATENCY},
                 False, "metric_missing", id="metric-missing"),
    pytest.param({"argv": py("raise SystemExit(1)"), "metric": LATENCY},
                 False, "exit_code", id="exit-code-before-metric"),
    pytest.param({"argv": ["definitely-not-a-command-xyz"]}, False, "not_found",
                 id="not-found"),
    pytest.param({"argv": py("pass"), "cwd": "no/such/dir"}, False, "exec_error",
                 id="missing-cwd"),
]
# fmt: on


@pytest.mark.parametrize(("fields", "ok", "reason"), COMMANDS)
def test_evaluate_command(tmp_path: Path, fields: dict, ok: bool, reason: str) -> None:
    outcome = evaluate_command(gate(**fields), tmp_path, {})
    assert (outcome.ok, outcome.reason) == (ok, reason), outcome.details
    assert outcome.details["argv"] == fields["argv"]
    if not ok:
        assert outcome.details["message"]


def test_metric_value_is_read_from_output(tmp_path: Path) -> None:
    outcome = evaluate_command(
        gate(argv=py("print('latency_ms=12.5')"), metric=LATENCY), tmp_path, {}
    )
    assert outcome.metric_value == 12.5


def test_profile_env_is_under_gate_env_and_cwd_is_base_dir(tmp_path: Path) -> None:
    code = "import os; print(os.environ['A'], os.environ['B'], os.getcwd())"
    outcome = evaluate_command(
        gate(argv=[PY, "-c", code], env={"B": "gate"}), tmp_path, {"A": "profile", "B": "profile"}
    )
    assert outcome.details["output_tail"].split() == ["profile", "gate", str(tmp_path.resolve())]


def _alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def test_hanging_command_and_its_children_are_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    outcome = evaluate_command(gate(argv=[PY, "-c", code], timeout_sec=1), tmp_path, {})
    elapsed = time.monotonic() - started

    assert elapsed < 10
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert outcome.details["timed_out"] is True
    assert "killed process group after 1s" in outcome.details["message"]
    assert "started" in outcome.details["output_tail"]
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)

"""A run killed mid-leg (SIGKILL of the flow process) leaves a host; the next janitor removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from blocks.storage import warden_home
from flows.gpu_matrix import gpu_matrix_janitor
from tests.conftest import ROOT
from tests.flows.matrix_files import CANDIDATE, leg, write_invariants

INSTALLER = """\
mkdir -p {{scratch}}/agent
nohup bash -c 'touch {{scratch}}/agent/active; while true; do sleep 1; done' >/dev/null 2>&1 &
echo $! > {{scratch}}/agent/pid
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")


def test_janitor_terminates_what_a_killed_run_left(tmp_path: Path) -> None:
    hanging = leg("cpu", smoke_job="touch {{scratch}}/smoke-started; sleep 120")
    hanging["timeouts"]["smoke_seconds"] = 300
    # Its own environment (and so concurrency limit): the killed run's slot stays taken until
    # its lease expires, and no other test may queue behind it.
    invariants = write_invariants(tmp_path, [hanging], installer=INSTALLER, environment="killed")
    code = (
        "from flows.gpu_matrix import gpu_matrix_promotion\n"
        f"gpu_matrix_promotion(environment='killed', candidate_digest={CANDIDATE!r}, "
        f"invariants={str(invariants)!r})\n"
    )
    env = os.environ | {
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "WARDEN_HOME": str(warden_home()),
    }
    flow_process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    hosts = warden_home() / "matrix" / "hosts"
    try:
        deadline = time.monotonic() + 120
        while not list(hosts.glob("*/smoke-started")):
            assert flow_process.poll() is None, flow_process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the leg never reached its smoke job"
            time.sleep(0.2)
        (scratch,) = [p.parent for p in hosts.glob("*/smoke-started")]
        agent_pid = int((scratch / "agent" / "pid").read_text())
        flow_process.send_signal(signal.SIGKILL)  # no finally, no hook: the host is left behind
        flow_process.wait(timeout=10)
    finally:
        if flow_process.poll() is None:
            flow_process.kill()

    assert scratch.exists() and _alive(agent_pid)
    terminated = gpu_matrix_janitor(environment="killed", invariants=str(invariants), ttl_hours=0)

    assert terminated == [scratch.name]
    assert not scratch.exists()
    deadline = time.monotonic() + 5
    while _alive(agent_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(agent_pid)

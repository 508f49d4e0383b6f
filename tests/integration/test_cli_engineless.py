"""`warden gates run` as CI runs it: a fresh process, no Prefect API anywhere: an engine-less
run, with no temporary server started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.gate_files import failing, passing, write_gates
from tests.loopback import free_port

pytestmark = pytest.mark.integration
WARDEN = Path(sys.executable).parent / "warden"


def test_cli_runs_the_flow_engine_less_with_clean_logs(tmp_path: Path) -> None:
    config = write_gates(
        tmp_path, [passing("smoke"), failing("unit"), {"name": "hmr", "kind": "manual"}]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["WARDEN_PORT"] = str(free_port())  # no local platform answers there
    done = subprocess.run(
        [str(WARDEN), "gates", "run", "--config", str(config), "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "NO-GO" in done.stdout and "recorded: engine-less run" in done.stderr
    assert "Starting temporary server" not in output
    assert "Traceback" not in output and "ERROR" not in output
    document = json.loads((tmp_path / "out" / "gate_results.json").read_text())
    assert document["_meta"]["exit_code"] == 1
    assert document["hmr"]["manual"] is True and document["unit"]["ok"] is False

"""Bench: eight ~1 s gates run concurrently finish in at most 1.5x the slowest gate's time.

Runs the real go/no-go flow twice under one temporary Prefect API, side by side:
  * parallel: eight independent command gates, each sleeping about one second;
  * chained:  the same eight gates, each depending on the previous one (forced serial).
The gate phase is measured from the Prefect API (first gate task start to last gate task
end); the whole flow's wall time is reported too. Usage: python bench/gates_parallel.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SLEEPS = [0.90, 0.95, 1.00, 1.05, 0.92, 0.97, 1.02, 0.98]  # "about one second" each
LIMIT = 1.5


def gates_file(folder: Path, chained: bool) -> Path:
    gates = []
    for index, seconds in enumerate(SLEEPS):
        gate = {
            "name": f"gate-{index}",
            "kind": "command",
            "argv": [sys.executable, "-c", f"import time; time.sleep({seconds})"],
            "timeout_sec": 30,
        }
        if chained and index:
            gate["depends_on"] = [f"gate-{index - 1}"]
        gates.append(gate)
    path = folder / ("chained.yaml" if chained else "parallel.yaml")
    path.write_text(yaml.safe_dump({"version": 1, "gates": gates}))
    return path


def measure(config: Path, out: Path) -> dict[str, float]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.go_no_go import go_no_go_gates

    started = time.perf_counter()
    state = go_no_go_gates(config=str(config), out=str(out), return_state=True)
    flow_wall = time.perf_counter() - started
    report = state.result()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    gate_runs = [r for r in runs if r.name.startswith("run_gate-")]
    assert len(gate_runs) == len(SLEEPS), [r.name for r in runs]
    phase = max(r.end_time for r in gate_runs) - min(r.start_time for r in gate_runs)
    return {
        "verdict": report.verdict.value,
        "slowest_gate": max(g.duration_sec for g in report.gates),
        "gate_phase": phase.total_seconds(),
        "flow_wall": flow_wall,
    }


def main() -> int:
    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=60):
        folder = Path(tmp)
        os.environ["WARDEN_HOME"] = str(folder / "home")
        measure(gates_file(folder, chained=False), folder / "warm-up")  # first run pays imports
        parallel = measure(gates_file(folder, chained=False), folder / "p")
        chained = measure(gates_file(folder, chained=True), folder / "c")
    ratio = parallel["gate_phase"] / parallel["slowest_gate"]
    print("| run | slowest gate s | gate phase s | whole flow s | phase / slowest |")
    print("|---|---|---|---|---|")
    for name, row in (("parallel", parallel), ("chained", chained)):
        print(
            f"| {name} | {row['slowest_gate']:.2f} | {row['gate_phase']:.2f} | "
            f"{row['flow_wall']:.2f} | {row['gate_phase'] / row['slowest_gate']:.2f} |"
        )
    print(f"parallel gate phase / slowest gate = {ratio:.2f} (limit {LIMIT})")
    print(f"chained / parallel gate phase = {chained['gate_phase'] / parallel['gate_phase']:.1f}x")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())

"""Bench: what Prefect's heartbeat join cost each flow run, side by side with the fix.

``tasks/platform/engine_fixes.py`` stops the sync flow engine from joining its heartbeat thread
(which sleeps in whole seconds) when a run ends. This bench runs the same flows against one
temporary Prefect API with Prefect's own ``_send_heartbeats`` (``prefect``) and with the fix
(``warden``), alternating run by run so the machine's load hits both alike:
  * ``trivial``: a flow that returns at once;
  * ``one-task``: a flow that runs one task (the shape of most of this project's steps);
  * ``subflow``: a flow that calls a one-task sub-flow (a second heartbeat thread).
Reported: the median and p95 wall time of each, and the ratio prefect / warden.

Usage: python bench/flow_end.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per flow and way")
    args = parser.parse_args()

    import prefect.flow_engine as engine
    from prefect import flow, task
    from prefect.testing.utilities import prefect_test_harness

    from tasks.platform import engine_fixes

    ways = {"prefect": engine._prefect_send_heartbeats, "warden": engine._send_heartbeats}
    assert engine_fixes.applied()

    @task
    def one() -> int:
        return 1

    @flow
    def trivial() -> int:
        return 1

    @flow
    def one_task() -> int:
        return one()

    @flow
    def subflow() -> int:
        return one_task()

    flows = {"trivial": trivial, "one-task": one_task, "subflow": subflow}
    times: dict[tuple[str, str], list[float]] = {(f, w): [] for f in flows for w in ways}
    load = []
    with prefect_test_harness(server_startup_timeout=120):
        for name, fn in flows.items():
            fn()  # warm: imports, the first client
            for _ in range(args.runs):
                for way, heartbeats in ways.items():
                    engine._send_heartbeats = heartbeats
                    started = time.perf_counter()
                    fn()
                    times[name, way].append(time.perf_counter() - started)
                load.append(os.getloadavg()[0])
        engine._send_heartbeats = ways["warden"]
    print("| flow | prefect median / p95 (s) | warden median / p95 (s) | ratio (median) |")
    print("|---|---|---|---|")
    for name in flows:
        row = []
        for way in ways:
            values = sorted(times[name, way])
            p95 = values[max(0, round(0.95 * len(values)) - 1)]
            row.append((statistics.median(values), p95))
        ratio = row[0][0] / row[1][0]
        print(
            f"| {name} | {row[0][0]:.3f} / {row[0][1]:.3f} | {row[1][0]:.3f} / {row[1][1]:.3f} "
            f"| {ratio:.2f}x |"
        )
    print(
        f"runs per flow and way: {args.runs}; cpus: {os.cpu_count()}; "
        f"1-min load average: {min(load):.1f}-{max(load):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bench: the five chaos drills, one run each, at a scale (default: the seed's full sizes).

Each drill runs through the real ``chaos-drill`` flow (engine-less: no Prefect API of its own)
and starts its own disposable platform (a real Prefect server, the worker supervisor and its
process workers), stops it after. Prints one markdown row per drill: ok, wall time, and every
verification's measured figures (rates, p99, recovery time). Also written as JSON next to the
journals. Usage: python bench/drills.py [--scale full|ci] [--config FILE] [DRILL ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blocks.drills import DrillName  # noqa: E402
from flows.chaos_drill import chaos_drill  # noqa: E402
from tasks.platform.engineless import run_engineless  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="full", choices=["ci", "full"])
    parser.add_argument("--config", default="deployments/drills.yaml", help="drills catalog")
    parser.add_argument("drills", nargs="*", default=[d.value for d in DrillName])
    args = parser.parse_args()
    print("| drill | scale | ok | wall s | verification: figures |")
    print("|---|---|---|---|---|")
    failed = 0
    for name in args.drills:
        started = time.monotonic()
        state, result = run_engineless(
            chaos_drill, {"drill": name, "scale": args.scale, "config": args.config}
        )
        wall = time.monotonic() - started
        if not hasattr(result, "verifications"):
            print(f"| {name} | {args.scale} | error | {wall:.0f} | {state}: {result} |", flush=True)
            failed += 1
            continue
        figures = "; ".join(
            f"{v.name} {'pass' if v.passed else 'FAIL'} {json.dumps(v.measured)}"
            for v in result.verifications
        )
        print(f"| {name} | {args.scale} | {result.ok} | {wall:.0f} | {figures} |", flush=True)
        failed += not result.ok
        if result.journal_file:
            out = Path(result.journal_file).with_name("bench.json")
            out.write_text(result.model_dump_json(indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Bench: classify-workflows on a Dask LocalCluster with 1 worker and with 2, side by side.

The same generated corpus (Python files, one in ten with a syntax error) goes through the
built-in ``python`` checker (compile + pyflakes: CPU-bound, in the worker's own process) via
``classify_on_dask`` — the flow ``warden workflows classify --dask-address`` runs. Both clusters
(one worker process of one thread; two of one thread each) are started first and stay up;
rounds alternate 1, 2, 2, 1 so a change in the machine's load hits both sides alike. Every run
must give the same verdicts. The figure is the median over rounds of (1-worker time / 2-worker
time), printed with the CPU count and the load average seen during the runs.
``--batch-sizes auto,188`` compares batch sizes (the corpus's ``batch_size``, capping the flow's
own rule) in the same run, round by round.
Usage: python bench/classify_dask.py [--files 4000] [--rounds 2] [--lines 120] [--jobs 2]
       [--batch-sizes auto,N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL = 1.6


def make_corpus(folder: Path, count: int, lines: int) -> None:
    """``count`` files of about ``lines`` lines each: enough work per file that checking, not
    orchestration, is what a worker spends its time on."""
    for index in range(count):
        step = "import os\n\n\ndef step_{i}_{n}(x):\n    return os.sep * x + {n}\n"
        text = "".join(step.format(i=index, n=n) for n in range(lines // 5))
        (folder / f"wf_{index:05d}.py").write_text(text if index % 10 else text + "def broken(:\n")


def bench_config(folder: Path, jobs: int, batch_size: int | None = None) -> Path:
    config = folder.parent / f"workflows-{batch_size or 'auto'}.yaml"
    corpus = {"paths": [str(folder)], "patterns": ["*.py"], "checker": "python", "jobs": jobs}
    if batch_size:
        corpus["batch_size"] = batch_size  # caps the flow's own rule (about 8 batches a job)
    config.write_text(json.dumps({"version": 1, "corpora": {"bench": corpus}}))
    return config


def run_on(address: str, config: Path, out: Path, limit: int | None = None):
    from flows.workflow_health import classify_on_dask

    started = time.perf_counter()
    report = classify_on_dask(address)(
        corpus="bench", config=str(config), out=str(out), record=False, limit=limit
    )
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument(
        "--jobs", type=int, default=2, help="the flow's batches in flight (same on both sides)"
    )
    parser.add_argument(
        "--batch-sizes",
        default="auto",
        help="comma list of the corpus's batch_size to compare in one run; auto = the flow's rule",
    )
    args = parser.parse_args()
    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    cluster_options = {"threads_per_worker": 1, "processes": True, "host": "127.0.0.1"}
    cluster_options["dashboard_address"] = ":0"
    variants = [None if v == "auto" else int(v) for v in args.batch_sizes.split(",")]
    if None not in variants:
        variants.insert(0, None)  # the flow's own rule is always measured: the goal is its
    times = {v: {1: [], 2: []} for v in variants}
    loads: list[float] = [os.getloadavg()[0]]
    with (
        tempfile.TemporaryDirectory() as tmp,
        prefect_test_harness(server_startup_timeout=120),
        LocalCluster(n_workers=1, **cluster_options) as one,
        LocalCluster(n_workers=2, **cluster_options) as two,
    ):
        os.environ["WARDEN_HOME"] = str(Path(tmp) / "home")
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        make_corpus(folder, args.files, args.lines)
        # the same parameters on both clusters
        configs = {v: bench_config(folder, args.jobs, v) for v in variants}
        clusters = {1: one.scheduler_address, 2: two.scheduler_address}
        for workers in (1, 2):  # warm-up: imports in every worker process
            run_on(clusters[workers], configs[variants[0]], Path(tmp) / "out", limit=50)
        verdicts = None
        for _ in range(args.rounds):
            for variant in variants:
                for workers in (1, 2, 2, 1):
                    elapsed, report = run_on(clusters[workers], configs[variant], Path(tmp) / "out")
                    rows = [(f.path, f.code_name, f.line) for f in report.files]
                    assert report.summary.total == args.files, report.summary
                    assert verdicts is None or rows == verdicts, "verdicts differ between runs"
                    verdicts = rows
                    times[variant][workers].append(elapsed)
                    loads.append(os.getloadavg()[0])
                    print(
                        f"batch_size {variant or 'auto'}, {workers} worker(s): {elapsed:.1f} s "
                        f"(load {loads[-1]:.1f})",
                        flush=True,
                    )
    print("| batch_size | 1 worker (s) | 2 workers (s) | speed-up per round | median |")
    print("|---|---|---|---|---|")
    medians = {}
    for variant in variants:
        one_w, two_w = times[variant][1], times[variant][2]
        pairs = [
            (one_w[2 * r] + one_w[2 * r + 1]) / (two_w[2 * r] + two_w[2 * r + 1])
            for r in range(args.rounds)
        ]
        speedup = statistics.median(pairs)
        medians[variant] = speedup
        print(
            f"| {variant or 'auto (about 8 batches a job)'} | "
            f"{', '.join(f'{t:.1f}' for t in one_w)} | {', '.join(f'{t:.1f}' for t in two_w)} | "
            f"{', '.join(f'{p:.2f}' for p in pairs)} | **{speedup:.2f}x** |"
        )
    print(f"corpus: {args.files} files x ~{args.lines} lines, python checker, jobs={args.jobs}")
    print(
        f"cpus: {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}); "
        f"1-min load average during the runs: {min(loads):.1f}-{max(loads):.1f}; "
        f"goal >= {GOAL}x with the flow's own batches: "
        f"{'met' if medians[None] >= GOAL else 'NOT met'}"
    )
    return 0 if medians[None] >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())

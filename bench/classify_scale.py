"""Bench: classification at scale, side by side in one run.

1. 3,000 files through a subprocess checker with --jobs 2: the classify-workflows flow's wall
   time against a bare concurrent.futures process pool running the same checker on the same
   files (target ratio <= 1.15);
2. the in-process ``python`` checker (compile + pyflakes): files per second on the same files,
   in one process and across 2 worker processes (the pool the flow uses with --jobs 2).
Bare runs bracket the flow runs (bare, flow, flow, bare, per round); each flow run is compared
with the mean of the bare runs beside it, and the median over rounds is the figure.
Usage: python bench/classify_scale.py [--files 3000] [--rounds 2] [--rates-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHECKER = [sys.executable, "-S", "-E", str(ROOT / "bench" / "tiny_checker.py")]
JOBS = 2


def make_corpus(folder: Path, count: int) -> list[Path]:
    files = []
    for index in range(count):
        path = folder / f"wf_{index:05d}.py"
        body = f"value_{index} = {index}\nprint(value_{index})\n"
        path.write_text(body if index % 10 else body + "def broken(:\n")
        files.append(path)
    return files


def bare_check(path: str) -> int:
    return subprocess.run([*CHECKER, path], capture_output=True, timeout=30).returncode


def bare_pool(files: list[Path]) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=JOBS) as pool:
        codes = list(pool.map(bare_check, [str(f) for f in files], chunksize=50))
    assert codes.count(20) == len(files) // 10
    return time.perf_counter() - started


def bench_config(folder: Path) -> Path:
    """The bench's corpus: the generated files through the tiny checker, every other setting
    (batch size included) at the workflow file's defaults."""
    config = folder.parent / "workflows.yaml"
    checker = " ".join([*CHECKER, "{file}"])
    corpus = {"paths": [str(folder)], "patterns": ["*.py"], "checker": checker, "jobs": JOBS}
    config.write_text(json.dumps({"version": 1, "corpora": {"bench": corpus}}))
    return config


def flow_run(folder: Path, files: list[Path], record: bool, limit: int | None = None) -> float:
    from flows.workflow_health import classify_workflows

    started = time.perf_counter()
    report = classify_workflows(
        corpus="bench",
        config=str(bench_config(folder)),
        out=str(folder.parent / "out"),
        record=record,
        limit=limit,
    )
    elapsed = time.perf_counter() - started
    assert report.summary.total == (limit or len(files)), report.summary
    assert report.summary.by_code.get("PARSE_ERROR") == (limit or len(files)) // 10
    return elapsed


def in_process_rates(files: list[Path]) -> tuple[float, float]:
    """Files per second of the python checker in this process, then in 2 pool workers."""
    from concurrent.futures import ThreadPoolExecutor

    from blocks.workflows import Corpus
    from tasks.workflows.checkers import PythonChecker
    from tasks.workflows.classify import WorkerPool, batches, classify_batch
    from tasks.workflows.corpus import batch_size_for
    from tasks.workflows.models import Phase

    paths = [str(f) for f in files]
    started = time.perf_counter()
    results = classify_batch(paths, PythonChecker(), Phase.PARSE, frozenset())
    one = len(files) / (time.perf_counter() - started)
    started = time.perf_counter()  # worker start-up included
    with WorkerPool(JOBS, "python", {"timeout_sec": 30.0}) as pool, ThreadPoolExecutor(JOBS) as run:
        chunks = batches(paths, batch_size_for(len(paths), Corpus(paths=["."], jobs=JOBS)))
        pooled = [
            r
            for rows in run.map(lambda c: pool.classify(c, Phase.PARSE, frozenset()), chunks)
            for r in rows
        ]
    two = len(files) / (time.perf_counter() - started)
    assert [r.code for r in pooled] == [r.code for r in results]
    return one, two


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rates-only", action="store_true", help="only the python checker")
    args = parser.parse_args()
    count = args.files
    if args.rates_only:
        with tempfile.TemporaryDirectory() as tmp:
            one, two = in_process_rates(make_corpus(Path(tmp), count))
        print(f"python checker, {count} files: {one:.0f} files/s in one process, ", end="")
        print(f"{two:.0f} files/s in {JOBS} workers (start-up included)")
        return 0
    from prefect.testing.utilities import prefect_test_harness

    plain: list[float] = []
    full: list[float] = []
    bares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=60):
        os.environ["WARDEN_HOME"] = str(Path(tmp) / "home")
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        files = make_corpus(folder, count)
        flow_run(folder, files, record=True, limit=50)  # warm-up: imports, first task runs
        bares.append(bare_pool(files))
        for _ in range(args.rounds):
            flow_plain = flow_run(folder, files, record=False)
            flow_full = flow_run(folder, files, record=True)
            bares.append(bare_pool(files))
            reference = (bares[-2] + bares[-1]) / 2
            plain.append(flow_plain / reference)
            full.append(flow_full / reference)
            print(f"round: bare {reference:.1f} s, flow {flow_plain:.1f} s / {flow_full:.1f} s")
        one, two = in_process_rates(files)
    print(f"| run ({count} files, subprocess checker, {JOBS} jobs) | ratio per round | median |")
    print("|---|---|---|")
    print(f"| bare ProcessPoolExecutor: {', '.join(f'{b:.1f}' for b in bares)} s | 1.00 | 1.00 |")
    for label, ratios in (("flow (no history)", plain), ("flow (GX contract + Parquet)", full)):
        each = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"| {label} | {each} | {statistics.median(ratios):.2f} |")
    print(f"python checker: {one:.0f} files/s in one process, {two:.0f} files/s in {JOBS} workers")
    return 0 if statistics.median(plain) <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())

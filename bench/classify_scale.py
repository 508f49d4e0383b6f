"""Bench: classification at scale, side by side in one run.

1. 3,000 files through a subprocess checker with --jobs 2: the classify-workflows flow's wall
   time against a bare concurrent.futures process pool running the same checker on the same
   files (target ratio <= 1.15);
2. the in-process ``python`` checker (compile + pyflakes): files per second on the same files.
Usage: python bench/classify_scale.py [--files 3000]
"""

from __future__ import annotations

import argparse
import os
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


def flow_run(folder: Path, files: list[Path], record: bool, limit: int | None = None) -> float:
    from flows.workflow_health import classify_workflows

    checker = " ".join([*CHECKER, "{file}"])
    started = time.perf_counter()
    report = classify_workflows(
        corpus="sample",
        paths=[str(folder)],
        checker=checker,
        mode="parse",
        jobs=JOBS,
        out=str(folder.parent / "out"),
        record=record,
        limit=limit,
    )
    elapsed = time.perf_counter() - started
    assert report.summary.total == (limit or len(files)), report.summary
    assert report.summary.by_code.get("PARSE_ERROR") == (limit or len(files)) // 10
    return elapsed


def in_process_rate(files: list[Path]) -> float:
    from tasks.workflows.checkers import PythonChecker
    from tasks.workflows.classify import classify_batch
    from tasks.workflows.models import Phase

    started = time.perf_counter()
    results = classify_batch([str(f) for f in files], PythonChecker(), Phase.PARSE, frozenset())
    assert len(results) == len(files)
    return len(files) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    count = parser.parse_args().files
    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=60):
        os.environ["WARDEN_HOME"] = str(Path(tmp) / "home")
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        files = make_corpus(folder, count)
        flow_run(folder, files, record=True, limit=50)  # warm-up: imports, first task runs
        bare_first = bare_pool(files)  # bare runs before and after the flows: order effects
        flow_plain = flow_run(folder, files, record=False)
        flow_full = flow_run(folder, files, record=True)
        bare = (bare_first + bare_pool(files)) / 2
        rate = in_process_rate(files)
    print(f"| run ({count} files, subprocess checker, {JOBS} jobs) | wall s | ratio to bare pool |")
    print("|---|---|---|")
    print(f"| bare ProcessPoolExecutor (mean of before and after) | {bare:.1f} | 1.00 |")
    print(f"| classify-workflows flow (no history) | {flow_plain:.1f} | {flow_plain / bare:.2f} |")
    print(
        f"| classify-workflows flow (GX contract + Parquet) | {flow_full:.1f} | "
        f"{flow_full / bare:.2f} |"
    )
    print(f"in-process python checker: {rate:.0f} files/s ({count} files, one process)")
    return 0 if flow_plain / bare <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Classifying a corpus: find the files, judge each with a checker, count what failed (seed 003).

Files are judged in batches so that orchestration costs one task per batch, not per file. A
checker that crashes on one file turns that file into INTERNAL_ERROR and the batch goes on;
a failure whose fingerprint is suppressed stays listed as ``Suppressed-<Category>`` but does
not count as failed.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from tasks.workflows.checkers import Checker, checker_from_spec
from tasks.workflows.fingerprint import fingerprint
from tasks.workflows.models import CheckStatus, FileResult, Phase, RunSummary, WorkflowCode
from tasks.workflows.protocol import category_for

T = TypeVar("T")
SUPPRESSED_PREFIX = "Suppressed-"


def discover(paths: list[Path], patterns: list[str], limit: int | None = None) -> list[Path]:
    """Files to check: files named directly (kept whatever their name, even missing ones, so
    they are reported) plus the files under each folder whose name matches a pattern; hidden
    folders are not entered. Sorted, de-duplicated, then cut to ``limit``."""
    found: dict[str, Path] = {}
    for path in paths:
        candidates = _walk(path, patterns) if path.is_dir() else [path]
        for candidate in candidates:
            found.setdefault(os.path.normpath(os.path.abspath(candidate)), candidate)
    ordered = sorted(found.values(), key=str)
    return ordered if limit is None else ordered[: max(limit, 0)]


def _walk(folder: Path, patterns: list[str]) -> list[Path]:
    """Every non-hidden file under ``folder`` whose name matches one of ``patterns``."""
    matches = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                matches.append(Path(root) / name)
    return matches


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive chunks of at most ``size``."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def classify_batch(
    paths: list[str], checker: Checker, phase: Phase, suppressions: frozenset[str]
) -> list[FileResult]:
    """One FileResult per path, in order; a checker crash is that file's INTERNAL_ERROR."""
    results = []
    for path in paths:
        started = time.perf_counter()
        try:
            status, structured = checker.check(Path(path), phase)
        except Exception as exc:  # a bug in one checker run must not lose the batch
            status, structured = _crashed(path, phase, exc), False
        duration = time.perf_counter() - started
        results.append(file_result(path, status, structured, duration, suppressions))
    return results


def _crashed(path: str, phase: Phase, exc: Exception) -> CheckStatus:
    message = f"checker crashed: {type(exc).__name__}: {exc}".splitlines()[0][:500]
    return CheckStatus(
        ok=False, code=WorkflowCode.INTERNAL_ERROR, file=path, phase=phase, message=message
    )


def file_result(
    path: str,
    status: CheckStatus,
    structured: bool,
    duration_sec: float,
    suppressions: frozenset[str],
) -> FileResult:
    """A verdict as a result row: category, fingerprint of a failure, suppression applied."""
    category = category_for(status.code).value
    mark = None if status.ok else fingerprint(status.code_name, status.line, status.message)
    suppressed = mark is not None and mark in suppressions
    return FileResult(
        path=path,
        ok=status.ok,
        code=int(status.code),
        code_name=status.code_name,
        category=f"{SUPPRESSED_PREFIX}{category}" if suppressed else category,
        phase=status.phase,
        line=status.line,
        message=status.message,
        fingerprint=mark,
        suppressed=suppressed,
        structured=structured,
        duration_sec=round(duration_sec, 6),
    )


def summarize(results: Sequence[FileResult]) -> RunSummary:
    """Totals and counts by category and code; suppressed failures are not ``failed``."""
    return RunSummary(
        total=len(results),
        failed=sum(1 for r in results if not r.ok and not r.suppressed),
        suppressed_failures=sum(1 for r in results if r.suppressed),
        by_category=dict(sorted(Counter(r.category for r in results).items())),
        by_code=dict(sorted(Counter(r.code_name for r in results).items())),
    )


def classify_parallel(
    paths: Sequence[str],
    checker_spec: str,
    phase: Phase,
    suppressions: frozenset[str],
    jobs: int,
    batch_size: int,
    *,
    start_method: str = "spawn",
    **checker_kwargs: object,
) -> list[FileResult]:
    """Classify in ``jobs`` worker processes, one batch per call; results in input order.

    The checker is built here first, so a bad spec fails before any work starts, then again
    from its spec in each worker. ``spawn`` by default: forking a threaded flow process can
    deadlock. A batch whose worker died becomes INTERNAL_ERROR rows, never a lost batch.
    """
    checker = checker_from_spec(checker_spec, **checker_kwargs)
    chunks = batches(list(paths), batch_size)
    if jobs <= 1:
        return [r for chunk in chunks for r in classify_batch(chunk, checker, phase, suppressions)]
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [
            pool.submit(
                classify_with_spec, chunk, checker_spec, phase, suppressions, checker_kwargs
            )
            for chunk in chunks
        ]
        results: list[FileResult] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results.extend(future.result())
            except Exception as exc:  # the worker process died (BrokenProcessPool) or similar
                results.extend(_lost_batch(chunk, phase, exc, suppressions))
    return results


def classify_with_spec(
    paths: list[str],
    checker_spec: str,
    phase: Phase,
    suppressions: frozenset[str],
    checker_kwargs: dict[str, object],
) -> list[FileResult]:
    """A worker's batch: rebuild the checker from its spec, then classify_batch."""
    checker = checker_from_spec(checker_spec, **checker_kwargs)
    return classify_batch(paths, checker, phase, suppressions)


def _lost_batch(
    chunk: list[str], phase: Phase, exc: Exception, suppressions: frozenset[str]
) -> list[FileResult]:
    return [file_result(p, _crashed(p, phase, exc), False, 0.0, suppressions) for p in chunk]

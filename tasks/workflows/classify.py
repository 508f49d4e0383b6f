"""Classifying a corpus: find the files, judge each with a checker, count what failed (seed 003).

Files are judged in batches so that orchestration costs one task per batch, not per file. A
checker that crashes on one file turns that file into INTERNAL_ERROR and the batch goes on;
a failure whose fingerprint is suppressed stays listed as ``Suppressed-<Category>`` but does
not count as failed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from blocks.errors import ConfigError, UsageError
from tasks.platform.processes import kill_process_group
from tasks.workflows.checkers import BUILTIN_CHECKERS, Checker, checker_from_spec
from tasks.workflows.fingerprint import fingerprint
from tasks.workflows.models import CheckStatus, FileResult, Phase, RunSummary, WorkflowCode
from tasks.workflows.protocol import category_for

T = TypeVar("T")
EXIT_WAIT_SEC = 2.0  # how long a worker that closed its pipe gets to report its exit status
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


class NothingToCheck(UsageError):
    """A corpus folder holds no file to check: a run would report the health of nothing."""

    remediation = "Fix the corpus's paths or patterns (--pattern), then run again."


def discover_corpus(paths: list[Path], patterns: list[str], limit: int | None = None) -> list[Path]:
    """``discover``, refusing a folder in which no file matches: a count of zero failures
    over zero files proves nothing, and a mistyped folder must not look healthy."""
    empty = [str(path) for path in paths if path.is_dir() and not _walk(path, patterns)]
    if empty:
        raise NothingToCheck(f"no file matching {', '.join(patterns)} in {', '.join(empty)}")
    return discover(paths, patterns, limit)


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


class WorkerDied(RuntimeError):
    """A batch worker exited or answered garbage; its stderr tail says why."""


class _Worker:
    """One ``python -m tasks.workflows.checker_command --serve`` process: JSON lines in, out."""

    def __init__(self, argv: list[str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(_import_path())}
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # a Ctrl-C aimed at the flow is the flow's to handle
        )

    def request(
        self, paths: list[str], phase: Phase, suppressions: frozenset[str]
    ) -> list[FileResult]:
        message = {"paths": paths, "phase": phase.value, "suppressions": sorted(suppressions)}
        try:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
        except OSError as exc:  # BrokenPipeError included: the worker is gone
            raise WorkerDied(self._why(f"pipe closed: {exc}", exiting=True)) from exc
        if not reply:
            raise WorkerDied(self._why("no reply", exiting=True))
        try:
            rows = [FileResult.model_validate(row) for row in json.loads(reply)["results"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise WorkerDied(self._why(f"unreadable reply: {exc}")) from exc
        if [row.path for row in rows] != paths:  # a file left out would vanish from the run
            raise WorkerDied(self._why(f"reply has {len(rows)} rows for {len(paths)} files"))
        return rows

    def _why(self, what: str, exiting: bool = False) -> str:
        code = self.proc.poll()
        if code is None and exiting:  # its pipe closed: let the exit status arrive
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=EXIT_WAIT_SEC)
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", errors="replace").strip().splitlines()[-3:]
        status = "running" if code is None else f"exit status {code}"
        return f"batch worker {what} ({status}){': ' + ' | '.join(tail) if tail else ''}"

    def stop(self, grace_sec: float = 5.0) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace_sec)
        except subprocess.TimeoutExpired:
            kill_process_group(self.proc)
        self._stderr.close()


def _import_path() -> list[str]:
    """This project's root first, so the worker imports the same code wherever it starts."""
    root = str(Path(__file__).resolve().parents[2])
    return [root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]


class WorkerPool:
    """Batches of a built-in checker in up to ``jobs`` worker processes.

    In-process checkers hold the GIL, so threads give them no CPU parallelism; these workers
    do. Each is ``python -m tasks.workflows.checker_command --serve`` (JSON lines, no pickle,
    nothing of the caller's ``__main__`` re-imported), started on first need and kept for the pool's
    life. The checker is built here first, so a bad spec fails before any work starts. A
    worker that dies is replaced and its batch retried once; a batch that kills its worker
    twice becomes INTERNAL_ERROR rows naming why, never a lost batch.
    """

    def __init__(self, jobs: int, checker_spec: str, checker_kwargs: dict[str, Any]) -> None:
        checker_from_spec(checker_spec, **checker_kwargs)
        name = checker_spec.strip()
        if name not in BUILTIN_CHECKERS:
            raise ConfigError(f"worker processes run built-in checkers only, not {checker_spec!r}")
        self._argv = [sys.executable, "-m", "tasks.workflows.checker_command", "--serve"]
        self._argv += ["--checker", name]
        self._argv += ["--timeout", str(checker_kwargs.get("timeout_sec", 30.0))]
        if checker_kwargs.get("schema_path") is not None:
            self._argv += ["--schema", str(checker_kwargs["schema_path"])]
        self._slots = threading.BoundedSemaphore(jobs)
        self._idle: list[_Worker] = []
        self._started: list[_Worker] = []
        self._lock = threading.Lock()

    def classify(
        self, paths: list[str], phase: Phase, suppressions: frozenset[str]
    ) -> list[FileResult]:
        """One batch in a worker process; safe to call from many threads at once."""
        with self._slots:
            for _ in range(2):  # a dead worker is replaced and the batch tried once more
                try:
                    worker = self._take()
                except OSError as exc:  # the interpreter cannot be started at all
                    return _lost_batch(paths, phase, exc, suppressions)
                try:
                    rows = worker.request(paths, phase, suppressions)
                except WorkerDied as exc:
                    self._discard(worker)
                    died = exc
                    continue
                with self._lock:
                    self._idle.append(worker)
                return rows
        return _lost_batch(paths, phase, died, suppressions)

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self._argv)
        with self._lock:
            self._started.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._started.remove(worker)
        worker.stop(grace_sec=0.5)

    def close(self) -> None:
        with self._lock:
            workers, self._started, self._idle = self._started, [], []
        for worker in workers:
            worker.stop()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lost_batch(
    chunk: list[str], phase: Phase, exc: Exception, suppressions: frozenset[str]
) -> list[FileResult]:
    return [file_result(p, _crashed(p, phase, exc), False, 0.0, suppressions) for p in chunk]

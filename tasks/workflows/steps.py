"""Prefect tasks of workflow health: thin wrappers with their policies, then pure code."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from blocks.migration_rules import load_rules
from blocks.workflows import adhoc_workflows_file, load_workflows_file
from tasks.platform.clock import utc_now
from tasks.platform.steps import (
    as_completed,
    ensure_storage_ready,
    progress,
    retry_if_retryable,
    step,
    threads_run_steps,
)
from tasks.workflows.baseline import BaselineDocument, build_baseline, write_baseline
from tasks.workflows.checkers import BUILTIN_CHECKERS, checker_from_spec
from tasks.workflows.classify import (
    WorkerPool,
    batches,
    classify_batch,
    discover,
    discover_corpus,
)
from tasks.workflows.contract import validate_snapshot
from tasks.workflows.corpus import (
    CorpusOverrides,
    CorpusPlan,
    HistoryLocation,
    batch_size_for,
    plan_corpus,
    resolve,
)
from tasks.workflows.failure_report import write_run_outputs
from tasks.workflows.fingerprint import load_suppressions
from tasks.workflows.history import rows_from_report
from tasks.workflows.history_access import check_history, open_history
from tasks.workflows.migrate import (
    ApplyOutcome,
    MigrationPlan,
    apply_plan,
    plan_migration,
    write_report,
)
from tasks.workflows.models import ClassificationReport, FileResult
from tasks.workflows.regression import RegressionReport, compare_baseline_files
from tasks.workflows.regression_options import RegressionOptions
from tasks.workflows.snapshots import update_trends, write_snapshot


@step(cache_policy=NO_CACHE)
def load_corpus(config: str | None, corpus: str, overrides: CorpusOverrides) -> CorpusPlan:
    """The corpus of the workflows file, or (``config`` None) one made from the overrides."""
    if config is None:
        workflows = adhoc_workflows_file(corpus, overrides.paths, overrides.checker)
    else:
        workflows = load_workflows_file(config)
    return plan_corpus(workflows, corpus, **overrides.model_dump())


@step(cache_policy=NO_CACHE)
def check_storage(plan: CorpusPlan) -> list[str]:
    """The preflight's second half: a recorded run's history can be written, before any file is
    checked (the result storage was proven at the kill switch, once per run, as in every flow);
    a missing bucket or block, or denied access, ends the run here with the fix."""
    return [check_history(history_of(plan))] if plan.record else []


def history_of(plan: CorpusPlan) -> HistoryLocation:
    return HistoryLocation(plan.history_uri, plan.endpoint_url, plan.history_block)


@step(cache_policy=NO_CACHE)
def discover_files(plan: CorpusPlan, root: str) -> list[str]:
    base = Path(root)
    paths = [resolve(base, p) for p in plan.corpus.paths]
    found = discover_corpus(paths, plan.corpus.patterns, plan.corpus.limit)
    return [str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in found]


@step(cache_policy=NO_CACHE)
def read_suppressions(plan: CorpusPlan) -> tuple[list[str], list[str]]:
    loaded = load_suppressions(Path(plan.suppressions))
    return sorted(loaded.fingerprints), loaded.warnings


# A built-in checker gets worker processes only when every job has this many files: a worker
# takes ~0.5 s to start (its imports) and a file ~1 ms to check. Measured here
# (bench/classify_scale.py --rates-only): 3,000 files gain nothing, 12,000 run 1.5x faster.
POOL_MIN_FILES_PER_JOB = 2000
_POOLS: dict[str, WorkerPool] = {}


@contextlib.contextmanager
def batch_workers(plan: CorpusPlan, files: int) -> Iterator[str | None]:
    """Worker processes for this run's batches, as a key ``check_batch`` looks up; None when
    threads suffice: a command checker (it runs in its own process anyway), one job, a small
    corpus, or a task runner that already spreads batches over processes (Dask)."""
    corpus = plan.corpus
    wanted = (
        corpus.checker.strip() in BUILTIN_CHECKERS
        and corpus.jobs > 1
        and files >= POOL_MIN_FILES_PER_JOB * corpus.jobs
        and threads_run_steps()
    )
    if not wanted:
        yield None
        return
    key = uuid.uuid4().hex
    with WorkerPool(corpus.jobs, corpus.checker, _checker_kwargs(plan)) as pool:
        _POOLS[key] = pool
        try:
            yield key
        finally:
            del _POOLS[key]


def _checker_kwargs(plan: CorpusPlan) -> dict[str, object]:
    corpus = plan.corpus
    return {
        "timeout_sec": corpus.timeout_sec,
        "schema_path": Path(corpus.schema_file) if corpus.schema_file else None,
        "prefixes": tuple(corpus.error_prefixes),
    }


@step(
    task_run_name="check_batch-{index}",
    cache_policy=NO_CACHE,
    persist_result=False,  # the rows are the flow's result and its outputs: not written twice
)
def check_batch(
    index: int,
    paths: list[str],
    plan: CorpusPlan,
    suppressions: list[str],
    workers: str | None = None,
) -> list[FileResult]:
    """One batch of files through the corpus's checker (never one task per file), in this
    process or in the run's worker processes when ``workers`` names them."""
    pool = _POOLS.get(workers) if workers else None
    if pool is not None:
        return pool.classify(paths, plan.phase, frozenset(suppressions))
    checker = checker_from_spec(plan.corpus.checker, **_checker_kwargs(plan))
    return classify_batch(paths, checker, plan.phase, frozenset(suppressions))


def check_files(
    plan: CorpusPlan, files: list[str], suppressions: list[str], progress_key: str
) -> list[FileResult]:
    """Submit ``check_batch`` per batch keeping at most ``jobs`` in flight; rows in file order.

    Not a step itself: it runs in the flow, which owns the batches' task runs.
    """
    chunks = batches(files, batch_size_for(len(files), plan.corpus)) if files else []
    update = progress(progress_key)
    futures: list[PrefectFuture[list[FileResult]]] = []
    in_flight: set[PrefectFuture] = set()
    done = 0
    with batch_workers(plan, len(files)) as workers:
        for index, chunk in enumerate(chunks):
            if len(in_flight) >= plan.corpus.jobs:
                finished = next(as_completed(list(in_flight)))
                in_flight.discard(finished)
                done += 1
                update(100.0 * done / len(chunks))
            future = check_batch.submit(index, chunk, plan, suppressions, workers)
            futures.append(future)
            in_flight.add(future)
        results = [row for future in futures for row in future.result()]
    update(100.0)
    return results


def keep_in_history(report: ClassificationReport, plan: CorpusPlan) -> str | None:
    """When the plan records the run: its data contract, then the Parquet history (the remote
    store first: it may fail), then the JSON snapshot and trends.json; the run's id, or None.

    Not a step itself: it runs those three steps, in this order, in the flow.
    """
    if not plan.record:
        return None
    run_id = uuid.uuid4().hex
    # quote(): else Prefect walks each row of a report for futures (0.5 s a call at 3,000 files)
    check_history_contract(quote(report), plan, run_id)
    record_history(quote(report), plan, run_id)
    write_history_snapshot(quote(report), plan.snapshots_dir)
    return run_id


@step(cache_policy=NO_CACHE)
def check_history_contract(report: ClassificationReport, plan: CorpusPlan, run_id: str) -> None:
    """The snapshot's data contract (Great Expectations); a broken one fails the run before
    anything is kept in the history."""
    files, runs = rows_from_report(report, run_id)
    validate_snapshot(files, runs, docs_dir=Path(plan.data_docs_dir)).raise_if_failed()


@step(cache_policy=NO_CACHE)
def write_history_snapshot(report: ClassificationReport, snapshots_dir: str) -> str:
    """The run's JSON snapshot, then trends.json rebuilt; only after the contract passed."""
    written = write_snapshot(report, Path(snapshots_dir))
    update_trends(Path(snapshots_dir))
    return str(written)


@step(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_retryable,
)
def record_history(report: ClassificationReport, plan: CorpusPlan, run_id: str) -> str:
    """Append the run to the Parquet history (idempotent per run id, so a retry is safe)."""
    files, runs = rows_from_report(report, run_id)
    store = open_history(history_of(plan))
    store.append_frames(files, runs, run_id)
    return store.uri


@step(cache_policy=NO_CACHE)
def write_classification_outputs(
    report: ClassificationReport, out_dir: str, json_path: str | None, md_path: str | None
) -> list[str]:
    """workflow_failures.json and .md: the run's own outputs, not its history."""
    written = write_run_outputs(
        report,
        Path(out_dir),
        json_path=Path(json_path) if json_path else None,
        md_path=Path(md_path) if md_path else None,
    )
    return [str(path) for path in written]


@step(cache_policy=NO_CACHE)
def write_parse_baseline(results: list[FileResult], output: str) -> BaselineDocument:
    baseline = build_baseline(results, utc_now())
    write_baseline(Path(output), baseline)
    return baseline


@step(cache_policy=NO_CACHE)
def compare_baselines(new: str, ref: str, options: RegressionOptions) -> RegressionReport:
    ensure_storage_ready()  # the gate's first step: its result storage, before any work
    return compare_baseline_files(Path(new), Path(ref), now=utc_now(), **options.keywords())


@step(cache_policy=NO_CACHE)
def plan_files_migration(paths: list[str], patterns: list[str], rules: str) -> MigrationPlan:
    ensure_storage_ready()  # the migration's first step: its result storage, before any work
    files = discover([Path(p) for p in paths], patterns)
    return plan_migration(files, load_rules(rules), root=Path.cwd())


@step(cache_policy=NO_CACHE)
def apply_files_migration(plan: MigrationPlan) -> ApplyOutcome:
    return apply_plan(plan)


@step(cache_policy=NO_CACHE)
def write_migration_report(plan: MigrationPlan, markdown: str, out: str | None) -> str | None:
    """migration_report.md in ``out`` (default: the working directory), when several files
    change; the path written, or None."""
    written = write_report(plan, markdown, Path(out) if out else Path.cwd())
    return str(written) if written else None

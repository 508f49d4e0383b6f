"""Prefect tasks of workflow health: thin wrappers with their policies, then pure code."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from prefect.cache_policies import NO_CACHE

from blocks.migration_rules import load_rules
from blocks.workflows import load_workflows_file
from tasks.platform.naming import utc_now
from tasks.platform.steps import retry_if_retryable, step, threads_run_steps
from tasks.workflows.baseline import build_baseline, read_baseline, write_baseline
from tasks.workflows.checkers import BUILTIN_CHECKERS, checker_from_spec
from tasks.workflows.classify import WorkerPool, classify_batch, discover
from tasks.workflows.contract import validate_snapshot
from tasks.workflows.corpus import CorpusPlan, plan_corpus, resolve
from tasks.workflows.fingerprint import load_suppressions
from tasks.workflows.gate import GateReport, compare
from tasks.workflows.history import HistoryStore, rows_from_report
from tasks.workflows.migrate import ApplyOutcome, MigrationPlan, apply_plan, plan_migration
from tasks.workflows.models import ClassificationReport, FileResult
from tasks.workflows.outputs import update_trends, write_run_outputs, write_snapshot


@step(name="plan-corpus", cache_policy=NO_CACHE)
def load_corpus(config: str, corpus: str, overrides: dict) -> CorpusPlan:
    return plan_corpus(load_workflows_file(config), corpus, **overrides)


@step(name="discover-files", cache_policy=NO_CACHE)
def discover_files(plan: CorpusPlan, root: str) -> list[str]:
    base = Path(root)
    paths = [resolve(base, p) for p in plan.corpus.paths]
    found = discover(paths, plan.corpus.patterns, plan.corpus.limit)
    return [str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in found]


@step(name="load-suppressions", cache_policy=NO_CACHE)
def suppressions_for(plan: CorpusPlan) -> tuple[list[str], list[str]]:
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
    name="check-batch",
    task_run_name="check-batch-{index}",
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


@step(
    name="record-history",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_retryable,
)
def record_history(report: ClassificationReport, plan: CorpusPlan, run_id: str) -> str:
    """Validate the snapshot's contract (Great Expectations), then append it; or append nothing."""
    files, runs = rows_from_report(report, run_id)
    validate_snapshot(files, runs, docs_dir=Path(plan.data_docs_dir)).raise_if_failed()
    store = HistoryStore(plan.history_uri, endpoint_url=plan.endpoint_url)
    store.append_frames(files, runs, run_id)
    return store.uri


@step(name="write-classification-outputs", cache_policy=NO_CACHE)
def write_classification_outputs(
    report: ClassificationReport, out_dir: str, snapshots_dir: str
) -> list[str]:
    written = write_run_outputs(report, Path(out_dir))
    history = Path(snapshots_dir)
    history.mkdir(parents=True, exist_ok=True)
    written.append(write_snapshot(report, history))
    update_trends(history)
    return [str(path) for path in written]


@step(name="write-baseline", cache_policy=NO_CACHE)
def write_parse_baseline(results: list[FileResult], output: str) -> dict:
    baseline = build_baseline(results, utc_now())
    write_baseline(Path(output), baseline)
    return baseline


@step(name="compare-baselines", cache_policy=NO_CACHE)
def compare_baselines(new: str, ref: str, options: dict) -> GateReport:
    return compare(read_baseline(Path(new)), read_baseline(Path(ref)), now=utc_now(), **options)


@step(name="plan-migration", cache_policy=NO_CACHE)
def plan_files_migration(paths: list[str], patterns: list[str], rules: str) -> MigrationPlan:
    files = discover([Path(p) for p in paths], patterns)
    return plan_migration(files, load_rules(rules), root=Path.cwd())


@step(name="apply-migration", cache_policy=NO_CACHE)
def apply_files_migration(plan: MigrationPlan) -> ApplyOutcome:
    return apply_plan(plan)

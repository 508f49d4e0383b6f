"""Workflow health (seed 003, second half): classify, baseline, regression gate, migration.

classify: plan corpus -> kill switch -> discover -> batches checked in parallel (one task per
batch) -> report -> workflow_failures.json/.md -> GX contract, then the history: Parquet, JSON
snapshot, trends.json -> artifacts. The gate refuses baselines it cannot compare and ends Failed
on a regression, with its report as result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from prefect import flow
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from blocks.storage import persisted_results, warden_home
from blocks.workflows import DEFAULT_WORKFLOWS_FILE
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import (
    as_completed,
    emit,
    ensure_kill_switch_off,
    progress,
    publish_summary,
)
from tasks.workflows.baseline import BaselineDocument
from tasks.workflows.classify import batches
from tasks.workflows.comparability import DEFAULT_MAX_MISSING
from tasks.workflows.corpus import CorpusPlan, batch_size_for, suppression_list
from tasks.workflows.failure_report import (
    classification_report,
    classification_rows,
    failures_markdown,
)
from tasks.workflows.migrate import (
    MigrationSummary,
    migration_report_md,
    migration_rows,
    migration_summary,
)
from tasks.workflows.models import ClassificationReport, FileResult
from tasks.workflows.regression import RegressionReport, regression_report_md
from tasks.workflows.steps import (
    apply_files_migration,
    batch_workers,
    check_batch,
    check_history_contract,
    check_storage,
    compare_baselines,
    discover_files,
    load_corpus,
    plan_files_migration,
    read_suppressions,
    record_history,
    write_classification_outputs,
    write_history_snapshot,
    write_migration_report,
    write_parse_baseline,
)

PROCESS = "workflow-health"
PERSIST = persisted_results()


@flow(name="classify-workflows", task_runner=ThreadPoolTaskRunner(max_workers=64), **PERSIST)
def classify_workflows(
    corpus: str = "sample",
    config: str | None = str(DEFAULT_WORKFLOWS_FILE),
    paths: list[str] | None = None,
    checker: str | None = None,
    mode: str | None = None,
    jobs: int | None = None,
    limit: int | None = None,
    out: str | None = None,
    record: bool = True,
    patterns: list[str] | None = None,
    output: str | None = None,
    markdown: str | None = None,
    history_dir: str | None = None,
) -> ClassificationReport:
    """Classify a corpus's files, write the seed's outputs; then, once the snapshot met its
    contract, keep the run in the history (Parquet, then JSON snapshot and trends.json)."""
    started, root = utc_now(), str(Path.cwd())
    overrides = {"paths": paths, "patterns": patterns, "checker": checker, "mode": mode}
    overrides |= {"jobs": jobs, "limit": limit, "snapshots_dir": history_dir, "record": record}
    plan = load_corpus(config, corpus, overrides)
    ensure_kill_switch_off(PROCESS)
    check_storage(plan)
    report = _classify(plan, root, started)
    out_dir = Path(out) if out else warden_home() / "out" / "workflows" / run_stamp(started)
    # quote(): a report holds a row per file, and Prefect would otherwise walk every row of a
    # task's parameters looking for futures (about 0.5 s a call at 3,000 files).
    write_classification_outputs(quote(report), str(out_dir), output, markdown)
    if plan.record:
        run_id = uuid.uuid4().hex
        check_history_contract(quote(report), plan, run_id)
        record_history(quote(report), plan, run_id)  # the remote store first: it may fail
        write_history_snapshot(quote(report), plan.snapshots_dir)
    key = artifact_key(PROCESS, plan.name)
    publish_summary(key, failures_markdown(report), classification_rows(report), f"{plan.name}")
    emit(PROCESS, "classified", "corpus", plan.name, report.summary.model_dump())
    return report


@flow(name="parse-baseline", task_runner=ThreadPoolTaskRunner(max_workers=64), **PERSIST)
def parse_baseline(
    corpus: str = "sample",
    config: str | None = str(DEFAULT_WORKFLOWS_FILE),
    paths: list[str] | None = None,
    checker: str | None = None,
    output: str = "parse_baseline.json",
    patterns: list[str] | None = None,
) -> BaselineDocument:
    """A parse-only snapshot of health in the seed's shape: totals, by_code, failure_rate."""
    started, root = utc_now(), str(Path.cwd())
    overrides = {"paths": paths, "patterns": patterns, "checker": checker, "mode": "parse"}
    plan = load_corpus(config, corpus, overrides)
    ensure_kill_switch_off(PROCESS)
    report = _classify(plan, root, started)
    return write_parse_baseline(quote(report.files), output)


@flow(name="baseline-regression-gate", **PERSIST)
def baseline_regression_gate(
    new: str,
    ref: str,
    abs_threshold: int = 5,
    rel_threshold: float = 0.10,
    codes: list[str] | None = None,
    fail_on_new_internal: bool = False,
    max_missing: float = DEFAULT_MAX_MISSING,
    exclude_suppressed: bool = False,
    suppressions: str | None = None,
) -> State:
    """Fail when a targeted code rose by more than both thresholds (seed's regression gate);
    baselines that cannot be compared end the run before any count is (exit 2)."""
    options = {
        "abs_threshold": abs_threshold,
        "rel_threshold": rel_threshold,
        "fail_on_new_internal": fail_on_new_internal,
        "max_missing": max_missing,
        "suppressions": suppression_list(exclude_suppressed, suppressions),
    }
    if codes:
        options["codes"] = tuple(codes)
    report: RegressionReport = compare_baselines(new, ref, options)
    publish_summary(
        artifact_key(PROCESS, "regression-gate"),
        regression_report_md(report),
        [r.model_dump() for r in report.regressions] or [{"regressions": 0}],
        "gate",
    )
    if report.exit_code:
        return Failed(message=f"regression in {len(report.regressions)} code(s)", data=report)
    return Completed(message="no regression", data=report)


@flow(name="migrate-workflows", **PERSIST)
def migrate_workflows(
    paths: list[str],
    rules: str = "deployments/migration_rules.yaml",
    apply: bool = False,
    patterns: list[str] | None = None,
    out: str | None = None,
) -> MigrationSummary:
    """Rewrite legacy syntax with regex rules: diffs on a dry run, atomic writes on apply."""
    plan = plan_files_migration(paths, patterns or ["*"], rules)
    outcome = None
    if apply:
        ensure_kill_switch_off(PROCESS)
        outcome = apply_files_migration(plan)
    markdown = migration_report_md(plan, applied=apply, outcome=outcome)
    report_file = write_migration_report(plan, markdown, out)
    publish_summary(artifact_key(PROCESS, "migration"), markdown, migration_rows(plan), "migration")
    return migration_summary(plan, outcome, report_file)


def classify_on_dask(address: str):
    """classify-workflows with its batches on an existing Dask cluster (corpora beyond one
    machine): every worker must see the files and the Prefect API."""
    from prefect_dask import DaskTaskRunner

    return classify_workflows.with_options(task_runner=DaskTaskRunner(address=address))


def _classify(plan: CorpusPlan, root: str, started: datetime) -> ClassificationReport:
    files = discover_files(plan, root)
    fingerprints, warnings = read_suppressions(plan)
    results = _check_all(plan, files, fingerprints)
    return classification_report(plan, started, results, warnings, finished=utc_now())


def _check_all(plan: CorpusPlan, files: list[str], fingerprints: list[str]) -> list[FileResult]:
    """Submit batches keeping at most ``jobs`` in flight; results in file order."""
    chunks = batches(files, batch_size_for(len(files), plan.corpus)) if files else []
    update = progress(artifact_key(PROCESS, f"{plan.name}-progress"))
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
            future = check_batch.submit(index, chunk, plan, fingerprints, workers)
            futures.append(future)
            in_flight.add(future)
        results = [row for future in futures for row in future.result()]
    update(100.0)
    return results

"""Workflow health (seed 003, second half): classify, baseline, regression gate, migration.

classify: plan corpus -> kill switch -> discover -> batches checked in parallel (one task per
batch) -> report -> workflow_failures.json/.md -> GX contract, then the history: Parquet, JSON
snapshot, trends.json -> artifacts. The gate refuses baselines it cannot compare and ends Failed
on a regression, with its report as result.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import flow
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from blocks.storage import persisted_results
from blocks.workflows import DEFAULT_WORKFLOWS_FILE
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import emit, ensure_kill_switch_off, publish_summary
from tasks.workflows import failure_report, migrate, steps
from tasks.workflows.baseline import BaselineDocument
from tasks.workflows.comparability import DEFAULT_MAX_MISSING
from tasks.workflows.corpus import CorpusOverrides, CorpusPlan
from tasks.workflows.models import ClassificationReport
from tasks.workflows.regression import RegressionReport, regression_report_md, regression_rows
from tasks.workflows.regression_options import RegressionOptions

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
    started = utc_now()
    overrides = CorpusOverrides(
        paths=paths, patterns=patterns, checker=checker, mode=mode, jobs=jobs, limit=limit,
        snapshots_dir=history_dir, record=record,
    )  # fmt: skip
    plan = steps.load_corpus(config, corpus, overrides)
    ensure_kill_switch_off(PROCESS)
    steps.check_storage(plan)
    report = _classify(plan, started)
    out_dir = str(failure_report.run_output_dir(out, started))
    # quote(): else Prefect walks each row of a report for futures (0.5 s a call at 3,000 files)
    steps.write_classification_outputs(quote(report), out_dir, output, markdown)
    steps.keep_in_history(report, plan)
    summary_md = failure_report.failures_markdown(report)
    rows = failure_report.classification_rows(report)
    publish_summary(artifact_key(PROCESS, plan.name), summary_md, rows, plan.name)
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
    overrides = CorpusOverrides(paths=paths, patterns=patterns, checker=checker, mode="parse")
    plan = steps.load_corpus(config, corpus, overrides)
    ensure_kill_switch_off(PROCESS)
    report = _classify(plan, utc_now())
    return steps.write_parse_baseline(quote(report.files), output)


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
    options = RegressionOptions.of(
        abs_threshold=abs_threshold, rel_threshold=rel_threshold, codes=codes,
        fail_on_new_internal=fail_on_new_internal, max_missing=max_missing,
        exclude_suppressed=exclude_suppressed, suppressions=suppressions,
    )  # fmt: skip
    report: RegressionReport = steps.compare_baselines(new, ref, options)
    key = artifact_key(PROCESS, "regression-gate")
    publish_summary(key, regression_report_md(report), regression_rows(report), "gate")
    return (Failed if report.exit_code else Completed)(message=report.summary, data=report)


@flow(name="migrate-workflows", **PERSIST)
def migrate_workflows(
    paths: list[str],
    rules: str = "deployments/migration_rules.yaml",
    apply: bool = False,
    patterns: list[str] | None = None,
    out: str | None = None,
) -> migrate.MigrationSummary:
    """Rewrite legacy syntax with regex rules: diffs on a dry run, atomic writes on apply."""
    plan = steps.plan_files_migration(paths, patterns or ["*"], rules)
    outcome = None
    if apply:
        ensure_kill_switch_off(PROCESS)
        outcome = steps.apply_files_migration(plan)
    markdown = migrate.migration_report_md(plan, applied=apply, outcome=outcome)
    report_file = steps.write_migration_report(plan, markdown, out)
    key, rows = artifact_key(PROCESS, "migration"), migrate.migration_rows(plan)
    publish_summary(key, markdown, rows, "migration")
    return migrate.migration_summary(plan, outcome, report_file)


def classify_on_dask(address: str):
    """classify-workflows on a Dask cluster: every worker must see the files and Prefect API."""
    from prefect_dask import DaskTaskRunner

    return classify_workflows.with_options(task_runner=DaskTaskRunner(address=address))


def _classify(plan: CorpusPlan, started: datetime) -> ClassificationReport:
    files = steps.discover_files(plan, str(Path.cwd()))
    fingerprints, warnings = steps.read_suppressions(plan)
    progress_key = artifact_key(PROCESS, f"{plan.name}-progress")
    results = steps.check_files(plan, files, fingerprints, progress_key)
    finished = utc_now()
    return failure_report.classification_report(plan, started, results, warnings, finished=finished)

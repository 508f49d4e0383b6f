"""``warden workflows``: classify, baseline, regression gate and migration (seed 003)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_WORKFLOWS_FILE
from blocks.errors import WardenError
from cli.output import console, fail, flow_result

if TYPE_CHECKING:  # the models load with the command that needs them: --help stays fast
    from blocks.workflows import WorkflowsFile

app = typer.Typer(no_args_is_help=True)

ConfigIfAny = Annotated[
    Path | None,
    typer.Option(
        "--config", help=f"Workflows file (default: {DEFAULT_WORKFLOWS_FILE}, where it exists)."
    ),
]
Paths = Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: corpus).")]
Checker = Annotated[
    str | None, typer.Option("--checker", help="python, yaml, or a command with {file}.")
]
Patterns = Annotated[
    list[str] | None,
    typer.Option("--pattern", help="File names to check in folders, e.g. '*.aether' (repeat)."),
]


def workflows_file(config: Path | None) -> WorkflowsFile | None:
    """The workflows file given, else the default one where it exists, else None. One that
    does not load ends the command with its error (exit 2) before anything runs."""
    from blocks.workflows import load_workflows_file

    path = config or (DEFAULT_WORKFLOWS_FILE if DEFAULT_WORKFLOWS_FILE.is_file() else None)
    if path is None:
        return None
    try:
        return load_workflows_file(path)
    except WardenError as exc:
        fail(exc)


def _config_for_run(
    config: Path | None, paths: list[Path] | None, checker: str | None
) -> str | None:
    """The workflows file a run reads, validated here; None when PATHS and --checker make the
    corpus alone (outside a checkout). Without either, the missing file is the error."""
    if workflows_file(config) is not None:
        return str(config or DEFAULT_WORKFLOWS_FILE)
    if not (paths and checker):
        from blocks.workflows import adhoc_workflows_file

        try:
            adhoc_workflows_file("adhoc", None, None)  # raises: says what to pass
        except WardenError as exc:
            fail(exc)
    return None


@app.command("classify")
def classify(
    paths: Paths = None,
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus", help="Corpus of the workflows file (default sample; adhoc without one)."
        ),
    ] = None,
    config: ConfigIfAny = None,
    checker: Checker = None,
    mode: Annotated[str | None, typer.Option("--mode", help="parse or execute.")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="Parallel batches (default: the corpus's, else the CPU count); built-in "
            "checkers use worker processes from 2,000 files a job.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N files.")] = None,
    patterns: Patterns = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="workflow_failures.json here (seed's name).")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="workflow_failures.md here.")
    ] = None,
    history_dir: Annotated[
        Path | None,
        typer.Option("--history-dir", help="Snapshots and trends.json (default: the config's)."),
    ] = None,
    record: Annotated[
        bool, typer.Option(help="Keep the run in the history (snapshot, trends, Parquet).")
    ] = True,
    dask_address: Annotated[
        str | None, typer.Option("--dask-address", help="Run batches on this Dask scheduler.")
    ] = None,
) -> None:
    """Classify failing workflows: workflow_failures.json/.md, snapshot, trends, history."""
    config_file = _config_for_run(config, paths, checker)

    def load():
        from flows.workflow_health import classify_on_dask, classify_workflows

        return classify_on_dask(dask_address) if dask_address else classify_workflows

    report = flow_result(
        load,
        needs_api="--dask-address" if dask_address else None,
        corpus=corpus or ("sample" if config_file else "adhoc"),
        config=config_file,
        paths=[str(p) for p in paths] if paths else None,
        checker=checker,
        mode=mode,
        jobs=jobs,
        limit=limit,
        out=str(out) if out else None,
        record=record,
        patterns=patterns,
        output=str(output) if output else None,
        markdown=str(markdown) if markdown else None,
        history_dir=str(history_dir) if history_dir else None,
    )
    table = Table("category", "files")
    for category, count in report.summary.by_category.items():
        table.add_row(category, str(count))
    console.print(table)
    summary = report.summary
    console.print(
        f"{summary.failed} of {summary.total} failed, {summary.suppressed_failures} suppressed"
    )
    for warning in report.suppression_warnings:
        console.print(f"[yellow]suppressions:[/] {warning}")


@app.command("baseline")
def baseline(
    paths: Paths = None,
    output: Annotated[Path, typer.Option("--output", help="Baseline file.")] = Path(
        "parse_baseline.json"
    ),
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="Corpus (default sample; adhoc without one).")
    ] = None,
    config: ConfigIfAny = None,
    checker: Checker = None,
    patterns: Patterns = None,
) -> None:
    """Write a parse-only baseline: {timestamp, total, by_code, failure_rate, files}."""
    config_file = _config_for_run(config, paths, checker)
    result = flow_result(
        "flows.workflow_health:parse_baseline",
        corpus=corpus or ("sample" if config_file else "adhoc"),
        config=config_file,
        paths=[str(p) for p in paths] if paths else None,
        checker=checker,
        output=str(output),
        patterns=patterns,
    )
    console.print(
        f"{output}: {result.total} files, failure rate {result.failure_rate:.2%}, "
        + ", ".join(f"{k} {v}" for k, v in result.by_code.items())
    )


@app.command("gate")
def gate(
    new: Annotated[Path, typer.Option("--new", help="The new baseline.")],
    ref: Annotated[Path, typer.Option("--ref", help="The reference baseline.")],
    abs_threshold: Annotated[int, typer.Option("--abs-threshold", min=0)] = 5,
    rel_threshold: Annotated[float, typer.Option("--rel-threshold", min=0.0)] = 0.10,
    codes: Annotated[
        list[str] | None, typer.Option("--codes", help="Codes to watch (repeat or a,b).")
    ] = None,
    fail_on_new_internal: Annotated[bool, typer.Option("--fail-on-new-internal")] = False,
    max_missing: Annotated[
        float,
        typer.Option(
            "--max-missing",
            min=0.0,
            max=0.99,
            help="Share of the reference's files the new baseline may lack (default 0.10).",
        ),
    ] = 0.10,
    exclude_suppressed: Annotated[
        bool,
        typer.Option(
            "--exclude-suppressed", help="Leave suppressed failures out of both baselines' counts."
        ),
    ] = False,
    suppressions: Annotated[
        Path | None,
        typer.Option("--suppressions", help="Suppression file (default: the workflows file's)."),
    ] = None,
    config: ConfigIfAny = None,
) -> None:
    """Exit 1 when a watched code rose by more than both thresholds; print the JSON report.
    Exit 2, comparing nothing, when a baseline is unreadable, empty, truncated, stale or of
    another corpus."""
    from tasks.workflows.corpus import suppression_list

    names = [part for item in codes or [] for part in item.split(",") if part] or None
    workflows = workflows_file(config) if exclude_suppressed and not suppressions else None
    try:
        listed = suppression_list(
            exclude_suppressed, str(suppressions) if suppressions else None, workflows
        )
    except WardenError as exc:
        fail(exc)
    report = flow_result(
        "flows.workflow_health:baseline_regression_gate",
        new=str(new),
        ref=str(ref),
        abs_threshold=abs_threshold,
        rel_threshold=rel_threshold,
        codes=names,
        fail_on_new_internal=fail_on_new_internal,
        max_missing=max_missing,
        exclude_suppressed=exclude_suppressed,
        suppressions=str(listed) if listed else None,
    )
    print(json.dumps(report.to_dict(), indent=2))
    raise typer.Exit(report.exit_code)


@app.command("migrate")
def migrate(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to migrate.")],
    rules: Annotated[Path, typer.Option("--rules", help="Rules file.")] = Path(
        "deployments/migration_rules.yaml"
    ),
    apply: Annotated[bool, typer.Option("--apply/--dry-run", help="Write, or show diffs.")] = False,
    patterns: Annotated[list[str] | None, typer.Option("--pattern")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where migration_report.md goes.")
    ] = None,
) -> None:
    """Rewrite legacy syntax with regex rules; --dry-run (default) prints unified diffs."""
    summary = flow_result(
        "flows.workflow_health:migrate_workflows",
        paths=[str(p) for p in paths],
        rules=str(rules),
        apply=apply,
        patterns=patterns,
        out=str(out) if out else None,
    )
    if not apply:
        for diff in summary.diffs.values():
            print(diff, end="" if diff.endswith("\n") else "\n")
    verb = "written" if apply else "would change"
    count = len(summary.written) if apply else len(summary.changed)
    console.print(
        f"{count} file(s) {verb}, {len(summary.unchanged)} unchanged, "
        f"{len(summary.skipped)} skipped"
    )
    for skipped in summary.skipped:
        console.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}")
    if summary.report_file:
        console.print(f"report: {summary.report_file}")

"""``warden workflows``: classify, baseline, regression gate and migration (seed 003)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from blocks.errors import WardenError
from blocks.workflows import DEFAULT_WORKFLOWS_FILE, load_workflows_file
from cli.output import console, fail, flow_result

app = typer.Typer(no_args_is_help=True)

Config = Annotated[Path, typer.Option("--config", help="Workflows file.")]
Corpus = Annotated[str, typer.Option("--corpus", help="Corpus of the workflows file.")]
Paths = Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: corpus).")]
Checker = Annotated[
    str | None, typer.Option("--checker", help="python, yaml, or a command with {file}.")
]


def _validated(config: Path) -> None:
    try:
        load_workflows_file(config)
    except WardenError as exc:
        fail(exc)


@app.command("classify")
def classify(
    paths: Paths = None,
    corpus: Corpus = "sample",
    config: Config = DEFAULT_WORKFLOWS_FILE,
    checker: Checker = None,
    mode: Annotated[str | None, typer.Option("--mode", help="parse or execute.")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="Parallel batches; built-in checkers use worker processes from 2,000 files a job.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N files.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    record: Annotated[bool, typer.Option(help="Append the run to the history.")] = True,
    dask_address: Annotated[
        str | None, typer.Option("--dask-address", help="Run batches on this Dask scheduler.")
    ] = None,
) -> None:
    """Classify failing workflows: workflow_failures.json/.md, snapshot, trends, history."""
    _validated(config)

    def load():
        from flows.workflow_health import classify_on_dask, classify_workflows

        return classify_on_dask(dask_address) if dask_address else classify_workflows

    report = flow_result(
        load,
        needs_api="--dask-address" if dask_address else None,
        corpus=corpus,
        config=str(config),
        paths=[str(p) for p in paths] if paths else None,
        checker=checker,
        mode=mode,
        jobs=jobs,
        limit=limit,
        out=str(out) if out else None,
        record=record,
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
    corpus: Corpus = "sample",
    config: Config = DEFAULT_WORKFLOWS_FILE,
    checker: Checker = None,
) -> None:
    """Write a parse-only baseline: {timestamp, total, by_code, failure_rate, files}."""
    _validated(config)
    result = flow_result(
        "flows.workflow_health:parse_baseline",
        corpus=corpus,
        config=str(config),
        paths=[str(p) for p in paths] if paths else None,
        checker=checker,
        output=str(output),
    )
    console.print(
        f"{output}: {result['total']} files, failure rate {result['failure_rate']:.2%}, "
        + ", ".join(f"{k} {v}" for k, v in result["by_code"].items())
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
) -> None:
    """Exit 1 when a watched code rose by more than both thresholds; print the JSON report."""
    from tasks.workflows.gate import exit_code

    names = [part for item in codes or [] for part in item.split(",") if part] or None
    report = flow_result(
        "flows.workflow_health:baseline_regression_gate",
        new=str(new),
        ref=str(ref),
        abs_threshold=abs_threshold,
        rel_threshold=rel_threshold,
        codes=names,
        fail_on_new_internal=fail_on_new_internal,
    )
    print(json.dumps(report.to_dict(), indent=2))
    raise typer.Exit(exit_code(report))


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
        for diff in summary["diffs"].values():
            print(diff, end="" if diff.endswith("\n") else "\n")
    verb = "written" if apply else "would change"
    count = len(summary["written"]) if apply else len(summary["changed"])
    console.print(
        f"{count} file(s) {verb}, {len(summary['unchanged'])} unchanged, "
        f"{len(summary['skipped'])} skipped"
    )
    for skipped in summary["skipped"]:
        console.print(f"[yellow]skipped[/] {skipped['path']}: {skipped['reason']}")
    if summary["report_file"]:
        console.print(f"report: {summary['report_file']}")

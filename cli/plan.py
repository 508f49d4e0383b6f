"""``warden plan``: import/export the team's markdown plan, run it with strict failure, status.

Exit codes: 0 every task verified; 1 a task failed (or did not run) or a claim is unverified;
2 bad plan or options; 3 kill switch on; 4 backend unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blocks.errors import ConfigError, ExitCode, WardenError
from cli.output import console, errors, fail, flow_result

if TYPE_CHECKING:  # models load with the command that needs them: --help stays fast
    from blocks.plans import PlanFile
    from tasks.plans.models import PlanReport

app = typer.Typer(no_args_is_help=True)
PlanArgument = Annotated[Path, typer.Argument(help="The plan (YAML).")]


@app.command("import")
def import_markdown(
    markdown: Annotated[Path, typer.Argument(help="The plan in markdown (the WP0 format).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The YAML plan to write.")],
) -> None:
    """Read a markdown plan into a YAML plan, keeping every id, title and claimed status."""
    from tasks.plans.markdown_import import import_plan, plan_yaml
    from tasks.platform.files import write_atomic

    try:
        text = markdown.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(ConfigError(f"{markdown}: cannot read ({exc})", remediation="Pass a markdown file."))
    try:
        plan = import_plan(text)
    except ValueError as exc:
        fail(ConfigError(f"{markdown}: not a plan ({exc})", remediation=_FORMAT_HINT))
    if not plan.phases:
        fail(ConfigError(f"{markdown}: no '## Phase N – Title' heading", remediation=_FORMAT_HINT))
    write_atomic(output, plan_yaml(plan))
    tasks = plan.tasks()
    unchecked = sum(1 for _, _, task in tasks if task.verify is None)
    console.print(
        f"{output}: {len(plan.phases)} phases, {sum(len(p.steps) for p in plan.phases)} steps, "
        f"{len(tasks)} tasks ({unchecked} without verify: add one before `warden plan run`)"
    )


_FORMAT_HINT = "Use the WP0 format: '## Phase N – Title', '**Step N.M – Title**', '- Task N.M.K:'."


@app.command("export")
def export(
    plan_file: PlanArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="The markdown to write.")],
    report: Annotated[
        Path | None,
        typer.Option("--report", help="A run's plan_report.json (default: the plan's latest)."),
    ] = None,
    claims: Annotated[
        bool, typer.Option("--claims", help="Write the claimed statuses, ignoring any evidence.")
    ] = False,
) -> None:
    """Write the plan back as markdown; status lines come from the latest run's evidence."""
    from tasks.plans.markdown_export import export_markdown
    from tasks.plans.outputs import evidence_of
    from tasks.platform.files import write_atomic

    plan = _load(plan_file, runnable=False)
    found = None if claims else _report(plan, report, required=report is not None)
    write_atomic(output, export_markdown(plan, evidence_of(found) if found else None))
    source = f"evidence of {found.finished:%Y-%m-%d %H:%M}Z" if found else "claimed statuses"
    console.print(f"{output}: written with {source}")


@app.command("run")
def run(
    plan_file: PlanArgument,
    from_id: Annotated[
        str | None, typer.Option("--from", help="Re-check from this phase/step/task id on.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Re-check only these ids (repeatable).")
    ] = None,
    base_dir: Annotated[
        Path, typer.Option("--base-dir", help="Where the checks run (default: here).")
    ] = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
) -> None:
    """Run the plan with strict failure; exit 0 only when every task is verified."""
    plan = _load(plan_file, runnable=True)
    try:
        from blocks.plans import check_selection

        check_selection(plan, plan_file, [name for name in [from_id, *(only or [])] if name])
    except WardenError as exc:
        fail(exc)
    report: PlanReport = flow_result(
        "flows.safety_plan:safety_plan",
        plan=str(plan_file),
        base_dir=str(base_dir),
        from_id=from_id,
        only=only,
        out=str(out) if out else None,
    )
    _print(report)
    raise typer.Exit(report.exit_code)


@app.command("status")
def status(plan_file: PlanArgument) -> None:
    """The plan's latest run from evidence (no run: exit 1, nothing is proven)."""
    plan = _load(plan_file, runnable=False)
    report = _report(plan, None, required=False)
    if report is None:
        console.print(f"{plan_file}: never run; nothing is proven")
        raise typer.Exit(ExitCode.VERDICT_FAILED)
    _print(report)
    raise typer.Exit(report.exit_code)


def _load(path: Path, *, runnable: bool) -> PlanFile:
    from blocks.plans import load_plan

    try:
        return load_plan(path, runnable=runnable)
    except WardenError as exc:
        fail(exc)


def _report(plan: PlanFile, path: Path | None, *, required: bool) -> PlanReport | None:
    from blocks.storage import warden_home
    from tasks.plans.cache import LATEST_REPORT, plan_folder, plan_hash
    from tasks.plans.outputs import read_report

    target = path or plan_folder(warden_home(), plan) / LATEST_REPORT
    if not target.exists() and not required:
        return None
    try:
        report = read_report(target)
    except (OSError, ValueError) as exc:
        fail(ConfigError(f"{target}: not a plan report ({type(exc).__name__})"))
    if report.plan_hash != plan_hash(plan):
        fail(
            ConfigError(f"{target}: the report is of another plan (its phases/steps/tasks differ)")
        )
    return report


def _print(report: PlanReport) -> None:
    from tasks.plans.outputs import SYMBOLS
    from tasks.plans.verdicts import status_line

    phases = Table("phase", "title", "status")
    for phase in report.phases:
        phases.add_row(phase.id, phase.title, status_line(phase, report.tasks))
    console.print(phases)
    tasks = Table("task", "check", "result", "duration", "evidence")
    for task in report.tasks:
        cached = " (cached)" if task.cached else ""
        tasks.add_row(
            task.task_id,
            task.check,
            f"{SYMBOLS[task.status]} {task.status.value} {task.reason}".strip(),
            f"{task.duration_sec:.2f}s{cached}",
            task.message,
        )
    console.print(tasks)
    verdict = "[bold green]VERIFIED[/]" if report.all_verified else "[bold red]NOT VERIFIED[/]"
    console.print(f"{verdict} residual risk {report.overall_text}, exit {report.exit_code}")
    if report.stopped_at:
        console.print(f"  - stopped at task {report.stopped_at}; later tasks not run")
    if report.claims_unverified:
        console.print("  - CLAIM_UNVERIFIED: " + ", ".join(report.claims_unverified))
    if report.out_dir:
        errors.print(f"outputs: {report.out_dir}/plan_report.json, plan_status.md")

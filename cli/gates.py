"""``warden gates``: run the go/no-go suite and exit 0 (go), 1 (no-go) or 2 (bad input)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_GATES_FILE
from blocks.errors import UsageError, WardenError
from cli.output import console, fail, flow_result

if TYPE_CHECKING:  # the models load with the command that needs them: --help stays fast
    from tasks.gates.models import GateSuiteReport

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Gates file.", show_default=True)
]


@app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
)
def run(
    ctx: typer.Context,
    config: ConfigOption = DEFAULT_GATES_FILE,
    gates: Annotated[
        list[str] | None,
        typer.Option("--gates", help="Run only these gates: --gates a b (or a,b)."),
    ] = None,
    all_gates: Annotated[
        bool, typer.Option("--all", help="Run every gate of the file, whatever the profile.")
    ] = False,
    strict_manual: Annotated[
        bool, typer.Option("--strict-manual", help="A manual gate not fully validated fails.")
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Profile of the file (default: $AETHERRA_PROFILE)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default .warden/out/gates/<ts>).")
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="An accepted run's gate_results.json (or a folder of runs) that relative "
            "thresholds compare with (default: the last accepted run of the profile).",
        ),
    ] = None,
) -> None:
    """Run the gates (all by default) and exit with the verdict: 0 go, 1 no-go, 2 bad input."""
    selected = _selected(gates, ctx.args)
    try:  # validate everything before anything runs, and before Prefect starts
        from blocks.gates import load_gates_file
        from tasks.gates.references import given_references
        from tasks.gates.selection import plan_run

        plan = plan_run(
            load_gates_file(config),
            selected=selected,
            all_gates=all_gates,
            profile=profile,
            strict_manual=strict_manual or None,
        )
        if previous is not None:
            given_references(previous, plan.profile, plan.gates)
    except WardenError as exc:
        fail(exc)
    report: GateSuiteReport = flow_result(
        "flows.go_no_go:go_no_go_gates",
        config=str(config),
        gates=selected,
        all_gates=all_gates,
        profile=plan.profile,
        strict_manual=strict_manual or None,
        out=str(out) if out else None,
        previous=str(previous) if previous else None,
    )
    _print_report(report)
    raise typer.Exit(report.exit_code)


@app.command("list")
def list_gates(config: ConfigOption = DEFAULT_GATES_FILE) -> None:
    from blocks.gates import load_gates_file

    """List the gates and profiles a gates file declares (validates it too)."""
    try:
        gates_file = load_gates_file(config)
    except WardenError as exc:
        fail(exc)
    table = Table("gate", "kind", "mode", "key", "weight", "timeout", "depends on")
    for gate in gates_file.gates:
        table.add_row(
            gate.name,
            gate.kind,
            gate.mode.value,
            "yes" if gate.key else "",
            f"{gate.weight:g}",
            f"{gate.timeout_sec:g}s",
            ", ".join(gate.depends_on),
        )
    console.print(table)
    console.print("profiles: " + ", ".join(["default", *gates_file.profiles]))


def _selected(gates: list[str] | None, extra: list[str]) -> list[str] | None:
    if extra and not gates:
        fail(UsageError(f"unexpected arguments: {' '.join(extra)}"))
    names = [part for item in [*(gates or []), *extra] for part in item.split(",") if part]
    return names or None


def _print_report(report: GateSuiteReport) -> None:
    from tasks.gates.models import GateVerdict

    table = Table("gate", "result", "mode", "weight", "duration", "reason")
    for gate in report.gates:
        table.add_row(
            gate.name,
            f"{gate.symbol} {gate.status.value}",
            gate.mode.value,
            f"{gate.weight:g}",
            f"{gate.duration_sec:.2f}s",
            gate.reason,
        )
    console.print(table)
    colour = {GateVerdict.GO: "green", GateVerdict.WARN: "yellow"}.get(report.verdict, "red")
    console.print(
        f"[bold {colour}]{report.verdict.value.upper()}[/] score {report.score:.1f} "
        f"({report.band.value}), profile {report.profile}, exit {report.exit_code}"
    )
    for reason in report.reasons:
        console.print(f"  - {reason}")
    if report.out_dir:
        console.print(f"outputs: {report.out_dir}/gate_results.json, gate_sign_off.md")

"""``warden lora``: deploy an adapter behind the gauntlet, run the gauntlet alone, roll back,
show a target's state.

Exit codes of ``deploy``: 0 the adapter is stable (deployed, promoted, promoted_untested,
already_stable: the printed outcome says whether a gauntlet proved it), 1 refused / not ready /
rolled back, 2 bad input or configuration, 3 kill switch on, 4 a backend cannot be reached.
``gauntlet``: 0 pass, 1 fail or inconclusive, 2 bad input, 3 kill switch on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_LORA_FILE
from blocks.errors import UsageError, WardenError
from cli.output import console, fail, flow_result

if TYPE_CHECKING:  # the models load with the command that needs them: --help stays fast
    from blocks.lora import LoraFile

app = typer.Typer(no_args_is_help=True)

TargetOption = Annotated[str, typer.Option("--target", "-t", help="Target of the LoRA file.")]
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The LoRA file.")]


def _config(config: Path, target: str) -> LoraFile:
    from blocks.lora import load_lora_file

    try:
        lora = load_lora_file(config)
        lora.target(target)
    except WardenError as exc:
        fail(exc)
    return lora


@app.command("deploy")
def deploy(
    adapter: Annotated[
        Path,
        typer.Argument(
            help="PEFT adapter folder (adapter_config.json + adapter_model.safetensors)."
        ),
    ],
    target: TargetOption = "demo",
    version: Annotated[
        str | None, typer.Option("--version", help="Version name (default: sha-<hash>).")
    ] = None,
    config: ConfigOption = DEFAULT_LORA_FILE,
    gauntlet: Annotated[
        bool | None, typer.Option("--gauntlet/--no-gauntlet", help="Override GAUNTLET_ENABLED.")
    ] = None,
    a2a: Annotated[
        bool | None, typer.Option("--a2a/--no-a2a", help="Override A2A_ENABLED.")
    ] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="Override GAUNTLET_MODE.")] = None,
    skip_gauntlet: Annotated[
        bool | None,
        typer.Option("--skip-gauntlet/--run-gauntlet", help="Override SKIP_GAUNTLET (mock)."),
    ] = None,
) -> None:
    """Deploy ADAPTER to the target's canary, run the gauntlet, promote or roll back."""
    _config(config, target)
    report = flow_result(
        "flows.lora_deploy:lora_deploy",
        adapter=str(adapter),
        target=target,
        version=version,
        config=str(config),
        gauntlet_enabled=gauntlet,
        a2a_enabled=a2a,
        gauntlet_mode=mode,
        skip_gauntlet=skip_gauntlet,
    )
    console.print(f"switches: {report.switches}", markup=False)
    console.print(f"stable: {report.stable_before} -> {report.stable_after}", markup=False)
    if report.gauntlet is not None:
        _print_metrics(report.gauntlet)
    for reason in report.reasons:
        console.print(f"- {reason}", markup=False)
    for problem in report.a2a.problems if report.a2a else ():
        console.print(f"A2A {problem.kind}: {problem.message}", markup=False)
    if report.outcome == "promoted_untested":
        console.print("[yellow]untested:[/] SKIP_GAUNTLET promoted it without running a gauntlet")
    console.print(f"[bold]{report.outcome}[/] version {report.version} (exit {report.exit_code})")
    raise typer.Exit(report.exit_code)


@app.command("gauntlet")
def gauntlet(
    target: TargetOption = "demo",
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="Model name (default: canary, else stable).")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Model name (default: the stable adapter).")
    ] = None,
    config: ConfigOption = DEFAULT_LORA_FILE,
    mode: Annotated[
        str, typer.Option("--mode", help="full: every prompt; canary: the stratified sample.")
    ] = "full",
) -> None:
    """Run the sealed gauntlet against what the target serves; exit 0 pass, 1 fail."""
    _config(config, target)
    if mode not in ("full", "canary"):
        fail(UsageError(f"--mode {mode!r} is not a gauntlet mode", remediation="Use full|canary."))
    verdict = flow_result(
        "flows.lora_gauntlet:lora_gauntlet",
        target=target,
        candidate=candidate,
        baseline=baseline,
        config=str(config),
        mode=mode,
    )
    _print_metrics(verdict)
    for reason in verdict.reasons:
        console.print(f"- {reason.code}: {reason.message}", markup=False)
    console.print(
        f"[bold]{verdict.status}[/]: {verdict.candidate} vs {verdict.stable} "
        f"(mode {verdict.mode}: {verdict.prompts} of {verdict.dataset_prompts} prompts)"
    )
    raise typer.Exit(0 if verdict.passed else 1)


@app.command("rollback")
def rollback(target: TargetOption = "demo", config: ConfigOption = DEFAULT_LORA_FILE) -> None:
    """The rollback handler (flow lora-rollback): restore the previous stable, unload the canary
    (idempotent). It is cleanup, so it works under the kill switch."""
    _config(config, target)
    result = flow_result("flows.lora_rollback:lora_rollback", target=target, config=str(config))
    console.print(result.message, markup=False)
    console.print(f"stable: {result.stable}; canary removed: {result.canary}", markup=False)


@app.command("status")
def status(
    target: TargetOption = "demo",
    config: ConfigOption = DEFAULT_LORA_FILE,
    history: Annotated[int, typer.Option("--history", help="History entries to show.")] = 10,
) -> None:
    """Stable and canary versions, the deploy history, and A2A events waiting in the spool."""
    from tasks.events.spool_peek import peek_pending_count
    from tasks.lora.wiring import deploy_target

    lora = _config(config, target)
    try:
        backend = deploy_target(target, lora)
        pointers, entries = backend.current(), backend.history()
    except WardenError as exc:
        fail(exc)
    console.print(
        f"[bold]{target}[/] ({lora.target(target).kind}): stable {pointers.stable}, "
        f"canary {pointers.canary}"
    )
    table = Table("at", "action", "version", "previous stable", title="history")
    for entry in entries[-history:]:
        table.add_row(
            *(str(entry.get(k, "")) for k in ("at", "action", "version", "previous_stable"))
        )
    console.print(table)
    spool_path = lora.a2a.spool_path()
    try:  # read only: a reporting command neither creates nor prepares the spool
        waiting = peek_pending_count(spool_path)
    except WardenError as exc:
        console.print(f"A2A spool: unreadable ({exc.message})", markup=False)
        return
    if waiting is not None:
        console.print(f"A2A spool: {waiting} event(s) waiting ({spool_path})", markup=False)


def _print_metrics(verdict) -> None:
    from tasks.lora.verdict_summary import verdict_rows

    rows = verdict_rows(verdict)
    if not rows:
        return
    table = Table(*rows[0].keys(), title=f"gauntlet {verdict.status}")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)

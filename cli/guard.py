"""``warden guard``: the orchestration guard. ``readiness`` exits 0 healthy, 1 degraded or
critical, 2 bad configuration, 4 no Prefect API; ``log`` reads the decision log (no Prefect)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_GUARD_FILE, DEFAULT_SHED_PLAYBOOK
from blocks.errors import WardenError
from cli.output import console, fail, flow_result, require_api

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Guard file.", show_default=True)
]
PoolOption = Annotated[
    str | None, typer.Option("--pool", help="Check only this guarded work pool.")
]


@app.command("readiness")
def readiness(config: ConfigOption = DEFAULT_GUARD_FILE, pool: PoolOption = None) -> None:
    """Check the platform (flow orchestration-readiness): 0 healthy, 1 degraded or critical."""
    try:  # the whole file is validated before anything is read
        from blocks.guard import load_guard_file

        load_guard_file(config).pool_names(pool)
    except WardenError as exc:
        fail(exc)
    require_api("the orchestration guard")
    result = flow_result(
        "flows.orchestration_guard:orchestration_readiness", config=str(config), pool=pool
    )
    table = Table("where", "check", "level", "reason", title=f"orchestration {result.status}")
    for check in result.checks:
        table.add_row(check.where, check.name.value, check.level.name.lower(), check.reason)
    console.print(table)
    console.print(f"verdict: {result.status}")
    for check in result.failed:
        console.print(f"failed: {check.where}: {check.name.value}: {check.reason}")
    raise typer.Exit(result.exit_code)


@app.command("shed")
def shed(
    config: ConfigOption = DEFAULT_GUARD_FILE,
    pool: PoolOption = None,
    playbook: Annotated[
        Path, typer.Option("--playbook", help="Load-shedding playbook.", show_default=True)
    ] = DEFAULT_SHED_PLAYBOOK,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be cancelled; cancel nothing.")
    ] = False,
) -> None:
    """Shed low-priority waiting runs of critical pools (flow orchestration-load-shedding):
    0 every pool below critical, 1 not (or a cancellation did not hold), 3 kill switch."""
    try:
        from blocks.guard import load_guard_file, load_shed_playbook

        load_guard_file(config).pool_names(pool)
        load_shed_playbook(playbook)
    except WardenError as exc:
        fail(exc)
    require_api("the orchestration guard")
    report = flow_result(
        "flows.load_shedding:orchestration_load_shedding",
        config=str(config),
        playbook=str(playbook),
        pool=pool,
        dry_run=dry_run,
    )
    outcome = {o.id: o.detail for o in report.outcomes}
    table = Table("pool", "run", "priority", "rule", "outcome", title="load shedding")
    for plan in report.plans:
        for item in plan.cancel:
            done = "dry run" if dry_run else outcome.get(item.run.id, "not attempted")
            table.add_row(plan.pool, item.run.name, str(item.priority), item.rule.value, done)
    console.print(table)
    for plan in report.plans:
        console.print(
            f"{plan.pool}: depth {plan.depth} -> {plan.depth_after} (critical {plan.critical}); "
            f"{len(plan.cancel)} {'to shed' if dry_run else 'shed'}; protected {plan.protected}; "
            f"shortfall {plan.shortfall}"
        )
    raise typer.Exit(report.exit_code)


@app.command("log")
def log(
    since: Annotated[str, typer.Option("--since", help="Window: 30s, 15m, 1h, 2d, 1w.")] = "1h",
    what: Annotated[
        str | None,
        typer.Option("--what", help="Only this kind: alert, shed, circuit-open, ..."),
    ] = None,
) -> None:
    """The guard's 5W1H decisions, oldest first, from $WARDEN_HOME/guard/decisions.sqlite."""
    from blocks.errors import UsageError
    from tasks.platform.clock import iso_utc
    from tasks.platform.decisions import DecisionKind, DecisionLog, parse_since

    try:
        window = parse_since(since)
        kinds = [k.value for k in DecisionKind]
        if what is not None and what not in kinds:
            raise UsageError(
                f"--what {what!r} is not a kind of decision",
                remediation=f"Use one of: {', '.join(kinds)}.",
            )
        decisions = DecisionLog().read(window, DecisionKind(what) if what else None)
    except WardenError as exc:
        fail(exc)
    table = Table("when", "who", "what", "where", "why", "how", title=f"decisions, last {since}")
    for d in decisions:
        table.add_row(iso_utc(d.when), d.who, d.what.value, d.where, "\n".join(d.why), d.how)
    console.print(table)
    console.print(f"{len(decisions)} decision(s)")

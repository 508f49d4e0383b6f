"""``warden drill``: the chaos drills (seed 002 §5). ``list`` reads the catalog (no Prefect);
``run`` exits 0 only when the drill is ok, 1 when a verification failed or the steady state
deviated, 2 bad usage (unknown drill, bad scale, bad catalog), 3 kill switch, 4 the platform
at --api-url (or a disposable one) is unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_DRILLS_FILE
from blocks.errors import WardenError
from cli.output import console, fail, flow_result

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Drills catalog.", show_default=True)
]


@app.command("list")
def list_drills(config: ConfigOption = DEFAULT_DRILLS_FILE) -> None:
    """The five drills: what each proves and its sizes per scale."""
    try:
        from blocks.drills import DrillName, Scale, load_drills_file

        catalog = load_drills_file(config)
    except WardenError as exc:
        fail(exc)
    table = Table("drill", "proves", *(f"--scale {s.value}" for s in Scale), title="chaos drills")
    for name in DrillName:
        sizes = [
            "\n".join(f"{k}={v:g}" for k, v in catalog.sizes(name, s).model_dump().items())
            for s in Scale
        ]
        table.add_row(name.value, catalog.drills[name].proves, *sizes)
    console.print(table)


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The drill (warden drill list).")],
    scale: Annotated[str, typer.Option("--scale", help="ci or full (the seed's sizes).")] = "ci",
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="Drill this platform instead of a disposable one."),
    ] = None,
    platform_home: Annotated[
        Path | None,
        typer.Option("--platform-home", help="With --api-url: its home (workers' pid files)."),
    ] = None,
    config: ConfigOption = DEFAULT_DRILLS_FILE,
) -> None:
    """Run one drill: 0 ok, 1 not ok, 2 bad usage, 3 kill switch, 4 platform unreachable."""
    try:
        from blocks.drills import drill_name, load_drills_file, scale_of
        from blocks.errors import BackendUnavailable

        drill_name(name), scale_of(scale)
        load_drills_file(config)
        if api_url is not None:
            from tasks.drills.platform_api import reachable

            if not reachable(api_url):
                raise BackendUnavailable(
                    f"the platform at {api_url} does not answer /health",
                    remediation="Start it or fix --api-url (leave it out: a disposable one).",
                )
    except WardenError as exc:
        fail(exc)
    result = flow_result(
        "flows.chaos_drill:chaos_drill",
        drill=name,
        scale=scale,
        api_url=api_url,
        platform_home=str(platform_home) if platform_home else None,
        config=str(config),
    )
    table = Table("verification", "passed", "detail", title=f"drill {name} ({scale})")
    for check in result.verifications:
        table.add_row(check.name, "yes" if check.passed else "NO", check.detail)
    console.print(table)
    console.print(
        f"steady state before: {result.steady_before}, after: {result.steady_after}; "
        f"deviated: {result.deviated}; journal status: {result.status}"
    )
    if result.error:
        console.print(f"error: {result.error}")
    console.print(f"journal: {result.journal_file}")
    console.print(f"verdict: {'ok' if result.ok else 'NOT ok'}")
    raise typer.Exit(result.exit_code)

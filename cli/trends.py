"""``warden trends``: failures over time from the Parquet history, for analysts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from blocks.errors import WardenError
from blocks.workflows import DEFAULT_WORKFLOWS_FILE, load_workflows_file
from cli.output import console, fail


def trends(
    by: Annotated[
        Literal["code_name", "category", "fingerprint"], typer.Option("--by", help="Group by.")
    ] = "code_name",
    since: Annotated[str, typer.Option("--since", help="Window: 30d, 4w or days.")] = "30d",
    view: Annotated[
        Literal["daily", "new", "top"],
        typer.Option("--view", help="daily counts, new failures since the previous run, top."),
    ] = "daily",
    corpus: Annotated[str | None, typer.Option("--corpus", help="One corpus only.")] = None,
    fmt: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="Output format.")
    ] = "table",
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart.")] = None,
    history: Annotated[
        str | None, typer.Option("--history", help="History URI (default: the config's).")
    ] = None,
    config: Annotated[Path, typer.Option("--config")] = DEFAULT_WORKFLOWS_FILE,
) -> None:
    """Failures by code, category or fingerprint per day; new failures; top fingerprints."""
    from tasks.workflows import trends as queries
    from tasks.workflows.corpus import history_location
    from tasks.workflows.history import HistoryStore

    try:
        uri, endpoint = history_location(load_workflows_file(config), history)
        store = HistoryStore(uri, endpoint_url=endpoint)
        days = queries.since_days(since)
        if view == "new":
            frame = queries.new_failures_since_previous_run(store, corpus)
        elif view == "top":
            frame = queries.top_fingerprints(store, since_days=days, corpus=corpus)
        else:
            query = queries.TrendQuery(by=by, since_days=days, corpus=corpus)
            frame = queries.failures_by_day(store, query)
    except WardenError as exc:
        fail(exc)
    print(queries.render(frame, fmt))
    if frame.attrs.get("load_errors"):
        console.print(f"[yellow]skipped {frame.attrs['load_errors']} unreadable history file(s)")
    if plot is not None:
        if view != "daily":
            fail(WardenError("--plot draws the daily view", code=2))
        title = f"Workflow failures by {by}, last {days} days"
        console.print(f"chart: {queries.plot_trends(frame, plot, title)}")

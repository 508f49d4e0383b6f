"""``warden trends``: failures over time from the Parquet history, for analysts.

The answer is printed whole or not claimed whole: when unreadable history files had to be
skipped the rows are printed with a warning and the command exits 1 (the view is incomplete);
a history with no run at all is exit 2 (there is nothing to answer from). Options a view
would ignore are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from blocks.defaults import DEFAULT_WORKFLOWS_FILE
from blocks.errors import ExitCode, UsageError, WardenError
from cli.output import console, errors, fail
from cli.workflows import workflows_file

if TYPE_CHECKING:  # pandas and pyarrow load only when a view runs
    import pandas as pd

    from tasks.workflows.history import HistoryStore

DEFAULT_BY = "code_name"
DEFAULT_SINCE = "30d"


def trends(
    by: Annotated[
        Literal["code_name", "category", "fingerprint"] | None,
        typer.Option("--by", help="Group by (daily view; default code_name)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Window: 30d, 4w or days (daily and top; default 30d)."),
    ] = None,
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
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help=f"Workflows file (default {DEFAULT_WORKFLOWS_FILE}, if any)."
        ),
    ] = None,
) -> None:
    """Failures by code, category or fingerprint per day; new failures; top fingerprints."""
    from tasks.workflows import trends as queries

    try:
        _refuse_ignored_options(view, by, since, plot)
        store = _store(history, config)
        days = queries.since_days(since or DEFAULT_SINCE)
        if view == "new":
            frame = queries.new_failures_since_previous_run(store, corpus)
            _require_a_run(frame, store.uri, corpus)
        elif view == "top":
            frame = queries.top_fingerprints(store, since_days=days, corpus=corpus)
        else:
            query = queries.TrendQuery(by=by or DEFAULT_BY, since_days=days, corpus=corpus)
            frame = queries.failures_by_day(store, query)
    except WardenError as exc:
        fail(exc)
    print(queries.render(frame, fmt))
    if view == "new":
        previous = frame.attrs["previous_run_id"] or "none: every failure is new"
        errors.print(f"run {frame.attrs['run_id']} against the previous run {previous}")
    if plot is not None:
        title = f"Workflow failures by {by or DEFAULT_BY}, last {days} days"
        console.print(f"chart: {queries.plot_trends(frame, plot, title)}")
    if frame.attrs.get("load_errors"):
        errors.print(
            f"[yellow]incomplete:[/] skipped {frame.attrs['load_errors']} unreadable history "
            f"file(s): {', '.join(frame.attrs['error_files'][:3])}"
        )
        raise typer.Exit(ExitCode.VERDICT_FAILED)


def _refuse_ignored_options(
    view: str, by: str | None, since: str | None, plot: Path | None
) -> None:
    """An option the chosen view would not use is refused rather than silently ignored."""
    ignored = [
        name
        for name, given, used_by in (
            ("--by", by is not None, {"daily"}),
            ("--since", since is not None, {"daily", "top"}),
            ("--plot", plot is not None, {"daily"}),
        )
        if given and view not in used_by
    ]
    if ignored:
        raise UsageError(f"--view {view} does not use {', '.join(ignored)}")


def _store(history: str | None, config: Path | None) -> HistoryStore:
    """The history to read: --history, else the workflows file's, else WARDEN_HOME's (no
    workflows file is needed). One nothing was ever appended to answers nothing: that is a
    usage error, not an empty table."""
    from tasks.workflows.corpus import HistoryLocation, history_location
    from tasks.workflows.history import FILES_DIR, default_history_uri
    from tasks.workflows.history_access import open_history

    workflows = workflows_file(config)
    if workflows is not None:
        location = history_location(workflows, history)
    else:
        location = HistoryLocation(history or default_history_uri())
    store = open_history(location)
    if not store.exists(FILES_DIR):
        raise UsageError(
            f"no run in the history at {store.uri}",
            remediation="Run 'warden workflows classify' first, or pass --history with the "
            "history to read.",
        )
    return store


def _require_a_run(frame: pd.DataFrame, uri: str, corpus: str | None) -> None:
    if frame.attrs.get("run_id") is None:
        which = f" of corpus {corpus!r}" if corpus else ""
        raise UsageError(f"no run{which} in the history at {uri}: nothing is new or old")

"""Trend views analysts ask of the history: DuckDB over the Parquet dataset.

A local history is read by DuckDB's own ``read_parquet`` (hive partitions); an S3 history is
the store's pyarrow dataset registered in DuckDB, so the same SQL answers both. If DuckDB
cannot read a file (corrupt or truncated), the view is rebuilt from ``HistoryStore.load_table``,
which skips such files; the result then carries ``attrs["load_errors"]`` and
``attrs["error_files"]`` (0 and [] when nothing was skipped). "Failures" are failing files,
summed over the runs of a day; suppressed failures are left out unless asked for, as in the
run summary's ``failed``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import UsageError
from tasks.workflows.history import FILES_DIR, READ_ERRORS, HistoryStore, to_frame

TrendKey = Literal["code_name", "category", "fingerprint"]
Format = Literal["table", "csv", "json"]
StoreLike = HistoryStore | str | Path
QUERY_ERRORS = (duckdb.Error, *READ_ERRORS)
PLOT_SERIES = 8
_SINCE = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$")


class TrendQuery(BaseModel):
    """Failures per day grouped by one key, over the last ``since_days`` days."""

    model_config = ConfigDict(frozen=True)

    by: TrendKey = "code_name"
    since_days: int = Field(default=30, ge=1, le=36_500)
    corpus: str | None = None
    include_suppressed: bool = False


def since_days(text: str) -> int:
    """``30d``, ``4w`` or ``30`` (days) as a number of days, for ``--since``."""
    match = _SINCE.match(text)
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"--since {text!r} is not a duration like 30d or 4w")
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def failures_by_day(
    store: StoreLike, query: TrendQuery, *, now: datetime | None = None
) -> pd.DataFrame:
    """Columns ``day, key, failures``: failing files per UTC day and key, oldest day first."""
    since = _since(query.since_days, now)
    sql = f"""
        SELECT CAST(date AS DATE) AS day, COALESCE({query.by}, '(none)') AS key,
               count(*) AS failures
        FROM files
        WHERE NOT ok AND (? OR NOT suppressed) AND date >= ? AND run_ts >= ?
          AND (? IS NULL OR corpus = ?)
        GROUP BY ALL ORDER BY day, failures DESC, key
    """
    params = [query.include_suppressed, since.strftime("%Y-%m-%d"), since]
    with _Files(_store(store), since, query.corpus) as files:
        result = files.query(sql, [*params, query.corpus, query.corpus])
    result.attrs["by"] = query.by
    return result


def new_failures_since_previous_run(store: StoreLike, corpus: str | None = None) -> pd.DataFrame:
    """Fingerprints failing in the latest run that did not fail in the run before it.

    Without ``corpus``, the latest run of any corpus is compared with that corpus's previous
    run. With no previous run every failure is new. ``attrs`` name both run ids.
    """
    with _Files(_store(store), None, corpus) as files:
        runs = files.query(
            "SELECT run_id, corpus, max(run_ts) AS run_ts FROM files "
            "WHERE ? IS NULL OR corpus = ? GROUP BY ALL ORDER BY run_ts DESC, run_id DESC",
            [corpus, corpus],
        )
        latest = runs.iloc[0] if len(runs) else None
        same = runs[runs["corpus"] == latest["corpus"]] if latest is not None else runs
        previous = same.iloc[1]["run_id"] if len(same) > 1 else None
        result = files.query(
            """
            SELECT fingerprint, any_value(code_name) AS code_name,
                   any_value(category) AS category, count(*) AS files,
                   min(path) AS example_path, arg_min(message, path) AS example_message
            FROM files
            WHERE run_id = ? AND NOT ok AND NOT suppressed AND fingerprint IS NOT NULL
              AND fingerprint NOT IN (SELECT fingerprint FROM files WHERE run_id = ?
                                      AND NOT ok AND fingerprint IS NOT NULL)
            GROUP BY fingerprint ORDER BY files DESC, fingerprint
            """,
            [latest["run_id"] if latest is not None else "", previous or ""],
        )
    result.attrs.update(
        run_id=None if latest is None else latest["run_id"],
        previous_run_id=previous,
        corpus=None if latest is None else latest["corpus"],
        load_errors=files.load_errors,
        error_files=files.error_files,
    )
    return result


def top_fingerprints(
    store: StoreLike,
    since_days: int = 30,
    limit: int = 10,
    *,
    corpus: str | None = None,
    include_suppressed: bool = False,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The most frequent failure fingerprints: how often, on how many files, last seen where."""
    if limit < 1 or since_days < 1:
        raise UsageError(
            f"top fingerprints needs limit ≥ 1 and since ≥ 1 day, got {limit}, {since_days}"
        )
    since = _since(since_days, now)
    sql = """
        SELECT fingerprint, arg_max(code_name, run_ts) AS code_name,
               arg_max(category, run_ts) AS category, count(*) AS failures,
               count(DISTINCT path) AS files, count(DISTINCT run_id) AS runs,
               max(run_ts) AS last_seen, arg_max(path, run_ts) AS example_path,
               arg_max(message, run_ts) AS example_message
        FROM files
        WHERE NOT ok AND fingerprint IS NOT NULL AND (? OR NOT suppressed)
          AND date >= ? AND run_ts >= ? AND (? IS NULL OR corpus = ?)
        GROUP BY fingerprint ORDER BY failures DESC, fingerprint LIMIT ?
    """
    params = [include_suppressed, since.strftime("%Y-%m-%d"), since, corpus, corpus, limit]
    with _Files(_store(store), since, corpus) as files:
        return files.query(sql, params)


def render(df: pd.DataFrame, fmt: Format = "table") -> str:
    """A trend frame as an aligned text table, CSV or a JSON list of records."""
    if fmt == "csv":
        return df.to_csv(index=False)
    records = [{k: _plain(v) for k, v in row.items()} for row in df.to_dict("records")]
    if fmt == "json":
        return json.dumps(records, indent=2) + "\n"
    if fmt != "table":
        raise UsageError(f"format {fmt!r} is not one of table, csv, json")
    if df.empty:
        return "(no rows)\n"
    return pd.DataFrame(records, columns=df.columns).to_string(index=False, max_colwidth=60) + "\n"


def plot_trends(df: pd.DataFrame, path: Path, title: str) -> Path:
    """A stacked area chart of failures per day per key (top keys, the rest as "other")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5), layout="constrained")
    FigureCanvasAgg(figure)  # Agg without pyplot: no global state, safe in worker threads
    axes = figure.add_subplot()
    series = _plot_series(df)
    if series.empty:
        axes.text(0.5, 0.5, "no failures in this window", ha="center", transform=axes.transAxes)
    else:
        _draw_stack(axes, series, legend_title=df.attrs.get("by"))
    axes.set(title=title, xlabel="day (UTC)", ylabel="failing files")
    axes.grid(axis="y", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150, format="png")
    return path


def _draw_stack(axes: Any, series: pd.DataFrame, legend_title: str | None) -> None:
    """Stacked areas on a date axis, whole-number counts, legend outside on the right."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    days = pd.to_datetime(pd.Series(series.index)).to_numpy()
    labels = [str(c) for c in series.columns]
    axes.stackplot(days, series.T.to_numpy(dtype=float), labels=labels, alpha=0.9)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(days) > 1:
        axes.set_xlim(days[0], days[-1])
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title=legend_title)


def _plot_series(df: pd.DataFrame) -> pd.DataFrame:
    """Day × key failures, zero where a key had none that day; small keys folded into other."""
    if df.empty:
        return pd.DataFrame()
    table = df.pivot_table(index="day", columns="key", values="failures", aggfunc="sum")
    table = table.astype("float64").fillna(0.0).sort_index()
    ranked = table.sum().sort_values(ascending=False).index
    if len(ranked) > PLOT_SERIES:
        keep = list(ranked[: PLOT_SERIES - 1])
        table = table[keep].assign(other=table.drop(columns=keep).sum(axis=1))
    else:
        table = table[list(ranked)]
    return table


class _Files:
    """A DuckDB connection with a ``files`` view; rebuilt from the skip-corrupt loader on error."""

    def __init__(self, store: HistoryStore, since: datetime | None, corpus: str | None) -> None:
        self.store, self.since, self.corpus = store, since, corpus
        self.attached = self.fell_back = False
        self.error_files: list[str] = []
        self.connection = self._connect()

    @property
    def load_errors(self) -> int:
        return len(self.error_files)

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def query(self, sql: str, params: list[Any]) -> pd.DataFrame:
        """Run one query; on a read error switch to the loader once and run it again."""
        try:
            if not self.attached:
                self._attach_direct()
            table = self.connection.sql(sql, params=params).to_arrow_table()
        except QUERY_ERRORS:
            if self.fell_back:
                raise
            self._attach_loaded()
            table = self.connection.sql(sql, params=params).to_arrow_table()
        frame = to_frame(table)
        frame.attrs.update(load_errors=self.load_errors, error_files=list(self.error_files))
        return frame

    def _connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        return connection

    def _attach_direct(self) -> None:
        """Local: DuckDB's own Parquet reader (partition pruning on ``date``); S3: the dataset."""
        self.attached = True
        if not self.store.exists(FILES_DIR):
            self.connection.register("files", self.store.load_table(FILES_DIR)[0])
        elif self.store.is_local:
            pattern = f"{self.store.path(FILES_DIR)}/**/*.parquet".replace("'", "''")
            self.connection.execute(
                f"CREATE VIEW files AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning = true, hive_types = {'date': 'VARCHAR'})"
            )
        else:
            self.connection.register("files", self.store.dataset(FILES_DIR))

    def _attach_loaded(self) -> None:
        table, self.error_files = self.store.load_table(FILES_DIR, self.since, self.corpus)
        self.connection.close()
        self.connection = self._connect()
        self.connection.register("files", table)
        self.fell_back = True


def _store(store: StoreLike) -> HistoryStore:
    return store if isinstance(store, HistoryStore) else HistoryStore(store)


def _since(days: int, now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=days)


def _plain(value: Any) -> Any:
    """JSON-ready scalars: ISO dates, None for missing, Python numbers."""
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


__all__ = [
    "TrendQuery",
    "failures_by_day",
    "new_failures_since_previous_run",
    "plot_trends",
    "render",
    "since_days",
    "top_fingerprints",
]

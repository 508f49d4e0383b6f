"""The failure history analysts query: a Parquet dataset, one row per file and one per run.

Two datasets live under one root (a local directory or ``s3://bucket/prefix``): ``files/`` and
``runs/``, both hive-partitioned by the run's UTC ``date``. An append only ever writes new files
named after its run id, so history is never rewritten; appending the same run id again rewrites
only that run's own files, which makes a retried append idempotent. Loads read fragment by
fragment, so a corrupt or truncated file is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from blocks.errors import BackendUnavailable, ConfigError
from blocks.storage import warden_home
from tasks.workflows.models import ClassificationReport

FILES_DIR = "files"
RUNS_DIR = "runs"
PARTITION = pa.schema([("date", pa.string())])
FILES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("corpus", pa.string()),
        ("run_ts", pa.timestamp("us", tz="UTC")),
        ("path", pa.string()),
        ("ok", pa.bool_()),
        ("code", pa.int16()),
        ("code_name", pa.string()),
        ("category", pa.string()),
        ("phase", pa.string()),
        ("line", pa.int32()),
        ("message", pa.string()),
        ("fingerprint", pa.string()),
        ("suppressed", pa.bool_()),
        ("structured", pa.bool_()),
        ("duration_sec", pa.float64()),
        ("date", pa.string()),
    ]
)
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("corpus", pa.string()),
        ("run_ts", pa.timestamp("us", tz="UTC")),
        ("total", pa.int64()),
        ("failed", pa.int64()),
        ("suppressed_failures", pa.int64()),
        ("checker", pa.string()),
        ("mode", pa.string()),
        ("by_category", pa.string()),  # the run summary's counts, JSON
        ("by_code", pa.string()),
        ("date", pa.string()),
    ]
)
SCHEMAS = {FILES_DIR: FILES_SCHEMA, RUNS_DIR: RUNS_SCHEMA}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}
READ_ERRORS = (pa.ArrowException, OSError)
TIMEOUT_S = 30.0


class HistoryConfigError(ConfigError):
    """The history URI or a run id cannot be used; nothing was written."""


class HistoryUnavailable(BackendUnavailable):
    """The history's filesystem could not be written or listed."""

    remediation = "Check the history URI, the endpoint and the credentials, then run again."


@dataclass
class HistoryLoad:
    """What a load returns: both tables, and the files it had to skip."""

    files: pd.DataFrame
    runs: pd.DataFrame
    load_errors: int = 0
    error_files: list[str] = field(default_factory=list)


def default_history_uri() -> str:
    """Local default: ``$WARDEN_HOME/history``."""
    return str(warden_home() / "history")


def rows_from_report(
    report: ClassificationReport, run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The snapshot of one run as (files, runs) frames, typed exactly as they are stored."""
    _check_run_id(run_id)
    run_ts = _utc(report.started_at)
    common = {"run_id": run_id, "corpus": report.corpus, "run_ts": run_ts}
    common["date"] = run_ts.strftime("%Y-%m-%d")
    columns = set(FILES_SCHEMA.names)
    files = [{**common, **f.model_dump(include=columns, mode="json")} for f in report.files]
    summary = report.summary
    run = {
        **common,
        "total": summary.total,
        "failed": summary.failed,
        "suppressed_failures": summary.suppressed_failures,
        "checker": report.checker,
        "mode": str(report.mode),
        "by_category": json.dumps(summary.by_category, sort_keys=True),
        "by_code": json.dumps(summary.by_code, sort_keys=True),
    }
    files_table = pa.Table.from_pylist(files, schema=FILES_SCHEMA)
    runs_table = pa.Table.from_pylist([run], schema=RUNS_SCHEMA)
    return to_frame(files_table), to_frame(runs_table)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas keeping nullable integers (a missing line stays <NA>, not NaN)."""
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


class HistoryStore:
    """The history dataset at ``uri``: a local directory or ``s3://bucket/prefix``."""

    def __init__(
        self,
        uri: str | Path,
        *,
        endpoint_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.uri = str(uri)
        self.endpoint_url = endpoint_url
        self.filesystem, self.root = _filesystem(
            self.uri, endpoint_url, dict(storage_options or {})
        )

    def __repr__(self) -> str:  # never shows credentials
        endpoint = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"HistoryStore({self.uri!r}{endpoint})"

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, table: str) -> str:
        """Filesystem path of one dataset (``files`` or ``runs``)."""
        return f"{self.root}/{table}"

    def append(self, report: ClassificationReport, run_id: str) -> list[str]:
        """Append one run's snapshot; returns the paths written."""
        files, runs = rows_from_report(report, run_id)
        return self.append_frames(files, runs, run_id)

    def append_frames(self, files: pd.DataFrame, runs: pd.DataFrame, run_id: str) -> list[str]:
        """Append frames made by :func:`rows_from_report` (e.g. after the contract passed)."""
        _check_run_id(run_id)
        written: list[str] = []
        for name, frame in ((FILES_DIR, files), (RUNS_DIR, runs)):
            if not frame.empty:
                table = pa.Table.from_pandas(frame, schema=SCHEMAS[name], preserve_index=False)
                written += self._write(table, name, run_id)
        return written

    def _write(self, table: pa.Table, name: str, run_id: str) -> list[str]:
        written: list[str] = []
        try:
            ds.write_dataset(
                table,
                self.path(name),
                format="parquet",
                filesystem=self.filesystem,
                partitioning=ds.partitioning(PARTITION, flavor="hive"),
                basename_template=f"{run_id}-{{i}}.parquet",
                existing_data_behavior="overwrite_or_ignore",
                file_visitor=lambda f: written.append(f.path),
                create_dir=self.is_local,  # S3 needs no directory marker objects
            )
        except READ_ERRORS as exc:
            raise HistoryUnavailable(f"cannot write {name}/ under {self.uri}: {exc}") from exc
        return written

    def exists(self, name: str) -> bool:
        """Whether anything was ever appended to ``files`` or ``runs``."""
        try:
            info = self.filesystem.get_file_info(self.path(name))
        except READ_ERRORS as exc:
            raise HistoryUnavailable(f"cannot list {name}/ under {self.uri}: {exc}") from exc
        return info.type != pafs.FileType.NotFound

    def dataset(self, name: str) -> ds.Dataset | None:
        """The pyarrow dataset of ``files`` or ``runs``; None while nothing was appended."""
        if not self.exists(name):
            return None
        try:
            return ds.dataset(
                self.path(name),
                schema=SCHEMAS[name],
                format="parquet",
                filesystem=self.filesystem,
                partitioning=ds.partitioning(PARTITION, flavor="hive"),
            )
        except READ_ERRORS as exc:
            raise HistoryUnavailable(f"cannot list {name}/ under {self.uri}: {exc}") from exc

    def load_table(
        self, name: str, since: datetime | None = None, corpus: str | None = None
    ) -> tuple[pa.Table, list[str]]:
        """One dataset as an Arrow table, skipping unreadable fragments; returns their paths."""
        schema = SCHEMAS[name]
        dataset = self.dataset(name)
        if dataset is None:
            return schema.empty_table(), []
        row_filter = _filter(since, corpus)
        tables, errors = [], []
        for fragment in dataset.get_fragments(filter=row_filter):
            try:
                tables.append(fragment.to_table(schema=schema, filter=row_filter))
            except READ_ERRORS as exc:
                self._ensure_reachable(fragment.path, exc)
                errors.append(fragment.path)
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        return table.sort_by([("run_ts", "ascending")]), errors

    def _ensure_reachable(self, path: str, error: Exception) -> None:
        """A file that cannot be read is skipped only if the store itself still answers."""
        try:
            self.filesystem.get_file_info(path)
        except READ_ERRORS as exc:
            raise HistoryUnavailable(f"cannot read {path} from {self.uri}: {error}") from exc

    def load_history(self, since: datetime | None = None, corpus: str | None = None) -> HistoryLoad:
        """Both tables since a moment (UTC) for one corpus or all; corrupt files are counted."""
        files, file_errors = self.load_table(FILES_DIR, since, corpus)
        runs, run_errors = self.load_table(RUNS_DIR, since, corpus)
        errors = file_errors + run_errors
        return HistoryLoad(to_frame(files), to_frame(runs), len(errors), errors)


def load_history(
    uri: str | Path | None = None,
    since: datetime | None = None,
    corpus: str | None = None,
    *,
    endpoint_url: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The analysts' entry point: one row per file per run, as a pandas DataFrame.

    Skipped corrupt files are in ``df.attrs["load_errors"]`` and ``df.attrs["error_files"]``.
    """
    store = HistoryStore(
        uri or default_history_uri(), endpoint_url=endpoint_url, storage_options=storage_options
    )
    loaded = store.load_history(since=since, corpus=corpus)
    frame = loaded.files
    frame.attrs.update(load_errors=loaded.load_errors, error_files=loaded.error_files)
    return frame


def _filter(since: datetime | None, corpus: str | None) -> ds.Expression | None:
    """Partition pruning on ``date`` plus the exact row filter on ``run_ts``/``corpus``."""
    expression = None
    if since is not None:
        moment = _utc(since)
        expression = (ds.field("date") >= moment.strftime("%Y-%m-%d")) & (
            ds.field("run_ts") >= pa.scalar(moment, type=pa.timestamp("us", tz="UTC"))
        )
    if corpus is not None:
        by_corpus = ds.field("corpus") == corpus
        expression = by_corpus if expression is None else expression & by_corpus
    return expression


def _filesystem(
    uri: str, endpoint_url: str | None, options: dict[str, Any]
) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and root path for a URI; S3 credentials come from the AWS chain."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or re.match(r"^[A-Za-z]:[\\/]", uri):
        local = Path(parsed.path if parsed.scheme == "file" else uri).expanduser().resolve()
        return pafs.LocalFileSystem(), local.as_posix()
    if parsed.scheme != "s3" or not parsed.netloc:
        raise HistoryConfigError(f"history URI {uri!r} is neither a local path nor s3://bucket/…")
    kwargs: dict[str, Any] = {
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        "connect_timeout": TIMEOUT_S,
        "request_timeout": TIMEOUT_S,
    }
    if endpoint_url:
        endpoint = urlparse(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise HistoryConfigError(f"endpoint_url {endpoint_url!r} must be http(s)://host[:port]")
        kwargs.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
    kwargs.update(options)
    root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    return pafs.S3FileSystem(**kwargs), root


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID.match(run_id):
        raise HistoryConfigError(
            f"run id {run_id!r} cannot name a history file (letters, digits, '.', '_', '-')"
        )


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive moment is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

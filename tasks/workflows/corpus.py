"""Resolve what a classification run checks: a named corpus, with the operator's overrides."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from blocks.errors import UsageError
from blocks.storage import warden_home
from blocks.workflows import Corpus, WorkflowsFile
from tasks.workflows.history import default_history_uri
from tasks.workflows.models import Phase


class CorpusPlan(BaseModel):
    """Everything a run needs, validated before the first file is checked; paths resolved.
    ``record``: whether the run is kept in the history (snapshot, trends.json, Parquet)."""

    model_config = ConfigDict(frozen=True)

    name: str
    corpus: Corpus
    phase: Phase
    history_uri: str
    endpoint_url: str | None
    history_block: str | None = None
    snapshots_dir: str
    data_docs_dir: str
    suppressions: str
    record: bool = True


class UnknownCorpus(UsageError):
    """The workflows file declares no corpus of that name."""

    remediation = "Pass --corpus with one of the listed corpora, or declare it in the file."


class InertOption(UsageError):
    """An option that would do nothing with the others given: refused, not ignored."""

    remediation = "Drop the option, or add the one it works with."


class CorpusOverrides(BaseModel):
    """What an operator changed about a named corpus for one run (None: the corpus's value);
    ``snapshots_dir`` and ``record`` say where and whether the run is kept in the history."""

    model_config = ConfigDict(frozen=True)

    paths: list[str] | None = None
    patterns: list[str] | None = None
    checker: str | None = None
    mode: str | None = None
    jobs: int | None = None
    limit: int | None = None
    snapshots_dir: str | None = None
    record: bool = True


def plan_corpus(
    config: WorkflowsFile,
    name: str,
    *,
    paths: list[str] | None = None,
    patterns: list[str] | None = None,
    checker: str | None = None,
    mode: str | None = None,
    jobs: int | None = None,
    limit: int | None = None,
    snapshots_dir: str | None = None,
    record: bool = True,
) -> CorpusPlan:
    """The named corpus with overrides applied; an unknown name lists the valid ones."""
    if name not in config.corpora:
        valid = ", ".join(sorted(config.corpora))
        raise UnknownCorpus(f"unknown corpus {name!r}; valid corpora: {valid}")
    if snapshots_dir is not None and not record:
        raise InertOption("--history-dir does nothing with --no-record: drop one of them")
    given = {"paths": paths, "patterns": patterns, "checker": checker, "mode": mode}
    given |= {"jobs": jobs, "limit": limit}
    overrides = {key: value for key, value in given.items() if value is not None}
    try:
        corpus = Corpus.model_validate(
            {**config.corpora[name].model_dump(by_alias=True), **overrides}
        )
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors()]
        detail = "; ".join(problems)
        raise UsageError(f"corpus {name!r} with these options cannot run: {detail}") from exc
    history, home = config.history, warden_home()
    return CorpusPlan(
        name=name,
        corpus=corpus,
        phase=Phase(corpus.mode),
        history_uri=history_location(config).uri,
        endpoint_url=history.endpoint_url,
        history_block=history.s3_bucket_block,
        snapshots_dir=_local_or_uri(
            snapshots_dir or history.snapshots_dir, home / "workflow_history"
        ),
        data_docs_dir=_local_or_uri(history.data_docs_dir, home / "out" / "data-docs"),
        suppressions=_local_or_uri(config.suppressions, home / "workflow_suppressions.txt"),
        record=record,
    )


class HistoryLocation(NamedTuple):
    """Where the Parquet history is, and how to reach it (an endpoint, an S3Bucket block)."""

    uri: str
    endpoint_url: str | None = None
    block: str | None = None


def history_location(config: WorkflowsFile, override: str | None = None) -> HistoryLocation:
    """Where the Parquet history is: the override, the config's URI, or WARDEN_HOME/history;
    with the config's endpoint, and its S3Bucket block when the location is on S3."""
    history = config.history
    uri = _local_or_uri(override or history.uri, Path(default_history_uri()))
    block = history.s3_bucket_block if uri.startswith("s3://") else None
    return HistoryLocation(uri, history.endpoint_url, block)


def _local_or_uri(value: str | None, default: Path) -> str:
    """A URI as given; a relative path against the working directory; unset: the default."""
    if value is None:
        return str(default)
    return value if "://" in value else str(Path(value).resolve())


def batch_size_for(total: int, corpus: Corpus) -> int:
    """Batches big enough to keep orchestration small (a task costs ~10 ms), small enough that
    every job stays busy to the end: about eight batches per job."""
    per_job = -(-total // max(corpus.jobs * 8, 1)) if total else 1
    return max(1, min(corpus.batch_size, per_job))


def resolve(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def suppression_list(
    exclude: bool, path: str | None, config: WorkflowsFile | None = None
) -> Path | None:
    """The suppression file the regression gate leaves out, or None when it leaves out none.

    ``path``, else the workflows file's ``suppressions``, else WARDEN_HOME's default. A path
    without ``exclude`` would do nothing, so it is refused.
    """
    if not exclude:
        if path is not None:
            raise InertOption("--suppressions does nothing without --exclude-suppressed")
        return None
    configured = config.suppressions if config is not None else None
    return Path(_local_or_uri(path or configured, warden_home() / "workflow_suppressions.txt"))

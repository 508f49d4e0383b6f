"""The workflow-health file (default ``deployments/workflows.yaml``): corpora and history.

A corpus names the files to classify and the checker that judges them; the history URI says
where every run is appended for analysts (a local folder, or ``s3://`` in production).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from blocks.defaults import DEFAULT_WORKFLOWS_FILE
from blocks.errors import ConfigError
from blocks.s3 import block_name_problem
from blocks.yaml_source import load_model

MAX_JOBS = 256
ADHOC_PATTERNS = {"python": ["*.py"], "yaml": ["*.yaml", "*.yml"]}


def cpu_count() -> int:
    """The CPUs this process may use (its affinity where the OS has one), at most MAX_JOBS."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(usable or 1, MAX_JOBS))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Corpus(Strict):
    paths: list[str] = Field(min_length=1, description="files or folders, relative to the root")
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    checker: str = Field("python", min_length=1, description="python, yaml, or an argv template")
    schema_file: str | None = Field(None, alias="schema", description="yaml checker: JSON Schema")
    mode: Literal["parse", "execute"] = "parse"
    timeout_sec: float = Field(30.0, gt=0, le=3600)
    jobs: int = Field(
        default_factory=lambda: cpu_count(), ge=1, le=MAX_JOBS, description="default: CPU count"
    )
    batch_size: int = Field(
        1000, ge=1, le=100_000, description="most files in one task; about 8 batches a job"
    )
    limit: int | None = Field(None, ge=1)
    error_prefixes: list[str] = Field(default_factory=lambda: ["WARDEN", "AETHER"], min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("checker")
    @classmethod
    def _template_or_builtin(cls, value: str) -> str:
        if value.strip() not in ("python", "yaml") and "{file}" not in value:
            raise ValueError("a checker command must contain {file} (or use python / yaml)")
        return value

    @model_validator(mode="after")
    def _settings_that_apply(self) -> Corpus:
        """Refuse a setting the checker would ignore: it would claim what was not done."""
        builtin = self.checker.strip()
        if builtin == "yaml" and self.mode == "execute":
            raise ValueError("the yaml checker only parses: use mode: parse")
        if self.schema_file is not None and builtin != "yaml":
            raise ValueError(f"schema applies only to the yaml checker, not {self.checker!r}")
        return self


class History(Strict):
    """Unset paths live under WARDEN_HOME: history/, workflow_history/, out/data-docs/."""

    uri: str | None = Field(None, description="folder or s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint override")
    s3_bucket_block: str | None = Field(
        None, description="S3Bucket block whose AwsCredentials reach an s3:// uri"
    )
    snapshots_dir: str | None = Field(None, description="JSON snapshots and trends.json")
    data_docs_dir: str | None = None

    @model_validator(mode="after")
    def _block_only_for_s3(self) -> History:
        """A block is what reaches the bucket of an s3:// uri; with any other uri it would do
        nothing, so it is refused."""
        if self.s3_bucket_block is None:
            return self
        problem = block_name_problem(self.s3_bucket_block)
        if problem:
            raise ValueError(f"s3_bucket_block: {problem}")
        if not (self.uri or "").startswith("s3://"):
            raise ValueError("s3_bucket_block needs an s3://bucket/prefix uri")
        return self


class WorkflowsFile(Strict):
    version: Literal[1] = 1
    suppressions: str | None = Field(None, description="default WARDEN_HOME/...suppressions.txt")
    history: History = Field(default_factory=History)
    corpora: dict[str, Corpus] = Field(min_length=1)


def load_workflows_file(path: Path | str = DEFAULT_WORKFLOWS_FILE) -> WorkflowsFile:
    """Load and validate the workflows file; raises ConfigError naming file, line and field."""
    return load_model(path, WorkflowsFile)


class NoCorpusToRun(ConfigError):
    """No workflows file, and no PATHS and --checker to make a corpus from."""

    remediation = "Run from the checkout, pass --config FILE, or give PATHS and --checker."


def adhoc_workflows_file(name: str, paths: list[str] | None, checker: str | None) -> WorkflowsFile:
    """A workflows file of one corpus made from the command line, for runs outside a checkout:
    PATHS and a checker are then required; the rest are the Corpus defaults (parse mode, a
    job per CPU), with the files a built-in checker reads (``*.py``; ``*.yaml``/``*.yml``)."""
    if not paths or not checker:
        raise NoCorpusToRun(
            f"{DEFAULT_WORKFLOWS_FILE}: file not found, and no PATHS and --checker to run "
            "without it"
        )
    patterns = ADHOC_PATTERNS.get(checker.strip(), ["*"])
    try:
        corpus = Corpus(paths=paths, checker=checker, patterns=patterns)
    except ValidationError as exc:
        problems = [error["msg"] for error in exc.errors()]
        raise ConfigError(f"--checker {checker!r} cannot run", problems=problems) from exc
    return WorkflowsFile(corpora={name: corpus})

"""The workflow-health file (default ``deployments/workflows.yaml``): corpora and history.

A corpus names the files to classify and the checker that judges them; the history URI says
where every run is appended for analysts (a local folder, or ``s3://`` in production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from blocks.yaml_source import load_model

DEFAULT_WORKFLOWS_FILE = Path("deployments/workflows.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Corpus(Strict):
    paths: list[str] = Field(min_length=1, description="files or folders, relative to the root")
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    checker: str = Field("python", min_length=1, description="python, yaml, or an argv template")
    schema_file: str | None = Field(None, alias="schema", description="yaml checker: JSON Schema")
    mode: Literal["parse", "execute"] = "parse"
    timeout_sec: float = Field(30.0, gt=0, le=3600)
    jobs: int = Field(2, ge=1, le=256)
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


class History(Strict):
    """Unset paths live under WARDEN_HOME: history/, workflow_history/, out/data-docs/."""

    uri: str | None = Field(None, description="folder or s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint override")
    snapshots_dir: str | None = Field(None, description="JSON snapshots and trends.json")
    data_docs_dir: str | None = None


class WorkflowsFile(Strict):
    version: Literal[1] = 1
    suppressions: str | None = Field(None, description="default WARDEN_HOME/...suppressions.txt")
    history: History = Field(default_factory=History)
    corpora: dict[str, Corpus] = Field(min_length=1)


def load_workflows_file(path: Path | str = DEFAULT_WORKFLOWS_FILE) -> WorkflowsFile:
    """Load and validate the workflows file; raises ConfigError naming file, line and field."""
    return load_model(path, WorkflowsFile)

"""The code table, categories and the records a classification run produces (seed 003)."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field


class WorkflowCode(IntEnum):
    """Exactly the seed's code table."""

    SUCCESS = 0
    GENERIC_FAILURE = 1
    PARSE_ERROR = 20
    RUNTIME_ERROR = 21
    SIGNATURE_ERROR = 22
    TIMEOUT_ERROR = 23
    UNSUPPORTED_FEATURE = 24
    VALIDATION_ERROR = 25
    IO_ERROR = 26
    INTERNAL_ERROR = 27


class Category(StrEnum):
    """The seed's heuristic categories; ``OK`` for files that passed."""

    OK = "OK"
    PARSE_ERROR = "ParseError"
    SIGNATURE_MISSING = "SignatureMissing"
    RUNTIME_ERROR = "RuntimeError"
    TIMEOUT = "Timeout"
    NOT_IMPLEMENTED = "NotImplemented"
    OTHER = "Other"


class Phase(StrEnum):
    PARSE = "parse"
    EXECUTE = "execute"


class CheckStatus(BaseModel):
    """One checker verdict on one file: the seed's JSON status line."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    code: WorkflowCode
    file: str
    phase: Phase
    message: str = ""
    line: int | None = None

    @property
    def code_name(self) -> str:
        return self.code.name


class FileResult(BaseModel):
    """One file's row in workflow_failures.json and in the history dataset."""

    model_config = ConfigDict(frozen=True)

    path: str
    ok: bool
    code: int
    code_name: str
    category: str  # a Category, or "Suppressed-<Category>"
    phase: Phase
    line: int | None = None
    message: str = ""
    fingerprint: str | None = None  # 16 hex chars; None for files that passed
    suppressed: bool = False
    structured: bool = True  # False when classified by heuristics
    duration_sec: float = 0.0


class RunSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: int
    failed: int
    suppressed_failures: int
    by_category: dict[str, int] = Field(default_factory=dict)
    by_code: dict[str, int] = Field(default_factory=dict)


class ClassificationReport(BaseModel):
    """A classification run: what the flow returns and workflow_failures.json holds."""

    corpus: str
    started_at: datetime
    finished_at: datetime
    checker: str
    mode: Phase
    summary: RunSummary
    files: list[FileResult]
    suppression_warnings: list[str] = Field(default_factory=list)

"""The code table, categories and the records a classification run produces (seed 003)."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


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

    @model_validator(mode="after")
    def _ok_is_success(self) -> CheckStatus:
        """``ok`` says exactly what ``code`` says: a verdict cannot contradict itself."""
        if self.ok is not (self.code is WorkflowCode.SUCCESS):
            raise ValueError(f"ok={self.ok} contradicts code {int(self.code)} ({self.code.name})")
        return self


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

    @model_validator(mode="after")
    def _fields_agree(self) -> FileResult:
        """ok, code and code_name say the same thing; only a failure can be suppressed."""
        problems = []
        if self.ok is not (self.code == WorkflowCode.SUCCESS):
            problems.append(f"ok={self.ok} contradicts code {self.code}")
        known = self.code in WorkflowCode._value2member_map_
        if not known or WorkflowCode(self.code).name != self.code_name:
            problems.append(f"code_name {self.code_name!r} is not the name of code {self.code}")
        if self.suppressed and self.ok:
            problems.append("a passing file cannot be suppressed")
        if problems:
            raise ValueError(f"{self.path}: " + "; ".join(problems))
        return self


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

"""The parse baseline (seed 003, "Parse Baseline Script"): a snapshot of parse health.

``parse_baseline.json`` keeps the seed's exact shape so baselines written by the seed's own
script and by Release Warden can be compared by the regression gate either way round:
``{timestamp, total, by_code, failure_rate, files: [{path, code_name, line, message}]}``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationError,
    model_validator,
)

from blocks.errors import ExitCode, WardenError
from tasks.platform.clock import iso_utc
from tasks.platform.files import write_atomic
from tasks.workflows.models import FileResult, WorkflowCode

BASELINE_FILE = "parse_baseline.json"
CODE_NAMES = tuple(code.name for code in WorkflowCode)


class BaselineError(WardenError):
    """A baseline file is missing, not JSON, or not in the seed's shape; nothing was compared."""

    code = ExitCode.USAGE_ERROR
    remediation = (
        "Pass a parse_baseline.json written by 'warden workflows baseline' "
        "(or the seed's generate_parse_baseline.py), or regenerate it."
    )


def utc_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, as the seed writes baseline timestamps."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return iso_utc(moment)


def _code_order(name: str) -> tuple[int, str]:
    """Sort code names by their number in the seed's table; unknown names last."""
    return (WorkflowCode[name].value if name in CODE_NAMES else 10**6, name)


class _Shape(BaseModel):
    """Reject what the gate could not compare, accept extra keys other writers may add."""

    model_config = ConfigDict(extra="allow")


def _known_code_name(name: str) -> str:
    if name not in CODE_NAMES:
        raise ValueError(f"unknown code name {name!r} (known: {', '.join(CODE_NAMES)})")
    return name


CodeName = Annotated[str, AfterValidator(_known_code_name)]


class BaselineFileEntry(_Shape):
    path: str
    code_name: CodeName
    line: int | None = None
    message: str | None = ""


class BaselineDocument(_Shape):
    """The seed's parse_baseline.json; counts must add up to ``total``. What the parse-baseline
    flow returns; ``to_dict()`` is the file as written."""

    timestamp: datetime
    total: int = Field(ge=0)
    by_code: dict[CodeName, NonNegativeInt]
    failure_rate: float = Field(ge=0.0, le=1.0)
    files: list[BaselineFileEntry]

    @model_validator(mode="after")
    def _adds_up(self) -> BaselineDocument:
        if sum(self.by_code.values()) != self.total:
            raise ValueError(
                f"by_code counts add up to {sum(self.by_code.values())}, total is {self.total}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The seed's document: its keys in its order, the time in UTC with a ``Z``, and any
        extra keys another writer added."""
        return {**self.model_dump(mode="json"), "timestamp": utc_z(self.timestamp)}


def build_baseline(results: list[FileResult], timestamp: datetime) -> BaselineDocument:
    """The seed's baseline document for ``results``; files are listed by path, every one.

    ``failure_rate`` is failed/total rounded to 4 places (0.0 for an empty run); a file is
    failed when its result is not ok, suppressed or not: the baseline measures parse health.
    """
    utc_z(timestamp)  # a naive time is refused now, not when the baseline is written
    total = len(results)
    failed = sum(1 for result in results if not result.ok)
    counts = Counter(result.code_name for result in results)
    return BaselineDocument(
        timestamp=timestamp,
        total=total,
        by_code={name: counts[name] for name in sorted(counts, key=_code_order)},
        failure_rate=round(failed / total, 4) if total else 0.0,
        files=[
            BaselineFileEntry(
                path=result.path,
                code_name=result.code_name,
                line=result.line,
                message=result.message,
            )
            for result in sorted(results, key=lambda item: item.path)
        ],
    )


def write_baseline(path: Path, baseline: BaselineDocument) -> Path:
    """Write ``baseline`` as indented JSON, atomically (a reader never sees half a file)."""
    write_atomic(path, json.dumps(baseline.to_dict(), indent=2) + "\n")
    return path


def _problems(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in item['loc']) or '(document)'}: {item['msg']}"
        for item in error.errors()
    ]


def _load_json(path: Path) -> tuple[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BaselineError(f"baseline {path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path}: cannot read file ({exc})") from exc
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline {path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def read_baseline(path: Path) -> dict[str, Any]:
    """Read and validate a baseline file; return its data as written (extra keys kept).

    Validation is strict (JSON types as written: a count of ``"5"`` or ``true`` is wrong), so
    the returned data can be used as is.

    Raises BaselineError (exit code 2) naming the file and every problem found.
    """
    path = Path(path)
    text, data = _load_json(path)
    try:
        BaselineDocument.model_validate_json(text, strict=True)
    except ValidationError as exc:
        problems = _problems(exc)
        detail = "\n".join(f"  - {problem}" for problem in problems)
        raise BaselineError(
            f"baseline {path}: not in the parse baseline shape, {len(problems)} problem(s):\n"
            f"{detail}"
        ) from exc
    return data

"""The sealed gauntlet dataset and its scoring: one answer, and what one side's answers add up to.

A dataset is JSONL, one prompt a line. It is *sealed*: the caller pins the file's SHA-256, and
a file whose bytes changed is refused, so a gauntlet can never quietly get easier. Every
malformed line is reported at once, with its line number. A side's result (accuracy overall
and per domain, latency percentiles, errors) is summarized here from its items; running the
prompts is ``gauntlet.py``'s concern, judging two sides ``verdict.py``'s.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blocks.errors import ConfigError, ExitCode, WardenError

DEFAULT_TOLERANCE = 1e-6  # numeric answers: relative and absolute tolerance alike
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The first number in an answer: "1,234.5", "-3", ".5", "6.02e23" (thousands separators kept).
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


class MatchKind(StrEnum):
    EXACT = "exact"  # the whole answer, surrounding whitespace stripped
    CONTAINS = "contains"  # the expected text anywhere in the answer, case-insensitive
    REGEX = "regex"  # re.search of the expected pattern
    NUMERIC = "numeric"  # the first number in the answer, within tolerance


class DatasetChanged(WardenError):
    """The dataset's bytes no longer match the pinned SHA-256: the gauntlet would not be sealed."""

    code = ExitCode.USAGE_ERROR
    remediation = (
        "Review the dataset change, then re-pin deliberately: set the pinned sha256 to the new "
        "hash (python -m tasks.lora.dataset PATH prints it)."
    )


class GauntletItem(BaseModel):
    """One sealed prompt and how its answer is judged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    domain: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    expected: str
    match: MatchKind
    tolerance: float | None = Field(default=None, ge=0)
    critical: bool = False  # marks the item's whole domain critical

    @field_validator("expected", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        """A numeric answer may be written as a JSON number; it is kept as text."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return repr(value)
        return value

    @model_validator(mode="after")
    def _expected_fits_match(self) -> GauntletItem:
        if not self.expected.strip():
            raise ValueError("expected is empty: every item needs an answer to judge against")
        if self.match is MatchKind.REGEX:
            try:
                re.compile(self.expected)
            except re.error as exc:
                raise ValueError(f"expected is not a valid regex ({exc})") from None
        if self.match is MatchKind.NUMERIC and _as_float(self.expected.strip()) is None:
            raise ValueError(f"expected {self.expected!r} is not a number (match: numeric)")
        if self.tolerance is not None and self.match is not MatchKind.NUMERIC:
            raise ValueError("tolerance applies only to match: numeric")
        return self


class Dataset(BaseModel):
    """A loaded, sealed dataset: its items in file order and the hash they were checked against.

    A sample of a sealed dataset (``tasks.lora.sampling``) keeps the file's hash, says how many
    items the file has (``sealed_items``) and keeps the file's critical domains, even where the
    sample holds none of the items that mark them.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    items: tuple[GauntletItem, ...]
    sealed_items: int = Field(default=0, ge=0)  # items in the sealed file; 0: len(items)
    critical_domains: tuple[str, ...] = ()  # domains with an item marked critical

    @model_validator(mode="before")
    @classmethod
    def _from_items(cls, data: Any) -> Any:
        """Fill ``critical_domains`` and ``sealed_items`` from the items unless given."""
        if not isinstance(data, dict):
            return data
        items = [
            GauntletItem.model_validate(item) if isinstance(item, dict) else item
            for item in data.get("items", ())
        ]
        filled = dict(data)
        if not filled.get("critical_domains"):
            marked = {item.domain for item in items if item.critical}
            filled["critical_domains"] = tuple(sorted(marked))
        if not filled.get("sealed_items"):
            filled["sealed_items"] = len(items)
        return filled

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(sorted({item.domain for item in self.items}))

    @property
    def is_sample(self) -> bool:
        return len(self.items) < self.sealed_items


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes: what a dataset is pinned to."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_dataset(path: Path | str, *, pinned_sha256: str) -> Dataset:
    """Read a sealed dataset; refuse it if its bytes changed or any line is invalid."""
    path = Path(path)
    pinned = _normalized_pin(pinned_sha256)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"gauntlet dataset {path}: cannot read it ({exc.strerror or exc})",
            remediation="Point the gauntlet at an existing dataset file (JSONL).",
        ) from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != pinned:
        raise DatasetChanged(
            f"gauntlet dataset {path} changed: pinned sha256 {pinned}, file has sha256 {actual}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"gauntlet dataset {path}: not UTF-8 (byte {exc.start})",
            remediation="Save the dataset as UTF-8 JSONL and re-pin it.",
        ) from exc
    items = _parse_lines(path, text)
    return Dataset(path=str(path), sha256=actual, items=tuple(items))


def _normalized_pin(pinned: str) -> str:
    value = pinned.strip().lower().removeprefix("sha256:")
    if not _SHA256.fullmatch(value):
        raise ConfigError(
            f"pinned dataset sha256 {pinned!r} is not 64 hex digits",
            remediation="Pin the dataset with the full hex SHA-256 of its file.",
        )
    return value


def _parse_lines(path: Path, text: str) -> list[GauntletItem]:
    """Every line validated; every problem collected with its line number, then raised at once."""
    items: list[GauntletItem] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = _parse_line(line)
        if isinstance(item, str):
            problems.append(f"line {number}: {item}")
            continue
        if item.id in first_line_of:
            problems.append(
                f"line {number}: duplicate id {item.id!r} (first on line {first_line_of[item.id]})"
            )
            continue
        first_line_of[item.id] = number
        items.append(item)
    if not items and not problems:
        problems.append("no items: the dataset has no prompt lines")
    if problems:
        raise ConfigError(
            f"gauntlet dataset {path} is invalid",
            problems=problems,
            remediation="Fix the listed lines, review the change, then re-pin the dataset.",
        )
    return items


def _parse_line(line: str) -> GauntletItem | str:
    """The line's item, or a sentence saying what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    try:
        return GauntletItem.model_validate(data)
    except ValidationError as exc:
        return "; ".join(_describe(error) for error in exc.errors())


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def score(item: GauntletItem, output: str) -> bool:
    """Whether ``output`` answers ``item`` correctly under the item's match kind."""
    expected = item.expected
    if item.match is MatchKind.EXACT:
        return output.strip() == expected.strip()
    if item.match is MatchKind.CONTAINS:
        return expected.strip().casefold() in output.casefold()
    if item.match is MatchKind.REGEX:
        return re.search(expected, output) is not None
    return _numeric_match(expected, output, item.tolerance)


def first_number(output: str) -> float | None:
    """The first number written in ``output`` ("about 1,234.5 units" -> 1234.5), if any."""
    found = _NUMBER.search(output)
    return _as_float(found.group(0).replace(",", "")) if found else None


def _numeric_match(expected: str, output: str, tolerance: float | None) -> bool:
    want = _as_float(expected.strip())
    got = first_number(output)
    if want is None or got is None:
        return False
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    return math.isclose(got, want, rel_tol=tol, abs_tol=tol)


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class ItemErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect"
    HTTP_STATUS = "http_status"
    BAD_JSON = "bad_json"
    REQUEST_ERROR = "request_error"
    COMMAND_FAILED = "command_failed"
    TARGET_BUG = "target_bug"  # the target raised something unexpected: still an error, not a pass


class ItemResult(BaseModel):
    """One prompt's outcome; ``error`` set means it was not answered (and is not correct)."""

    model_config = ConfigDict(frozen=True)

    id: str
    domain: str
    output: str | None
    correct: bool
    latency_ms: float
    error: str | None = None
    error_kind: ItemErrorKind | None = None


class DomainStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    total: int
    correct: int
    errors: int
    accuracy: float
    critical: bool


class SideResult(BaseModel):
    """One target's whole gauntlet: accuracy, latency percentiles, errors, and every item.

    Accuracy counts errors as wrong answers; latency percentiles cover answered items only.
    """

    model_config = ConfigDict(frozen=True)

    target: str
    dataset_sha256: str
    dataset_items: int  # prompts in the sealed dataset; ``total`` of them ran on this side
    started_at: datetime
    duration_s: float
    concurrency: int
    total: int
    answered: int
    correct: int
    errors: int
    accuracy: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    domains: tuple[DomainStats, ...]
    critical_domains: tuple[str, ...]
    error_counts: dict[str, int]
    items: tuple[ItemResult, ...]

    @property
    def accuracy_by_domain(self) -> dict[str, float]:
        return {stats.domain: stats.accuracy for stats in self.domains}

    @property
    def prompts_per_s(self) -> float:
        return self.total / self.duration_s if self.duration_s > 0 else 0.0


def summarize_side(
    dataset: Dataset,
    target: str,
    results: list[ItemResult],
    *,
    started_at: datetime,
    duration_s: float,
    concurrency: int,
) -> SideResult:
    """Counts, accuracy (overall and per domain) and latency percentiles of one side's items."""
    total = len(results)
    errors = sum(r.error is not None for r in results)
    correct = sum(r.correct for r in results)
    answered = [r.latency_ms for r in results if r.error is None]
    critical = set(dataset.critical_domains)
    return SideResult(
        target=target,
        dataset_sha256=dataset.sha256,
        dataset_items=dataset.sealed_items,
        started_at=started_at,
        duration_s=round(duration_s, 6),
        concurrency=concurrency,
        total=total,
        answered=len(answered),
        correct=correct,
        errors=errors,
        accuracy=correct / total if total else 0.0,
        error_rate=errors / total if total else 0.0,
        p50_ms=percentile(answered, 50),
        p95_ms=percentile(answered, 95),
        p99_ms=percentile(answered, 99),
        domains=tuple(
            _domain_stats(domain, results, domain in critical) for domain in dataset.domains
        ),
        critical_domains=dataset.critical_domains,
        error_counts=dict(
            sorted(Counter(str(r.error_kind) for r in results if r.error_kind).items())
        ),
        items=tuple(results),
    )


def _domain_stats(domain: str, results: list[ItemResult], critical: bool) -> DomainStats:
    mine = [r for r in results if r.domain == domain]
    correct = sum(r.correct for r in mine)
    return DomainStats(
        domain=domain,
        total=len(mine),
        correct=correct,
        errors=sum(r.error is not None for r in mine),
        accuracy=correct / len(mine) if mine else 0.0,
        critical=critical,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, linear between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


if __name__ == "__main__":  # print the hash to pin: python -m tasks.lora.dataset PATH
    import sys

    for name in sys.argv[1:]:
        print(f"{sha256_file(Path(name))}  {name}")

"""The parse baseline regression gate (seed 003, "Regression Gate Script"): which codes regressed.

A targeted code regresses only when its count rose by more than BOTH thresholds: more than
``abs_threshold`` files AND more than ``rel_threshold`` relative to the reference. With
``fail_on_new_internal``, any rise of INTERNAL_ERROR regresses, whatever the thresholds.

A rise from zero has an infinite relative increase: it passes any relative threshold, and
since JSON has no infinity it is written as ``"relative_increase": null`` with
``"relative_increase_note": "from zero"`` (the only key added to the seed's shape).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ExitCode, UsageError
from tasks.workflows.baseline import read_baseline
from tasks.workflows.comparability import (
    DEFAULT_MAX_MISSING,
    check_comparable,
    without_suppressed,
)
from tasks.workflows.fingerprint import Suppressions, parse_suppressions
from tasks.workflows.models import WorkflowCode

DEFAULT_CODES = ("PARSE_ERROR", "VALIDATION_ERROR")
INTERNAL = WorkflowCode.INTERNAL_ERROR.name
FROM_ZERO = "from zero"


class Regression(BaseModel):
    """One targeted code that rose past the thresholds; ``relative_increase`` None = from zero."""

    model_config = ConfigDict(frozen=True)

    code: str
    old: int
    new: int
    delta: int
    relative_increase: float | None

    def to_dict(self) -> dict[str, Any]:
        """The seed's entry; a rise from zero adds ``relative_increase_note``."""
        entry: dict[str, Any] = self.model_dump()
        if self.relative_increase is None:
            entry["relative_increase_note"] = FROM_ZERO
        return entry


class RegressionReport(BaseModel):
    """The regression gate's verdict; ``to_dict()`` is the seed's JSON report."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    timestamp: datetime
    new_counts: dict[str, int]
    ref_counts: dict[str, int]
    abs_threshold: int
    rel_threshold: float
    regressions: list[Regression]
    # Beyond the seed's shape, written only when set: suppressed failures left out of the
    # counts (new, ref), and what could not be checked about the baselines themselves.
    excluded_suppressed: dict[str, int] | None = None
    notes: list[str] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "ok": self.ok,
            "timestamp": self.timestamp.astimezone(UTC).isoformat(),
            "new_counts": dict(self.new_counts),
            "ref_counts": dict(self.ref_counts),
            "abs_threshold": self.abs_threshold,
            "rel_threshold": self.rel_threshold,
            "regressions": [regression.to_dict() for regression in self.regressions],
        }
        if self.excluded_suppressed is not None:
            document["excluded_suppressed"] = dict(self.excluded_suppressed)
        if self.notes:
            document["notes"] = list(self.notes)
        return document

    @property
    def exit_code(self) -> int:
        """0 when no code regressed, 1 (the verdict failed) otherwise; 2 is raised, not returned."""
        return int(ExitCode.OK if self.ok else ExitCode.VERDICT_FAILED)

    @property
    def summary(self) -> str:
        """The run's state message: how many codes regressed, or none."""
        if self.regressions:
            return f"regression in {len(self.regressions)} code(s)"
        return "no regression"


class UnknownCodeNames(UsageError):
    """Codes to compare that are not workflow code names (or none at all)."""

    remediation = "Pass --codes with names from the listed valid names (e.g. PARSE_ERROR)."


class NegativeThreshold(UsageError):
    """A threshold below zero would flag every count as a regression."""

    remediation = (
        "Pass --abs-threshold as a file count and --rel-threshold as a fraction, e.g. 0.10 for 10%."
    )


def _checked_codes(codes: tuple[str, ...] | list[str], fail_on_new_internal: bool) -> list[str]:
    """The codes to compare, in order, without repeats; unknown names are a usage error."""
    valid = [code.name for code in WorkflowCode]
    unknown = [code for code in codes if code not in valid]
    if unknown:
        raise UnknownCodeNames(
            f"unknown code name(s) {', '.join(unknown)}; valid names: {', '.join(valid)}"
        )
    if not codes:
        raise UnknownCodeNames(f"no codes to compare; valid names: {', '.join(valid)}")
    checked = list(dict.fromkeys(codes))
    if fail_on_new_internal and INTERNAL not in checked:
        checked.append(INTERNAL)
    return checked


def _check_thresholds(abs_threshold: int, rel_threshold: float) -> None:
    if abs_threshold < 0 or rel_threshold < 0:
        raise NegativeThreshold(
            f"thresholds must be >= 0 (abs {abs_threshold}, rel {rel_threshold})"
        )


def relative_increase(old: int, new: int) -> float | None:
    """(new - old) / old; None stands for infinite (a rise from zero); 0.0 when both are 0."""
    if old == 0:
        return None if new > 0 else 0.0
    return (new - old) / old


def _regression(
    code: str, old: int, new: int, abs_threshold: int, rel_threshold: float, internal: bool
) -> Regression | None:
    """The regression of one code, or None when it stayed within the thresholds."""
    delta = new - old
    rel = relative_increase(old, new)
    over_rel = rel is None or rel > rel_threshold
    regressed = (internal and delta > 0) or (delta > abs_threshold and over_rel)
    if not regressed:
        return None
    rounded = None if rel is None else round(rel, 4)
    return Regression(code=code, old=old, new=new, delta=delta, relative_increase=rounded)


def find_regressions(
    new: dict[str, Any],
    ref: dict[str, Any],
    *,
    abs_threshold: int = 5,
    rel_threshold: float = 0.10,
    codes: tuple[str, ...] = DEFAULT_CODES,
    fail_on_new_internal: bool = False,
    now: datetime,
) -> RegressionReport:
    """Compare two baselines (as read by ``read_baseline``) code by code.

    A code absent from a baseline's ``by_code`` counts 0. ``relative_increase`` is rounded to
    4 places in the report; the thresholds are applied to the exact value.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    checked = _checked_codes(tuple(codes), fail_on_new_internal)
    _check_thresholds(abs_threshold, rel_threshold)
    new_counts = {code: int(new["by_code"].get(code, 0)) for code in checked}
    ref_counts = {code: int(ref["by_code"].get(code, 0)) for code in checked}
    regressions = []
    for code in checked:
        internal = fail_on_new_internal and code == INTERNAL
        found = _regression(
            code, ref_counts[code], new_counts[code], abs_threshold, rel_threshold, internal
        )
        if found is not None:
            regressions.append(found)
    return RegressionReport(
        ok=not regressions,
        timestamp=now,
        new_counts=new_counts,
        ref_counts=ref_counts,
        abs_threshold=abs_threshold,
        rel_threshold=rel_threshold,
        regressions=regressions,
    )


def compare_baseline_files(
    new: Path,
    ref: Path,
    *,
    now: datetime,
    max_missing: float = DEFAULT_MAX_MISSING,
    suppressions: Path | None = None,
    **options: Any,
) -> RegressionReport:
    """The gate on two baseline files: both readable and comparable (else exit 2, nothing
    compared), suppressed failures left out of both when a suppression file is given, then
    ``find_regressions`` with ``options``."""
    _checked_codes(tuple(options.get("codes", DEFAULT_CODES)), False)  # the command line first
    _check_thresholds(options.get("abs_threshold", 0), options.get("rel_threshold", 0.0))
    new_doc, ref_doc = read_baseline(new), read_baseline(ref)
    notes = check_comparable(new_doc, ref_doc, max_missing=max_missing)
    excluded = None
    if suppressions is not None:
        listed = read_suppression_list(suppressions)
        new_doc, new_out = without_suppressed(new_doc, listed.fingerprints)
        ref_doc, ref_out = without_suppressed(ref_doc, listed.fingerprints)
        excluded = {"new": new_out, "ref": ref_out}
        notes += listed.warnings
    report = find_regressions(new_doc, ref_doc, now=now, **options)
    return report.model_copy(update={"excluded_suppressed": excluded, "notes": notes})


def read_suppression_list(path: Path) -> Suppressions:
    """The suppression file gating leaves out; a missing or unreadable one is a usage error,
    since excluding suppressed failures would then exclude nothing."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"suppression file {path}: cannot read it ({exc}); --exclude-suppressed needs it",
            remediation="Pass --suppressions with the file that lists the fingerprints, or "
            "drop --exclude-suppressed.",
        ) from exc
    return parse_suppressions(text, source=str(path))


def regression_rows(report: RegressionReport) -> list[dict[str, Any]]:
    """The artifact's table: a row per regressed code, or one row saying none regressed."""
    return [regression.model_dump() for regression in report.regressions] or [{"regressions": 0}]


def regression_report_md(report: RegressionReport) -> str:
    """A markdown summary for the flow's artifact: verdict, thresholds, one row per code."""
    verdict = "✅ no regression" if report.ok else "❌ regression"
    regressed = {regression.code: regression for regression in report.regressions}
    lines = [
        f"# Parse baseline regression gate: {verdict}",
        "",
        f"Thresholds: more than {report.abs_threshold} files AND more than "
        f"{report.rel_threshold * 100:g}% relative increase.",
        "",
        "| code | reference | new | delta | relative increase | regressed |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for code, new in report.new_counts.items():
        old = report.ref_counts[code]
        rel = relative_increase(old, new)
        shown = "∞ (from zero)" if rel is None else f"{rel:+.2%}"
        mark = "❌" if code in regressed else "✅"
        lines.append(f"| {code} | {old} | {new} | {new - old:+d} | {shown} | {mark} |")
    if report.excluded_suppressed is not None:
        excluded = report.excluded_suppressed
        lines += [
            "",
            f"Suppressed failures left out: {excluded['new']} new, {excluded['ref']} ref.",
        ]
    lines += ["", *(f"- note: {note}" for note in report.notes)] if report.notes else []
    return "\n".join(lines) + "\n"

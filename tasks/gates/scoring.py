"""Turn evaluator outcomes into gate results, and gate results into the suite's verdict.

Two decisions live here: a gate's status (outcome, metric thresholds, mode and sign-off) and
the release verdict (weighted score, band, vetoes of key, mandatory and manual gates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from blocks.errors import ExitCode
from blocks.gates import GateBase, GateMode, ManualGate, Scoring
from tasks.gates.metrics import judge_metric, metric_spec_for
from tasks.gates.models import (
    Band,
    CheckOutcome,
    Comparison,
    GateResult,
    GateStatus,
    GateVerdict,
    MetricResult,
    Reference,
)

PASSING = (GateStatus.PASSED, GateStatus.SIGNED_OFF)
BLOCKING_MODES = (GateMode.MANDATORY, GateMode.MANUAL)


class SignOff(BaseModel):
    """An operator's answer to a manual gate, given in the UI (or on the command line)."""

    model_config = ConfigDict(frozen=True)

    who: str = Field(min_length=1)
    evidence_link: str = ""
    approved: bool
    comment: str = ""

    @field_validator("who", "evidence_link", "comment", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class SuiteScore(BaseModel):
    """The suite's weighted score, its band and the verdict with the reasons behind it."""

    model_config = ConfigDict(frozen=True)

    score: float
    band: Band
    verdict: GateVerdict
    exit_code: int
    reasons: list[str] = Field(default_factory=list)


def finalize(
    gate: GateBase,
    outcome: CheckOutcome,
    *,
    duration_sec: float,
    previous_metric: Reference | float | None,
    signed_off: SignOff | None = None,
) -> GateResult:
    """Apply the metric's thresholds, the gate's mode and any sign-off to an outcome.

    ``previous_metric`` is the reference relative thresholds compare with (see
    :mod:`tasks.gates.references`); a bare number is taken as given.
    """
    spec = metric_spec_for(gate)
    metric = judge_metric(spec, outcome.metric_value, previous_metric) if spec else None
    details = dict(outcome.details)
    status, reason = _status(gate, outcome, metric, signed_off, details)
    return GateResult(
        name=gate.name,
        title=gate.description,
        kind=getattr(gate, "kind", "gate"),
        mode=gate.mode,
        status=status,
        ok=status is not GateStatus.FAILED,
        manual=gate.mode is GateMode.MANUAL,
        duration_sec=max(0.0, duration_sec),
        weight=gate.weight,
        key=gate.key,
        reason=reason,
        details=details,
        metric=metric,
        evidence=gate.evidence,
    )


def _status(
    gate: GateBase,
    outcome: CheckOutcome,
    metric: MetricResult | None,
    signed_off: SignOff | None,
    details: dict[str, Any],
) -> tuple[GateStatus, str]:
    """The gate's status and reason word; may add explanations to ``details``."""
    if not outcome.ok:
        return GateStatus.FAILED, outcome.reason or "failed"
    if metric is not None and not metric.ok:
        details.setdefault("message", f"metric {metric.name}: {metric.reason}")
        if metric.value is None:
            return GateStatus.FAILED, "metric_missing"
        if metric.comparison is Comparison.UNUSABLE:
            return GateStatus.FAILED, "reference_unusable"
        return GateStatus.FAILED, "metric_threshold"
    if gate.mode is GateMode.MANUAL:
        if signed_off is None:
            instructions = gate.instructions if isinstance(gate, ManualGate) else ""
            details["manual_followup"] = True
            details["reason"] = instructions or "automated part passed; an operator must sign off"
            return GateStatus.MANUAL_FOLLOWUP, "manual_followup"
        return _signed_status(signed_off, details)
    return GateStatus.PASSED, ""


def apply_sign_off(
    result: GateResult,
    signed_off: SignOff | None,
    *,
    failure: str = "",
    reason: str = "sign_off_missing",
) -> GateResult:
    """An operator's answer, given after the gate ran, to a gate awaiting follow-up.

    No answer (the pause timed out, the API failed) or an unusable one (``reason``
    ``sign_off_invalid``) fails the gate: sign-off is not implied.
    """
    details = {**result.details, "manual_followup": False}
    if result.status is not GateStatus.MANUAL_FOLLOWUP:
        return result  # only a gate awaiting sign-off can be signed off
    if signed_off is None:
        details["message"] = failure or "no sign-off received"
        status = GateStatus.FAILED
    else:
        status, reason = _signed_status(signed_off, details)
    return result.model_copy(
        update={
            "status": status,
            "reason": reason,
            "details": details,
            "ok": status is not GateStatus.FAILED,
        }
    )


def _signed_status(signed_off: SignOff, details: dict[str, Any]) -> tuple[GateStatus, str]:
    """The operator's answer decides a manual gate whose automated part passed."""
    details["evidence_link"] = signed_off.evidence_link
    if signed_off.comment:
        details["comment"] = signed_off.comment
    if signed_off.approved:
        details["signed_off_by"] = signed_off.who
        return GateStatus.SIGNED_OFF, ""
    details["rejected_by"] = signed_off.who
    details["message"] = f"rejected by {signed_off.who}" + (
        f": {signed_off.comment}" if signed_off.comment else ""
    )
    return GateStatus.FAILED, "rejected_by_operator"


def skipped_result(gate: GateBase, failed_deps: list[str]) -> GateResult:
    """The result of a gate not run because a gate it depends on failed."""
    return _unrun_result(
        gate,
        "dependency_failed",
        {
            "failed_dependencies": list(failed_deps),
            "message": "not run: depends on failed gate(s) " + ", ".join(failed_deps),
        },
    )


def crashed_result(gate: GateBase, error: object) -> GateResult:
    """The result of a gate whose task crashed or could not start: failed, with the error."""
    message = f"the gate's task ended without a result: {type(error).__name__}: {error}"
    return _unrun_result(gate, "check_crashed", {"message": message})


def _unrun_result(gate: GateBase, reason: str, details: dict[str, Any]) -> GateResult:
    return GateResult(
        name=gate.name,
        title=gate.description,
        kind=getattr(gate, "kind", "gate"),
        mode=gate.mode,
        status=GateStatus.FAILED,
        ok=False,
        manual=gate.mode is GateMode.MANUAL,
        duration_sec=0.0,
        weight=gate.weight,
        key=gate.key,
        reason=reason,
        details=details,
        evidence=gate.evidence,
    )


def complete_results(
    results: Sequence[GateResult], gates_by_name: Mapping[str, GateBase]
) -> list[GateResult]:
    """The results, plus a failed one for each selected gate that produced none.

    A gate without a result (a lost future, a crash) counts as failed and is listed in the
    report, because a check that did not run proves nothing.
    """
    seen = {result.name for result in results}
    lost = [
        _unrun_result(gate, "no_result", {"message": "the gate produced no result"})
        for name, gate in gates_by_name.items()
        if name not in seen
    ]
    return [*results, *lost]


def score_suite(
    results: Sequence[GateResult],
    gates_by_name: Mapping[str, GateBase],
    scoring: Scoring,
    strict_manual: bool,
) -> SuiteScore:
    """Score the results and give the verdict (``gates_by_name``: the gates this run selected)."""
    every = complete_results(results, gates_by_name)
    score = suite_score(every, strict_manual)
    band = band_for(score, scoring)
    blocking, warnings = _verdict_reasons(every, strict_manual)
    if band is Band.FAIL:
        blocking.append(f"score {score:g} is below the warning threshold {scoring.warn_at:g}")
    elif band is Band.WARNING:
        warnings.append(f"score {score:g} is below the pass threshold {scoring.pass_at:g}")
    if not every:
        blocking.append("no gate ran: nothing proves this release")
    elif not any(r.status in PASSING for r in every):
        blocking.append("no gate passed: nothing proves this release")
    if blocking:
        verdict, code = GateVerdict.NO_GO, ExitCode.VERDICT_FAILED
    else:
        verdict, code = (GateVerdict.WARN if warnings else GateVerdict.GO), ExitCode.OK
    return SuiteScore(
        score=score, band=band, verdict=verdict, exit_code=int(code), reasons=blocking + warnings
    )


def suite_score(results: Sequence[GateResult], strict_manual: bool) -> float:
    """100 x passed weight / counted weight; pending manual gates count only when strict.

    Nothing counted (no gate, or only manual gates awaiting sign-off) scores 0: no evidence.
    """
    counted = [r for r in results if strict_manual or r.status is not GateStatus.MANUAL_FOLLOWUP]
    if not counted:
        return 0.0
    total = sum(r.weight for r in counted)
    if total == 0:
        return 0.0 if any(r.status not in PASSING for r in counted) else 100.0
    passed = sum(r.weight for r in counted if r.status in PASSING)
    return round(100 * passed / total, 1)


def band_for(score: float, scoring: Scoring) -> Band:
    """PASS at or above ``pass_at``, WARNING at or above ``warn_at``, FAIL below."""
    if score >= scoring.pass_at:
        return Band.PASS
    if score >= scoring.warn_at:
        return Band.WARNING
    return Band.FAIL


def _verdict_reasons(
    results: Sequence[GateResult], strict_manual: bool
) -> tuple[list[str], list[str]]:
    """Reasons that block the release, and reasons that only warn, gate by gate."""
    blocking: list[str] = []
    warnings: list[str] = []
    for r in results:
        why = r.reason or "failed"
        if r.status is GateStatus.FAILED and r.key:
            blocking.append(f"key gate {r.name} vetoed ({why})")
        elif r.status is GateStatus.FAILED and r.mode in BLOCKING_MODES:
            blocking.append(f"{r.mode} gate {r.name} failed ({why})")
        elif r.status is GateStatus.FAILED:
            warnings.append(f"advisory gate {r.name} failed ({why})")
        elif r.status is GateStatus.MANUAL_FOLLOWUP and strict_manual:
            blocking.append(f"manual gate {r.name} not fully validated (--strict-manual)")
        elif r.status is GateStatus.MANUAL_FOLLOWUP:
            warnings.append(f"manual gate {r.name} awaits operator sign-off")
        if r.status in PASSING and r.metric and r.metric.comparison is Comparison.NO_REFERENCE:
            warnings.append(
                f"gate {r.name}: no accepted run to compare {r.metric.name} with "
                f"({r.metric.threshold} not checked)"
            )
    return blocking, warnings

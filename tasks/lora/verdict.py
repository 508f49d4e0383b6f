"""Judge a canary's gauntlet against the stable adapter's: pass, fail or inconclusive, and why.

The seed's rule is the core: fail when accuracy drops by more than one point versus stable.
Around it: a p95 latency regression, too many errors, and any drop in a critical domain fail
too; too many errors on either side make the comparison INCONCLUSIVE, which is a failure with
its own reason, never a pass. A first deploy (no stable) is held to an absolute minimum, which
must be configured: without one a first deploy cannot be judged, and that is a ConfigError.
The verdict says which prompts it rests on: the mode, and how many of the dataset's prompts ran.
Its markdown summary and table rows are :mod:`tasks.lora.verdict_summary`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from blocks.errors import ConfigError, UsageError
from blocks.lora import GauntletPolicy
from tasks.lora.dataset import SideResult
from tasks.lora.switches import GauntletMode
from tasks.platform.clock import utc_now

EPS = 1e-9  # float noise: a drop of exactly the limit is allowed


class VerdictStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class ReasonCode(StrEnum):
    ACCURACY_DROP = "ACCURACY_DROP"
    LATENCY_REGRESSION = "LATENCY_REGRESSION"
    ERROR_RATE = "ERROR_RATE"
    CRITICAL_DOMAIN_REGRESSION = "CRITICAL_DOMAIN_REGRESSION"
    INCONCLUSIVE = "INCONCLUSIVE"


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    message: str


class MetricRow(BaseModel):
    """One line of the side-by-side table; ``delta`` is candidate minus stable, in ``unit``."""

    model_config = ConfigDict(frozen=True)

    metric: str
    unit: str
    candidate: float | None
    stable: float | None
    delta: float | None
    limit: str = ""
    ok: bool | None = None  # None: shown for context, not judged


class GauntletVerdict(BaseModel):
    """What the deploy flow acts on: keep the canary only when ``passed``."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    status: VerdictStatus
    reasons: tuple[Reason, ...]
    failure_reason: str | None  # the first reason's code lowercased: the GAUNTLET_FAIL payload
    metrics: tuple[MetricRow, ...]
    candidate: str
    stable: str | None
    dataset_sha256: str
    mode: GauntletMode  # full: every prompt of the dataset ran; canary: a stratified sample
    prompts: int  # prompts each side ran
    dataset_prompts: int  # prompts in the sealed dataset
    policy: GauntletPolicy
    decided_at: datetime


def judge_gauntlet(
    candidate: SideResult,
    stable: SideResult | None,
    policy: GauntletPolicy | None = None,
    *,
    mode: GauntletMode | None = None,
) -> GauntletVerdict:
    """The verdict on ``candidate`` against ``stable`` (None: a first deploy) under ``policy``.

    ``mode`` is the mode that selected the prompts; left None it is read off the sides (full
    when every prompt of the dataset ran). A ``full`` claim over a sample is refused.
    """
    policy = policy or GauntletPolicy()
    check_first_deploy_floor(policy, has_stable=stable is not None)
    critical = critical_domains(candidate, policy)
    _check_same_prompts(candidate, stable)
    ran_all = candidate.total == candidate.dataset_items
    if mode is GauntletMode.FULL and not ran_all:
        raise UsageError(
            f"a full gauntlet was claimed, but {candidate.total} of the dataset's "
            f"{candidate.dataset_items} prompts ran",
            remediation="Run every prompt for mode full, or report the run as mode canary.",
        )
    mode = mode or (GauntletMode.FULL if ran_all else GauntletMode.CANARY)
    reasons = _inconclusive(candidate, stable, policy)
    if reasons:
        status = VerdictStatus.INCONCLUSIVE
    else:
        reasons = [
            *_accuracy(candidate, stable, policy),
            *_latency(candidate, stable, policy),
            *_error_rate(candidate, policy),
            *_critical(candidate, stable, critical),
        ]
        status = VerdictStatus.FAIL if reasons else VerdictStatus.PASS
    return GauntletVerdict(
        passed=status is VerdictStatus.PASS,
        status=status,
        reasons=tuple(reasons),
        failure_reason=reasons[0].code.lower() if reasons else None,
        metrics=tuple(metric_rows(candidate, stable, policy, critical)),
        candidate=candidate.target,
        stable=stable.target if stable else None,
        dataset_sha256=candidate.dataset_sha256,
        mode=mode,
        prompts=candidate.total,
        dataset_prompts=candidate.dataset_items,
        policy=policy,
        decided_at=utc_now(),
    )


def check_first_deploy_floor(policy: GauntletPolicy, *, has_stable: bool) -> None:
    """A first deploy (no stable adapter) can only be judged against a configured floor."""
    if not has_stable and policy.min_accuracy is None:
        raise ConfigError(
            "this is a first deploy (no stable adapter to compare with) and the gauntlet "
            "policy sets no min_accuracy: the canary cannot be judged",
            remediation="Set gauntlet.policy.min_accuracy (e.g. 0.9) in the LoRA file; a "
            "first deploy must reach it to be promoted.",
        )


def _check_same_prompts(candidate: SideResult, stable: SideResult | None) -> None:
    if stable is None:
        return
    if stable.dataset_sha256 != candidate.dataset_sha256:
        raise UsageError(
            f"the sides ran different datasets: candidate {candidate.dataset_sha256}, "
            f"stable {stable.dataset_sha256}",
            remediation="Run both adapters on the same sealed dataset in one side-by-side run.",
        )
    if {item.id for item in candidate.items} != {item.id for item in stable.items}:
        raise UsageError(
            f"the sides ran different prompts ({candidate.total} and {stable.total} of the "
            "same dataset): the comparison would not be like for like",
            remediation="Run both adapters on the same selection in one side-by-side run.",
        )


def critical_domains(candidate: SideResult, policy: GauntletPolicy) -> tuple[str, ...]:
    """The dataset's ``critical`` domains plus the policy's; a policy domain must exist."""
    known = {stats.domain for stats in candidate.domains}
    unknown = sorted(set(policy.critical_domains) - known)
    if unknown:
        raise ConfigError(
            "gauntlet policy names critical domains the dataset does not have",
            problems=[
                f"critical_domains: {name!r} (dataset has {sorted(known)})" for name in unknown
            ],
            remediation="Fix the domain names in the policy's critical_domains (a typo there "
            "would silently unprotect the domain).",
        )
    return tuple(sorted(set(candidate.critical_domains) | set(policy.critical_domains)))


def _inconclusive(
    candidate: SideResult, stable: SideResult | None, policy: GauntletPolicy
) -> list[Reason]:
    limit = policy.inconclusive_error_rate
    sides = [("candidate", candidate), ("stable", stable)]
    return [
        Reason(
            code=ReasonCode.INCONCLUSIVE,
            message=f"{label} side: {side.errors}/{side.total} prompts failed "
            f"({_pct(side.error_rate)} > {_pct(limit)}): the comparison cannot be trusted",
        )
        for label, side in sides
        if side is not None and side.error_rate > limit + EPS
    ]


def _accuracy(
    candidate: SideResult, stable: SideResult | None, policy: GauntletPolicy
) -> list[Reason]:
    if stable is None:
        assert policy.min_accuracy is not None  # check_first_deploy_floor ran first
        if candidate.accuracy < policy.min_accuracy - EPS:
            message = (
                f"accuracy {_pct(candidate.accuracy)} is below the minimum "
                f"{_pct(policy.min_accuracy)} (first deploy: no stable adapter to compare)"
            )
            return [Reason(code=ReasonCode.ACCURACY_DROP, message=message)]
        return []
    drop = (stable.accuracy - candidate.accuracy) * 100
    if drop > policy.max_accuracy_drop_points + EPS:
        message = (
            f"accuracy dropped {drop:.2f} points ({_pct(stable.accuracy)} -> "
            f"{_pct(candidate.accuracy)}); at most {policy.max_accuracy_drop_points:g} allowed"
        )
        return [Reason(code=ReasonCode.ACCURACY_DROP, message=message)]
    return []


def _latency(
    candidate: SideResult, stable: SideResult | None, policy: GauntletPolicy
) -> list[Reason]:
    if stable is None or candidate.p95_ms is None or not stable.p95_ms:
        return []
    rise_ms = candidate.p95_ms - stable.p95_ms
    rise_pct = rise_ms / stable.p95_ms * 100
    if rise_pct > policy.max_p95_latency_increase_pct + EPS and (
        rise_ms > policy.min_p95_latency_increase_ms
    ):
        message = (
            f"p95 latency rose {rise_pct:.1f}% ({stable.p95_ms:.1f} ms -> "
            f"{candidate.p95_ms:.1f} ms); at most {policy.max_p95_latency_increase_pct:g}% allowed"
        )
        return [Reason(code=ReasonCode.LATENCY_REGRESSION, message=message)]
    return []


def _error_rate(candidate: SideResult, policy: GauntletPolicy) -> list[Reason]:
    if candidate.error_rate > policy.max_error_rate + EPS:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in candidate.error_counts.items())
        message = (
            f"{candidate.errors}/{candidate.total} prompts failed ({_pct(candidate.error_rate)} > "
            f"{_pct(policy.max_error_rate)}; {kinds})"
        )
        return [Reason(code=ReasonCode.ERROR_RATE, message=message)]
    return []


def _critical(
    candidate: SideResult, stable: SideResult | None, critical: tuple[str, ...]
) -> list[Reason]:
    if stable is None:
        return []
    now, before = candidate.accuracy_by_domain, stable.accuracy_by_domain
    return [
        Reason(
            code=ReasonCode.CRITICAL_DOMAIN_REGRESSION,
            message=f"critical domain {domain!r} accuracy dropped "
            f"({_pct(before[domain])} -> {_pct(now[domain])}); no drop is allowed",
        )
        for domain in critical
        if domain in now and domain in before and now[domain] < before[domain] - EPS
    ]


def metric_rows(
    candidate: SideResult,
    stable: SideResult | None,
    policy: GauntletPolicy,
    critical: tuple[str, ...] = (),
) -> list[MetricRow]:
    """Both sides' figures, the limit each is held to, and whether it held."""
    reasons = {r.code for r in _accuracy(candidate, stable, policy)}
    first = stable is None
    accuracy_limit = (
        f">= {_pct(policy.min_accuracy or 0.0)}"
        if first
        else f"drop <= {policy.max_accuracy_drop_points:g} pt"
    )
    rows = [
        _row(
            "accuracy",
            "%",
            candidate.accuracy * 100,
            _get(stable, "accuracy", 100),
            accuracy_limit,
            ReasonCode.ACCURACY_DROP not in reasons,
        ),
    ]
    now = candidate.accuracy_by_domain
    before = stable.accuracy_by_domain if stable else {}
    for domain in sorted(now):
        judged = domain in critical and not first
        held = now[domain] >= before.get(domain, 0.0) - EPS
        rows.append(
            _row(
                f"accuracy[{domain}]",
                "%",
                now[domain] * 100,
                before[domain] * 100 if domain in before else None,
                "critical: no drop" if domain in critical else "",
                held if judged else None,
            )
        )
    latency_judged = stable is not None and candidate.p95_ms is not None and bool(stable.p95_ms)
    latency_ok = not _latency(candidate, stable, policy) if latency_judged else None
    rows += [
        _row("p50 latency", "ms", candidate.p50_ms, _get(stable, "p50_ms")),
        _row(
            "p95 latency",
            "ms",
            candidate.p95_ms,
            _get(stable, "p95_ms"),
            f"rise <= {policy.max_p95_latency_increase_pct:g}%",
            latency_ok,
        ),
        _row("p99 latency", "ms", candidate.p99_ms, _get(stable, "p99_ms")),
        _row(
            "error rate",
            "%",
            candidate.error_rate * 100,
            _get(stable, "error_rate", 100),
            f"<= {_pct(policy.max_error_rate)}",
            not _error_rate(candidate, policy),
        ),
        _row("prompts", "count", candidate.total, _get(stable, "total")),
        _row("errors", "count", candidate.errors, _get(stable, "errors")),
    ]
    return rows


def _row(
    metric: str,
    unit: str,
    candidate: float | None,
    stable: float | None,
    limit: str = "",
    ok: bool | None = None,
) -> MetricRow:
    delta = None if candidate is None or stable is None else candidate - stable
    return MetricRow(
        metric=metric,
        unit=unit,
        candidate=_round(candidate),
        stable=_round(stable),
        delta=_round(delta),
        limit=limit,
        ok=ok,
    )


def _get(side: SideResult | None, field: str, scale: float = 1.0) -> float | None:
    value = getattr(side, field) if side is not None else None
    return None if value is None else value * scale


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"

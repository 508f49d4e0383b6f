"""Operational readiness before the gauntlet may be enabled: targets up, no alerts, a full soak.

The seed's checklist (>= 20 UP targets, 0 active alerts, 72 h of stable operation) is judged by
:func:`check_readiness` against one :class:`ReadinessSource`: the ops board's JSON health
endpoint (:mod:`tasks.lora.ops_board`) or the Prometheus HTTP API (:mod:`tasks.lora.prometheus`),
chosen by configuration with no fallback between them. Anything that stops a source from
answering is a reason for "not ready": never an exception, never a pass.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import BackendUnavailable
from blocks.lora import ReadinessPolicy

SOAK_FIELDS = ("soak_hours", "last_alert_at", "stable_since")


class Observation(BaseModel):
    """What a source saw; ``soak_hours`` is None when the source cannot tell."""

    model_config = ConfigDict(frozen=True)

    targets_up: int = Field(ge=0)
    alerts: int = Field(ge=0)
    soak_hours: float | None = Field(default=None, ge=0)
    source: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Readiness(BaseModel):
    """The verdict; ``observation`` is None when the source could not be read at all."""

    model_config = ConfigDict(frozen=True)

    ready: bool
    reasons: list[str] = Field(default_factory=list)
    observation: Observation | None = None


class ReadinessUnavailable(BackendUnavailable):
    """A readiness source could not be read, or answered something that makes no sense."""

    remediation = (
        "Fix the readiness source (address, service, response shape) and check again; "
        "until then the gauntlet stays off."
    )


class ReadinessSource(Protocol):
    """One backend that reports targets up, active alerts and soak time."""

    def observe(self) -> Observation:
        """Read the backend once; raise ``ReadinessUnavailable`` naming the URL on failure."""
        ...


def check_readiness(source: ReadinessSource, policy: ReadinessPolicy | None = None) -> Readiness:
    """Observe once and judge; a source that fails gives ready=False with why, never raises."""
    policy = policy or ReadinessPolicy()
    try:
        observation = source.observe()
    except ReadinessUnavailable as exc:
        return Readiness(ready=False, reasons=[exc.message])
    except Exception as exc:  # a crashing source proves nothing: not ready, and say why
        reason = f"{source!r} could not be observed: {type(exc).__name__}: {exc}"
        return Readiness(ready=False, reasons=[reason])
    reasons = judge(observation, policy)
    return Readiness(ready=not reasons, reasons=reasons, observation=observation)


def judge(observation: Observation, policy: ReadinessPolicy) -> list[str]:
    """Every threshold the observation misses, one readable reason each."""
    where, reasons = observation.source, []
    if observation.targets_up < policy.min_targets_up:
        reasons.append(
            f"{where}: {observation.targets_up} targets up, "
            f"at least {policy.min_targets_up} required"
        )
    if observation.alerts > policy.max_alerts:
        reasons.append(
            f"{where}: {observation.alerts} active alerts, at most {policy.max_alerts} allowed"
        )
    soak = observation.soak_hours
    if policy.min_soak_hours > 0 and soak is None:
        reasons.append(
            f"{where}: soak time unknown (the source reports none of {', '.join(SOAK_FIELDS)}); "
            f"{policy.min_soak_hours:g} h of stable operation required"
        )
    elif soak is not None and soak < policy.min_soak_hours:
        reasons.append(
            f"{where}: stable for {soak:.2f} h, {policy.min_soak_hours:g} h soak required"
        )
    return reasons

"""The guard file (default ``deployments/guard.yaml``): which work pools the orchestration guard
watches and the limits it holds them to (seed 002, sections 1 and 3).

Validated whole before anything is read from Prefect; every problem is reported with file, line
and field (see :mod:`blocks.yaml_source`). Defaults are the seed's numbers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.defaults import DEFAULT_GUARD_FILE, DEFAULT_SHED_PLAYBOOK
from blocks.errors import UsageError
from blocks.yaml_source import load_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolLimits(Strict):
    """One guarded work pool and what "ready" means for it."""

    name: str = Field(min_length=1, max_length=100)
    min_workers: int = Field(3, ge=1, description="workers online with a fresh heartbeat")
    heartbeat_max_age_sec: float = Field(30.0, gt=0, le=3600)
    queue_warn: int = Field(1000, ge=1, description="due runs waiting: degraded at or above")
    queue_critical: int = Field(5000, ge=1, description="due runs waiting: critical at or above")
    dispatch_min_per_sec: float = Field(1.0, gt=0, description="runs started per second ...")
    dispatch_backlog_min: int = Field(10, ge=1, description="... while this many runs wait")
    start_lateness_ms: float = Field(1000.0, gt=0, description="SLA: actual - expected start")
    max_sla_breaches: int = Field(0, ge=0, description="runs over the SLA in the window")
    max_crashed: int = Field(0, ge=0, description="crashed runs in the window")

    @model_validator(mode="after")
    def _levels_ordered(self) -> PoolLimits:
        if self.queue_warn >= self.queue_critical:
            raise ValueError(
                f"queue_warn ({self.queue_warn}) must be below queue_critical "
                f"({self.queue_critical})"
            )
        return self


class SchedulerLimits(Strict):
    """The scheduler: every active schedule has future runs; overdue runs do not pile up."""

    grace_sec: float = Field(
        90.0, ge=0, description="a schedule created or changed this recently may have no runs yet"
    )
    late_warn: int = Field(500, ge=1, description="Late runs platform-wide: degraded at or above")
    late_critical: int = Field(2000, ge=1, description="Late runs: critical at or above")

    @model_validator(mode="after")
    def _levels_ordered(self) -> SchedulerLimits:
        if self.late_warn >= self.late_critical:
            raise ValueError(
                f"late_warn ({self.late_warn}) must be below late_critical ({self.late_critical})"
            )
        return self


class WatchdogSettings(Strict):
    check_every_sec: float = Field(10.0, gt=0, le=3600)
    telemetry_every_sec: float = Field(15.0, gt=0, le=3600)


class StormLimits(Strict):
    """Seed 002 §2: more than ``per_type_per_sec`` events of one type in 1 s, or more than
    ``total_per_10s`` in 10 s, opens the storm breaker; it closes after ``cooldown_sec``
    without a flood."""

    per_type_per_sec: int = Field(100, ge=1)
    total_per_10s: int = Field(500, ge=1)
    cooldown_sec: float = Field(60.0, gt=0, le=3600)
    cascade_max_depth: int = Field(10, ge=1, description="levels of parent runs a chain may have")


class GuardFile(Strict):
    api_timeout_sec: float = Field(30.0, gt=0, le=300, description="API and database answer")
    window_sec: float = Field(
        300.0, ge=10, le=86400, description="look-back for dispatch rate, lateness and crashes"
    )
    scheduler: SchedulerLimits = SchedulerLimits()
    watchdog: WatchdogSettings = WatchdogSettings()
    storm: StormLimits = StormLimits()
    pools: list[PoolLimits] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_pools(self) -> GuardFile:
        names = [pool.name for pool in self.pools]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"pools listed more than once: {', '.join(twice)}")
        return self

    def pool_names(self, only: str | None = None) -> list[str]:
        """The guarded pools, or just ``only`` (which must be one of them)."""
        names = [pool.name for pool in self.pools]
        if only is None:
            return names
        if only not in names:
            raise UsageError(
                f"pool {only!r} is not guarded (guarded: {', '.join(names)})",
                remediation="Pass a pool listed under pools: in the guard file, or add it there.",
            )
        return [only]

    def limits(self, pool: str) -> PoolLimits:
        return next(p for p in self.pools if p.name == pool)


def load_guard_file(path: Path | str = DEFAULT_GUARD_FILE) -> GuardFile:
    """Load and validate a guard file; raises ConfigError naming file, line and field."""
    return load_model(path, GuardFile)


PRIORITY_TAG = "priority:"


class DeploymentShedding(Strict):
    """Per deployment ('<flow>/<deployment>'): its runs' default priority, and how many Late
    runs it may keep (the newest; older ones are shed: Prefect #19313)."""

    deployment: str = Field(pattern=r"^[^/]+/[^/]+$")
    priority: int | None = Field(None, ge=0, le=10)
    max_late_runs: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _does_something(self) -> DeploymentShedding:
        if self.priority is None and self.max_late_runs is None:
            raise ValueError("set priority, max_late_runs or both (an entry that does nothing)")
        return self


class ShedPlaybook(Strict):
    """The seed's ``scheduler_load_shedding`` playbook: when a pool's depth is critical, cancel
    scheduled/late runs with priority below ``below_priority`` waiting longer than
    ``min_age_sec``, lowest priority then oldest first, only as many as needed to fall below
    critical; never a run carrying a protected tag."""

    playbook: str = Field("scheduler_load_shedding", pattern=r"^[a-z0-9_]+$")
    below_priority: int = Field(5, ge=1, le=11, description="shed priority < this")
    min_age_sec: float = Field(600.0, ge=0, description="waiting past its expected start")
    default_priority: int = Field(5, ge=0, le=10, description="runs with no priority at all")
    protected_tags: list[str] = Field(
        default_factory=lambda: ["critical", "tier:0", "tier:4"], min_length=1
    )
    deployments: list[DeploymentShedding] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_deployments(self) -> ShedPlaybook:
        names = [d.deployment for d in self.deployments]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"deployments listed more than once: {', '.join(twice)}")
        return self

    def for_deployment(self, name: str | None) -> DeploymentShedding | None:
        return next((d for d in self.deployments if d.deployment == name), None)


def load_shed_playbook(path: Path | str = DEFAULT_SHED_PLAYBOOK) -> ShedPlaybook:
    """Load and validate the load-shedding playbook; ConfigError names file, line and field."""
    return load_model(path, ShedPlaybook)

"""The watchdog run's record: what it saw and decided, built cycle by cycle."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tasks.guard.models import PlatformReadiness, Telemetry
from tasks.platform.decisions import Decision


class WatchdogReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started: datetime
    pools: list[str]
    checks: int = 0
    telemetry_published: int = 0
    worst_cycle_ms: float = 0.0  # the slowest check cycle (read + decide + record)
    latest: PlatformReadiness | None = None
    telemetry: list[Telemetry] = Field(default_factory=list)  # the latest, one per pool
    decisions: list[Decision] = Field(default_factory=list)

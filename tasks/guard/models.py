"""What the guard reads from the orchestration layer (plain data, no Prefect import) and the
verdict it gives. The reading adapter (:mod:`tasks.guard.platform_reads`) fills a
:class:`PlatformSnapshot`; every decision is a pure function of one snapshot and the config.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from pydantic import Field

from tasks.platform.frozen import Frozen
from tasks.platform.workers import WorkerSeen


class Level(IntEnum):
    """How bad one check is; the verdict is the worst level of all checks."""

    OK = 0
    DEGRADED = 1
    CRITICAL = 2


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"

    @classmethod
    def of(cls, level: Level) -> HealthStatus:
        return (cls.HEALTHY, cls.DEGRADED, cls.CRITICAL)[int(level)]


class CheckName(StrEnum):
    API = "api"  # /health answers
    DATABASE = "database"  # /ready: the API's database answers
    READ = "read"  # the guard could read the platform's state at all
    SCHEDULER = "scheduler"  # every active schedule has its next runs created
    LATE_RUNS = "late_runs"  # overdue runs platform-wide (the seed's scheduler queue)
    POOL = "pool"  # the pool exists and is not paused
    WORKERS = "workers"  # enough workers online with a fresh heartbeat
    QUEUE_DEPTH = "queue_depth"  # due runs waiting in the pool
    DISPATCH_RATE = "dispatch_rate"  # runs started per second while a backlog exists
    START_LATENESS = "start_lateness"  # actual - expected start over the SLA
    CRASHED_RUNS = "crashed_runs"  # crashed runs in the window


class Probe(Frozen):
    """One HTTP probe of the API: did it answer 200 in time, and how long it took."""

    ok: bool
    elapsed_ms: float
    error: str | None = None


class ScheduleSeen(Frozen):
    """A deployment with at least one active schedule, and its runs still to come."""

    deployment: str  # flow/deployment
    changed: datetime  # the deployment's last update (a new schedule's runs come shortly after)
    future_runs: int


class StartedRun(Frozen):
    name: str
    expected_start: datetime
    started: datetime

    @property
    def lateness_ms(self) -> float:
        return (self.started - self.expected_start).total_seconds() * 1000.0


class PoolSnapshot(Frozen):
    name: str
    found: bool = True
    paused: bool = False
    workers: list[WorkerSeen] = Field(default_factory=list)
    scheduled: int = 0  # due (expected start <= now), not yet marked Late
    late: int = 0
    pending: int = 0
    started_in_window: int = 0
    recent_starts: list[StartedRun] = Field(default_factory=list)  # the latest, for lateness
    crashed_in_window: int = 0

    @property
    def depth(self) -> int:
        """Runs waiting for a worker: due scheduled + late + pending (future runs excluded)."""
        return self.scheduled + self.late + self.pending


class PlatformSnapshot(Frozen):
    taken_at: datetime
    window_sec: float
    health: Probe
    ready: Probe
    read_error: str | None = None  # set when the state below could not be read (then empty)
    schedules: list[ScheduleSeen] = Field(default_factory=list)
    late_total: int = 0
    pools: list[PoolSnapshot] = Field(default_factory=list)
    read_ms: float = 0.0  # what reading the snapshot cost


class Check(Frozen):
    name: CheckName
    where: str  # "platform" or the pool's name
    level: Level
    reason: str

    @property
    def failed(self) -> bool:
        return self.level is not Level.OK


class PlatformReadiness(Frozen):
    """The verdict: ``status`` is the worst check; healthy only when every check passed."""

    status: HealthStatus
    checked_at: datetime
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    @property
    def exit_code(self) -> int:
        return 0 if self.status is HealthStatus.HEALTHY else 1


class Telemetry(Frozen):
    """The seed's telemetry payload, one per guarded pool."""

    component: str
    queue_depth: int
    active_workers: int
    runs_per_second: float
    sla_breaches: int
    health_status: HealthStatus
    reasoning_chain: list[str] = Field(default_factory=list)  # why it is not healthy

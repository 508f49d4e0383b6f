"""The chaos drills' catalog (default ``deployments/drills.yaml``): the five Layer 2 scenarios
of seed 002 §5, what each proves, and its sizes per scale (``ci`` and ``full``, as data), the
disposable platform's settings and the guard limits a drill's steady state is checked with.

Validated whole before anything starts (file, line and field in every error). Asking for a
drill or a scale that does not exist is a :class:`UsageError` (exit 2) naming the choices.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.defaults import DEFAULT_DRILLS_FILE
from blocks.errors import UsageError
from blocks.guard import GuardFile
from blocks.yaml_source import load_model


class DrillName(StrEnum):
    QUEUE_FLOOD = "queue-flood"
    EVENT_STORM = "event-storm"
    SCHEDULER_PAUSE = "scheduler-pause"
    POLICY_CASCADE = "policy-cascade"
    WORKER_DROPOUT = "worker-dropout"


class Scale(StrEnum):
    CI = "ci"
    FULL = "full"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sizes(Strict):
    timeout_sec: float = Field(gt=0, le=86400, description="the method's deadline")


class QueueFloodSizes(Sizes):
    intents: int = Field(ge=2, le=100_000)
    invalid_fraction: float = Field(0.5, ge=0, lt=1)
    p99_limit_sec: float = Field(5.0, gt=0)
    routers: int = Field(8, ge=1, le=64, description="intents routed at once")


class EventStormSizes(Sizes):
    rate_per_sec: int = Field(ge=1, le=100_000)
    seconds: float = Field(gt=0, le=600)


class SchedulerPauseSizes(Sizes):
    runs: int = Field(ge=1, le=100_000)
    report_within_sec: float = Field(30.0, gt=0)


class PolicyCascadeSizes(Sizes):
    levels: int = Field(ge=2, le=100, description="how deep the chain tries to go")


class WorkerDropoutSizes(Sizes):
    workers: int = Field(ge=2, le=16)
    runs: int = Field(ge=1, le=10_000)
    run_sec: float = Field(gt=0, le=600, description="how long each run works")
    kill_fraction: float = Field(0.5, gt=0, le=1)


SIZE_MODELS: dict[DrillName, type[Sizes]] = {
    DrillName.QUEUE_FLOOD: QueueFloodSizes,
    DrillName.EVENT_STORM: EventStormSizes,
    DrillName.SCHEDULER_PAUSE: SchedulerPauseSizes,
    DrillName.POLICY_CASCADE: PolicyCascadeSizes,
    DrillName.WORKER_DROPOUT: WorkerDropoutSizes,
}


class DrillEntry(Strict):
    proves: str = Field(min_length=1)
    sizes: dict[Scale, dict[str, float | int]]


class PlatformDatabase(StrEnum):
    POSTGRES = "postgres"  # a throwaway PostgreSQL 15 cluster (WARDEN_DB=postgres's code)
    SQLITE = "sqlite"  # the embedded default: stalls under 8 polling workers or a flood


class PlatformMessaging(StrEnum):
    REDIS = "redis"  # Prefect's Redis messaging (prefect-redis) on a redis-server of its own
    MEMORY = "memory"  # the in-process bus: its 10,000-message queues drop under a storm


class PlatformSettings(Strict):
    database: PlatformDatabase = Field(
        PlatformDatabase.POSTGRES, description="the disposable platform's server database"
    )
    messaging: PlatformMessaging = Field(
        PlatformMessaging.REDIS, description="the disposable platform's server event bus"
    )
    workers: int = Field(2, ge=1, le=16, description="process workers of a disposable platform")
    worker_limit: int = Field(
        16, ge=1, le=256, description="flow runs in flight per worker (prefect worker --limit)"
    )
    start_timeout_sec: float = Field(180.0, gt=0, le=1800)
    recovery_sec: float = Field(90.0, gt=0, le=3600, description="ready again after the method")


class DrillsFile(Strict):
    platform: PlatformSettings = PlatformSettings()
    guard: GuardFile
    drills: dict[DrillName, DrillEntry]

    @model_validator(mode="after")
    def _complete(self) -> DrillsFile:
        missing = [d.value for d in DrillName if d not in self.drills]
        if missing:
            raise ValueError(f"drills missing: {', '.join(missing)}")
        for name, entry in self.drills.items():
            for scale in Scale:
                if scale not in entry.sizes:
                    raise ValueError(f"{name.value}: no sizes for scale {scale.value}")
                SIZE_MODELS[name].model_validate(entry.sizes[scale])  # errors name the field
        return self

    def sizes(self, drill: DrillName, scale: Scale) -> Sizes:
        return SIZE_MODELS[drill].model_validate(self.drills[drill].sizes[scale])


def drill_name(text: str) -> DrillName:
    """The drill called ``text``; an unknown name is a usage error listing the five."""
    try:
        return DrillName(text)
    except ValueError:
        raise UsageError(
            f"no drill named {text!r}",
            remediation=f"Use one of: {', '.join(d.value for d in DrillName)} (warden drill list).",
        ) from None


def scale_of(text: str) -> Scale:
    try:
        return Scale(text)
    except ValueError:
        raise UsageError(
            f"no scale named {text!r}",
            remediation=f"Use --scale {' or '.join(s.value for s in Scale)}.",
        ) from None


def load_drills_file(path: Path | str = DEFAULT_DRILLS_FILE) -> DrillsFile:
    """Load and validate the drills catalog; raises ConfigError naming file, line and field."""
    return load_model(path, DrillsFile)

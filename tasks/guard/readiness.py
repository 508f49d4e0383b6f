"""Readiness of the orchestration layer (seed 002 §1 and §3): each check of one snapshot gives a
level and a reason; the verdict is the worst level. Pure: no Prefect import.

Fail closed: a probe that did not answer, a state that could not be read, a pool that does not
exist are critical, never "no data, so fine".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from blocks.guard import GuardFile, PoolLimits
from tasks.guard.models import (
    Check,
    CheckName,
    HealthStatus,
    Level,
    PlatformReadiness,
    PlatformSnapshot,
    PoolSnapshot,
    Telemetry,
)

OK, DEGRADED, CRITICAL = Level.OK, Level.DEGRADED, Level.CRITICAL


def assess(snapshot: PlatformSnapshot, config: GuardFile) -> PlatformReadiness:
    """Every check of ``snapshot`` against ``config``; healthy only if all passed."""
    checks = [*_api_checks(snapshot, config)]
    if snapshot.read_error is not None:
        checks.append(
            Check(
                name=CheckName.READ,
                where="platform",
                level=CRITICAL,
                reason=f"the platform's state could not be read: {snapshot.read_error}",
            )
        )
    elif snapshot.health.ok:
        checks.append(_scheduler_check(snapshot, config))
        checks.append(_late_check(snapshot, config))
        for pool in snapshot.pools:
            checks.extend(pool_checks(pool, config.limits(pool.name), snapshot))
    worst = max((check.level for check in checks), default=CRITICAL)
    return PlatformReadiness(
        status=HealthStatus.of(worst), checked_at=snapshot.taken_at, checks=checks
    )


def _api_checks(snapshot: PlatformSnapshot, config: GuardFile) -> list[Check]:
    limit_ms = config.api_timeout_sec * 1000.0
    checks = []
    for name, probe, what in (
        (CheckName.API, snapshot.health, "API /health"),
        (CheckName.DATABASE, snapshot.ready, "API /ready (its database)"),
    ):
        if probe.ok and probe.elapsed_ms <= limit_ms:
            level, reason = OK, f"{what} answered in {probe.elapsed_ms:.0f} ms"
        elif probe.ok:
            level = CRITICAL
            reason = f"{what} answered in {probe.elapsed_ms:.0f} ms (limit {limit_ms:.0f} ms)"
        else:
            level, reason = CRITICAL, f"{what} did not answer: {probe.error}"
        checks.append(Check(name=name, where="platform", level=level, reason=reason))
    return checks


def _scheduler_check(snapshot: PlatformSnapshot, config: GuardFile) -> Check:
    grace = timedelta(seconds=config.scheduler.grace_sec)
    starved = [
        s.deployment
        for s in snapshot.schedules
        if s.future_runs == 0 and snapshot.taken_at - s.changed > grace
    ]
    if starved:
        reason = (
            f"{len(starved)} active schedule(s) without future runs (is the scheduler "
            f"service running?): {', '.join(sorted(starved))}"
        )
        return Check(name=CheckName.SCHEDULER, where="platform", level=CRITICAL, reason=reason)
    reason = f"{len(snapshot.schedules)} active schedule(s), each with its next runs created"
    return Check(name=CheckName.SCHEDULER, where="platform", level=OK, reason=reason)


def _late_check(snapshot: PlatformSnapshot, config: GuardFile) -> Check:
    limits = config.scheduler
    level = _level(snapshot.late_total, limits.late_warn, limits.late_critical)
    reason = _depth_reason("Late runs", snapshot.late_total, limits.late_warn, limits.late_critical)
    return Check(name=CheckName.LATE_RUNS, where="platform", level=level, reason=reason)


def pool_checks(pool: PoolSnapshot, limits: PoolLimits, snapshot: PlatformSnapshot) -> list[Check]:
    """The checks of one work pool; a missing or paused pool stops there (nothing else holds)."""
    name = pool.name
    if not pool.found:
        return [_check(CheckName.POOL, name, CRITICAL, f"work pool {name!r} does not exist")]
    if pool.paused:
        reason = f"work pool {name!r} is paused: no run is dispatched; {pool.depth} waiting"
        return [_check(CheckName.POOL, name, CRITICAL, reason)]
    return [
        _check(CheckName.POOL, name, OK, f"work pool {name!r} is ready for runs"),
        _workers_check(pool, limits, snapshot.taken_at),
        _check(
            CheckName.QUEUE_DEPTH,
            name,
            _level(pool.depth, limits.queue_warn, limits.queue_critical),
            _depth_reason("Queue depth", pool.depth, limits.queue_warn, limits.queue_critical)
            + f" [scheduled {pool.scheduled}, late {pool.late}, pending {pool.pending}]",
        ),
        _dispatch_check(pool, limits, snapshot.window_sec),
        _lateness_check(pool, limits),
        _crashed_check(pool, limits, snapshot.window_sec),
    ]


def fresh_workers(pool: PoolSnapshot, limits: PoolLimits, now: datetime) -> list[str]:
    """Workers Prefect calls online whose last heartbeat is at most the allowed age."""
    max_age = timedelta(seconds=limits.heartbeat_max_age_sec)
    return [
        w.name
        for w in pool.workers
        if w.online and w.last_heartbeat is not None and now - w.last_heartbeat <= max_age
    ]


def _workers_check(pool: PoolSnapshot, limits: PoolLimits, now: datetime) -> Check:
    fresh = fresh_workers(pool, limits, now)
    stale = [
        f"{w.name} ({_age(now, w.last_heartbeat)}, {'online' if w.online else 'offline'})"
        for w in pool.workers
        if w.name not in fresh
    ]
    reason = (
        f"Active workers: {len(fresh)}/{limits.min_workers} required "
        f"(heartbeat <= {limits.heartbeat_max_age_sec:g} s)"
    )
    if stale:
        reason += "; stale or offline: " + ", ".join(stale)
    level = OK if len(fresh) >= limits.min_workers else CRITICAL
    return _check(CheckName.WORKERS, pool.name, level, reason)


def _dispatch_check(pool: PoolSnapshot, limits: PoolLimits, window_sec: float) -> Check:
    rate = pool.started_in_window / window_sec
    if pool.depth < limits.dispatch_backlog_min:
        reason = f"Dispatch rate: {rate:.2f}/s; no backlog ({pool.depth} waiting)"
        return _check(CheckName.DISPATCH_RATE, pool.name, OK, reason)
    level = OK if rate >= limits.dispatch_min_per_sec else DEGRADED
    reason = (
        f"Dispatch rate: {rate:.2f}/s (minimum {limits.dispatch_min_per_sec:g}/s while "
        f">= {limits.dispatch_backlog_min} wait; {pool.depth} waiting)"
    )
    return _check(CheckName.DISPATCH_RATE, pool.name, level, reason)


def sla_breaches(pool: PoolSnapshot, limits: PoolLimits) -> int:
    return sum(run.lateness_ms > limits.start_lateness_ms for run in pool.recent_starts)


def _lateness_check(pool: PoolSnapshot, limits: PoolLimits) -> Check:
    breaches = sla_breaches(pool, limits)
    worst = max((run.lateness_ms for run in pool.recent_starts), default=0.0)
    level = OK if breaches <= limits.max_sla_breaches else DEGRADED
    reason = (
        f"SLA breaches: {breaches} of {len(pool.recent_starts)} recent starts over "
        f"{limits.start_lateness_ms:g} ms late (worst {worst:.0f} ms; "
        f"allowed {limits.max_sla_breaches})"
    )
    return _check(CheckName.START_LATENESS, pool.name, level, reason)


def _crashed_check(pool: PoolSnapshot, limits: PoolLimits, window_sec: float) -> Check:
    level = OK if pool.crashed_in_window <= limits.max_crashed else CRITICAL
    reason = (
        f"Crashed runs: {pool.crashed_in_window} in the last {window_sec:g} s "
        f"(allowed {limits.max_crashed})"
    )
    return _check(CheckName.CRASHED_RUNS, pool.name, level, reason)


def telemetry(
    snapshot: PlatformSnapshot, readiness: PlatformReadiness, config: GuardFile
) -> list[Telemetry]:
    """The seed's telemetry payload per guarded pool, with the reasons of its failed checks
    (and the platform's) as the reasoning chain."""
    platform = [c for c in readiness.failed if c.where == "platform"]
    rows = []
    for pool in snapshot.pools:
        limits = config.limits(pool.name)
        mine = [c for c in readiness.checks if c.where == pool.name]
        failed = platform + [c for c in mine if c.failed]
        worst = max((c.level for c in failed), default=OK)
        rows.append(
            Telemetry(
                component=f"work-pool:{pool.name}",
                queue_depth=pool.depth,
                active_workers=len(fresh_workers(pool, limits, snapshot.taken_at)),
                runs_per_second=round(pool.started_in_window / snapshot.window_sec, 3),
                sla_breaches=sla_breaches(pool, limits),
                health_status=HealthStatus.of(worst),
                reasoning_chain=[c.reason for c in failed],
            )
        )
    return rows


def _level(value: int, warn: int, critical: int) -> Level:
    return CRITICAL if value >= critical else DEGRADED if value >= warn else OK


def _depth_reason(what: str, value: int, warn: int, critical: int) -> str:
    if value >= critical:
        return f"{what}: {value} (critical: {critical})"
    if value >= warn:
        return f"{what}: {value} (warning: {warn})"
    return f"{what}: {value} (warning at {warn}, critical at {critical})"


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "no heartbeat"
    return f"heartbeat {(now - then).total_seconds():.0f} s old"


def _check(name: CheckName, where: str, level: Level, reason: str) -> Check:
    return Check(name=name, where=where, level=level, reason=reason)

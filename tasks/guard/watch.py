"""The watchdog's cadence and alert rules (seed 002 §1): check every 10 s, telemetry every 15 s,
an alert when a pool's problems change. Pure: no Prefect import, no clock of its own."""

from __future__ import annotations

from datetime import datetime

from tasks.guard.models import CheckName, HealthStatus, Level, PlatformReadiness, Telemetry
from tasks.platform.decisions import Decision, DecisionKind

WATCHDOG = "orchestration-watchdog"


def telemetry_due(last: float | None, now: float, every_sec: float) -> bool:
    """Telemetry goes out on the first cycle, then once ``every_sec`` has passed."""
    return last is None or now - last >= every_sec


def alert_key(row: Telemetry) -> tuple[str, ...]:
    """What makes an alert new: the status and the failed checks' reasons (numbers included,
    so a growing queue alerts again each time it crosses into a new reason)."""
    return (row.health_status.value, *row.reasoning_chain)


def alerts(
    rows: list[Telemetry], previous: dict[str, tuple[str, ...]], when: datetime, who: str
) -> tuple[list[Decision], dict[str, tuple[str, ...]]]:
    """Alert decisions for the pools whose problems are new or changed since the last cycle;
    returns them and the keys to remember. A pool back to healthy alerts nothing (and will
    alert again when a problem returns)."""
    decisions, keys = [], {}
    for row in rows:
        key = alert_key(row)
        keys[row.component] = key
        if row.health_status is HealthStatus.HEALTHY or previous.get(row.component) == key:
            continue
        decisions.append(alert_decision(row, when, who))
    return decisions, keys


def alert_decision(row: Telemetry, when: datetime, who: str) -> Decision:
    return Decision(
        who=who,
        what=DecisionKind.ALERT,
        where=row.component,
        when=when,
        why=[
            *row.reasoning_chain,
            f"Active workers: {row.active_workers}",
            f"SLA breaches: {row.sla_breaches}",
            "Publishing telemetry for correlation",
        ],
        how="threshold_check",
        context={
            "action_type": "performance_alert",
            "health_status": row.health_status.value,
            "queue_depth": row.queue_depth,
        },
    )


def refusal_decision(readiness: PlatformReadiness, who: str) -> Decision:
    """A boot guard's refusal: the platform is not ready, with every failed check's reason."""
    return Decision(
        who=who,
        what=DecisionKind.BOOT_REFUSAL,
        where="platform",
        when=readiness.checked_at,
        why=[f"{c.where}: {c.name}: {c.reason}" for c in readiness.failed],
        how="readiness_checks",
        context={"status": readiness.status.value},
    )


class Cadence:
    """When the watchdog next checks and next publishes telemetry (monotonic seconds).

    Both are due at the start; each then recurs on its own period. A cycle that overran its
    period is not repeated to catch up: the next one is one period after now.
    """

    def __init__(self, start: float, check_every: float, telemetry_every: float) -> None:
        self.check_every, self.telemetry_every = check_every, telemetry_every
        self.next_check = self.next_telemetry = start

    def due(self, now: float) -> tuple[bool, bool]:
        """(check due, telemetry due) at ``now``; advances what is due."""
        check, publish = now >= self.next_check, now >= self.next_telemetry
        if check:
            self.next_check = _advance(self.next_check, self.check_every, now)
        if publish:
            self.next_telemetry = _advance(self.next_telemetry, self.telemetry_every, now)
        return check, publish

    def wake_at(self) -> float:
        return min(self.next_check, self.next_telemetry)


def _advance(at: float, every: float, now: float) -> float:
    at += every
    return at if at > now else now + every


def queue_critical_alerts(readiness: PlatformReadiness, decisions: list[Decision]) -> list[str]:
    """The pools of these alerts whose queue depth is critical: the load-shedding playbook's
    trigger (event ``warden.orchestrator.queue-critical``)."""
    critical = {
        c.where
        for c in readiness.checks
        if c.name is CheckName.QUEUE_DEPTH and c.level is Level.CRITICAL
    }
    pools = [d.where.removeprefix("work-pool:") for d in decisions]
    return [pool for pool in pools if pool in critical]

"""What the guard's runs show: markdown summaries and table rows from the typed records."""

from __future__ import annotations

from tasks.guard.models import PlatformReadiness, Telemetry
from tasks.platform.clock import iso_utc
from tasks.platform.decisions import Decision
from tasks.platform.markdown import md_cell

ICON = {"healthy": "✅", "degraded": "⚠️", "critical": "❌"}


def readiness_markdown(readiness: PlatformReadiness) -> str:
    lines = [
        f"# Orchestration readiness: {ICON[readiness.status]} {readiness.status}",
        "",
        f"Checked at {iso_utc(readiness.checked_at)}.",
        "",
        "| where | check | level | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {md_cell(c.where)} | {c.name} | {c.level.name.lower()} | {md_cell(c.reason)} |"
        for c in readiness.checks
    ]
    return "\n".join(lines)


def readiness_rows(readiness: PlatformReadiness) -> list[dict[str, str]]:
    return [
        {"where": c.where, "check": c.name.value, "level": c.level.name.lower(), "reason": c.reason}
        for c in readiness.checks
    ]


def telemetry_rows(rows: list[Telemetry]) -> list[dict[str, object]]:
    """The latest telemetry per pool (the watchdog's table artifact)."""
    return [
        row.model_dump(mode="json", exclude={"reasoning_chain"})
        | {"reasons": "; ".join(row.reasoning_chain)}
        for row in rows
    ]


def decisions_markdown(decisions: list[Decision]) -> str:
    if not decisions:
        return "No decision taken."
    lines = ["| when | what | where | why | how |", "|---|---|---|---|---|"]
    lines += [
        f"| {iso_utc(d.when)} | {d.what} | {md_cell(d.where)} | {md_cell('; '.join(d.why))} "
        f"| {d.how} |"
        for d in decisions
    ]
    return "\n".join(lines)


def shed_markdown(report) -> str:
    """The shedding run's summary: per pool its depth before and after, then each run."""
    verb = "would cancel" if report.dry_run else "cancelled"
    lines = [
        f"# Load shedding ({report.playbook}){' — dry run' if report.dry_run else ''}",
        "",
        "| pool | depth | critical | after | protected | shortfall |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {md_cell(p.pool)} | {p.depth} | {p.critical} | {p.depth_after} | {p.protected} "
        f"| {p.shortfall} |"
        for p in report.plans
    ]
    lines += ["", f"Runs it {verb}: {sum(len(p.cancel) for p in report.plans)}."]
    return "\n".join(lines)


def shed_rows(report) -> list[dict[str, object]]:
    done = {o.id: o.detail for o in report.outcomes}
    rows = [
        {
            "pool": p.pool,
            "run": i.run.name,
            "deployment": i.run.deployment or "",
            "priority": i.priority,
            "waiting_since": iso_utc(i.run.expected_start),
            "rule": i.rule.value,
            "outcome": "dry run" if report.dry_run else done.get(i.run.id, "not attempted"),
        }
        for p in report.plans
        for i in p.cancel
    ]
    return rows or [{"pool": ", ".join(p.pool for p in report.plans), "run": "none to shed"}]

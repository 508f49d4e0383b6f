"""The chaos drill's typed result and its markdown/table summary (pure)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from blocks.drills import DrillName, Scale
from tasks.drills.judge import Judgement, Verification
from tasks.platform.frozen import Frozen
from tasks.platform.markdown import md_cell


class DrillResult(Frozen):
    """``ok``: the steady state (guard readiness healthy) held before and after, the journal
    did not deviate and ended ``completed``, and every verification passed. A drill that could
    not run, timed out or was stopped by the kill switch is not ok."""

    drill: DrillName
    scale: Scale
    ok: bool
    status: str  # the journal's status, or "error" when the experiment could not run
    deviated: bool = False
    steady_before: bool = False
    steady_after: bool = False
    kill_switch: bool = False  # the kill switch stopped it (its rollbacks ran)
    verifications: list[Verification] = Field(default_factory=list)
    failed_activities: list[str] = Field(default_factory=list)
    readiness: list[dict[str, Any]] = Field(default_factory=list)  # the steady-state readings
    api_url: str
    disposable: bool  # the drill started (and stopped) its own platform
    journal_file: str | None = None
    duration_sec: float = 0.0
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 3 if self.kill_switch else 1


def result_of(judgement: Judgement, **fields: Any) -> DrillResult:
    return DrillResult(
        ok=judgement.ok and not fields.get("kill_switch"),
        status=judgement.status,
        deviated=judgement.deviated,
        steady_before=judgement.steady_before,
        steady_after=judgement.steady_after,
        verifications=judgement.verifications,
        failed_activities=judgement.failed_activities,
        **fields,
    )


def drill_markdown(result: DrillResult) -> str:
    verdict = "ok" if result.ok else "NOT ok"
    lines = [
        f"# Chaos drill {result.drill.value} ({result.scale.value}): {verdict}",
        "",
        f"- journal status: {result.status}; deviated: {result.deviated}",
        f"- steady state (guard readiness healthy): before {result.steady_before}, "
        f"after {result.steady_after}",
        f"- platform: {result.api_url} ({'disposable' if result.disposable else 'existing'})",
        f"- journal: {result.journal_file or 'none'}; {result.duration_sec:.1f} s",
    ]
    if result.kill_switch:
        lines.append("- stopped by the kill switch; rollbacks ran")
    if result.error:
        lines.append(f"- error: {md_cell(result.error)}")
    if result.failed_activities:
        lines.append(f"- failed activities: {', '.join(result.failed_activities)}")
    lines += ["", "| verification | passed | detail |", "|---|---|---|"]
    lines += [f"| {v.name} | {v.passed} | {md_cell(v.detail)} |" for v in result.verifications]
    return "\n".join(lines)


def drill_rows(result: DrillResult) -> list[dict[str, Any]]:
    return [
        {
            "verification": v.name,
            "passed": v.passed,
            "detail": v.detail,
            "measured": json.dumps(v.measured, default=str),
        }
        for v in result.verifications
    ] or [{"verification": "none", "passed": False, "detail": result.error or result.status}]

"""The LoRA deploy report: what was deployed where, why, and what the gauntlet said."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tasks.lora.registry import RollbackResult
from tasks.lora.verdict import Verdict
from tasks.platform.naming import iso_utc, md_cell


class Outcome(StrEnum):
    DEPLOYED = "deployed"  # gauntlet disabled: deployed directly (the seed's inert default)
    PROMOTED = "promoted"  # the canary passed the gauntlet and is now stable
    ALREADY_STABLE = "already_stable"  # this version is already the stable one: nothing to do
    ROLLED_BACK = "rolled_back"  # the canary failed the gauntlet; the previous stable restored
    NOT_READY = "not_ready"  # gauntlet enabled but operations not ready: nothing deployed
    REFUSED = "refused"  # the adapter failed its integrity checks: nothing deployed
    KILL_SWITCH_ON = "kill_switch_on"
    ERROR = "error"


FAILING = {Outcome.ROLLED_BACK, Outcome.NOT_READY, Outcome.REFUSED, Outcome.ERROR}


class LoraDeployReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    adapter: str
    version: str | None = None
    adapter_sha256: str | None = None
    started_at: datetime
    finished_at: datetime
    switches: str  # the effective switches and where each came from, as logged
    outcome: Outcome
    exit_code: int
    reasons: list[str] = Field(default_factory=list)
    stable_before: str | None = None
    stable_after: str | None = None
    readiness: list[str] = Field(default_factory=list)  # reasons readiness failed, if it did
    gauntlet: Verdict | None = None
    rollback: RollbackResult | None = None
    events_spooled: int = 0  # A2A events waiting in the spool for the bus to come back


def render_markdown(report: LoraDeployReport) -> str:
    icon = "✅" if report.outcome not in FAILING else "❌"
    lines = [
        f"# LoRA deploy — {report.target}",
        "",
        f"**{report.outcome}** {icon} (exit {report.exit_code})",
        "",
        f"- Adapter: `{report.adapter}` version `{report.version}` "
        f"(sha256 `{(report.adapter_sha256 or '')[:16]}`)",
        f"- Stable: `{report.stable_before}` → `{report.stable_after}`",
        f"- Switches: {report.switches}",
        f"- {iso_utc(report.started_at, 'seconds')} → {iso_utc(report.finished_at, 'seconds')}",
    ]
    if report.reasons:
        lines += ["", "## Reasons", ""] + [f"- {md_cell(r)}" for r in report.reasons]
    if report.rollback:
        lines += ["", f"Rollback: {report.rollback.message}"]
    return "\n".join(lines) + "\n"

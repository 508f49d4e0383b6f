"""The LoRA deploy report: what was deployed where, why, and what the gauntlet said.

The flow fills one :class:`DeployRecord` step by step; the report, its artifacts and the run's
final state all derive from it. Each outcome has one exit code (:data:`EXIT_CODES`) and says
only what was proven: ``promoted`` means a gauntlet ran and passed, ``promoted_untested`` that
the mock gauntlet (SKIP_GAUNTLET) let the canary through without running anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ExitCode
from tasks.events import BusSummary
from tasks.lora.registry import RollbackResult
from tasks.lora.verdict import GauntletVerdict
from tasks.platform.naming import iso_utc, md_cell


class DeployOutcome(StrEnum):
    DEPLOYED = "deployed"  # gauntlet disabled: deployed directly (the seed's inert default)
    PROMOTED = "promoted"  # the canary passed the gauntlet and is now stable
    PROMOTED_UNTESTED = "promoted_untested"  # SKIP_GAUNTLET: stable without any gauntlet run
    ALREADY_STABLE = "already_stable"  # the same bytes are already stable: nothing to do
    ROLLED_BACK = "rolled_back"  # the canary failed the gauntlet; the previous stable restored
    NOT_READY = "not_ready"  # gauntlet enabled but operations not ready: nothing deployed
    REFUSED = "refused"  # the adapter failed its integrity checks: nothing deployed
    KILL_SWITCH_ON = "kill_switch_on"  # stopped by warden_kill_switch (a canary is rolled back)
    ERROR = "error"  # a typed error stopped the run (a canary is rolled back)


EXIT_CODES: dict[DeployOutcome, int] = {
    DeployOutcome.DEPLOYED: ExitCode.OK,
    DeployOutcome.PROMOTED: ExitCode.OK,
    DeployOutcome.PROMOTED_UNTESTED: ExitCode.OK,
    DeployOutcome.ALREADY_STABLE: ExitCode.OK,
    DeployOutcome.ROLLED_BACK: ExitCode.VERDICT_FAILED,
    DeployOutcome.NOT_READY: ExitCode.VERDICT_FAILED,
    DeployOutcome.REFUSED: ExitCode.VERDICT_FAILED,
    DeployOutcome.KILL_SWITCH_ON: ExitCode.KILL_SWITCH_ON,
    DeployOutcome.ERROR: ExitCode.INTERNAL_ERROR,  # replaced by the error's own code
}
FAILING = frozenset(outcome for outcome, code in EXIT_CODES.items() if code != ExitCode.OK)


class LoraDeployReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    adapter: str
    version: str | None = None
    adapter_sha256: str | None = None
    started_at: datetime
    finished_at: datetime
    switches: str = ""  # the effective switches and where each came from ("" if not resolved)
    outcome: DeployOutcome
    exit_code: int
    reasons: list[str] = Field(default_factory=list)
    stable_before: str | None = None
    stable_after: str | None = None  # the stable pointer as this run last saw it
    readiness: list[str] = Field(default_factory=list)  # reasons readiness failed, if it did
    # None: no gauntlet ran (disabled, mock, or stopped before)
    gauntlet: GauntletVerdict | None = None
    rollback: RollbackResult | None = None
    a2a: BusSummary | None = None  # None: A2A disabled (or the run stopped before it started)

    @property
    def events_spooled(self) -> int | None:
        """A2A events waiting in the spool for the bus; None when the spool could not be read."""
        return self.a2a.pending if self.a2a is not None else 0


class DeployRecord(BaseModel):
    """The run record the flow fills step by step; :meth:`report` freezes it."""

    model_config = ConfigDict(validate_assignment=True)

    target: str
    adapter: str
    started_at: datetime
    version: str | None = None
    adapter_sha256: str | None = None
    switches: str = ""
    outcome: DeployOutcome | None = None
    exit_code: int | None = None
    reasons: list[str] = Field(default_factory=list)
    stable_before: str | None = None
    stable_after: str | None = None
    readiness: list[str] = Field(default_factory=list)
    gauntlet: GauntletVerdict | None = None
    rollback: RollbackResult | None = None
    a2a: BusSummary | None = None

    def end(
        self, outcome: DeployOutcome, *, code: int | None = None, reasons: Sequence[str] = ()
    ) -> None:
        """Set the outcome (its exit code from the table unless ``code``); add ``reasons``."""
        self.outcome = outcome
        self.exit_code = int(code if code is not None else EXIT_CODES[outcome])
        self.reasons = [*self.reasons, *reasons]

    def report(self, finished_at: datetime) -> LoraDeployReport:
        if self.outcome is None or self.exit_code is None:
            # a run that ended without an outcome proved nothing: report it as an error
            self.end(DeployOutcome.ERROR, reasons=["the run ended without an outcome (a bug)"])
        return LoraDeployReport(**self.model_dump(), finished_at=finished_at)


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
        f"- Gauntlet: {_gauntlet_line(report)}",
        f"- {iso_utc(report.started_at, 'seconds')} → {iso_utc(report.finished_at, 'seconds')}",
    ]
    if report.outcome is DeployOutcome.PROMOTED_UNTESTED:
        lines += ["", "⚠️ **untested**: SKIP_GAUNTLET (the mock gauntlet) ran no prompt."]
    if report.reasons:
        lines += ["", "## Reasons", ""] + [f"- {md_cell(r)}" for r in report.reasons]
    if report.rollback:
        lines += ["", f"Rollback: {report.rollback.message}"]
    if report.a2a and report.a2a.problems:
        lines += ["", "## A2A problems (the deploy went on)", ""]
        lines += [f"- {p.kind}: {md_cell(p.message)}" for p in report.a2a.problems]
    return "\n".join(lines) + "\n"


def _gauntlet_line(report: LoraDeployReport) -> str:
    verdict = report.gauntlet
    if verdict is None:
        return "mock (not run)" if report.outcome is DeployOutcome.PROMOTED_UNTESTED else "not run"
    return (
        f"{verdict.status} — mode {verdict.mode}, {verdict.prompts} of "
        f"{verdict.dataset_prompts} prompts"
    )

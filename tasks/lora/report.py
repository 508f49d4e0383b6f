"""The LoRA deploy report: what was deployed where, why, and what the gauntlet said.

The flow fills one :class:`DeployRecord` step by step, and the record's methods hold the rules
that turn each step's result into the outcome (refused, not ready, promoted, rolled back, ...);
the report, its artifacts (:func:`deploy_markdown`, :func:`deploy_row`) and the run's final
state all derive from it. Each outcome has one exit code (:data:`EXIT_CODES`) and says
only what was proven: ``promoted`` means a gauntlet ran and passed, ``promoted_untested`` that
the mock gauntlet (SKIP_GAUNTLET) let the canary through without running anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ExitCode, KillSwitchOn, WardenError
from tasks.events import BusSummary
from tasks.lora.adapter import AdapterReport
from tasks.lora.readiness import Readiness
from tasks.lora.registry import Pointers, RollbackResult, default_version
from tasks.lora.switches import Switches, describe_switches
from tasks.lora.verdict import GauntletVerdict
from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.markdown import md_cell


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

    @classmethod
    def of_promotion(cls, gauntlet_enabled: bool, *, mock: bool) -> DeployOutcome:
        """What a promotion proves: a gauntlet that ran and passed (``promoted``), the mock
        gauntlet that ran nothing (``promoted_untested``), or no gauntlet at all (``deployed``)."""
        if not gauntlet_enabled:
            return cls.DEPLOYED
        return cls.PROMOTED_UNTESTED if mock else cls.PROMOTED


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
FAIL_REASON = "canary_test_failed"  # the seed's GAUNTLET_FAIL failure_reason, when none is known


class GauntletStopped(StrEnum):
    """GAUNTLET_FAIL's ``failure_reason`` when the gauntlet did not finish: which step raised."""

    CANARY_DEPLOY = "canary_deploy_failed"  # the canary could not be deployed
    GAUNTLET = "gauntlet_error"  # the gauntlet itself raised (not a failed verdict)


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

    @property
    def failed(self) -> bool:
        """The run ends Failed: its outcome proved nothing deployable (exit code not 0)."""
        return self.outcome in FAILING

    @property
    def summary(self) -> str:
        """The run's one line: the outcome and why (or, when nothing went wrong, the version)."""
        return f"{self.outcome}: " + ("; ".join(self.reasons) or f"version {self.version}")


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

    @classmethod
    def start(
        cls, target: str, adapter: str, version: str | None, switches: Switches
    ) -> DeployRecord:
        """A run's record as it starts: what is deployed where, under which switches."""
        return cls(
            target=target,
            adapter=adapter,
            version=version,
            started_at=utc_now(),
            switches=describe_switches(switches),
        )

    def stopped_by(self, error: WardenError) -> None:
        """A typed error stopped the run: ``kill_switch_on`` for the kill switch, else ``error``
        with the error's own exit code."""
        if isinstance(error, KillSwitchOn):
            self.end(DeployOutcome.KILL_SWITCH_ON, reasons=[str(error)])
        else:
            self.end(DeployOutcome.ERROR, code=int(error.code), reasons=[str(error)])

    def inspected(self, inspection: AdapterReport) -> bool:
        """Keep the adapter's hash and version (default ``sha-<hash>``); True when it is sound,
        else the run ends ``refused`` with each problem as a reason."""
        self.adapter_sha256 = inspection.sha256 or None
        if not inspection.ok:
            reasons = [f"{p.code}: {p.message}" for p in inspection.problems]
            self.end(DeployOutcome.REFUSED, reasons=reasons)
            return False
        self.version = self.version or default_version(inspection.sha256)
        return True

    def saw_stable(self, pointers: Pointers) -> None:
        """The stable version before the run changed anything (and after, until it does)."""
        self.stable_before = self.stable_after = pointers.stable

    def ready(self, readiness: Readiness) -> bool:
        """True when operations are ready for the gauntlet, else the run ends ``not_ready``."""
        if readiness.ready:
            return True
        self.readiness = readiness.reasons
        why = "operations not ready for the gauntlet: " + "; ".join(readiness.reasons)
        self.end(DeployOutcome.NOT_READY, reasons=[why])
        return False

    def judged(self, verdict: GauntletVerdict | None) -> bool:
        """Keep the gauntlet's verdict (None: the mock ran none); True when the canary may be
        promoted."""
        self.gauntlet = verdict
        return verdict is None or verdict.passed

    def fail_reason(self) -> str:
        """GAUNTLET_FAIL's ``failure_reason`` for the verdict: its first reason's code."""
        return (self.gauntlet.failure_reason if self.gauntlet else None) or FAIL_REASON

    def promoted(self, pointers: Pointers, outcome: DeployOutcome) -> None:
        """The promotion moved stable; ``outcome`` says what proved the adapter (if anything)."""
        self.stable_after = pointers.stable
        self.end(outcome)

    def rolled_back(self, result: RollbackResult) -> None:
        """What the rollback handler did; stable is where it left it."""
        self.rollback = result
        self.stable_after = result.stable

    def rolled_back_after_gauntlet(self, result: RollbackResult) -> None:
        """The gauntlet failed and the canary was rolled back: the verdict's reasons, and
        the run ends ``rolled_back``."""
        self.rolled_back(result)
        verdict = self.gauntlet
        reasons = [f"{r.code}: {r.message}" for r in verdict.reasons] if verdict else []
        self.end(
            DeployOutcome.ROLLED_BACK, reasons=reasons or [f"gauntlet failed: {self.fail_reason()}"]
        )

    def rollback_failed(self, error: Exception) -> None:
        """The rollback handler failed too: say so; the error that stopped the run prevails."""
        self.reasons = [*self.reasons, f"rollback failed too: {type(error).__name__}: {error}"]

    def report(self, finished_at: datetime) -> LoraDeployReport:
        if self.outcome is None or self.exit_code is None:
            # a run that ended without an outcome proved nothing: report it as an error
            self.end(DeployOutcome.ERROR, reasons=["the run ended without an outcome (a bug)"])
        return LoraDeployReport(**self.model_dump(), finished_at=finished_at)


def deploy_markdown(report: LoraDeployReport) -> str:
    icon = "❌" if report.failed else "✅"
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


def deploy_row(report: LoraDeployReport) -> dict[str, str]:
    """The run as one row of the ``lora-deploy-<target>`` table artifact."""
    verdict = report.gauntlet
    not_run = "mock" if report.outcome is DeployOutcome.PROMOTED_UNTESTED else "not run"
    return {
        "target": report.target,
        "version": report.version or "",
        "outcome": str(report.outcome),
        "stable_before": report.stable_before or "",
        "stable_after": report.stable_after or "",
        "gauntlet": f"{verdict.status} ({verdict.mode})" if verdict else not_run,
        "reasons": "; ".join(report.reasons)[:300],
    }

"""The data a gate run produces: one result per gate, and the suite's report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.gates import GateMode


class GateStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    MANUAL_FOLLOWUP = "manual_followup"  # automated part passed; an operator must still sign off
    SIGNED_OFF = "signed_off"  # an operator signed off in the UI


class Band(StrEnum):
    PASS = "pass"
    WARNING = "warning"
    FAIL = "fail"


class GateVerdict(StrEnum):
    """The go/no-go suite's release verdict."""

    GO = "go"
    WARN = "go-with-warnings"
    NO_GO = "no-go"
    KILL_SWITCH_ON = "kill-switch-on"


class CheckOutcome(BaseModel):
    """What one gate's check found, before mode, metric thresholds and sign-off are applied."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    reason: str = ""  # short machine word on failure: timeout, exit_code, status, unreachable...
    details: dict[str, Any] = Field(default_factory=dict)
    metric_value: float | None = None


class ReferenceSource(StrEnum):
    ACCEPTED = "accepted"  # the store of accepted runs
    GIVEN = "given"  # a gate_results.json the operator named (--previous)


class Reference(BaseModel):
    """The value a gate's metric is compared with: the last accepted run's, or none yet.

    ``problem`` is set when a reference was expected but cannot be used (an unreadable store,
    a named run without the gate): a relative threshold then fails instead of passing unchecked.
    """

    model_config = ConfigDict(frozen=True)

    value: float | None = None
    source: ReferenceSource = ReferenceSource.ACCEPTED
    run: str = ""  # the run it came from: its out folder, or its start time
    problem: str = ""


class Comparison(StrEnum):
    """What became of a relative threshold."""

    COMPARED = "compared"  # checked against ``previous``, the last accepted value
    NO_REFERENCE = "no_reference"  # no accepted run had a value yet: not checked (a warning)
    UNUSABLE = "reference_unusable"  # a reference was expected but cannot be used: failed


class MetricResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    previous: float | None = None  # the reference: the last accepted run's value
    change_pct: float | None = None
    threshold: str | None = None
    ok: bool  # every bound that was checked held; see ``comparison`` for the relative one
    reason: str = ""
    comparison: Comparison | None = None  # None: the metric has no relative threshold
    reference_run: str = ""


class GateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str = ""  # the gate's description: what its sign-off line starts with
    kind: str
    mode: GateMode
    status: GateStatus
    ok: bool
    manual: bool
    duration_sec: float
    weight: float
    key: bool
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    metric: MetricResult | None = None
    evidence: str = ""

    @model_validator(mode="after")
    def _ok_follows_status(self) -> GateResult:
        """``ok`` is false exactly when the gate failed; no path may claim more."""
        if self.ok is (self.status is GateStatus.FAILED):
            raise ValueError(f"gate {self.name}: ok={self.ok} contradicts status {self.status}")
        return self

    @property
    def symbol(self) -> str:
        return {
            GateStatus.PASSED: "✅",
            GateStatus.SIGNED_OFF: "✅",
            GateStatus.FAILED: "❌",
            GateStatus.MANUAL_FOLLOWUP: "🔧",
        }[self.status]


class GateSuiteReport(BaseModel):
    """The go/no-go flow's return value, persisted as JSON and written to gate_results.json."""

    profile: str
    started_at: datetime
    finished_at: datetime
    strict_manual: bool
    gates: list[GateResult]
    score: float
    band: Band
    verdict: GateVerdict
    exit_code: int
    reasons: list[str] = Field(default_factory=list)
    config_file: str = ""
    out_dir: str = ""
    references_recorded: list[str] = Field(default_factory=list)  # gates whose metric values
    # became the next runs' reference (an accepted run only)
    notes: list[str] = Field(default_factory=list)  # e.g. a dependency a subset did not await

    @property
    def all_passed(self) -> bool:
        """The seed's ``all_passed``: gates ran and every mandatory gate passed.

        Manual gates awaiting follow-up do not make it false (they are listed in
        ``manual_followups``); a failed key or manual gate does. Advisory failures, the score
        and strict manual are carried by the verdict and the exit code.
        """
        if not self.gates:
            return False
        for gate in self.gates:
            if gate.mode is GateMode.MANDATORY and gate.status is not GateStatus.PASSED:
                return False
            if (gate.key or gate.mode is GateMode.MANUAL) and gate.status is GateStatus.FAILED:
                return False
        return True

    @property
    def manual_followups(self) -> list[str]:
        """Manual gates whose automated part passed and that still await a sign-off."""
        return [g.name for g in self.gates if g.status is GateStatus.MANUAL_FOLLOWUP]

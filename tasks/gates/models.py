"""The data a gate run produces: one result per gate, and the suite's report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class Verdict(StrEnum):
    GO = "go"
    WARN = "go-with-warnings"
    NO_GO = "no-go"
    KILL_SWITCH_ON = "kill-switch-on"


class Outcome(BaseModel):
    """What one evaluator found, before mode, metric thresholds and sign-off are applied."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    reason: str = ""  # short machine word on failure: timeout, exit_code, status, unreachable...
    details: dict[str, Any] = Field(default_factory=dict)
    metric_value: float | None = None


class MetricResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    previous: float | None = None
    change_pct: float | None = None
    threshold: str | None = None
    ok: bool = True
    reason: str = ""


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
    verdict: Verdict
    exit_code: int
    reasons: list[str] = Field(default_factory=list)
    config_file: str = ""
    out_dir: str = ""

    @property
    def all_passed(self) -> bool:
        return all(g.status in (GateStatus.PASSED, GateStatus.SIGNED_OFF) for g in self.gates)

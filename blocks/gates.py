"""The gates file (default ``deployments/gates.yaml``): what a go/no-go run checks.

A gates file is validated whole before any gate runs; every problem is reported with file,
line and field (see :mod:`blocks.yaml_source`). What every gate shares is in
:mod:`blocks.gate_base`, the HTTP gate in :mod:`blocks.gate_http`; both are re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from blocks.defaults import DEFAULT_GATES_FILE
from blocks.gate_base import (
    GATE_NAME,
    GateBase,
    GateMode,
    MetricSpec,
    RelativeThreshold,
    Strict,
    compiled_regex,
    refuse_timeout,
)
from blocks.gate_http import HeaderExpectation, HttpGate, JsonExpectation, SseExpectation
from blocks.yaml_source import load_model

__all__ = [
    "GATE_NAME",
    "CheckpointGate",
    "CommandGate",
    "CoverageGate",
    "FlowRunGate",
    "Gate",
    "GateBase",
    "GateMode",
    "GatesFile",
    "HeaderExpectation",
    "HttpGate",
    "JsonExpectation",
    "ManualGate",
    "MetricSpec",
    "Profile",
    "RelativeThreshold",
    "Scoring",
    "SseExpectation",
    "Strict",
    "load_gates_file",
]


class CommandGate(GateBase):
    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    expect_exit: list[int] = Field(default_factory=lambda: [0])
    expect_output: str | None = Field(None, description="regex that stdout+stderr must match")

    @field_validator("argv", mode="before")
    @classmethod
    def _argv_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("argv must be a list of arguments, never a shell string")
        return value

    @field_validator("expect_exit", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("expect_output")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)

    @model_validator(mode="after")
    def _metric_is_read_from_output(self) -> CommandGate:
        if self.metric is not None and (self.metric.regex is None or self.metric.json_path):
            raise ValueError(
                "a command gate's metric is read from its output: give metric.regex "
                "(with a (?P<value>...) group) and no metric.json_path"
            )
        return self


class CoverageGate(GateBase):
    kind: Literal["coverage"]
    report: str = Field(description="coverage.py JSON report (coverage json)")
    baseline: str = Field(description="JSON file with the baseline percent")
    tolerance: float = Field(
        0.0,
        ge=0,
        le=100,
        description="percentage points allowed below the baseline and the last accepted run",
    )
    max_age_minutes: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 60,
        description="how old the report may be; default: written during this run",
    )

    @model_validator(mode="after")
    def _metric_is_the_total(self) -> CoverageGate:
        refuse_timeout(self, "coverage")
        if self.metric is not None and (self.metric.regex or self.metric.json_path):
            raise ValueError(
                "a coverage gate's metric is the report's total: drop metric.regex/json_path"
            )
        return self


class FlowRunGate(GateBase):
    kind: Literal["flow-run"]
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$", description="'<flow name>/<deployment>'")
    max_age_hours: float = Field(24.0, gt=0)

    @model_validator(mode="after")
    def _no_metric(self) -> FlowRunGate:
        refuse_timeout(self, "flow-run")
        if self.metric is not None:
            raise ValueError("a flow-run gate measures no number: drop its metric")
        return self


class CheckpointGate(GateBase):
    """A model checkpoint directory verified before anything loads it (tasks/checkpoints)."""

    kind: Literal["checkpoint"]
    path: str = Field(
        min_length=1, description="the checkpoint directory (relative: to the working directory)"
    )
    require_manifest: bool = Field(
        True, description="false: without a manifest only the file formats are checked"
    )

    @model_validator(mode="after")
    def _no_metric(self) -> CheckpointGate:
        refuse_timeout(self, "checkpoint")
        if self.metric is not None:
            raise ValueError("a checkpoint gate measures no number: drop its metric")
        return self


class ManualGate(GateBase):
    kind: Literal["manual"]
    mode: GateMode = GateMode.MANUAL
    instructions: str = ""

    @field_validator("mode")
    @classmethod
    def _always_manual(cls, value: GateMode) -> GateMode:
        if value is not GateMode.MANUAL:
            raise ValueError("a manual gate's mode is always 'manual'")
        return value

    @model_validator(mode="after")
    def _no_metric(self) -> ManualGate:
        refuse_timeout(self, "manual")
        if self.metric is not None:
            raise ValueError("a manual gate measures no number: drop its metric")
        return self


Gate = Annotated[
    CommandGate | HttpGate | CoverageGate | FlowRunGate | ManualGate | CheckpointGate,
    Field(discriminator="kind"),
]


class Scoring(Strict):
    pass_at: float = Field(90.0, ge=0, le=100, alias="pass")
    warn_at: float = Field(75.0, ge=0, le=100, alias="warning")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> Scoring:
        if self.warn_at > self.pass_at:
            raise ValueError("scoring.warning must not be above scoring.pass")
        return self


class Profile(Strict):
    env: dict[str, str] = Field(default_factory=dict)
    gates: list[str] | None = None
    strict_manual: bool | None = None
    scoring: Scoring | None = None


class GatesFile(Strict):
    """The whole gates file."""

    version: Literal[1] = 1
    scoring: Scoring = Field(default_factory=Scoring)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    gates: list[Gate] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_and_references(self, info: ValidationInfo) -> GatesFile:
        lines = (info.context or {}).get("lines", {})

        def at(*loc: str | int) -> str:
            line = lines.get(loc)
            return f"line {line}: " if line else ""

        problems = []
        seen: set[str] = set()
        for index, gate in enumerate(self.gates):
            if gate.name in seen:
                problems.append(f"{at('gates', index, 'name')}duplicate gate name {gate.name!r}")
            seen.add(gate.name)
        for index, gate in enumerate(self.gates):
            for dep in gate.depends_on:
                where = at("gates", index, "depends_on")
                if dep not in seen:
                    problems.append(f"{where}gate {gate.name!r} depends on unknown gate {dep!r}")
                elif dep == gate.name:
                    problems.append(f"{where}gate {gate.name!r} depends on itself")
        for name, profile in self.profiles.items():
            for gate_name in profile.gates or []:
                if gate_name not in seen:
                    problems.append(f"profile {name!r} lists unknown gate {gate_name!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def names(self) -> list[str]:
        return [gate.name for gate in self.gates]


def load_gates_file(path: Path | str = DEFAULT_GATES_FILE) -> GatesFile:
    """Load and validate a gates file; raises ConfigError naming file, line and field."""
    return load_model(path, GatesFile)

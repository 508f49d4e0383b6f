"""The gates file (default ``deployments/gates.yaml``): what a go/no-go run checks.

A gates file is validated whole before any gate runs; every problem is reported with file,
line and field (see :mod:`blocks.yaml_source`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from blocks.defaults import DEFAULT_GATES_FILE
from blocks.yaml_source import load_model

GATE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
RELATIVE = re.compile(r"^\s*(?P<op><=|>=)\s*(?P<amount>[+-]?\d+(?:\.\d+)?)\s*(?P<unit>%|pt)\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateMode(StrEnum):
    MANDATORY = "mandatory"  # a failure is a no-go
    MANUAL = "manual"  # needs an operator's sign-off on top of any automated check
    ADVISORY = "advisory"  # a failure only lowers the score (unless the gate is a key gate)


class RelativeThreshold(Strict):
    """A bound set by the last accepted run's value.

    ``<= +10%``: the value may grow at most 10% over it; ``>= -0.5pt``: it may fall at most
    0.5 units (points, for a percentage such as coverage) below it.
    """

    op: Literal["<=", ">="]
    amount: float
    unit: Literal["%", "pt"] = "%"

    @classmethod
    def parse(cls, text: str) -> RelativeThreshold:
        match = RELATIVE.match(text)
        if not match:
            raise ValueError(
                f"relative threshold {text!r} must look like '<= +10%', '>= -2%' or '>= -0.5pt'"
            )
        return cls(op=match["op"], amount=float(match["amount"]), unit=match["unit"])

    @property
    def percent(self) -> float | None:
        """The amount of a percentage threshold; None for one in points."""
        return self.amount if self.unit == "%" else None

    def __str__(self) -> str:
        return f"{self.op} {self.amount:+g}{self.unit}"


class MetricSpec(Strict):
    """A number a gate reports, optionally held against the last accepted run's value."""

    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    regex: str | None = Field(None, description="command gates: a named group 'value' in output")
    json_path: str | None = Field(None, description="http gates: dotted path in the JSON body")
    relative: RelativeThreshold | None = None
    max: float | None = None
    min: float | None = None

    @field_validator("relative", mode="before")
    @classmethod
    def _parse_relative(cls, value: Any) -> Any:
        return RelativeThreshold.parse(value) if isinstance(value, str) else value

    @field_validator("regex")
    @classmethod
    def _regex_has_value_group(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "value" not in re.compile(_compiled(value) or "").groupindex:
            raise ValueError("regex needs a named group (?P<value>...)")
        return value


class GateBase(Strict):
    name: str = Field(pattern=GATE_NAME)
    description: str = ""
    mode: GateMode = GateMode.MANDATORY
    timeout_sec: float = Field(60.0, gt=0, le=6 * 3600)
    weight: float = Field(1.0, ge=0)
    key: bool = False
    depends_on: list[str] = Field(default_factory=list)
    evidence: str = Field("", description="what the sign-off line cites, e.g. 'coverage %'")
    metric: MetricSpec | None = None


def _refuse_timeout(gate: GateBase, kind: str) -> None:
    """A timeout that nothing would enforce is refused rather than silently ignored."""
    if "timeout_sec" in gate.model_fields_set:
        raise ValueError(f"a {kind} gate runs no timed check: drop timeout_sec")


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
        return _compiled(value)

    @model_validator(mode="after")
    def _metric_is_read_from_output(self) -> CommandGate:
        if self.metric is not None and (self.metric.regex is None or self.metric.json_path):
            raise ValueError(
                "a command gate's metric is read from its output: give metric.regex "
                "(with a (?P<value>...) group) and no metric.json_path"
            )
        return self


def _compiled(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
    return value


def _scalars_mean_equals(value: Any) -> Any:
    """``{path: 'ok'}`` is short for ``{path: {equals: 'ok'}}``."""
    if not isinstance(value, dict):
        return value
    return {key: (exp if isinstance(exp, dict) else {"equals": exp}) for key, exp in value.items()}


class JsonExpectation(Strict):
    equals: Any = None
    not_equals: Any = None
    min: float | None = None
    max: float | None = None
    matches: str | None = None
    exists: bool | None = None

    @field_validator("matches")
    @classmethod
    def _matches_compiles(cls, value: str | None) -> str | None:
        return _compiled(value)


class HeaderExpectation(Strict):
    """One response header: present (unless ``exists: false``), and optionally its value."""

    equals: str | None = None
    matches: str | None = Field(None, description="regex the value must match")
    exists: bool | None = None
    as_json: dict[str, JsonExpectation] | None = Field(
        None, description="the value parsed as JSON: dotted path ('$' = all) -> expectation"
    )

    @field_validator("matches")
    @classmethod
    def _matches_compiles(cls, value: str | None) -> str | None:
        return _compiled(value)

    @field_validator("as_json", mode="before")
    @classmethod
    def _scalar_means_equals(cls, value: Any) -> Any:
        return _scalars_mean_equals(value)


class SseExpectation(Strict):
    """A server-sent-events stream: its events' order and its resume with Last-Event-ID.

    Reading stops at the first ``until`` event (default: the last of ``order``), at the end of
    the stream, or after ``max_events``. With ``resume_after``, the connection is dropped after
    that many events and reopened with ``Last-Event-ID``: the resumed stream must start at the
    next id and its ids must increase; the expectations hold for both parts together.
    """

    order: list[str] = Field(default_factory=list, description="event types, in this order")
    within_first: dict[str, int] = Field(
        default_factory=dict, description="event type -> must come among the first N events"
    )
    until: str | None = None
    resume_after: int | None = Field(None, ge=1)
    max_events: int = Field(1000, ge=1, le=100_000)

    @field_validator("within_first")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [name for name, count in value.items() if count < 1]
        if bad:
            raise ValueError(f"within_first needs a count of at least 1 for {', '.join(bad)}")
        return value

    @property
    def stop_at(self) -> str | None:
        return self.until or (self.order[-1] if self.order else None)


class HttpGate(GateBase):
    kind: Literal["http"]
    url: str = Field(pattern=r"^(https?://|\$\{)", description="http(s) URL, or ${VAR}...")
    method: Literal["GET", "POST", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    expect_json: dict[str, JsonExpectation] = Field(
        default_factory=dict, description="dotted path ('$' is the whole body) -> expectation"
    )
    expect_headers: dict[str, HeaderExpectation] = Field(
        default_factory=dict, description="response header name -> expectation"
    )
    expect_sse: SseExpectation | None = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("expect_json", "expect_headers", mode="before")
    @classmethod
    def _scalar_means_equals(cls, value: Any) -> Any:
        return _scalars_mean_equals(value)

    @model_validator(mode="after")
    def _body_checks_have_a_body(self) -> HttpGate:
        """Refuse options that could never be checked, rather than accept and ignore them."""
        reads_body = self.metric is not None and bool(self.metric.json_path or self.metric.regex)
        if self.metric is not None and self.metric.json_path and self.metric.regex:
            raise ValueError("metric: give json_path or regex, not both")
        if self.expect_sse is not None and (self.expect_json or reads_body):
            raise ValueError(
                "expect_sse reads the body as an event stream: it cannot be combined with "
                "expect_json or a metric read from the body (json_path, regex)"
            )
        if self.method == "HEAD" and (self.expect_json or self.expect_sse or reads_body):
            raise ValueError(
                "a HEAD response has no body: drop expect_json, expect_sse and "
                "metric.json_path/regex, or use GET"
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
        _refuse_timeout(self, "coverage")
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
        _refuse_timeout(self, "flow-run")
        if self.metric is not None:
            raise ValueError("a flow-run gate measures no number: drop its metric")
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
        _refuse_timeout(self, "manual")
        if self.metric is not None:
            raise ValueError("a manual gate measures no number: drop its metric")
        return self


Gate = Annotated[
    CommandGate | HttpGate | CoverageGate | FlowRunGate | ManualGate,
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

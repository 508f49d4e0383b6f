"""What every gate in the gates file shares: its name, mode, weight, dependencies and metric.

The gate kinds build on :class:`GateBase` (``blocks.gates`` for most kinds, ``blocks.gate_http``
for the HTTP gate); :mod:`blocks.gates` re-exports every name, so callers import from there.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
        if "value" not in re.compile(compiled_regex(value) or "").groupindex:
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


def refuse_timeout(gate: GateBase, kind: str) -> None:
    """A timeout that nothing would enforce is refused rather than silently ignored."""
    if "timeout_sec" in gate.model_fields_set:
        raise ValueError(f"a {kind} gate runs no timed check: drop timeout_sec")


def compiled_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
    return value

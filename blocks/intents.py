"""The intents file (default ``deployments/intents.yaml``): which intent types exist, the
autonomy tier of each (seed 002, section 4), the deployment each starts, the charter weights
that score mission alignment, and the approvers whose proofs count.

Validated whole before anything runs; every problem is reported with file, line and field (see
:mod:`blocks.yaml_source`). Approvers' secrets are never in the file: each approver names a
Prefect ``Secret`` block.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.aws import BLOCK_NAME
from blocks.defaults import DEFAULT_INTENTS_FILE
from blocks.errors import UsageError
from blocks.yaml_source import load_model

# The seed's tier names, by tier.
TIER_NAMES = {
    0: "TIER_0_HUMAN_APPROVAL",
    1: "TIER_1_AUTO_EXECUTE_LOGGED",
    2: "TIER_2_AUTONOMOUS_LOW_RISK",
    3: "TIER_3_AUTONOMOUS_HIGH_IMPACT",
    4: "TIER_4_EMERGENCY_OVERRIDE",
}
NAME = r"^[a-z][a-z0-9_]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntentType(Strict):
    """One intent type: its tier and the deployment (``flow/deployment``) it starts."""

    name: str = Field(pattern=NAME)
    tier: int = Field(ge=0, le=4)
    deployment: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    description: str = ""


class Approver(Strict):
    """Someone whose approval counts: the Prefect Secret block holding their proof key."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    secret_block: str = Field(pattern=BLOCK_NAME.pattern)


class EmergencyQueue(Strict):
    """Tier 4's reserved work queue, on the target deployment's own work pool (created there
    idempotently, highest priority)."""

    queue: str = Field("emergency", min_length=1)
    priority: int = Field(1, ge=1)


class IntentsFile(Strict):
    approval_timeout_sec: int = Field(600, ge=5, le=86400, description="tier 0 and tier 3")
    quorum: int = Field(2, ge=1, description="distinct approvers with valid proofs (tier 3)")
    charter: dict[str, float] = Field(
        default_factory=lambda: {
            "resilience": 1.0,
            "revenue": 0.8,
            "autonomy": 0.7,
            "learning": 0.6,
        },
        min_length=1,
    )
    baseline: float = Field(0.5, ge=0, le=1, description="alignment of an intent naming no goal")
    emergency: EmergencyQueue = EmergencyQueue()
    approvers: list[Approver] = Field(min_length=1)
    intents: list[IntentType] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> IntentsFile:
        for goal, weight in self.charter.items():
            if not (0 < weight <= 1):
                raise ValueError(f"charter weight of {goal!r} must be in (0, 1], not {weight}")
        for label, names in (
            ("intents", [i.name for i in self.intents]),
            ("approvers", [a.name for a in self.approvers]),
            ("approvers' secret blocks", [a.secret_block for a in self.approvers]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{label} listed more than once: {', '.join(twice)}")
        if self.quorum > len(self.approvers):
            raise ValueError(
                f"quorum {self.quorum} is more than the {len(self.approvers)} approver(s) listed"
            )
        return self

    def intent(self, name: str) -> IntentType | None:
        return next((i for i in self.intents if i.name == name), None)

    def approver(self, name: str) -> Approver:
        found = next((a for a in self.approvers if a.name == name), None)
        if found is None:
            names = ", ".join(a.name for a in self.approvers)
            raise UsageError(
                f"{name!r} is not an approver (approvers: {names})",
                remediation="Pass --by with a name listed under approvers: in the intents file.",
            )
        return found


def load_intents_file(path: Path | str = DEFAULT_INTENTS_FILE) -> IntentsFile:
    """Load and validate an intents file; raises ConfigError naming file, line and field."""
    return load_model(path, IntentsFile)

"""The flow-run gate: the latest run of a deployment is Completed and recent enough."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from blocks.gates import FlowRunGate
from tasks.gates.models import CheckOutcome


class LatestRun(BaseModel):
    """What the gate needs to know of a deployment's most recently started run."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    state_type: str  # COMPLETED, FAILED, RUNNING...
    state_name: str
    start_time: datetime
    end_time: datetime | None = None


def evaluate_flow_run(gate: FlowRunGate, latest: LatestRun | None, now: datetime) -> CheckOutcome:
    """Pass only if the latest started run completed within ``max_age_hours``."""
    if latest is None:
        return CheckOutcome(
            ok=False,
            reason="no_run",
            details={"deployment": gate.deployment, "message": "the deployment has never run"},
        )
    finished = latest.end_time or latest.start_time
    age_hours = (now - finished).total_seconds() / 3600
    details = {
        "deployment": gate.deployment,
        "flow_run": latest.name,
        "flow_run_id": latest.id,
        "state": latest.state_name,
        "age_hours": round(age_hours, 2),
        "max_age_hours": gate.max_age_hours,
    }
    if latest.state_type != "COMPLETED":
        return CheckOutcome(ok=False, reason="not_completed", details=details)
    if age_hours > gate.max_age_hours:
        return CheckOutcome(ok=False, reason="stale", details=details)
    return CheckOutcome(ok=True, details=details)

"""A Prefect worker as the API reports it: one type for every concern that judges workers
(the orchestration guard's readiness, the GPU matrix's leg dispatch). Each keeps its own rule
of what counts as live; the observation is the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WorkerSeen:
    name: str
    online: bool  # Prefect's own status says ONLINE
    last_heartbeat: datetime | None
    heartbeat_seconds: float | None = None  # the worker's own heartbeat interval, if reported

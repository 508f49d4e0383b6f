"""The 5W1H decision record (seed 002's clarity log) and its durable local log.

Shared machinery: every decision the orchestration guard takes (an alert, a shed run, a breaker
opening or closing, a cascade stopped, a boot-guard refusal), every decision the intent
router takes (an intent routed or rejected, an approval rejected, a quorum reached) and every
one of make run's worker supervisor (a worker restarted, a run that died with it rescheduled)
is one :class:`Decision`: who, what, where, when, why (the reasoning chain), how, and context.
It goes out as a Prefect event (the concern's step), into the run's artifact, and into
:class:`DecisionLog`, a SQLite file under ``$WARDEN_HOME/guard/`` that ``warden guard log``
reads without importing Prefect. No Prefect import here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import UsageError
from blocks.storage import warden_home
from tasks.platform.clock import iso_utc, utc_now

LOG_FILE = "decisions.sqlite"
DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DecisionKind(StrEnum):
    """What was decided; one value per kind of decision (the guard's, then the intent router's)."""

    ALERT = "alert"
    SHED = "shed"
    CIRCUIT_OPEN = (
        "circuit-open"  # the storm breaker opened (event warden.orchestrator.circuit-open)
    )
    CIRCUIT_CLOSE = "circuit-close"
    CASCADE_STOP = "cascade-stop"
    BOOT_REFUSAL = "boot-refusal"
    INTENT_ROUTED = "intent-routed"  # an intent was approved and its deployment run started
    INTENT_REJECTED = "intent-rejected"  # refused before or instead of running
    APPROVAL_ACCEPTED = "approval-accepted"  # one approver's valid, proven answer
    APPROVAL_REJECTED = "approval-rejected"  # wrong, foreign or reused proof; unknown approver
    QUORUM_REACHED = "quorum-reached"
    WORKER_RESTART = "worker-restart"  # make run's supervisor restarted a worker that died
    DEAD_RUN_RESCHEDULED = "dead-run-rescheduled"  # ...and rescheduled a run that died with it


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    who: str  # the deciding component, e.g. "orchestration-watchdog"
    what: DecisionKind
    where: str  # the resource it is about, e.g. "work-pool:warden-process"
    when: datetime
    why: list[str] = Field(min_length=1)  # the reasoning chain, one reason per line
    how: str  # the mechanism, e.g. "threshold_check", "cancel_flow_run"
    context: dict[str, Any] = Field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.what} {self.where}: {'; '.join(self.why)}"


def parse_since(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``2d``, ``1w`` -> a duration; anything else is a usage error."""
    match = DURATION.match(text)
    if not match or int(match["n"]) == 0:
        raise UsageError(
            f"--since {text!r} is not a duration",
            remediation="Write a positive number and a unit: 30s, 15m, 1h, 2d or 1w.",
        )
    return timedelta(seconds=int(match["n"]) * UNIT_SECONDS[match["unit"]])


class DecisionLog:
    """An append-only SQLite log of decisions (one row each, the record as JSON)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or warden_home() / "guard" / LOG_FILE

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS decisions ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, what TEXT NOT NULL,"
            " record TEXT NOT NULL)"
        )
        connection.execute("CREATE INDEX IF NOT EXISTS decisions_at ON decisions (at)")
        return connection

    def append(self, decisions: Iterable[Decision]) -> int:
        rows = [
            (iso_utc(d.when, "microseconds"), d.what.value, d.model_dump_json()) for d in decisions
        ]
        if not rows:
            return 0
        with self._connect() as connection:
            connection.executemany(
                "INSERT INTO decisions (at, what, record) VALUES (?, ?, ?)", rows
            )
        return len(rows)

    def read(
        self, since: timedelta, what: DecisionKind | None = None, now: datetime | None = None
    ) -> list[Decision]:
        """Decisions taken in the last ``since``, oldest first (none when no log exists yet)."""
        if not self.path.exists():
            return []
        start = iso_utc((now or utc_now()) - since, "microseconds")
        query = "SELECT record FROM decisions WHERE at >= ?"
        params: list[str] = [start]
        if what is not None:
            query += " AND what = ?"
            params.append(what.value)
        with self._connect() as connection:
            rows = connection.execute(query + " ORDER BY at, id", params).fetchall()
        return [Decision.model_validate(json.loads(record)) for (record,) in rows]

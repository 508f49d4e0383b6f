"""The guard and the intents router as the drills' :class:`tasks.drills.world.GuardPort`: their
own code (readiness, watchdog alerts, storm and cascade breakers, routing rules) pointed at the
drill's platform (a concern never imports another: the flow layer wires them). Each call
switches this thread's Prefect API for its own length; the kill switch is read outside it.
Decisions go to a 5W1H log in the drill's folder, not as events (Prefect's event worker is
process-wide)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL, temporary_settings

from blocks.errors import IntentInputError, KillSwitchOn
from blocks.guard import GuardFile
from blocks.intents import Approver, IntentsFile, IntentType
from tasks.drills import platform_api
from tasks.drills.flood import DRILL_INTENT
from tasks.drills.steps import DRILL
from tasks.guard.cascade import CASCADE_BREAKER, cascade_decision, plan_cascade_stops
from tasks.guard.models import CheckName
from tasks.guard.platform_reads import read_snapshot
from tasks.guard.readiness import assess, telemetry
from tasks.guard.steps import read_run_chains, stop_cascade
from tasks.guard.watch import WATCHDOG, alerts
from tasks.intents.records import routing_decision
from tasks.intents.routing import (
    FlowRunRef,
    Intent,
    RoutingAnswer,
    base_answer,
    check_parameters,
    rejected,
    run_tags,
    tier_of,
)
from tasks.platform.clock import utc_now
from tasks.platform.decisions import DecisionLog
from tasks.platform.steps import ensure_kill_switch_off
from tasks.platform.ui_links import flow_run_link

# The drills' intents file: one tier-2 type starting the drill workload (tiers 0 and 3 wait
# for people: no flood). Its approver is never asked.
DRILL_INTENTS = IntentsFile(
    approvers=[Approver(name="drill", secret_block="drill-approver")],
    quorum=1,
    intents=[IntentType(name=DRILL_INTENT, tier=2, deployment="chaos-drill-workload/work")],
)


class DrillGuard:
    def __init__(self, api_url: str, guard: GuardFile, tag: str, folder: Path) -> None:
        self.api_url, self.guard, self.tag = api_url, guard, tag
        self.log = DecisionLog(folder / "decisions.sqlite")
        self._log_lock = threading.Lock()
        self._targets: dict[str, tuple[dict, dict, str]] = {}

    @contextmanager
    def _on_platform(self) -> Iterator[None]:
        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    def _record(self, decisions: list) -> list[dict[str, Any]]:
        with self._log_lock:
            self.log.append(decisions)
        return [d.model_dump(mode="json") for d in decisions]

    def readiness(self) -> dict[str, Any]:
        with self._on_platform():
            verdict = assess(read_snapshot(self.guard, self.guard.pool_names()), self.guard)
        failed = [f"{c.where}: {c.name.value}: {c.reason}" for c in verdict.failed]
        return {"status": verdict.status.value, "failed": failed}

    def watchdog_cycle(self, previous: dict) -> tuple[list[dict[str, Any]], dict, list[str]]:
        with self._on_platform():
            snapshot = read_snapshot(self.guard, self.guard.pool_names())
        verdict = assess(snapshot, self.guard)
        rows = telemetry(snapshot, verdict, self.guard)
        decisions, keys = alerts(rows, previous, verdict.checked_at, WATCHDOG)
        failing = [c.where for c in verdict.failed if c.name is CheckName.POOL]
        return self._record(decisions), keys, failing

    def watch_storms(self, runtime_sec: float, record: Callable[[dict[str, Any]], None]) -> dict:
        from tasks.guard.event_stream import watch_storms

        def take(decisions: list) -> None:
            for entry in self._record(decisions):
                record(entry)

        with self._on_platform():
            return watch_storms(self.guard, runtime_sec, take).model_dump(mode="json")

    def stop_cascades(self) -> list[dict[str, Any]]:
        limit = self.guard.storm.cascade_max_depth
        decisions = []  # one pass of the cascade breaker's own plan and stop
        with self._on_platform():
            for stop in plan_cascade_stops(read_run_chains.fn(self.guard), limit):
                message = f"stopped by {CASCADE_BREAKER}: chain of {stop.depth} levels (drill)"
                cancelled, paused = stop_cascade.fn(self.guard, stop, message)
                decisions.append(cascade_decision(stop, cancelled, paused, limit, utc_now()))
        return self._record(decisions)

    def route(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The router's rules (tier, alignment, parameter schema, run tags) on one intent, its
        run started on the drill's platform (no route-intent flow run per intent: that would
        time the flow engine, and tier 2 has no approval round)."""
        started = time.monotonic()
        intent = Intent(**raw)
        answer = RoutingAnswer(intent_type=intent.intent_type, actor=intent.actor, approved=False)
        try:
            entry = tier_of(DRILL_INTENTS, intent)
            answer = base_answer(intent, entry, DRILL_INTENTS)
            schema, defaults, deployment_id = self._target(entry.deployment)
            check_parameters(intent.parameters, schema, defaults)
        except IntentInputError as exc:
            answer = rejected(answer, exc.reason, f"Refused: {exc.message}")
        decided = time.monotonic() - started
        if answer.code is None:
            tags = [*run_tags(entry, intent, answer.alignment or 0.0), self.tag]
            with platform_api.api(self.api_url) as client:
                run_id = platform_api.create_run(client, deployment_id, intent.parameters, tags)
            link = flow_run_link(run_id, self.api_url)
            answer = answer.model_copy(
                update={"approved": True, "flow_run": FlowRunRef(id=run_id, name=run_id, link=link)}
            )
        self._record([routing_decision(intent, answer, self.tag, utc_now())])
        return answer.model_dump(mode="json") | {"decided_sec": decided}

    def _target(self, deployment: str) -> tuple[dict, dict, str]:
        if deployment not in self._targets:
            with platform_api.api(self.api_url) as client:
                found = platform_api.read_deployment(client, deployment)
            if found is None:
                raise RuntimeError(f"deployment {deployment} is not on the drill's platform")
            schema = found.get("parameter_openapi_schema") or {}
            self._targets[deployment] = (schema, found.get("parameters") or {}, found["id"])
        return self._targets[deployment]

    def kill_switch_on(self) -> bool:
        try:
            ensure_kill_switch_off(DRILL)
        except KillSwitchOn:
            return True
        return False

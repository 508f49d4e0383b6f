"""The storm breaker's loop on Prefect's event stream: subscribe, feed each event to the pure
:class:`tasks.guard.storm.StormWatch`, pause the storm's sources when it opens, restore them
when it closes (or when the watch ends while open: nothing stays paused behind it).

Each decision is recorded as it is taken (event + durable log), not at the end of the run: an
operator sees the breaker open within the second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from prefect.client.orchestration import SyncPrefectClient
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from pydantic import BaseModel, ConfigDict, Field

from blocks.guard import GuardFile
from tasks.guard.platform_reads import guard_client
from tasks.guard.platform_writes import pause_source, restore_paused
from tasks.guard.storm import StormWatch, close_decision, open_decision, sources_of
from tasks.platform.clock import utc_now
from tasks.platform.decisions import Decision

OWN_EVENTS = "warden.orchestrator."  # the guard's own events never count towards a storm
POLL_SEC = 0.25  # how often the cooldown is looked at while no event arrives


class StormReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started: datetime
    events_seen: int = 0
    opened: int = 0
    closed: int = 0
    paused_now: list[str] = Field(default_factory=list)  # empty at the end: all restored
    decisions: list[Decision] = Field(default_factory=list)


def watch_storms(
    guard: GuardFile,
    max_runtime_sec: float,
    record: Callable[[list[Decision]], object],
    subscribed: Callable[[], object] = lambda: None,
) -> StormReport:
    """Watch the event stream for ``max_runtime_sec``; ``record`` takes each decision;
    ``subscribed`` is called once the subscription is open (its filter sent)."""
    report = StormReport(started=utc_now())
    asyncio.run(_watch(guard, max_runtime_sec, record, report, subscribed))
    return report


async def _watch(guard: GuardFile, runtime: float, record, report: StormReport, subscribed) -> None:
    limits = guard.storm
    watch = StormWatch(limits.per_type_per_sec, limits.total_per_10s, limits.cooldown_sec)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + runtime
    subscription = EventFilter(event=EventNameFilter(exclude_prefix=[OWN_EVENTS]))

    def decide(decision: Decision) -> None:
        report.decisions.append(decision)
        record([decision])

    client = guard_client(guard)  # one client for the run: a pause costs its calls, no setup
    client.__enter__()
    try:
        async with get_events_subscriber(filter=subscription) as subscriber:
            subscribed()
            events = subscriber.__aiter__()
            while loop.time() < deadline:
                try:
                    event = await asyncio.wait_for(events.__anext__(), POLL_SEC)
                except TimeoutError:
                    event = None
                if event is not None and event.occurred >= report.started:  # no backfill
                    report.events_seen += 1
                    ids = [event.resource.id, *(r.id for r in event.related)]
                    flood = watch.observe(event.event, sources_of(ids))
                    if flood is not None:
                        paused = _pause(client, flood.sources)
                        watch.sources_paused()
                        report.paused_now += paused
                        report.opened += flood.opening
                        decide(open_decision(flood, paused, limits.cooldown_sec, utc_now()))
                if watch.quiet():
                    reason = f"No flood for {limits.cooldown_sec:g}s: circuit closed"
                    decide(close_decision(_restore(client, report), reason, utc_now()))
    finally:
        try:
            if report.paused_now:  # the watch ends while open: restore, never leave it paused
                decide(close_decision(_restore(client, report), "Watch ended", utc_now()))
        finally:
            client.__exit__(None, None, None)


def _pause(client: SyncPrefectClient, sources) -> list[str]:
    return [item for source in sources for item in pause_source(client, source)]


def _restore(client: SyncPrefectClient, report: StormReport) -> list[str]:
    restored = restore_paused(client, report.paused_now)
    report.paused_now = []
    report.closed += 1
    return restored

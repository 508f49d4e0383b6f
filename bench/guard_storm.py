"""Bench: storm detection latency — from the flood's threshold being crossed to the storm's
source being paused (goal: within 2 s).

A real local Prefect server; the ``orchestration-storm-breaker`` flow runs in a thread
(cooldown 2 s). Timing starts from a confirmed subscription: the first round waits until the
run's log says its subscription is open (``tasks.guard.steps.SUBSCRIBED``; the log reaches the
API seconds after it is written, so the filter has long been registered). Then each round
posts 150 events of one type in one request (the 101st crosses the seed's > 100 events/s
limit) naming an enabled automation, and times until the automation reads disabled through
the API; then waits for the cooldown to restore it. Latency includes the server's event
pipeline and the pause call. Inside the breaker (same process) it also marks when the flood's
first event reached the subscription and when the pause calls returned, so the breaker's own
share (first event seen -> paused) is apart from the server's event pipeline. The 1-minute load
average is printed per round (a shared machine). Usage: python bench/guard_storm.py [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prefect.client.orchestration import SyncPrefectClient, get_client  # noqa: E402
from prefect.events.actions import DoNothing  # noqa: E402
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402

from tasks.guard import event_stream  # noqa: E402
from tasks.guard.steps import SUBSCRIBED  # noqa: E402
from tasks.guard.storm import StormWatch  # noqa: E402
from tasks.platform.clock import iso_utc, utc_now  # noqa: E402
from tests.integration.conftest import start_prefect, wait_for  # noqa: E402


def flood(url: str, automation: str, count: int = 150) -> None:
    related = [
        {
            "prefect.resource.id": f"prefect.automation.{automation}",
            "prefect.resource.role": "automation",
        }
    ]
    events = [
        {
            "id": str(uuid.uuid4()),
            "occurred": iso_utc(utc_now()),
            "event": "bench.storm",
            "resource": {"prefect.resource.id": "bench.storm"},
            "related": related,
        }
        for _ in range(count)
    ]
    httpx.post(f"{url}/events", json=events, timeout=30).raise_for_status()


class Marks:
    """When, in this round, the breaker saw the flood's first event and finished pausing:
    timestamps only (the wrapped calls run unchanged)."""

    def __init__(self) -> None:
        self.seen: float | None = None
        self.detected: float | None = None  # the event that crossed the limit was counted
        self.paused: float | None = None
        self.write_sec: float | None = None  # the PATCH that disables the automation
        observe, pause = StormWatch.observe, event_stream._pause
        patch = SyncPrefectClient.pause_automation

        def timed_patch(client, automation_id):
            began = time.perf_counter()
            try:
                return patch(client, automation_id)
            finally:
                self.write_sec = time.perf_counter() - began

        SyncPrefectClient.pause_automation = timed_patch

        def observed(watch, event_type, sources):
            if event_type == "bench.storm" and self.seen is None:
                self.seen = time.perf_counter()
            flood = observe(watch, event_type, sources)
            if flood is not None and self.detected is None:
                self.detected = time.perf_counter()
            return flood

        def paused(client, sources):
            done = pause(client, sources)
            self.paused = self.paused or time.perf_counter()
            return done

        StormWatch.observe, event_stream._pause = observed, paused

    def reset(self) -> None:
        self.seen = self.detected = self.paused = self.write_sec = None


def main(rounds: int = 5) -> None:
    marks = Marks()
    with tempfile.TemporaryDirectory() as folder:
        platform = start_prefect(Path(folder) / "prefect")
        url = platform.url
        config = Path(folder) / "guard.yaml"
        config.write_text(yaml.safe_dump({"storm": {"cooldown_sec": 2}, "pools": [{"name": "p"}]}))
        try:
            with (
                temporary_settings(updates={PREFECT_API_URL: url}),
                get_client(sync_client=True) as client,
            ):
                automation = str(
                    client.create_automation(
                        AutomationCore(
                            name="bench-source",
                            trigger=EventTrigger(
                                expect={"never"}, posture=Posture.Reactive, threshold=1
                            ),
                            actions=[DoNothing()],
                        )
                    )
                )

                def enabled() -> bool:
                    return client.read_automation(automation).enabled

                from flows.storm_breaker import orchestration_storm_breaker

                def run() -> None:
                    with temporary_settings(updates={PREFECT_API_URL: url}):
                        orchestration_storm_breaker(str(config), max_runtime_sec=30 + 15 * rounds)

                watcher = threading.Thread(target=run, daemon=True)
                watcher.start()
                waited = time.perf_counter()
                wait_for(lambda: _subscribed(url), 180, "the breaker's subscription", every=0.1)
                print(f"subscription confirmed {time.perf_counter() - waited:.1f} s after start")
                latencies, loads, pipeline, breaker, counting, writes = [], [], [], [], [], []
                for _ in range(rounds):
                    loads.append(os.getloadavg()[0])
                    marks.reset()
                    started = time.perf_counter()
                    flood(url, automation)
                    wait_for(lambda: not enabled(), 30, "the pause", every=0.02)
                    latencies.append(time.perf_counter() - started)
                    wait_for(lambda: marks.paused, 30, "the breaker's pause to return")
                    pipeline.append(marks.seen - started)
                    breaker.append(marks.paused - marks.seen)
                    counting.append(marks.detected - marks.seen)
                    writes.append(marks.write_sec)
                    wait_for(enabled, 30, "the restore", every=0.1)
                watcher.join(timeout=60 + 15 * rounds)
        finally:
            platform.stop()
    print("| s, median (max) | POST -> first event seen | seen -> paused | POST -> paused (API) |")
    print("|---|---|---|---|")
    cells = [f"{statistics.median(x):.2f} ({max(x):.2f})" for x in (pipeline, breaker, latencies)]
    load = f"{min(loads):.1f}-{max(loads):.1f}"
    print(f"| {rounds} rounds, load {load} | " + " | ".join(cells) + " |")
    for name, values in (
        ("POST -> paused", latencies),
        ("POST -> seen", pipeline),
        ("seen -> paused", breaker),
        ("seen -> limit crossed (counting 101 events)", counting),
        ("the pause's last PATCH", writes),
        ("load", loads),
    ):
        print(f"{name} per round: " + ", ".join(f"{x:.2f}" for x in values))


def _subscribed(url: str) -> bool:
    """The storm-breaker run has logged that its subscription is open."""
    logs = httpx.post(f"{url}/logs/filter", json={"limit": 200}, timeout=10).json()
    return any(SUBSCRIBED in log["message"] for log in logs)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))

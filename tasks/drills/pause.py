"""scheduler-pause (seed 002 §5 L2_scheduler_pause_during_load): pause the work pool, queue N
runs, check the guard's watchdog reports the pause (an alert on the pool while its pool check
fails) within the limit, resume, and every run is processed exactly once (its id appears once
in the marker file, and it ended Completed)."""

from __future__ import annotations

import threading
import time
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.activities import markers, wait_completed
from tasks.drills.world import Drill, current, wait_until


def pause_pool() -> dict[str, Any]:
    drill = current()
    with api.api(drill.api_url) as client:
        api.set_pool_paused(client, drill.pool, True)
    drill.notes["paused_at"] = time.monotonic()
    return {"paused": drill.pool}


def resume_pool() -> dict[str, Any]:
    """Also the rollback: the pool is never left paused."""
    drill = current()
    with api.api(drill.api_url) as client:
        api.set_pool_paused(client, drill.pool, False)
        return {"paused": api.pool_paused(client, drill.pool)}


class Watchdog:
    """The guard's watchdog cycle on its cadence, in a thread, until stopped; remembers when
    it first alerted on the paused pool."""

    def __init__(self, drill: Drill) -> None:
        self.drill, self.stop = drill, threading.Event()
        self.alerts: list[dict[str, Any]] = []
        self.reported_at: float | None = None
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="drill-watchdog", daemon=True)

    def _loop(self) -> None:
        previous: dict = {}
        every = self.drill.guard_file.watchdog.check_every_sec
        while not self.stop.is_set():
            try:
                alerts, previous, failing = self.drill.guard.watchdog_cycle(previous)
            except Exception as exc:  # a cycle that could not read is a cycle without a report
                self.errors.append(f"{type(exc).__name__}: {exc}")
                alerts, failing = [], []
            self.alerts += alerts
            mine = [a for a in alerts if a.get("where") == f"work-pool:{self.drill.pool}"]
            if mine and self.drill.pool in failing and self.reported_at is None:
                self.reported_at = time.monotonic()
            self.stop.wait(every)


def start_watchdog() -> dict[str, Any]:
    drill = current()
    watchdog = Watchdog(drill)
    drill.notes["watchdog"] = watchdog
    watchdog.thread.start()
    return {"check_every_sec": drill.guard_file.watchdog.check_every_sec}


def stop_watchdog() -> dict[str, Any]:
    watchdog = current().notes.get("watchdog")
    if watchdog is None:
        return {"stopped": False}
    watchdog.stop.set()
    watchdog.thread.join(timeout=60)
    return {"stopped": not watchdog.thread.is_alive(), "alerts": len(watchdog.alerts)}


def verify_pause_reported(within_sec: float) -> dict[str, Any]:
    drill = current()
    watchdog: Watchdog = drill.notes["watchdog"]
    paused_at = drill.notes["paused_at"]
    left = max(0.0, paused_at + within_sec - time.monotonic())
    wait_until(lambda: watchdog.reported_at is not None, left, every=0.2)
    after = None if watchdog.reported_at is None else watchdog.reported_at - paused_at
    return drill.verification(
        "watchdog-reported-pause",
        after is not None and after <= within_sec,
        f"the watchdog alerted on paused pool {drill.pool} "
        + (f"{after:.1f} s after the pause" if after is not None else "never")
        + f" (limit {within_sec:g} s)"
        + (f"; read errors: {watchdog.errors[:2]}" if watchdog.errors else ""),
        reported_after_sec=None if after is None else round(after, 2),
        alerts=len(watchdog.alerts),
    )


def verify_exactly_once(timeout_sec: float) -> dict[str, Any]:
    drill = current()
    ids = drill.notes.get("runs") or []
    resumed = time.monotonic()
    states = wait_completed(drill, ids, timeout_sec)
    took = time.monotonic() - resumed
    seen = markers(drill)
    completed = [i for i in ids if states[i] == "COMPLETED"]
    twice = [i for i in ids if seen[i] > 1]
    never = [i for i in ids if seen[i] == 0]
    passed = bool(ids) and len(completed) == len(ids) and not twice and not never
    return drill.verification(
        "all-processed-exactly-once",
        passed,
        f"{len(completed)} of {len(ids)} runs completed; processed twice: {len(twice)}, "
        f"never: {len(never)}; drained in {took:.1f} s after the resume",
        runs=len(ids),
        completed=len(completed),
        twice=len(twice),
        never=len(never),
        drain_sec=round(took, 2),
        runs_per_sec=round(len(completed) / took, 2) if took else None,
    )

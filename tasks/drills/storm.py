"""event-storm (seed 002 §5 L2_trigger_mesh_storm): R events/s for S seconds, each naming one
automation as its source. The guard's storm breaker, watching the event stream, must open and
pause that automation, then restore it after its cooldown; and no event may be lost: what the
server stored plus what the durable spool holds (batches the API refused) equals what was
sent."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.world import Drill, current, wait_until
from tasks.events.a2a_event import A2AEvent
from tasks.events.spool import Spool
from tasks.platform.clock import iso_utc, utc_now

TICK_SEC = 0.1  # one batch per tick: rate x 0.1 events each
SETTLE_SEC = 60.0  # the server persists events in batches: stored counts settle after the storm


def create_storm_source() -> dict[str, Any]:
    drill = current()
    with api.api(drill.api_url) as client:
        automation = api.create_source_automation(client, f"drill-storm-source-{drill.tag[6:]}")
    drill.notes["automation"] = automation
    return {"automation": automation}


def start_storm_breaker(storm_sec: float) -> dict[str, Any]:
    """The storm breaker in a thread for the storm, its cooldown and a margin."""
    drill = current()
    decisions: list[dict[str, Any]] = drill.notes.setdefault("storm_decisions", [])
    # the event stream can lag the storm by seconds on a loaded server: room for the breaker
    # to open late and still close on its cooldown before its watch ends
    runtime = storm_sec + drill.guard_file.storm.cooldown_sec + 15.0
    outcome: dict[str, Any] = {}

    def record(decision: dict[str, Any]) -> None:
        decisions.append({**decision, "at": time.monotonic()})

    def watch() -> None:
        try:
            outcome["report"] = drill.guard.watch_storms(runtime, record)
        except Exception as exc:  # the breaker failing is a verification's failure
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=watch, name="drill-storm-breaker", daemon=True)
    thread.start()
    drill.notes["breaker"] = (thread, outcome)
    return {"runtime_sec": runtime}


def stop_storm_breaker() -> dict[str, Any]:
    """Rollback: wait for the breaker's watch to end (it restores what it paused), then make
    sure the source automation is enabled again and remove it."""
    drill = current()
    thread, outcome = drill.notes.get("breaker", (None, {}))
    if thread is not None:
        thread.join(timeout=120)
    automation = drill.notes.get("automation")
    with api.api(drill.api_url) as client:
        if automation:
            api.delete_automation(client, automation)
    return {"breaker_error": outcome.get("error"), "events_seen": _seen(outcome)}


def _seen(outcome: dict[str, Any]) -> int | None:
    report = outcome.get("report")
    return report.get("events_seen") if isinstance(report, dict) else None


def storm_events(name: str, automation: str, count: int) -> list[dict[str, Any]]:
    now = iso_utc(utc_now())
    related = [{"prefect.resource.id": f"prefect.automation.{automation}",
                "prefect.resource.role": "automation"}]  # fmt: skip
    return [
        {
            "id": str(uuid.uuid4()),
            "occurred": now,
            "event": name,
            "resource": {"prefect.resource.id": "warden.drill.storm-source"},
            "related": related,
        }
        for _ in range(count)
    ]


def send_storm(rate_per_sec: int, seconds: float) -> dict[str, Any]:
    """Send the storm on a fixed tick; a batch the API does not take goes to the spool."""
    drill = current()
    name = f"warden.drill.storm.{drill.tag[6:]}"
    spool = Spool(drill.folder / "storm-spool.sqlite")
    per_tick = max(1, round(rate_per_sec * TICK_SEC))
    ticks = max(1, round(seconds / TICK_SEC))
    sent = spooled = 0
    disabled_seen = False
    since = utc_now()
    started = time.monotonic()
    with api.api(drill.api_url) as client:
        for tick in range(ticks):
            batch = storm_events(name, drill.notes["automation"], per_tick)
            try:
                api.post_events(client, batch)
            except Exception as exc:  # the API refused or timed out: keep every event
                spooled += spool.put_many([_spooled(e) for e in batch], errors=None)
                drill.notes.setdefault("storm_errors", []).append(f"{type(exc).__name__}")
            sent += len(batch)
            if tick % 5 == 0:  # twice a second: is the source paused yet?
                disabled_seen |= not api.automation_enabled(client, drill.notes["automation"])
            time.sleep(max(0.0, started + (tick + 1) * TICK_SEC - time.monotonic()))
    took = time.monotonic() - started
    drill.notes.update(
        storm_name=name, storm_since=since, storm_sent=sent, storm_ended=time.monotonic(),
        storm_spool=spool, storm_started=started, disabled_seen=disabled_seen,
    )  # fmt: skip
    return {"sent": sent, "spooled": spooled, "seconds": round(took, 2),
            "rate_per_sec": round(sent / took, 1)}  # fmt: skip


def _spooled(event: dict[str, Any]) -> A2AEvent:
    return A2AEvent(event_type="DRILL_STORM", id=uuid.UUID(event["id"]).hex, metadata=event)


def _decisions(drill: Drill, what: str) -> list[dict[str, Any]]:
    return [d for d in drill.notes.get("storm_decisions", []) if d.get("what") == what]


def verify_opened() -> dict[str, Any]:
    drill = current()
    source = f"automation:{drill.notes.get('automation')}"

    def opened() -> list[dict[str, Any]]:
        return [d for d in _decisions(drill, "circuit-open") if source in d["context"]["paused"]]

    found = wait_until(opened, drill.guard_file.storm.cooldown_sec + 10.0, every=0.2)
    after = found[0]["at"] - drill.notes["storm_started"] if found else None
    return drill.verification(
        "breaker-opened-and-paused-source",
        bool(found),
        f"storm breaker opened and paused {source} "
        + (f"{after:.2f} s after the storm began" if after is not None else ": never")
        + f"; source read disabled during the storm: {drill.notes.get('disabled_seen')}",
        open_after_sec=None if after is None else round(after, 2),
    )


def verify_restored() -> dict[str, Any]:
    """The breaker closed and restored the source, and the source read enabled after the close
    (polled: the close may come up to the breaker's cooldown after a late opening). Judged on
    that one reading: a storm that outlasts the cooldown (a loaded sender) may open the breaker
    again on its tail, and a second reading would then see the source paused again, rightly."""
    drill = current()
    automation = drill.notes.get("automation")
    source = f"automation:{automation}"
    seen = {"enabled": False}

    def closed() -> bool:
        return any(source in d["context"]["restored"] for d in _decisions(drill, "circuit-close"))

    def restored() -> bool:
        if not closed():
            return False
        with api.api(drill.api_url) as client:
            seen["enabled"] = api.automation_enabled(client, automation)
        return seen["enabled"]

    held = wait_until(restored, drill.guard_file.storm.cooldown_sec + 25.0, every=0.5)
    reopened = len(_decisions(drill, "circuit-open")) > 1
    return drill.verification(
        "source-restored",
        bool(held),
        f"circuit closed and restored {source}: {closed()}; read enabled after the close: "
        f"{seen['enabled']}" + ("; the storm's tail opened the breaker again" if reopened else ""),
    )


def verify_no_loss(timeout_sec: float) -> dict[str, Any]:
    drill = current()
    sent, spool = drill.notes["storm_sent"], drill.notes["storm_spool"]
    spooled = spool.pending_count()
    since, counts = iso_utc(drill.notes["storm_since"]), {"stored": 0}

    def settled() -> bool:
        with api.api(drill.api_url) as client:
            until = iso_utc(utc_now())
            counts["stored"] = api.count_events(client, drill.notes["storm_name"], since, until)
        return counts["stored"] + spooled >= sent

    wait_until(settled, min(timeout_sec, SETTLE_SEC), every=1.0)
    stored = counts["stored"]
    return drill.verification(
        "no-event-lost",
        stored + spooled == sent,
        f"sent {sent}; stored on the server {stored}; in the spool {spooled}; "
        f"lost {sent - stored - spooled}",
        sent=sent,
        stored=stored,
        spooled=spooled,
    )

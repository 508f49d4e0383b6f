"""Emergency-queue drill: the durable spool keeps every acknowledged event through a SIGKILL.

A child process publishes ``events`` emergency events through :class:`EventPublisher` with
``durable=True`` (committed to the spool before ``publish`` returns) and prints ``ack <id>``
after each; the parent SIGKILLs the child's process group once it has read ``kill_after``
acks, reads whatever acks the pipe still holds, then opens the spool. Sent = acknowledged by
the child; found = those ids in the spool afterwards; lost = sent - found (must be 0). The
child's last ``stats`` line is the cap/spill telemetry: the queue cap, how many events
overflowed it to the spool from the caller's thread, how many were spooled and dropped.

Run as ``python -m tasks.events.drill SPOOL EVENTS QUEUE_SIZE`` (the child).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.events.a2a_event import A2AEvent
from tasks.events.publisher import EventPublisher
from tasks.events.spool import Spool
from tasks.platform.processes import signal_group, start_group

EVENT_TYPE = "EMERGENCY_SIGNAL"
PACE_SEC = 0.001  # between publishes: a stream, not one burst, so the kill lands mid-way
STATS_EVERY = 10


class DrillReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    events: int
    kill_after: int
    sent: int  # acknowledged by the child before it died
    found: int  # of those, in the spool afterwards
    lost: list[str] = Field(default_factory=list)
    killed_mid_way: bool
    timed_out: bool = False
    child_exit: int | None = None
    telemetry: dict[str, object] = Field(default_factory=dict)
    spool_pending: int = 0
    spool_warnings: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.killed_mid_way and not self.timed_out and self.sent > 0 and not self.lost


def run_drill(
    spool_path: Path, *, events: int, kill_after: int, queue_size: int, timeout_sec: float
) -> DrillReport:
    argv = [sys.executable, "-m", "tasks.events.drill", str(spool_path), str(events)]
    root = Path(__file__).resolve().parents[2]
    child = start_group(
        [*argv, str(queue_size)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=root
    )
    acked: list[str] = []
    telemetry: dict[str, object] = {}
    killed = False
    expired = threading.Event()  # a child that hangs is killed at the timeout: the read ends

    def expire() -> None:
        expired.set()
        signal_group(child.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_sec, expire)
    timer.start()
    try:
        assert child.stdout is not None
        for raw in child.stdout:
            _read_line(raw.decode(errors="replace"), acked, telemetry)
            if not killed and len(acked) >= kill_after:
                signal_group(child.pid, signal.SIGKILL)
                killed = True
    finally:
        timer.cancel()
        signal_group(child.pid, signal.SIGKILL)
        exit_code = child.wait()
    timed_out = expired.is_set() and not killed
    spool = Spool(spool_path)
    try:
        spooled = {event.id for event in spool.pending(limit=events + 1)}
        pending = spool.pending_count()
    finally:
        spool.close()
    lost = [event_id for event_id in acked if event_id not in spooled]
    return DrillReport(
        events=events,
        kill_after=kill_after,
        sent=len(acked),
        found=len(acked) - len(lost),
        lost=lost[:50],
        killed_mid_way=killed and exit_code == -signal.SIGKILL and len(acked) < events,
        timed_out=timed_out,
        child_exit=exit_code,
        telemetry={**telemetry, "queue_cap": queue_size},
        spool_pending=pending,
        spool_warnings=list(spool.warnings),
    )


def _read_line(line: str, acked: list[str], telemetry: dict[str, object]) -> None:
    kind, _, rest = line.strip().partition(" ")
    if kind == "ack":
        acked.append(rest)
    elif kind == "stats":
        with contextlib.suppress(ValueError):  # a line cut by the kill: older stats stand
            telemetry.update(json.loads(rest))


def _child(spool_path: str, events: int, queue_size: int) -> None:
    publisher = EventPublisher(None, Path(spool_path), queue_size=queue_size)
    for index in range(events):
        event = A2AEvent(event_type=EVENT_TYPE, metadata={"seq": index, "drill": True})
        if publisher.publish(event, durable=True):
            print(f"ack {event.id}", flush=True)
        if index % STATS_EVERY == 0:
            stats = publisher.stats()
            counters = ("published", "spooled", "overflowed", "dropped", "queued", "pending")
            print("stats " + json.dumps({k: getattr(stats, k) for k in counters}), flush=True)
        time.sleep(PACE_SEC)
    publisher.close()


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

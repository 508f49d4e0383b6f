"""Bench: the event publisher spools fast while the sink is down, and a SIGKILL loses nothing.

(a) Throughput: the sink is a closed port on 127.0.0.1, so five refused connections open the
    breaker; then N pre-built events are published and timed until ``flush()`` confirms every
    one is committed to the spool. Run for each spool ``synchronous`` mode (FULL, NORMAL).
    Limit: >= 5,000 events/s.
(b) Crash: a child process publishes a numbered stream and is SIGKILLed mid-stream. The child
    writes its acknowledged count (atomically) only at a checkpoint:
      * "flush":   every 200 publish() calls, then flush() returned True (everything published
                   so far is committed to the spool);
      * "durable": after publish(event, durable=True) returned (the event is committed first).
    After the kill the spool is reopened and every acknowledged number must be in it.
Prints one JSON line of figures and one human line. Usage: python bench/event_publisher.py
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.events import A2AEvent, EventPublisher, Spool  # noqa: E402
from tasks.platform.files import write_atomic  # noqa: E402

EVENTS = 50_000
LIMIT_PER_S = 5_000
CHECKPOINT_EVERY = 200
TRIALS = [("flush", "FULL"), ("flush", "FULL"), ("durable", "FULL"), ("flush", "NORMAL")]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/a2a/events"


def numbered(start: int, count: int) -> list[A2AEvent]:
    return [
        A2AEvent(event_type="BENCH_STEP", metadata={"n": n}) for n in range(start, start + count)
    ]


def throughput(folder: Path, synchronous: str) -> dict:
    """Events per second into the spool with the breaker open (sink down)."""
    publisher = EventPublisher(
        closed_port_url(), folder / f"tp-{synchronous}.sqlite", synchronous=synchronous
    )
    for event in numbered(-5, 5):  # five refused connections open the breaker
        publisher.publish(event)
    publisher.flush(10)
    state = publisher.stats().breaker.value
    events = numbered(0, EVENTS)
    calls = []
    started = time.perf_counter()
    for event in events:
        before = time.perf_counter()
        publisher.publish(event)
        calls.append(time.perf_counter() - before)
    flushed = publisher.flush(60)
    elapsed = time.perf_counter() - started
    stats = publisher.stats()
    publisher.close()
    calls.sort()
    return {
        "synchronous": synchronous,
        "events": EVENTS,
        "seconds": round(elapsed, 3),
        "events_per_s": round(EVENTS / elapsed),
        "publish_ms_p50": round(calls[len(calls) // 2] * 1000, 3),
        "publish_ms_p99": round(calls[len(calls) * 99 // 100] * 1000, 3),
        "publish_ms_max": round(calls[-1] * 1000, 1),
        "breaker": state,
        "flushed": flushed,
        "spooled": stats.spooled,
        "overflowed": stats.overflowed,
        "pending": stats.pending,
        "dropped": stats.dropped,
    }


def child(spool_path: str, ack_path: str, mode: str, synchronous: str) -> None:
    """Publish 0, 1, 2, ... until killed; write the acknowledged count at each checkpoint."""
    publisher = EventPublisher(closed_port_url(), Path(spool_path), synchronous=synchronous)
    ack = Path(ack_path)
    n = 0
    while True:
        durable = mode == "durable"
        for event in numbered(n, CHECKPOINT_EVERY):
            if not publisher.publish(event, durable=durable) and durable:
                return  # not committed: nothing more may be acknowledged
        n += CHECKPOINT_EVERY
        if durable or publisher.flush(30):
            write_atomic(ack, str(n))


def crash_trial(folder: Path, index: int, mode: str, synchronous: str) -> dict:
    spool_path = folder / f"crash-{index}.sqlite"
    ack_path = folder / f"crash-{index}.ack"
    kill_after = random.randint(2_000, 12_000)  # acknowledged events before the kill
    argv = [sys.executable, __file__, "--child", str(spool_path), str(ack_path), mode, synchronous]
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ack_path.exists() and int(ack_path.read_text() or 0) >= kill_after:
            break
        time.sleep(0.002)
    time.sleep(random.uniform(0, 0.05))  # land anywhere in the stream, not on a checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acknowledged = int(ack_path.read_text())
    spool = Spool(spool_path)
    found = [json.loads(row.body)["metadata"]["n"] for row in spool.pending(10**7)]
    spool.close()
    present = set(found)
    lost = sum(1 for n in range(acknowledged) if n not in present)
    return {
        "mode": mode,
        "synchronous": synchronous,
        "acknowledged": acknowledged,
        "in_spool": len(found),
        "unacknowledged_but_kept": len(present) - (acknowledged - lost),
        "duplicates": len(found) - len(present),
        "in_order": found == sorted(found),
        "lost": lost,
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates = [throughput(folder, mode) for mode in ("FULL", "NORMAL")]
        crashes = [crash_trial(folder, i, *trial) for i, trial in enumerate(TRIALS)]
    lost = sum(trial["lost"] for trial in crashes)
    slowest = min(rate["events_per_s"] for rate in rates)
    ok = slowest >= LIMIT_PER_S and lost == 0 and all(r["pending"] == EVENTS + 5 for r in rates)
    print(json.dumps({"throughput": rates, "crash": crashes, "lost": lost, "ok": ok}))
    shown = ", ".join(f"{r['synchronous']} {r['events_per_s']:,}/s" for r in rates)
    acked = sum(trial["acknowledged"] for trial in crashes)
    print(
        f"breaker open, sink down: {shown} into the spool (limit {LIMIT_PER_S:,}/s); "
        f"{len(crashes)} SIGKILLs mid-stream: {acked:,} acknowledged, lost == {lost}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:6])
    else:
        sys.exit(main())

"""make run's worker supervisor: keeps ``--workers`` local workers alive.

Every ``--every`` seconds it looks at each worker's pid file. A worker that is gone is started
again, and the restart is one 5W1H decision record (``warden guard log --what
worker-restart``). ``make stop`` stops the supervisor before the workers, so a stop is never
undone; ``make run`` restarts it when the worker count changes.
"""

from __future__ import annotations

import argparse
import time

import processes as proc

from tasks.platform.clock import utc_now
from tasks.platform.decisions import Decision, DecisionKind, DecisionLog

WHO = "make-run-supervisor"


def restart_decision(name: str, old_pid: int | None, new_pid: int) -> Decision:
    gone = f"worker {name} (pid {old_pid}) is gone" if old_pid else f"worker {name} is not running"
    return Decision(
        who=WHO,
        what=DecisionKind.WORKER_RESTART,
        where=f"worker:{name}",
        when=utc_now(),
        why=[gone, f"restarted as pid {new_pid} to keep the configured worker count"],
        how="restart_process",
        context={"pool": "warden-process", "old_pid": old_pid, "new_pid": new_pid},
    )


def supervise_once(count: int, known: dict[str, int], log: DecisionLog) -> list[Decision]:
    """One look at workers 1..count: restart the ones that are gone; the decisions taken."""
    decisions = []
    for number in range(1, count + 1):
        service = proc.worker(number)
        pid = proc.running_pid(service)
        if pid is None:
            pid, _ = proc.start(service)
            decisions.append(restart_decision(service.name, known.get(service.name), pid))
        known[service.name] = pid
    if decisions:
        log.append(decisions)
        for decision in decisions:
            print(decision.summary(), flush=True)
    return decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args(argv)
    known: dict[str, int] = {}
    log = DecisionLog()
    while True:
        supervise_once(args.workers, known, log)
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())

"""make run's worker supervisor: keeps ``--workers`` local workers alive, and reruns the flow
runs that died with one.

Every ``--every`` seconds it looks at each worker's pid file. A worker that is gone is started
again, and the restart is one 5W1H decision record (``warden guard log --what
worker-restart``). Then the runs that died with it (tasks/platform/dead_runs.py says which:
Running on this machine with their process gone, Pending on it since before it died, Crashed
with it) are set Scheduled ("Rescheduled") over the Prefect API, so a live worker runs them
again; each is one decision (``--what dead-run-rescheduled``: the run, the dead worker, why).
Only runs of the ``warden-process`` pool are touched. On its own start the supervisor looks
once the same way (the workers may have died with the whole machine): Running and Pending runs
left dead are rescheduled, Crashed ones are left to the operator. A worker found gone is looked
after until a pass that reached the API, at least ``PENDING_GRACE_SEC`` after it was found; an
API error is printed and the next pass tries again (the restart is done and recorded first).

``make stop`` stops the supervisor before the workers, so a stop is never undone; ``make run``
restarts it when the worker count changes. Plain HTTP only: no Prefect import here.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import processes as proc

from tasks.platform.clock import utc_now
from tasks.platform.dead_runs import (
    JUDGED_STATES,
    PENDING_GRACE_SEC,
    DeadRun,
    Sweep,
    dead_runs,
    state_id,
)
from tasks.platform.decisions import Decision, DecisionKind, DecisionLog
from tasks.platform.processes import process_started

WHO = "make-run-supervisor"
POOL = "warden-process"
PAGE = 200
TIMEOUT_SEC = 10.0


def restart_decision(name: str, old_pid: int | None, new_pid: int) -> Decision:
    gone = f"worker {name} (pid {old_pid}) is gone" if old_pid else f"worker {name} is not running"
    return Decision(
        who=WHO,
        what=DecisionKind.WORKER_RESTART,
        where=f"worker:{name}",
        when=utc_now(),
        why=[gone, f"restarted as pid {new_pid} to keep the configured worker count"],
        how="restart_process",
        context={"pool": POOL, "old_pid": old_pid, "new_pid": new_pid},
    )


def reschedule_decision(dead: DeadRun) -> Decision:
    run, sweep = dead.run, dead.sweep
    if sweep.dead_worker is None:
        found = "the supervisor started: runs left dead from before it are rescheduled"
    else:
        found = f"worker {sweep.dead_worker} (pid {sweep.old_pid}) was found gone"
    return Decision(
        who=WHO,
        what=DecisionKind.DEAD_RUN_RESCHEDULED,
        where=f"flow-run:{run['id']}",
        when=utc_now(),
        why=[
            found,
            f"run {run.get('name')} was {run['state_type']}: {dead.reason}",
            "set Scheduled (Rescheduled) so that a live worker runs it again",
        ],
        how="set_flow_run_state",
        context={
            "pool": POOL,
            "flow_run_id": run["id"],
            "flow_run_name": run.get("name"),
            "dead_worker": dead.worker,
            "worker_pid": sweep.old_pid,
            "state": run["state_type"],
            "infrastructure_pid": run.get("infrastructure_pid"),
            "sweep": "supervisor-start" if sweep.dead_worker is None else "worker-gone",
        },
    )


def prefect_name(service: proc.Service) -> str:
    return service.argv[service.argv.index("--name") + 1]


class Supervisor:
    def __init__(self, count: int, log: DecisionLog, client: httpx.Client) -> None:
        self.count, self.log, self.client = count, log, client
        self.known: dict[str, int] = {}  # service name -> pid last seen alive
        self.seen_at: dict[str, datetime] = {}  # service name -> when
        self.sweeps: list[Sweep] = [Sweep(since=utc_now())]  # the start-up look
        self.handled: set[str] = set()  # state ids acted on: once per death
        self.host = socket.gethostname()

    def once(self) -> list[Decision]:
        """One look: restart the workers that are gone, then reschedule the runs that died."""
        restarts, workers = [], {}
        for number in range(1, self.count + 1):
            service = proc.worker(number)
            pid = proc.running_pid(service)
            if pid is None:
                pid, _ = proc.start(service)
                old = self.known.get(service.name)
                restarts.append(restart_decision(service.name, old, pid))
                if service.name in self.known:  # gone since the last look (start-up: swept)
                    self.sweeps.append(
                        Sweep(utc_now(), prefect_name(service), old, self.seen_at[service.name])
                    )
            self.known[service.name], self.seen_at[service.name] = pid, utc_now()
            workers[prefect_name(service)] = process_started(pid)
        self._record(restarts)
        return restarts + self._reschedule(workers)

    def _reschedule(self, workers: dict[str, datetime | None]) -> list[Decision]:
        if not self.sweeps:
            return []
        done: list[Decision] = []
        try:
            now = utc_now()
            runs = self._runs()
            found = dead_runs(
                runs, self.sweeps, workers=workers, process_started=process_started,
                host=self.host, now=now, handled=self.handled,
            )  # fmt: skip
            for dead in found:
                if self._set_scheduled(dead):
                    done.append(reschedule_decision(dead))
                    self._record(done[-1:])
                self.handled.add(dead.state_id)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            print(f"rescheduling dead runs: {type(exc).__name__}: {exc} (next pass)", flush=True)
            return done
        grace = timedelta(seconds=PENDING_GRACE_SEC)
        self.sweeps = [s for s in self.sweeps if now - s.since < grace]
        if not self.sweeps:
            self.handled.clear()
        return done

    def _runs(self) -> list[dict[str, Any]]:
        """The pool's runs in a state a dead run can be in."""
        found: list[dict[str, Any]] = []
        while True:
            body = {
                "flow_runs": {"state": {"type": {"any_": list(JUDGED_STATES)}}},
                "work_pools": {"name": {"any_": [POOL]}},
                "limit": PAGE,
                "offset": len(found),
            }
            reply = self.client.post("flow_runs/filter", json=body)
            reply.raise_for_status()
            page = reply.json()
            found += page
            if len(page) < PAGE:
                return found

    def _set_scheduled(self, dead: DeadRun) -> bool:
        """Reschedule the run if it is still in the state judged dead (read again after that
        judgement: a run that completed meanwhile is left alone)."""
        fresh = self.client.get(f"flow_runs/{dead.run['id']}")
        fresh.raise_for_status()
        if state_id(fresh.json()) != dead.state_id:
            return False
        worker = dead.sweep.dead_worker or dead.worker or "unknown"
        message = f"{dead.reason}; worker {worker} died: rescheduled by the worker supervisor"
        state = {"type": "SCHEDULED", "name": "Rescheduled", "message": message}
        reply = self.client.post(
            f"flow_runs/{dead.run['id']}/set_state", json={"state": state, "force": True}
        )
        reply.raise_for_status()
        return reply.json()["status"] == "ACCEPT"

    def _record(self, decisions: list[Decision]) -> None:
        if decisions:
            self.log.append(decisions)
            for decision in decisions:
                print(decision.summary(), flush=True)


def api_client(url: str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The platform's API (basic auth when make run's server has it on)."""
    user, _, password = os.environ.get("PREFECT_API_AUTH_STRING", "").partition(":")
    return httpx.Client(
        base_url=url.rstrip("/") + "/",
        timeout=TIMEOUT_SEC,
        auth=(user, password) if user else None,
        transport=transport,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args(argv)
    with api_client(proc.API_URL) as client:
        supervisor = Supervisor(args.workers, DecisionLog(), client)
        while True:
            supervisor.once()
            time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())

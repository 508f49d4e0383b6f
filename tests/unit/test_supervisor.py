"""make run's worker supervisor (deployments/local/supervisor.py), one pass at a time: the
workers' processes and the clock are stand-ins, the Prefect API a fake httpx transport that
keeps flow runs and applies the pool and state filter the supervisor sends."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tasks.platform.dead_runs import PENDING_GRACE_SEC
from tasks.platform.decisions import DecisionKind, DecisionLog
from tests.conftest import ROOT

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakePlatform:
    """Workers (service name -> pid or None: gone), live processes (pid -> started at), the
    clock, and the API's flow runs."""

    def __init__(self) -> None:
        self.now = T0
        self.workers: dict[str, int | None] = {"worker": 100, "worker-2": 200}
        self.started: dict[int, datetime] = {100: T0 - timedelta(hours=1)}
        self.started[200] = T0 - timedelta(hours=1)
        self.runs: dict[str, dict] = {}
        self.set_states: list[tuple[str, dict]] = []
        self.down = False  # the API answers 503
        self.next_pid = 300

    def add_run(self, run_id: str, kind: str, pool: str = "warden-process", **fields) -> None:
        state = {"id": f"{run_id}-{kind}", "type": kind, "timestamp": self.now.isoformat()}
        self.runs[run_id] = {"id": run_id, "name": run_id, "state_type": kind, "state": state}
        self.runs[run_id] |= {"work_pool_name": pool, "labels": {}} | fields

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        path = request.url.path.removeprefix("/api/")
        if path == "flow_runs/filter":
            body = json.loads(request.content)
            kinds = body["flow_runs"]["state"]["type"]["any_"]
            pools = body["work_pools"]["name"]["any_"]
            page = [
                r
                for r in self.runs.values()
                if r["state_type"] in kinds and r["work_pool_name"] in pools
            ][body["offset"] : body["offset"] + body["limit"]]
            return httpx.Response(200, json=page)
        run_id = path.split("/")[1]
        if path.endswith("/set_state"):
            state = json.loads(request.content)
            self.set_states.append((run_id, state))
            new = state["state"] | {"id": f"{run_id}-{len(self.set_states)}"}
            self.runs[run_id] |= {"state_type": new["type"], "state": new | {"timestamp": "x"}}
            return httpx.Response(200, json={"status": "ACCEPT"})
        return httpx.Response(200, json=self.runs[run_id])


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def supervisor(platform: FakePlatform, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """deployments/local/supervisor.py with its workers, processes and clock the fake's."""
    monkeypatch.syspath_prepend(str(ROOT / "deployments" / "local"))
    spec = importlib.util.spec_from_file_location(
        "local_supervisor", ROOT / "deployments/local/supervisor.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)

    def start(service) -> tuple[int, bool]:
        platform.next_pid += 1
        platform.workers[service.name] = platform.next_pid
        platform.started[platform.next_pid] = platform.now
        return platform.next_pid, True

    monkeypatch.setattr(module.proc, "running_pid", lambda s: platform.workers.get(s.name))
    monkeypatch.setattr(module.proc, "start", start)
    monkeypatch.setattr(module, "process_started", platform.started.get)
    monkeypatch.setattr(module, "utc_now", lambda: platform.now)
    return module


def _supervisor(module: ModuleType, platform: FakePlatform, tmp_path: Path):
    transport = httpx.MockTransport(platform.handle)
    client = module.api_client("http://127.0.0.1:9/api", transport)
    return module.Supervisor(2, DecisionLog(tmp_path / "decisions.sqlite"), client)


def _kill(platform: FakePlatform, worker: str, *run_pids: int) -> None:
    pid = platform.workers[worker]
    platform.workers[worker] = None
    for gone in (pid, *run_pids):
        platform.started.pop(gone, None)


def test_a_dead_worker_is_restarted_and_the_runs_that_died_with_it_rescheduled_once(
    supervisor: ModuleType, platform: FakePlatform, tmp_path: Path
) -> None:
    label = {"labels": {"prefect.worker.name": "warden-local-worker-2"}}
    platform.started[501] = T0 - timedelta(seconds=40)
    platform.add_run("running", "RUNNING", infrastructure_pid="501", **label)
    platform.add_run("other-pool", "RUNNING", pool="elsewhere", infrastructure_pid="501", **label)
    platform.add_run("done", "COMPLETED", infrastructure_pid="501", **label)
    watcher = _supervisor(supervisor, platform, tmp_path)
    assert watcher.once() == []  # the start-up look: every run alive

    platform.now = T0 + timedelta(seconds=30)
    platform.add_run("pending", "PENDING", **label)  # taken, its process not started yet
    _kill(platform, "worker-2", 501)
    platform.now = T0 + timedelta(seconds=31)
    decisions = watcher.once()
    assert [(d.what, d.where) for d in decisions] == [
        (DecisionKind.WORKER_RESTART, "worker:worker-2"),
        (DecisionKind.DEAD_RUN_RESCHEDULED, "flow-run:running"),
        (DecisionKind.DEAD_RUN_RESCHEDULED, "flow-run:pending"),
    ]
    assert {d.context["dead_worker"] for d in decisions[1:]} == {"warden-local-worker-2"}
    assert {d.context["worker_pid"] for d in decisions[1:]} == {200}
    states = [
        (run_id, s["state"]["type"], s["state"]["name"], s["force"])
        for run_id, s in platform.set_states
    ]
    assert states == [(r, "SCHEDULED", "Rescheduled", True) for r in ("running", "pending")]
    assert all("warden-local-worker-2" in s["state"]["message"] for _, s in platform.set_states)
    logged = DecisionLog(tmp_path / "decisions.sqlite").read(timedelta(days=1), now=platform.now)
    assert [d.what for d in logged] == [d.what for d in decisions]

    assert watcher.once() == []  # once per death: nothing more, nothing set again
    assert len(platform.set_states) == 2


def test_an_api_error_does_not_stop_the_restart_and_the_next_pass_reschedules(
    supervisor: ModuleType, platform: FakePlatform, tmp_path: Path
) -> None:
    watcher = _supervisor(supervisor, platform, tmp_path)
    watcher.once()
    platform.now = T0 + timedelta(seconds=30)
    platform.add_run(
        "running", "RUNNING", infrastructure_pid=f"{supervisor.socket.gethostname()}:502"
    )
    _kill(platform, "worker", 502)
    platform.down = True
    decisions = watcher.once()  # no exception: the restart is done and recorded
    assert [d.what for d in decisions] == [DecisionKind.WORKER_RESTART]
    platform.down = False
    platform.now += timedelta(seconds=PENDING_GRACE_SEC + 1)
    decisions = watcher.once()
    assert [(d.what, d.context["flow_run_id"]) for d in decisions] == [
        (DecisionKind.DEAD_RUN_RESCHEDULED, "running")
    ]
    assert decisions[0].context["dead_worker"] == "warden-local-worker"
    assert watcher.sweeps == []  # looked at past the grace: this death is done


def test_a_run_that_completed_after_it_was_judged_is_left_alone(
    supervisor: ModuleType, platform: FakePlatform, tmp_path: Path
) -> None:
    platform.add_run("ran", "RUNNING", infrastructure_pid=f"{supervisor.socket.gethostname()}:9")
    handle = platform.handle

    def completes_on_read(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # it completed between the listing and the re-read
            platform.add_run("ran", "COMPLETED")
        return handle(request)

    platform.handle = completes_on_read  # type: ignore[method-assign]
    watcher = _supervisor(supervisor, platform, tmp_path)
    assert watcher.once() == []  # the start-up look found pid 9 gone, then read it completed
    assert platform.set_states == []


def test_the_start_up_look_reschedules_runs_left_dead_from_before(
    supervisor: ModuleType, platform: FakePlatform, tmp_path: Path
) -> None:
    platform.workers = {"worker": None, "worker-2": None}  # e.g. the machine restarted
    label = {"labels": {"prefect.worker.name": "warden-local-worker"}}
    platform.add_run("was-running", "RUNNING", infrastructure_pid="77", **label)
    platform.add_run("crashed", "CRASHED", **label)
    platform.now = T0 + timedelta(seconds=1)
    decisions = _supervisor(supervisor, platform, tmp_path).once()
    assert [(d.what, d.where) for d in decisions] == [
        (DecisionKind.WORKER_RESTART, "worker:worker"),
        (DecisionKind.WORKER_RESTART, "worker:worker-2"),
        (DecisionKind.DEAD_RUN_RESCHEDULED, "flow-run:was-running"),
    ]
    assert decisions[2].context["sweep"] == "supervisor-start"

"""The chaos drills at CI scale against one real disposable platform for the module (started
by the drills' own code: a real Prefect server on PostgreSQL and Redis, the worker supervisor
and its process workers), the drills pointed at it with ``api_url``. The storm, on a platform
of its own, is in test_chaos_drill_storm.py (xdist runs the two files side by side). Each must
come back ``ok``: steady state held before and after, every verification passed, journal
``completed``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from blocks.drills import DrillName, Scale
from tasks.drills.local_platform import LocalPlatform, start_platform, stop_platform
from tasks.platform.dead_runs import WORKER_LABEL
from tasks.platform.decisions import LOG_FILE, DecisionKind, DecisionLog
from tests.integration.drills_support import CATALOG, drill, measured

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    home = tmp_path_factory.mktemp("drill-platform")
    workers = CATALOG.sizes(DrillName.WORKER_DROPOUT, Scale.CI).workers  # the most any drill needs
    started = start_platform(home, workers, CATALOG.platform)
    try:
        yield started
    finally:
        stop_platform(started)


def test_the_disposable_platform_runs_on_postgresql_and_redis(platform: LocalPlatform) -> None:
    assert CATALOG.platform.database.value == "postgres"
    assert CATALOG.platform.messaging.value == "redis"
    assert (platform.home / "run" / "postgres.folder").is_file()  # its throwaway cluster
    assert not (platform.home / "prefect.db").exists()  # no SQLite database was made
    redis_pid = int((platform.home / "run" / "redis.pid").read_text())
    server_pid = int((platform.home / "run" / "server.pid").read_text())
    assert b"redis-server" in Path(f"/proc/{redis_pid}/cmdline").read_bytes()
    server_env = Path(f"/proc/{server_pid}/environ").read_bytes().split(b"\0")
    assert b"PREFECT_MESSAGING_BROKER=prefect_redis.messaging" in server_env
    # Prefect's scaled layout: the API without its services, the services in their own process
    assert "--no-services" in _argv(server_pid)
    services = _argv(int((platform.home / "run" / "services.pid").read_text()))
    assert services[-3:] == ["server", "services", "start"]
    worker = _argv(int((platform.home / "run" / "worker.pid").read_text()))
    assert worker[worker.index("--limit") + 1] == str(CATALOG.platform.worker_limit)


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


def test_scheduler_pause_as_a_prefect_flow_run(platform: LocalPlatform) -> None:
    result = drill("scheduler-pause", platform, engine=True)
    assert measured(result, "watchdog-reported-pause")["reported_after_sec"] <= 30
    exactly_once = measured(result, "all-processed-exactly-once")
    assert exactly_once["completed"] == exactly_once["runs"] and exactly_once["twice"] == 0


def test_queue_flood(platform: LocalPlatform) -> None:
    result = drill("queue-flood", platform)
    processed = measured(result, "valid-routed-and-processed")
    assert processed["completed"] == processed["valid"] > 0
    assert measured(result, "invalid-rejected-with-reason")["wrong"] == 0
    assert measured(result, "routing-p99")["p99_sec"] < 5


def test_policy_cascade(platform: LocalPlatform) -> None:
    result = drill("policy-cascade", platform)
    cascade = measured(result, "nothing-past-the-limit")
    assert cascade["past_limit"] >= 1 and cascade["past_limit_completed"] == 0


def test_worker_dropout(platform: LocalPlatform) -> None:
    result = drill("worker-dropout", platform)
    assert measured(result, "workers-restarted")["workers_recovered_sec"] is not None
    rerun = measured(result, "dead-runs-rerun-all-complete")
    assert rerun["rescheduled"] >= 1 and rerun["recovery_sec"] > 0
    assert rerun["rescheduled_completed"] == rerun["rescheduled"]
    # The platform rescheduled them (the drill only waited): its supervisor's 5W1H decisions.
    log = DecisionLog(platform.home / "guard" / LOG_FILE)
    decisions = log.read(timedelta(hours=1), DecisionKind.DEAD_RUN_RESCHEDULED)
    assert len(decisions) == rerun["reschedule_decisions"] >= rerun["rescheduled"]
    assert {d.who for d in decisions} == {"make-run-supervisor"}
    assert {d.context["sweep"] for d in decisions} == {"worker-gone"}
    # Prefect 3.8 labels each run with the worker that took it (the supervisor matches on it).
    with httpx.Client(base_url=platform.api_url + "/", timeout=30) as client:
        run = client.get(f"flow_runs/{decisions[0].context['flow_run_id']}").json()
    assert run["state_type"] == "COMPLETED"
    assert run["labels"][WORKER_LABEL].startswith("warden-local-worker")
    assert all(d.context["dead_worker"].startswith("warden-local-worker") for d in decisions)

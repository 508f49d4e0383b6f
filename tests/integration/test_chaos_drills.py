"""The five chaos drills at CI scale against real platforms: one disposable platform for the
module (started by the drills' own code: a real Prefect server, the worker supervisor and its
process workers), the drills pointed at it with ``api_url``; and one drill that starts (and
stops) its own platform. Each must come back ``ok``: steady state held before and after, every
verification passed, journal ``completed``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from blocks.drills import DrillName, Scale, load_drills_file
from blocks.errors import ConfigError, ExitCode
from flows.chaos_drill import chaos_drill
from tasks.drills.local_platform import LocalPlatform, start_platform, stop_platform
from tasks.drills.report import DrillResult
from tasks.platform.dead_runs import WORKER_LABEL
from tasks.platform.decisions import LOG_FILE, DecisionKind, DecisionLog
from tasks.platform.engineless import run_engineless
from tests.conftest import ROOT
from tests.integration.conftest import using_api

pytestmark = pytest.mark.integration
CATALOG = load_drills_file(ROOT / "deployments" / "drills.yaml")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    home = tmp_path_factory.mktemp("drill-platform")
    workers = CATALOG.sizes(DrillName.WORKER_DROPOUT, Scale.CI).workers  # the most any drill needs
    settings = CATALOG.platform
    started = start_platform(
        home, workers, settings.start_timeout_sec, settings.database.value, settings.messaging.value
    )
    try:
        yield started
    finally:
        stop_platform(started)


def drill(name: str, platform: LocalPlatform | None = None, engine: bool = False) -> DrillResult:
    """The chaos-drill flow: engine-less (no Prefect API of its own to record on), or with
    ``engine`` a Prefect flow run recorded on the drilled platform's own API."""
    parameters = {"drill": name, "scale": "ci"}
    if platform is not None:
        parameters |= {"api_url": platform.api_url, "platform_home": str(platform.home)}
    with using_api(platform.api_url if platform else "http://127.0.0.1:9/api"):
        if engine:
            final = chaos_drill(**parameters, return_state=True)
            state, result = final.name, final.result(raise_on_failure=False)
        else:
            state, result = run_engineless(chaos_drill, parameters)
    assert isinstance(result, DrillResult), result
    failed = [v for v in result.verifications if not v.passed]
    assert result.ok, (state, result.status, result.error, failed, result.readiness)
    assert state == "Completed"
    journal = json.loads(Path(result.journal_file).read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False
    return result


def measured(result: DrillResult, verification: str) -> dict:
    return next(v.measured for v in result.verifications if v.name == verification)


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


@pytest.mark.parametrize(
    ("missing", "database", "messaging"),
    [("WARDEN_PG_BIN", "postgres", "memory"), ("WARDEN_REDIS_SERVER", "sqlite", "redis")],
    ids=["no-postgresql", "no-redis-server"],
)
def test_a_platform_without_its_database_or_bus_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, database: str, messaging: str
) -> None:
    monkeypatch.setenv(missing, str(tmp_path / "not-installed"))
    home = tmp_path / "platform"
    with pytest.raises(ConfigError) as error:
        start_platform(home, 1, 60, database, messaging)
    assert error.value.code == ExitCode.USAGE_ERROR
    assert not list((home / "run").glob("*.pid"))  # no server, supervisor or worker was left


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


def test_event_storm_on_a_platform_the_drill_starts_itself() -> None:
    result = drill("event-storm")
    assert result.disposable and not result.api_url.endswith(":4200/api")
    lost = measured(result, "no-event-lost")
    assert lost["sent"] == lost["stored"] + lost["spooled"] > 0

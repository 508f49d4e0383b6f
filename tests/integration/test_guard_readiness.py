"""Orchestration readiness against a real Prefect server with real process workers: a healthy
platform (its scheduler creating runs), too few workers, a stale heartbeat (a killed worker),
a paused pool; and the CLI's exit codes (0, 1, 2, 4)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect.client.schemas.schedules import IntervalSchedule

from blocks.guard import load_guard_file
from tasks.guard.models import CheckName, HealthStatus, Level, PlatformReadiness
from tasks.guard.platform_reads import read_snapshot
from tasks.guard.readiness import assess
from tests.conftest import ROOT
from tests.integration.conftest import LocalPrefect, using_api, wait_for
from tests.loopback import free_port

WARDEN = str(Path(sys.executable).parent / "warden")
pytestmark = pytest.mark.integration

POOLS = {
    "ready-pool": {"min_workers": 1},
    "short-pool": {"min_workers": 2},
    "stale-pool": {"min_workers": 2, "heartbeat_max_age_sec": 6},
    "paused-pool": {"min_workers": 1},
}


@pytest.fixture(scope="module")
def platform(local_prefect: LocalPrefect) -> LocalPrefect:
    """Workers in their pools, a paused pool, and a deployment with an active schedule."""
    local_prefect.start_workers(
        ("ready-pool", "ready-1"),
        ("short-pool", "short-1"),
        ("stale-pool", "stale-1"),
        ("stale-pool", "stale-2"),
    )
    with (
        using_api(local_prefect.url),
        get_client(sync_client=True) as client,
    ):
        for name in ("paused-pool", "sched-pool"):
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        client.update_work_pool("paused-pool", WorkPoolUpdate(is_paused=True))
        client.create_deployment(
            flow_id=client.create_flow_from_name("guard-scheduled"),
            name="every-minute",
            work_pool_name="sched-pool",
            entrypoint="flows/none.py:none",
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(minutes=1)), active=True
                )
            ],
        )
    return local_prefect


def guard_file(folder: Path, pools: dict[str, dict]) -> Path:
    path = folder / "guard.yaml"
    document = {
        "scheduler": {"grace_sec": 0},  # no grace: the scheduler must have made the runs
        "pools": [{"name": name, **limits} for name, limits in pools.items()],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def readiness(platform: LocalPrefect, config: Path, pool: str | None = None) -> PlatformReadiness:
    guard = load_guard_file(config)
    with using_api(platform.url):
        return assess(read_snapshot(guard, guard.pool_names(pool)), guard)


def level(result: PlatformReadiness, name: CheckName, where: str) -> Level:
    return next(c.level for c in result.checks if c.name is name and c.where == where)


def warden(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WARDEN, "guard", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def cli_env(platform: LocalPrefect | None, tmp_path: Path) -> dict[str, str]:
    from tests.integration.conftest import clean_env

    env = clean_env(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        WARDEN_HOME=str(tmp_path / "home"),
        WARDEN_PORT=str(free_port()),  # no make-run server answers there
        COLUMNS="200",
    )
    return env | ({"PREFECT_API_URL": platform.url} if platform else {})


def test_a_healthy_platform_is_ready_and_the_cli_exits_0(platform, tmp_path) -> None:
    config = guard_file(tmp_path, {"ready-pool": POOLS["ready-pool"]})
    result = wait_for(
        lambda: (r := readiness(platform, config)).status is HealthStatus.HEALTHY and r,
        60,
        "the scheduler to create the schedule's runs",
    )
    assert level(result, CheckName.SCHEDULER, "platform") is Level.OK
    assert "1 active schedule" in next(c.reason for c in result.checks if c.name == "scheduler")
    ran = warden(cli_env(platform, tmp_path), "readiness", "--config", str(config))
    assert ran.returncode == 0, ran.stdout + ran.stderr + platform.worker_log("ready-1")
    assert "verdict: healthy" in ran.stdout
    assert "recorded: Prefect API" in ran.stderr


def test_too_few_workers_is_critical_and_the_cli_exits_1(platform, tmp_path) -> None:
    config = guard_file(tmp_path, POOLS)
    result = readiness(platform, config, "short-pool")
    assert result.status is HealthStatus.CRITICAL
    assert [(c.name, c.where) for c in result.failed] == [(CheckName.WORKERS, "short-pool")]
    ran = warden(
        cli_env(platform, tmp_path), "readiness", "-c", str(config), "--pool", "short-pool"
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "failed: short-pool: workers: Active workers: 1/2" in ran.stdout


def test_a_paused_pool_is_critical(platform, tmp_path) -> None:
    result = readiness(platform, guard_file(tmp_path, POOLS), "paused-pool")
    assert [(c.name, c.where, c.level) for c in result.failed] == [
        (CheckName.POOL, "paused-pool", Level.CRITICAL)
    ]


def test_a_stopped_workers_stale_heartbeat_is_critical(platform, tmp_path) -> None:
    config = guard_file(tmp_path, POOLS)
    wait_for(
        lambda: (
            level(readiness(platform, config, "stale-pool"), CheckName.WORKERS, "stale-pool")
            is Level.OK
        ),
        30,
        "both stale-pool workers to heartbeat",
    )
    platform.kill_worker("stale-2")
    result = wait_for(
        lambda: (r := readiness(platform, config, "stale-pool")).failed and r,
        60,
        "the killed worker's heartbeat to go stale",
    )
    (failed,) = result.failed
    assert (failed.name, failed.level) == (CheckName.WORKERS, Level.CRITICAL)
    assert "Active workers: 1/2" in failed.reason and "stale-2 (heartbeat" in failed.reason


def test_exit_4_without_an_api_and_2_for_a_bad_file(platform, tmp_path) -> None:
    config = guard_file(tmp_path, POOLS)
    none = warden(cli_env(None, tmp_path), "readiness", "-c", str(config))
    assert none.returncode == 4, none.stdout + none.stderr
    gone = cli_env(None, tmp_path) | {"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    assert warden(gone, "readiness", "-c", str(config)).returncode == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools:\n  - name: a\n    min_workers: 0\n")
    ran = warden(cli_env(platform, tmp_path), "readiness", "-c", str(bad))
    assert ran.returncode == 2 and f"{bad}:3: pools.0.min_workers" in ran.stderr
    unknown = warden(cli_env(platform, tmp_path), "readiness", "-c", str(config), "--pool", "x")
    assert unknown.returncode == 2


def events(platform: LocalPrefect, name: str) -> list[dict]:
    reply = httpx.post(
        f"{platform.url}/events/filter",
        json={"filter": {"event": {"name": [name]}}, "limit": 50},
        timeout=10,
    )
    reply.raise_for_status()
    return reply.json()["events"]


def test_the_watchdog_publishes_telemetry_and_alerts_a_paused_pool(platform, tmp_path) -> None:
    from flows.orchestration_guard import orchestration_watchdog
    from tasks.platform.decisions import DecisionKind, DecisionLog

    config = guard_file(tmp_path, {k: POOLS[k] for k in ("ready-pool", "paused-pool")})
    data = yaml.safe_load(config.read_text())
    data["watchdog"] = {"check_every_sec": 0.5, "telemetry_every_sec": 0.75}
    config.write_text(yaml.safe_dump(data))
    with using_api(platform.url):
        report = orchestration_watchdog(config=str(config), cycles=3)
    assert report.checks == 3 and report.telemetry_published >= 2
    assert {row.component: row.health_status for row in report.telemetry} == {
        "work-pool:ready-pool": HealthStatus.HEALTHY,
        "work-pool:paused-pool": HealthStatus.CRITICAL,
    }
    (alert,) = report.decisions  # the paused pool, once: unchanged problems do not re-alert
    assert (alert.what, alert.where) == (DecisionKind.ALERT, "work-pool:paused-pool")
    assert DecisionLog().read(timedelta(hours=1)) == [alert]
    alerts = wait_for(lambda: events(platform, "warden.orchestrator.alert"), 30, "alert event")
    assert alerts[0]["payload"]["why"] == alert.why
    telemetry = wait_for(
        lambda: len(got := events(platform, "warden.orchestrator.telemetry")) >= 4 and got,
        30,
        "telemetry events",
    )
    assert set(telemetry[0]["payload"]) >= {
        "component",
        "queue_depth",
        "active_workers",
        "runs_per_second",
        "sla_breaches",
        "health_status",
    }
    table = httpx.post(
        f"{platform.url}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": ["orchestration-watchdog-telemetry-table"]}}},
        timeout=10,
    ).json()
    assert len(table) == 1 and "paused-pool" in table[0]["data"]

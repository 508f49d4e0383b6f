"""Load shedding against a real Prefect server: a pool with a backlog of late runs of mixed
priorities; the dry run cancels nothing, the real run cancels exactly the lowest-priority old
runs needed to fall below critical, never a protected one, and records its decision."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.states import Scheduled

from tasks.platform.clock import utc_now
from tests.conftest import ROOT
from tests.integration.conftest import LocalPrefect, clean_env, using_api
from tests.loopback import free_port

WARDEN = str(Path(sys.executable).parent / "warden")
pytestmark = pytest.mark.integration

# name -> (minutes waiting, tags). Depth 10, critical 6: 5 runs must go.
BACKLOG = {
    "p1-a": (30, ["priority:1"]),
    "p1-b": (35, ["priority:1"]),
    "p1-c": (32, ["priority:1"]),
    "p2-a": (25, ["priority:2"]),
    "p2-b": (26, ["priority:2"]),
    "p4": (60, ["priority:4"]),  # eligible, but the 5 above suffice
    "p7": (90, ["priority:7"]),  # priority too high
    "critical": (120, ["priority:1", "critical"]),  # protected
    "tier0": (120, ["priority:1", "tier:0"]),  # protected
    "young": (2, ["priority:0"]),  # waiting less than 10 minutes
}
SHED = {"p1-a", "p1-b", "p1-c", "p2-a", "p2-b"}


@pytest.fixture(scope="module")
def backlog(local_prefect: LocalPrefect) -> dict[str, str]:
    """The runs of BACKLOG in pool shed-pool (no worker: they wait), name -> id."""
    now = utc_now()
    with (
        using_api(local_prefect.url),
        get_client(sync_client=True) as client,
    ):
        client.create_work_pool(WorkPoolCreate(name="shed-pool", type="process"))
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("guard-shed"),
            name="backlog",
            work_pool_name="shed-pool",
            entrypoint="flows/none.py:none",
        )
        return {
            name: str(
                client.create_flow_run_from_deployment(
                    deployment,
                    name=name,
                    tags=tags,
                    state=Scheduled(scheduled_time=now - timedelta(minutes=minutes)),
                ).id
            )
            for name, (minutes, tags) in BACKLOG.items()
        }


def states(platform: LocalPrefect, ids: dict[str, str]) -> dict[str, tuple[str, str]]:
    with (
        using_api(platform.url),
        get_client(sync_client=True) as client,
    ):
        runs = {name: client.read_flow_run(run_id) for name, run_id in ids.items()}
    return {name: (r.state.type.value, r.state.message or "") for name, r in runs.items()}


def warden(platform: LocalPrefect, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        PREFECT_API_URL=platform.url,
        PREFECT_HOME=str(home / "prefect-home"),
        WARDEN_HOME=str(home / "warden"),
        WARDEN_PORT=str(free_port()),
        COLUMNS="200",
    )
    return subprocess.run(
        [WARDEN, "guard", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_shedding_cancels_only_the_right_runs(local_prefect, backlog, tmp_path) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        yaml.safe_dump({"pools": [{"name": "shed-pool", "queue_warn": 3, "queue_critical": 6}]})
    )
    args = ("shed", "-c", str(config), "--pool", "shed-pool")
    dry = warden(local_prefect, tmp_path, *args, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "shed-pool: depth 10 -> 5 (critical 6); 5 to shed" in dry.stdout
    assert {t for t, _ in states(local_prefect, backlog).values()} == {"SCHEDULED"}

    ran = warden(local_prefect, tmp_path, *args)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    after = states(local_prefect, backlog)
    assert {name for name, (kind, _) in after.items() if kind == "CANCELLED"} == SHED
    assert {kind for name, (kind, _) in after.items() if name not in SHED} == {"SCHEDULED"}
    assert all("rule queue_depth_critical" in after[name][1] for name in SHED)

    again = warden(local_prefect, tmp_path, *args)  # below critical now: nothing to do
    assert again.returncode == 0 and "5 -> 5 (critical 6); 0 shed" in again.stdout

    log = warden(local_prefect, tmp_path, "log", "--since", "1h", "--what", "shed")
    assert log.returncode == 0, log.stdout + log.stderr
    assert "1 decision(s)" in log.stdout and "Queue depth: 10 (critical: 6)" in log.stdout

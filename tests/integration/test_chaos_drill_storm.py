"""The chaos drills that start (and stop) their own platform: the event storm at CI scale,
and the refusals before a platform starts. Beside test_chaos_drills.py (its shared platform),
so that xdist runs the two files on two workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blocks.drills import PlatformSettings
from blocks.errors import ConfigError, ExitCode
from tasks.drills.local_platform import start_platform
from tasks.platform.processes import free_port, run_command
from tests.conftest import ROOT
from tests.integration.drills_support import CATALOG, drill, measured

pytestmark = pytest.mark.integration


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
    asked = {"start_timeout_sec": 60, "database": database, "messaging": messaging}
    with pytest.raises(ConfigError) as error:
        start_platform(
            home, 1, PlatformSettings.model_validate(CATALOG.platform.model_dump() | asked)
        )
    assert error.value.code == ExitCode.USAGE_ERROR
    assert not list((home / "run").glob("*.pid"))  # no server, supervisor or worker was left


def test_event_storm_on_a_platform_the_drill_starts_itself() -> None:
    result = drill("event-storm")
    assert result.disposable and not result.api_url.endswith(":4200/api")
    lost = measured(result, "no-event-lost")
    assert lost["sent"] == lost["stored"] + lost["spooled"] > 0


@pytest.mark.parametrize(
    "args",
    [["1", "60", "postgres", "redis", "0"], ["1", "60", "oracle", "redis", "16"], ["1", "60"]],
    ids=["limit-0", "unknown-database", "missing-arguments"],
)
def test_the_platform_script_refuses_bad_arguments_before_anything_starts(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / "platform"
    script = ROOT / "deployments" / "local" / "disposable.py"
    env = {"WARDEN_HOME": str(home), "WARDEN_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}
    done = run_command(
        [sys.executable, str(script), "up", *args], timeout_sec=60, cwd=ROOT, env=env
    )
    assert done.exit_code == ExitCode.USAGE_ERROR, done.output
    assert "usage: up WORKERS" in done.output
    assert not list((home / "run").glob("*.pid"))

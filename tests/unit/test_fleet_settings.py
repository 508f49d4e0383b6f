"""``make run``'s fleet settings, decided before anything starts: database, workers, PostgreSQL
port and folder, basic auth. Each bad input is a typed error; nothing is started or changed."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest

from blocks.errors import ConfigError, ExitCode
from tests.conftest import ROOT

LOCAL = ROOT / "deployments" / "local"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, LOCAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # postgres.py imports fleet by its bare name, as bootstrap does
    spec.loader.exec_module(module)
    return module


fleet = _load("fleet")
postgres = _load("postgres")


def test_the_default_is_sqlite_one_worker_no_auth(tmp_path: Path) -> None:
    settings = fleet.read_settings({}, tmp_path)
    assert (settings.db, settings.workers, settings.auth) == ("sqlite", 1, False)
    assert settings.worker_limit is None  # Prefect's default: no limit


def test_a_worker_limit_is_read(tmp_path: Path) -> None:
    settings = fleet.read_settings({"WARDEN_WORKER_LIMIT": "8"}, tmp_path)
    assert settings.worker_limit == 8


def test_postgres_is_the_fleet_setup_with_auth_from_a_file_under_home(tmp_path: Path) -> None:
    settings = fleet.read_settings({"WARDEN_DB": "postgres", "WARDEN_WORKERS": "3"}, tmp_path)
    assert (settings.db, settings.workers, settings.pg_port) == ("postgres", 3, 5433)
    assert settings.auth_file == tmp_path / "auth"


def test_an_auth_file_named_turns_auth_on_for_sqlite_too(tmp_path: Path) -> None:
    settings = fleet.read_settings({"WARDEN_AUTH_FILE": str(tmp_path / "a")}, tmp_path)
    assert settings.auth_file == tmp_path / "a"


@pytest.mark.parametrize(
    "env",
    [
        {"WARDEN_DB": "mysql"},
        {"WARDEN_WORKERS": "0"},
        {"WARDEN_WORKERS": "two"},
        {"WARDEN_WORKERS": "99"},
        {"WARDEN_WORKER_LIMIT": "0"},
        {"WARDEN_WORKER_LIMIT": "lots"},
        {"WARDEN_DB": "postgres", "WARDEN_PG_PORT": "80"},
        {"WARDEN_PG_PORT": "5433"},  # accepted but would do nothing on SQLite: refused
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        fleet.read_settings(env, tmp_path)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_a_bad_database_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sqlite, postgres"):
        fleet.read_settings({"WARDEN_DB": "mysql"}, tmp_path)


def test_the_auth_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "auth"
    value = fleet.ensure_auth_string(path, ROOT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user, _, password = value.partition(":")
    assert user == "warden" and len(password) >= 24
    assert fleet.ensure_auth_string(path, ROOT) == value  # kept, not replaced


def test_an_auth_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "auth"
    path.write_text("warden:secret\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        fleet.ensure_auth_string(path, ROOT)
    assert path.read_text() == "warden:secret\n"  # left as it was


@pytest.mark.parametrize("content", ["nopassword\n", ":secret\n", "warden:\n", "a:b\nc:d\n"])
def test_an_auth_file_that_is_not_user_password_is_refused(content: str, tmp_path: Path) -> None:
    path = tmp_path / "auth"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError):
        fleet.ensure_auth_string(path, ROOT)


def test_an_auth_file_git_could_commit_is_refused() -> None:
    path = ROOT / "deployments" / "auth-never-made"
    with pytest.raises(ConfigError):
        fleet.ensure_auth_string(path, ROOT)
    assert not path.exists()


def test_a_taken_postgres_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = postgres.Cluster(tmp_path / "home", taken.getsockname()[1])
        with pytest.raises(ConfigError, match="WARDEN_PG_PORT"):
            cluster.check()
    assert not cluster.folder.exists()  # nothing made


def test_missing_postgresql_programs_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "PG_BIN", tmp_path / "no-bin")
    with pytest.raises(ConfigError, match="postgresql"):
        postgres.Cluster(tmp_path, 5433).check()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres user")
def test_as_root_the_cluster_runs_as_the_postgres_user(tmp_path: Path) -> None:
    argv = postgres.Cluster(tmp_path, 5433).as_owner(["pg_ctl", "status"])
    assert argv[:4] == ["runuser", "-u", "postgres", "--"]


@pytest.mark.skipif(os.geteuid() != 0, reason="root can write anywhere; postgres cannot")
def test_a_folder_the_postgres_user_cannot_reach_is_refused(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(ConfigError, match="WARDEN_HOME"):
        postgres.Cluster(closed / "home", port).check()


def test_the_database_url_quotes_the_password(tmp_path: Path) -> None:
    cluster = postgres.Cluster(tmp_path, 5433)
    cluster.password_file.write_text("a/b@c\n")
    assert cluster.url() == "postgresql+asyncpg://warden:a%2Fb%40c@127.0.0.1:5433/prefect"


def test_workers_are_numbered_and_found_by_pid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    processes = _load("processes")
    assert [processes.worker(n).name for n in (1, 2)] == ["worker", "worker-2"]
    assert "warden-local-worker-2" in processes.worker(2).argv
    processes.RUN_DIR.mkdir(parents=True)
    for name in ("worker", "worker-3", "worker-x", "server"):
        (processes.RUN_DIR / f"{name}.pid").write_text("1")
    assert [s.name for s in processes.recorded_workers()] == ["worker", "worker-3"]


def test_clients_get_the_credential_and_never_the_servers_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    processes = _load("processes")
    env = processes.platform_env("warden:s3cret")
    assert env["PREFECT_API_AUTH_STRING"] == "warden:s3cret"
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env
    assert "PREFECT_API_AUTH_STRING" not in processes.platform_env()

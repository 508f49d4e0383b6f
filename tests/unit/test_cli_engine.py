"""Where the CLI records a run: the configured API, make run's local server, or engine-less.
And the commands that only read import neither Prefect nor Great Expectations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blocks.errors import BackendUnavailable, ExitCode
from cli.engine import choose_engine
from tests.loopback import QuietHandler, free_port, loopback_server


class Health(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/api/health":
            self.send_json(200, True)
        else:
            self.send_json(404, {"detail": "not found"})


@pytest.fixture(autouse=True)
def _no_prefect_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.setenv("WARDEN_PORT", str(free_port()))
    monkeypatch.setattr("cli.engine._process_api", lambda: None)  # tests import Prefect


def test_the_local_platform_server_is_used_without_an_export(monkeypatch) -> None:
    with loopback_server(Health) as server:
        monkeypatch.setenv("WARDEN_PORT", str(server.server_address[1]))
        engine = choose_engine()
        api = f"http://127.0.0.1:{server.server_address[1]}/api"
        assert engine.api_url == api
        assert engine.source == "make run's local server"
        import os

        assert os.environ["PREFECT_API_URL"] == api  # what Prefect reads when imported next


def test_no_api_anywhere_is_an_engine_less_run() -> None:
    engine = choose_engine()
    assert engine.api_url is None
    assert "engine-less" in engine.describe()


def test_a_configured_api_that_does_not_answer_is_exit_4(monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(BackendUnavailable) as caught:
        choose_engine()
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE


def test_the_active_prefect_profile_names_the_api(monkeypatch, tmp_path: Path) -> None:
    with loopback_server(Health) as server:
        api = f"http://127.0.0.1:{server.server_address[1]}/api"
        home = tmp_path / "prefect-home"
        home.mkdir()
        (home / "profiles.toml").write_text(
            f'active = "ops"\n[profiles.ops]\nPREFECT_API_URL = "{api}"\n', encoding="utf-8"
        )
        engine = choose_engine()
    assert engine.api_url == api and engine.source == "Prefect profile 'ops'"


READING = [
    ["--help"],
    ["gates", "list"],
    ["gates", "--help"],
    ["workflows", "trends", "--help"],
    ["matrix", "status", "--env", "local"],
    ["matrix", "installer", "--env", "local"],
    ["installer", "--help"],
]


@pytest.mark.parametrize("argv", READING, ids=[" ".join(a) for a in READING])
def test_reading_commands_import_neither_prefect_nor_great_expectations(
    argv: list[str], tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "from cli.main import app\n"
        "try:\n"
        f"    app({argv!r}, standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('prefect', 'great_expectations') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"WARDEN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "HEAVY=\n" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["guard", "readiness"],
        ["guard", "shed", "--dry-run"],
        ["intent", "submit", "query_knowledge", "--actor", "ops"],
        ["intent", "approve", "00000000-0000-0000-0000-000000000000", "--by", "alice"],
    ],
    ids=["guard-readiness", "guard-shed", "intent-submit", "intent-approve"],
)
def test_commands_that_drive_a_prefect_api_exit_4_without_one(argv: list[str]) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, argv)
    assert result.exit_code == ExitCode.BACKEND_UNAVAILABLE, result.output
